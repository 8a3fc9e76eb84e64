"""Reader for trust (follow) networks: FilmTrust's and LibRec's ``trust.txt``.

A trust file is headerless, one directed edge per line: ``trustor trustee
[value]`` separated by spaces, tabs or commas (FilmTrust: ``2 966 1``;
LibRec's Epinions/Ciao trust files have the same shape). ``trustor`` trusts
(follows) ``trustee``. The value is optional (1 when absent) and must be a
finite number; a value of 0 means "no edge" and the line is dropped.

Every malformed line is fatal: the file is the graph, and a graph with silently
missing edges would bias a trust-aware model, so a bad line raises a
:class:`~cinerec.errors.DataFormatError` naming the file, the 1-based line and
the field (``trustor``, ``trustee`` or ``value``). What is cleaned instead of
refused is counted in :class:`~cinerec.data.readers.Problems` ``dropped``:
self-trust lines and repeated edges (the first line of an edge is kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.readers._table import WHITESPACE, Problems, read_table
from cinerec.errors import DataFormatError

#: The file name a trust network has beside its ``ratings.txt`` (FilmTrust, LibRec).
TRUST_FILE = "trust.txt"

#: Reasons counted in ``Problems.dropped`` (prefixed, so they never mix with the ratings' reasons).
SELF_TRUST = "trust: self-trust line"
DUPLICATE_EDGE = "trust: repeated edge"
ZERO_TRUST = "trust: value 0 (no edge)"

_FIELDS3 = ("trustor", "trustee", "value")


@dataclass
class TrustNetwork:
    """A directed trust network read from a file.

    Attributes:
        edges: columns ``trustor``, ``trustee`` (raw user ids, int64 when every
            id is an integer, else str), ``value`` (float) and ``_line``; one
            row per distinct edge, in file order.
        path: the file read.
        lines: data lines in the file (before anything was dropped).
        dropped: lines dropped by reason (self-trust, repeated edge, value 0).
    """

    edges: pd.DataFrame
    path: Path
    lines: int
    dropped: dict[str, int]

    def users(self) -> np.ndarray:
        """Distinct raw ids of everybody in the network (trustors and trustees), first appearance first."""
        both = np.concatenate([self.edges["trustor"].to_numpy(), self.edges["trustee"].to_numpy()])
        return np.asarray(pd.unique(both))

    def note(self) -> str:
        """One line on what was read, for a dataset's notes."""
        extra = "".join(f"; {n} dropped ({r.removeprefix('trust: ')})" for r, n in sorted(self.dropped.items()))
        return f"{self.path.name}: {len(self.edges)} trust edges of {self.lines} lines among {len(self.users())} users{extra}"


def _ids(table: pd.DataFrame, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw ``(trustor, trustee)`` ids: integers, or strings when ids are not numbers.

    An empty id, or a non-integer id among integer ones (``12x`` in a file of
    numbers: a typo, which would silently become a user nobody rated), is an
    error naming its line and field.
    """
    cols = {f: table[f].str.strip() for f in ("trustor", "trustee")}
    for fld, v in cols.items():
        empty = v.eq("").to_numpy()
        if empty.any():
            k = int(np.argmax(empty))
            raise DataFormatError("empty user id", path=path, line=int(table["_line"].iloc[k]), field=fld)
    nums = {f: pd.to_numeric(v, errors="coerce") for f, v in cols.items()}
    ints = {f: (n.notna() & (n == np.floor(n)) & (n.abs() < 2**53)).to_numpy() for f, n in nums.items()}
    if all(m.all() for m in ints.values()):
        return tuple(np.asarray(nums[f].to_numpy(), dtype=np.int64) for f in ("trustor", "trustee"))  # type: ignore[return-value]
    if any(m.any() for m in ints.values()):
        lines = table["_line"].to_numpy()
        first = min((int(lines[np.argmax(~m)]), f) for f, m in ints.items() if not m.all())
        k = int(np.flatnonzero(lines == first[0])[0])
        raise DataFormatError(f"user id {cols[first[1]].iloc[k]!r} is not an integer like the file's other ids",
                              path=path, line=first[0], field=first[1])
    return tuple(np.asarray(cols[f].to_numpy(dtype=object), dtype=object) for f in ("trustor", "trustee"))  # type: ignore[return-value]


def _sniff_sep(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096).decode("utf-8", errors="replace")
    first = next((ln for ln in head.split("\n") if ln.strip()), "")
    if "\t" in first:
        return "\t"
    return "," if "," in first else WHITESPACE


def read_trust(path: Path | str, problems: Problems | None = None) -> TrustNetwork:
    """Read a trust file (see the module docstring).

    Args:
        path: the file.
        problems: where dropped lines are counted (a fresh one when ``None``).

    Returns:
        The :class:`TrustNetwork`.

    Raises:
        DataFormatError: missing or empty file, a line with other than 2 or 3
            fields (or a different count from the first line), an empty id,
            a value that is not a finite number or is negative; each names
            the file, the line and the field.
    """
    path = Path(path)
    problems = problems if problems is not None else Problems()
    if not path.is_file():
        raise DataFormatError("file not found", path=path)
    if path.stat().st_size == 0:
        raise DataFormatError("the trust file is empty (0 bytes)", path=path)
    sep = _sniff_sep(path)
    with path.open("rb") as fh:
        first = next((ln for ln in fh if ln.strip()), b"").decode("utf-8", errors="replace")
    n_fields = len(first.split() if sep == WHITESPACE else first.split(sep))
    if n_fields not in (2, 3):
        raise DataFormatError(f"expected 'trustor trustee [value]' (2 or 3 fields), found {n_fields} fields",
                              path=path, line=1, field="line")
    names = list(_FIELDS3[:n_fields])
    try:
        table = read_table(path, columns=names, sep=sep, header=False, encoding="auto")
    except DataFormatError as exc:
        if exc.line is None or exc.field is not None:
            raise
        # a short line lacks the first field it does not have; a long one has a field too many
        m = re.search(r"found (\d+)", str(exc))
        got = int(m.group(1)) if m else n_fields + 1
        fld = names[got] if got < n_fields else "line"
        msg = f"expected {n_fields} fields (trustor trustee{' value' if n_fields == 3 else ''}), found {got}"
        raise DataFormatError(msg, path=path, line=exc.line, field=fld) from None
    lines = table["_line"].to_numpy()
    trustor, trustee = _ids(table, path)
    if n_fields == 3:
        raw = table["value"].str.strip()
        value = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(value) | (value < 0)
        if bad.any():
            k = int(np.argmax(bad))
            why = "is not a number" if not np.isfinite(value[k]) else "is negative"
            raise DataFormatError(f"trust value {raw.iloc[k]!r} {why}", path=path, line=int(lines[k]), field="value")
    else:
        value = np.ones(len(table))
    edges = pd.DataFrame({"trustor": trustor, "trustee": trustee, "value": value, "_line": lines})
    dropped: dict[str, int] = {}

    def drop(mask: np.ndarray, reason: str) -> None:
        nonlocal edges
        n = int(mask.sum())
        if n:
            dropped[reason] = n
            problems.count_dropped(reason, n)
            edges = edges[~mask].reset_index(drop=True)

    drop((edges["value"] == 0).to_numpy(), ZERO_TRUST)
    drop((edges["trustor"].astype(str) == edges["trustee"].astype(str)).to_numpy(), SELF_TRUST)
    drop(edges.duplicated(["trustor", "trustee"], keep="first").to_numpy(), DUPLICATE_EDGE)
    return TrustNetwork(edges, path, len(table), dropped)
