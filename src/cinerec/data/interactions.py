"""Interactions: the user x item matrix every algorithm trains on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from cinerec.data.features import ItemFeatures
from cinerec.data.vocab import Vocabulary
from cinerec.errors import DataFormatError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Interactions:
    """Observed (user, item, value[, timestamp]) triples over two vocabularies.

    Stored as coordinate arrays sorted by (user, item); the CSR matrices are
    built once on first use. Train and test sets produced by the splitters
    share the same vocabularies, so their indices line up.

    Attributes:
        users: dense user index of each interaction.
        items: dense item index of each interaction.
        ratings: explicit rating of each interaction (``None`` for implicit data).
        weights: implicit confidence of each interaction (1.0 when not given).
        timestamps: unix seconds of each interaction, or ``None``.
        user_vocab, item_vocab: raw id <-> dense index maps.
        item_features: content features aligned to ``item_vocab``, or ``None``.

    Raises:
        DataFormatError: on mismatched lengths, out-of-range indices,
            non-finite ratings or duplicated (user, item) pairs.
    """

    users: IntArray
    items: IntArray
    ratings: FloatArray | None
    user_vocab: Vocabulary
    item_vocab: Vocabulary
    timestamps: IntArray | None = None
    weights: FloatArray | None = None
    item_features: ItemFeatures | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.users)
        for name in ("items", "ratings", "timestamps", "weights"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise DataFormatError(f"'{name}' has {len(arr)} values but there are {n} users")
        u = np.asarray(self.users, dtype=np.int64)
        i = np.asarray(self.items, dtype=np.int64)
        if n and (u.min() < 0 or u.max() >= len(self.user_vocab)):
            raise DataFormatError("user index out of range of the user vocabulary")
        if n and (i.min() < 0 or i.max() >= len(self.item_vocab)):
            raise DataFormatError("item index out of range of the item vocabulary")
        order = np.lexsort((i, u))
        object.__setattr__(self, "users", u[order])
        object.__setattr__(self, "items", i[order])
        for name, dtype in (("ratings", np.float64), ("timestamps", np.int64), ("weights", np.float64)):
            arr = getattr(self, name)
            if arr is not None:
                object.__setattr__(self, name, np.asarray(arr, dtype=dtype)[order])
        if self.item_features is not None:
            object.__setattr__(self, "item_features", self.item_features.align(self.item_vocab))
        if self.ratings is not None and n and not np.isfinite(self.ratings).all():
            raise DataFormatError("ratings must be finite numbers")
        if n > 1:
            su, si = self.users, self.items
            dup = (su[1:] == su[:-1]) & (si[1:] == si[:-1])
            if dup.any():
                k = int(np.argmax(dup))
                raise DataFormatError(
                    f"duplicate interaction for user {self.user_vocab.raw(su[k])!r} "
                    f"and item {self.item_vocab.raw(si[k])!r}; de-duplicate before building"
                )

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str | None = "rating",
        time_col: str | None = "timestamp",
        weight_col: str | None = None,
        user_vocab: Vocabulary | None = None,
        item_vocab: Vocabulary | None = None,
    ) -> Interactions:
        """Build from a data frame of raw ids.

        Rows whose user or item is missing from a given vocabulary are dropped;
        without vocabularies they are built from the distinct ids. Duplicated
        (user, item) pairs keep the latest row (by timestamp when present).
        """
        df = frame
        if time_col and time_col in df:
            df = df.sort_values(time_col, kind="stable")
        df = df.drop_duplicates([user_col, item_col], keep="last")
        uv = user_vocab or Vocabulary.from_values(df[user_col].to_numpy())
        iv = item_vocab or Vocabulary.from_values(df[item_col].to_numpy())
        u = uv.indices(df[user_col].to_numpy())
        i = iv.indices(df[item_col].to_numpy())
        keep = (u >= 0) & (i >= 0)

        def col(name: str | None, dtype: type) -> npt.NDArray[Any] | None:
            if name and name in df:
                return np.asarray(df[name].to_numpy()[keep], dtype=dtype)
            return None

        return cls(
            users=u[keep],
            items=i[keep],
            ratings=col(rating_col, np.float64),
            timestamps=col(time_col, np.int64),
            weights=col(weight_col, np.float64),
            user_vocab=uv,
            item_vocab=iv,
        )

    def subset(self, mask: npt.NDArray[np.bool_] | IntArray) -> Interactions:
        """The interactions selected by a boolean mask or index array, same vocabularies."""

        def take(a: npt.NDArray[Any] | None) -> npt.NDArray[Any] | None:
            return None if a is None else a[mask]

        return Interactions(
            users=self.users[mask],
            items=self.items[mask],
            ratings=take(self.ratings),
            timestamps=take(self.timestamps),
            weights=take(self.weights),
            user_vocab=self.user_vocab,
            item_vocab=self.item_vocab,
            item_features=self.item_features,
        )

    def with_features(self, features: ItemFeatures | None) -> Interactions:
        """The same interactions carrying ``features`` (aligned to the item vocabulary)."""
        return Interactions(self.users, self.items, self.ratings, self.user_vocab, self.item_vocab,
                            self.timestamps, self.weights, features)

    def to_frame(self) -> pd.DataFrame:
        """A data frame of raw ids with columns user, item[, rating, timestamp, weight]."""
        data: dict[str, Any] = {
            "user": self.user_vocab.raw(self.users),
            "item": self.item_vocab.raw(self.items),
        }
        if self.ratings is not None:
            data["rating"] = self.ratings
        if self.timestamps is not None:
            data["timestamp"] = self.timestamps
        if self.weights is not None:
            data["weight"] = self.weights
        return pd.DataFrame(data)

    # ---------------------------------------------------------------- shapes
    @property
    def n_users(self) -> int:
        """Number of users in the vocabulary (rows of the matrix)."""
        return len(self.user_vocab)

    @property
    def n_items(self) -> int:
        """Number of items in the vocabulary (columns of the matrix)."""
        return len(self.item_vocab)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_items)``."""
        return (self.n_users, self.n_items)

    @property
    def is_explicit(self) -> bool:
        """Whether explicit ratings are present."""
        return self.ratings is not None

    @property
    def rating_scale(self) -> tuple[float, float]:
        """``(min, max)`` of the observed ratings (``(1, 1)`` for implicit data)."""
        if self.ratings is None or not len(self.ratings):
            return (1.0, 1.0)
        return (float(self.ratings.min()), float(self.ratings.max()))

    # -------------------------------------------------------------- matrices
    def _csr(self, key: str, values: FloatArray) -> sp.csr_matrix:
        if key not in self._cache:
            m = sp.csr_matrix((values, (self.users, self.items)), shape=self.shape, dtype=np.float64)
            m.sort_indices()
            self._cache[key] = m
        return self._cache[key]

    @property
    def matrix(self) -> sp.csr_matrix:
        """CSR users x items of explicit ratings (implicit weights if no ratings)."""
        if self.ratings is None:
            return self.implicit_matrix
        return self._csr("ratings", self.ratings)

    @property
    def implicit_matrix(self) -> sp.csr_matrix:
        """CSR users x items of implicit confidence (weights, or 1 per interaction)."""
        w = self.weights if self.weights is not None else np.ones(len(self), dtype=np.float64)
        return self._csr("implicit", w)

    @property
    def binary(self) -> sp.csr_matrix:
        """CSR users x items with 1.0 for every observed pair."""
        return self._csr("binary", np.ones(len(self), dtype=np.float64))

    def user_counts(self) -> IntArray:
        """Number of interactions per user index."""
        return np.bincount(self.users, minlength=self.n_users).astype(np.int64)

    def item_counts(self) -> IntArray:
        """Number of interactions per item index."""
        return np.bincount(self.items, minlength=self.n_items).astype(np.int64)
