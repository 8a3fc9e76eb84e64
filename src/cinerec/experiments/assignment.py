"""Deterministic A/B assignment, compatible with GrowthBook's SDKs.

Two layers:

* GrowthBook's primitives, bit for bit: :func:`fnv1a32`, :func:`hash` (hash
  versions 1 and 2), :func:`bucket_ranges` (``getBucketRanges``, including its
  forgiving handling of bad coverage and weights) and :func:`choose_variation`.
  They pass GrowthBook's language-agnostic test cases
  (``tests/experiments/data/growthbook_cases.json``), so a member lands in the
  same variant here as in any GrowthBook SDK given the same seed, weights and
  coverage.
* The small API the product uses: :class:`Variant` and :class:`Experiment`,
  strict where GrowthBook is forgiving (bad weights or traffic raise
  :class:`~cinerec.errors.InvalidParameter` instead of silently falling back
  to equal weights), with :meth:`Experiment.assign` mapping a member id to a
  variant name, or ``None`` when the member is outside the experiment's
  traffic and gets the default model.

Assignment is a pure function of (seed, member id, weights, traffic): no
state, no randomness, no Python ``hash()`` (which is salted per process), so
it is sticky across sessions, processes and restarts.

Pure Python, no SQL: exposures are logged through ``store/repos/events.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from cinerec.errors import InvalidParameter

__all__ = [
    "Experiment",
    "Variant",
    "bucket_ranges",
    "choose_variation",
    "fnv1a32",
    "hash",
    "hash_many",
]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193  # 16777619 = 1 + 2 + 16 + 128 + 256 + 2**24: GrowthBook's shift-and-add
_MASK32 = 0xFFFFFFFF
_WEIGHT_TOLERANCE = 1e-6  # the product's own check; GrowthBook tolerates 0.99..1.01

BucketRange = tuple[float, float]


def _utf16_units(text: str) -> Iterable[int]:
    """The UTF-16 code units of ``text``: what JavaScript's ``charCodeAt`` walks."""
    if text.isascii():
        return text.encode("ascii")
    data = text.encode("utf-16-le")
    return (data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2))


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of ``text``, as GrowthBook's ``hashFnv32a`` computes it.

    GrowthBook hashes the UTF-16 code units JavaScript sees (``charCodeAt``),
    not UTF-8 bytes; for ASCII the two agree. The result is unsigned, in
    ``[0, 2**32)``.
    """
    h = _FNV_OFFSET
    for unit in _utf16_units(text):
        h = ((h ^ unit) * _FNV_PRIME) & _MASK32
    return h


def hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's bucketing hash: a number in ``[0, 1)``, or ``None``.

    * version 1 (GrowthBook's original, kept for compatibility; slightly biased
      between experiments that share a seed):
      ``(fnv1a32(value + seed) % 1000) / 1000``.
    * version 2 (the unbiased one; what :class:`Experiment` uses):
      ``(fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000``.
    * any other version: ``None`` (GrowthBook then skips the experiment).
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def _fnv_units(h: npt.NDArray[np.uint32], units: Iterable[int]) -> npt.NDArray[np.uint32]:
    """Continue FNV-1a states ``h`` (one per id) over the same code units (a seed)."""
    prime = np.uint32(_FNV_PRIME)
    for unit in units:
        h = (h ^ np.uint32(unit)) * prime  # uint32 arithmetic wraps modulo 2**32, like the mask
    return h


def _fnv_decimal(h: npt.NDArray[np.uint32], values: npt.NDArray[np.int64]) -> npt.NDArray[np.uint32]:
    """Continue FNV-1a states ``h`` over the decimal text of each integer (``str(v)``, ``-`` first if negative).

    The digits are ASCII, so their UTF-16 code units are their bytes. Works on
    whole arrays: one pass per digit position, most significant first, each
    id taking part only in the positions its own text has.
    """
    prime = np.uint32(_FNV_PRIME)
    h = h.copy()
    neg = values < 0
    if neg.any():
        h[neg] = (h[neg] ^ np.uint32(ord("-"))) * prime
    mag = np.abs(values).astype(np.uint64)
    n_digits = np.ones(len(mag), dtype=np.int64)
    bound = np.uint64(10)
    for width in range(1, 20):
        n_digits[mag >= bound] = width + 1
        if width == 19 or not (mag >= bound).any():
            break
        bound = bound * np.uint64(10)
    for pos in range(int(n_digits.max(initial=1)) - 1, -1, -1):  # digit position pos (10**pos), high to low
        sel = n_digits > pos
        digit = (mag[sel] // np.uint64(10**pos)) % np.uint64(10)
        h[sel] = (h[sel] ^ (digit.astype(np.uint32) + np.uint32(ord("0")))) * prime
    return h


def hash_many(seed: str, ids: npt.ArrayLike, version: int = 2) -> npt.NDArray[np.float64]:
    """:func:`hash` of ``(seed, str(i))`` for every integer id, vectorised with numpy.

    The same numbers as the scalar function, bit for bit (``uint32`` FNV-1a
    over the UTF-16 code units of ``seed + str(id)``, then version 2's second
    pass over the decimal text of the first hash), at a few hundred
    nanoseconds per id instead of several microseconds: what the simulator
    needs to assign 100,000 members a thousand times.

    Args:
        seed: the experiment's hashing salt (any text; non-ASCII is hashed as UTF-16 code units).
        ids: integer member ids, any shape (flattened).
        version: GrowthBook hash version, 1 or 2.

    Returns:
        Float array of hashes in ``[0, 1)``, one per id.

    Raises:
        InvalidParameter: non-integer ids or a version other than 1 or 2 (the
            scalar :func:`hash` returns ``None`` for those; an array cannot).
    """
    arr = np.asarray(ids).ravel()
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidParameter(f"hash_many needs integer ids, got an array of {arr.dtype}")
    if version not in (1, 2):
        raise InvalidParameter(f"unknown hash version {version!r}: GrowthBook has versions 1 and 2")
    values = arr.astype(np.int64)
    start = np.full(len(values), _FNV_OFFSET, dtype=np.uint32)
    if version == 1:
        h = _fnv_units(_fnv_decimal(start, values), _utf16_units(seed))
        return np.asarray((h % np.uint32(1000)) / 1000.0, dtype=np.float64)
    seeded = np.full(len(values), fnv1a32(seed), dtype=np.uint32)  # FNV is sequential: the seed's state once
    first = _fnv_decimal(seeded, values)
    second = _fnv_decimal(start, first.astype(np.int64))
    return np.asarray((second % np.uint32(10000)) / 10000.0, dtype=np.float64)


def _equal_weights(n: int) -> list[float]:
    return [1 / n] * n if n > 0 else []


def bucket_ranges(
    n_variations: int,
    coverage: float | None = 1.0,
    weights: Sequence[float] | None = None,
) -> list[BucketRange]:
    """GrowthBook's ``getBucketRanges``: one ``[start, end)`` range per variation.

    Variation ``i`` owns ``[c_i, c_i + coverage * w_i)`` where ``c_i`` is the
    sum of the weights before it. Like GrowthBook this never raises: coverage
    is clamped to ``[0, 1]`` (``None`` means 1), and weights of the wrong length
    or not summing to 1 within 0.01 are replaced by equal weights. The
    product validates its inputs in :class:`Experiment` instead.
    """
    cov = 1.0 if coverage is None else float(coverage)
    cov = min(max(cov, 0.0), 1.0)
    equal = _equal_weights(n_variations)
    w = list(weights) if weights is not None else equal
    if len(w) != n_variations:
        w = equal
    total = sum(w)
    if total < 0.99 or total > 1.01:
        w = equal
    ranges: list[BucketRange] = []
    cumulative = 0.0
    for weight in w:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + cov * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[BucketRange]) -> int:
    """The index of the range holding ``n`` (start inclusive, end exclusive), or -1."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1


def _check_fraction(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"{what} must be a number between 0 and 1, got {value!r}")
    x = float(value)
    if math.isnan(x) or not 0.0 <= x <= 1.0:
        raise InvalidParameter(f"{what} must be between 0 and 1, got {value!r}")
    return x


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm of an experiment.

    Args:
        name: unique within the experiment (``"control"``, ``"treatment"``).
        weight: the share of the experiment's traffic this arm gets, in
            ``(0, 1]``; an experiment's weights sum to 1.
    """

    name: str
    weight: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameter(f"a variant needs a non-empty name, got {self.name!r}")
        weight = _check_fraction(f"variant {self.name!r}: weight", self.weight)
        if weight == 0.0:
            raise InvalidParameter(
                f"variant {self.name!r}: weight must be greater than 0 (drop the variant instead)"
            )
        object.__setattr__(self, "weight", weight)


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment's assignment rule: who is in, and in which variant.

    Args:
        name: the experiment's name (for messages and logs).
        seed: the hashing salt. Experiments with different seeds assign
            independently, so a member in two experiments gets two unrelated
            draws; keep the seed for the experiment's whole life.
        variants: two or more :class:`Variant` with unique names and weights
            summing to 1.
        traffic: the fraction of members in the experiment, in ``[0, 1]``
            (GrowthBook's *coverage*). The rest get the default model.

    Assignment uses GrowthBook's hash version 2 of ``(seed, str(member_id))``
    and GrowthBook's coverage-scaled bucket ranges: variant ``i`` owns
    ``[c_i, c_i + traffic * w_i)``, where ``c_i`` is the sum of the weights
    before it. **Ramping traffic up never reassigns a member already in**: a
    member's hash does not depend on traffic, each range's start ``c_i`` does
    not depend on traffic, and raising traffic only moves each range's end to
    the right, so a hash inside ``[c_i, c_i + t * w_i)`` stays inside
    ``[c_i, c_i + t' * w_i)`` for every ``t' >= t``. The ranges never overlap
    (``c_i + t * w_i <= c_{i+1}``), so nobody can land in two. Ramping *down*
    drops members out (they go back to the default model) but never moves
    anyone to another variant. Changing the weights does move members: that
    is a new experiment and wants a new seed.
    """

    name: str
    seed: str
    variants: Sequence[Variant]
    traffic: float = 1.0
    _ranges: tuple[BucketRange, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameter(f"an experiment needs a non-empty name, got {self.name!r}")
        if not isinstance(self.seed, str) or not self.seed:
            raise InvalidParameter(
                f"experiment {self.name!r}: the seed must be a non-empty string, got {self.seed!r}"
            )
        variants = tuple(self.variants)
        if len(variants) < 2:
            raise InvalidParameter(
                f"experiment {self.name!r}: needs at least two variants, got {len(variants)}"
            )
        for v in variants:
            if not isinstance(v, Variant):
                raise InvalidParameter(
                    f"experiment {self.name!r}: variants must be Variant objects, got {v!r}"
                )
        names = [v.name for v in variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidParameter(
                f"experiment {self.name!r}: duplicate variant names: {', '.join(duplicates)}",
                details={"duplicates": duplicates},
            )
        total = math.fsum(v.weight for v in variants)
        if abs(total - 1.0) > _WEIGHT_TOLERANCE:
            weights = ", ".join(f"{v.name}={v.weight:g}" for v in variants)
            raise InvalidParameter(
                f"experiment {self.name!r}: variant weights must sum to 1, "
                f"got {total:g} ({weights})",
                details={"weights": {v.name: v.weight for v in variants}},
            )
        traffic = _check_fraction(f"experiment {self.name!r}: traffic", self.traffic)
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "traffic", traffic)
        ranges = bucket_ranges(len(variants), traffic, [v.weight for v in variants])
        object.__setattr__(self, "_ranges", tuple(ranges))

    @property
    def variant_names(self) -> list[str]:
        """The variants' names, in order."""
        return [v.name for v in self.variants]

    @property
    def ranges(self) -> list[BucketRange]:
        """The ``[start, end)`` bucket range of each variant at the current traffic."""
        return list(self._ranges)

    def bucket(self, member_id: int) -> float:
        """The member's hash in ``[0, 1)``: GrowthBook v2 of ``(seed, str(member_id))``."""
        if isinstance(member_id, bool) or not isinstance(member_id, int):
            raise InvalidParameter(f"member id must be an integer, got {member_id!r}")
        n = hash(self.seed, str(member_id), 2)
        assert n is not None  # version 2 always hashes
        return n

    def assign(self, member_id: int) -> str | None:
        """The member's variant name, or ``None`` outside the traffic (default model)."""
        i = choose_variation(self.bucket(member_id), self._ranges)
        return None if i < 0 else self.variants[i].name

    def assign_many(self, member_ids: Iterable[int]) -> list[str | None]:
        """:meth:`assign` for each id, in order."""
        return [self.assign(m) for m in member_ids]

    def assign_array(self, member_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The variant index of each integer member id, ``-1`` outside the traffic; vectorised.

        Equal to :meth:`assign` id by id (through :func:`hash_many`), for
        callers that assign many members at once (the simulator).

        Raises:
            InvalidParameter: non-integer ids.
        """
        n = hash_many(self.seed, member_ids, 2)
        out = np.full(len(n), -1, dtype=np.int64)
        for i, (start, end) in enumerate(self._ranges):
            out[(n >= start) & (n < end)] = i
        return out

    def with_traffic(self, traffic: float) -> Experiment:
        """The same experiment at another traffic fraction (a ramp): same seed and weights."""
        return replace(self, traffic=traffic)
