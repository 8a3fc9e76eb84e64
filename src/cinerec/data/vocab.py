"""Vocabulary: raw ids <-> dense integer indices."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


class Vocabulary:
    """An immutable bijection between raw ids and ``0..n-1``.

    Raw ids are database ids or dataset ids (ints or strings); dense indices
    are what the algorithms see. Unknown raw ids map to ``-1``.

    Args:
        ids: the raw ids, in index order; must be unique.

    Raises:
        ValueError: if ``ids`` has duplicates.
    """

    __slots__ = ("_ids", "_index")

    def __init__(self, ids: Sequence[Hashable] | npt.ArrayLike) -> None:
        arr = np.asarray(ids)
        if arr.ndim != 1:
            raise ValueError("Vocabulary ids must be one-dimensional")
        self._ids = arr
        self._ids.setflags(write=False)
        self._index: dict[Any, int] = {k: i for i, k in enumerate(arr.tolist())}
        if len(self._index) != len(arr):
            raise ValueError("Vocabulary ids must be unique")

    @classmethod
    def from_values(cls, values: Iterable[Hashable] | npt.ArrayLike) -> Vocabulary:
        """Build a vocabulary of the sorted distinct values."""
        return cls(np.unique(np.asarray(values)))

    @property
    def ids(self) -> npt.NDArray[Any]:
        """The raw ids in index order (read-only array)."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, raw: object) -> bool:
        return raw in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and np.array_equal(self._ids, other._ids)

    def __hash__(self) -> int:
        return hash((len(self._ids), tuple(self._ids[:8].tolist())))

    def __repr__(self) -> str:
        return f"Vocabulary(n={len(self)})"

    def index(self, raw: Hashable) -> int:
        """Dense index of one raw id, or ``-1`` when unknown."""
        return self._index.get(raw, -1)

    def indices(self, raws: Iterable[Hashable] | npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Dense indices of many raw ids (``-1`` for unknown ones)."""
        get = self._index.get
        return np.fromiter((get(r, -1) for r in np.asarray(raws).tolist()), dtype=np.int64)

    def raw(self, idx: int | npt.ArrayLike) -> Any:
        """Raw id(s) of dense index(es)."""
        return self._ids[idx]  # type: ignore[index]
