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
        social: the users' trust or follow graph, or ``None`` when there is
            none: a CSR ``(n_users, n_users)`` matrix over ``user_vocab``
            (row ``u``, column ``v`` > 0 when ``u`` trusts or follows ``v``;
            directed, values are edge weights, 1 for plain trust). Only users
            of the vocabulary appear: edges to people who are not in it are
            left out by the builders (:meth:`with_social_edges`). It belongs
            to the users, not to the interactions, so :meth:`subset` and
            every splitter keep it whole: a test fold's ratings are hidden
            from training, the graph is not. Algorithms that ignore it are
            unaffected; trust-aware ones (``trust-svd``) use it when present.

    Raises:
        DataFormatError: on mismatched lengths, out-of-range indices,
            non-finite ratings, duplicated (user, item) pairs, or a social
            matrix that is not ``(n_users, n_users)``, has non-finite or
            negative weights, or a self-loop.
    """

    users: IntArray
    items: IntArray
    ratings: FloatArray | None
    user_vocab: Vocabulary
    item_vocab: Vocabulary
    timestamps: IntArray | None = None
    weights: FloatArray | None = None
    item_features: ItemFeatures | None = None
    social: sp.csr_matrix | None = None
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
        if self.social is not None:
            object.__setattr__(self, "social", _check_social(self.social, len(self.user_vocab)))
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
            social=self.social,
        )

    def with_features(self, features: ItemFeatures | None) -> Interactions:
        """The same interactions carrying ``features`` (aligned to the item vocabulary)."""
        return Interactions(self.users, self.items, self.ratings, self.user_vocab, self.item_vocab,
                            self.timestamps, self.weights, features, self.social)

    def with_social(self, social: sp.spmatrix | None) -> Interactions:
        """The same interactions carrying the ``(n_users, n_users)`` graph ``social`` (see the class docstring).

        Raises:
            DataFormatError: a matrix of the wrong shape, with non-finite or
                negative weights, or with a self-loop.
        """
        return Interactions(self.users, self.items, self.ratings, self.user_vocab, self.item_vocab,
                            self.timestamps, self.weights, self.item_features,
                            None if social is None else sp.csr_matrix(social))

    def with_social_edges(
        self, sources: npt.ArrayLike, targets: npt.ArrayLike, weights: npt.ArrayLike | None = None
    ) -> Interactions:
        """The same interactions carrying a graph given as raw-id edges ``source -> target``.

        Edges with an end outside the user vocabulary and self-loops are left
        out; repeated edges keep one (the largest weight).

        Args:
            sources: raw user ids of the trustors (followers).
            targets: raw user ids of the trustees (followed), one per source.
            weights: one positive weight per edge (``None``: all 1).

        Raises:
            DataFormatError: ``sources``, ``targets`` and ``weights`` differ in length.
        """
        return self.with_social(self.social_matrix(sources, targets, weights))

    def social_matrix(
        self, sources: npt.ArrayLike, targets: npt.ArrayLike, weights: npt.ArrayLike | None = None
    ) -> sp.csr_matrix:
        """The ``(n_users, n_users)`` CSR graph of raw-id edges over this user vocabulary (see :meth:`with_social_edges`).

        Raises:
            DataFormatError: ``sources``, ``targets`` and ``weights`` differ in length.
        """
        src = np.asarray(sources)
        dst = np.asarray(targets)
        w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
        if not len(src) == len(dst) == len(w):
            raise DataFormatError(f"social edges: {len(src)} sources, {len(dst)} targets and {len(w)} weights")
        a = self.user_vocab.indices(src) if len(src) else np.empty(0, dtype=np.int64)
        b = self.user_vocab.indices(dst) if len(dst) else np.empty(0, dtype=np.int64)
        keep = (a >= 0) & (b >= 0) & (a != b)
        n = self.n_users
        a, b, w = a[keep], b[keep], w[keep]
        # a repeated edge keeps its largest weight (CSR construction would add them up)
        key = a * max(n, 1) + b
        order = np.lexsort((-w, key))
        first = order[np.r_[True, key[order][1:] != key[order][:-1]]] if len(order) else order
        m = sp.csr_matrix((w[first], (a[first], b[first])), shape=(n, n))
        return _check_social(m, n)

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

    def confidence(self, use_ratings: bool) -> sp.csr_matrix:
        """CSR users x items the implicit-feedback models learn from: the ratings when asked for and present,
        else the implicit weights (1 per interaction without them)."""
        return self.matrix if (use_ratings and self.ratings is not None) else self.implicit_matrix

    def confidence_has_values(self, use_ratings: bool) -> bool:
        """Whether :meth:`confidence` carries values (ratings or implicit weights) rather than 1 per interaction."""
        return bool(use_ratings and self.ratings is not None) or (self.ratings is None and self.weights is not None)

    @property
    def binary(self) -> sp.csr_matrix:
        """CSR users x items with 1.0 for every observed pair."""
        return self._csr("binary", np.ones(len(self), dtype=np.float64))

    def user_counts(self) -> IntArray:
        """Number of interactions per user index."""
        return np.bincount(self.users, minlength=self.n_users).astype(np.int64)

    def trust_counts(self) -> IntArray:
        """Number of users each user index trusts (out-degree in :attr:`social`; zeros without a graph)."""
        if self.social is None:
            return np.zeros(self.n_users, dtype=np.int64)
        return np.asarray(np.diff(self.social.indptr), dtype=np.int64)

    def item_counts(self) -> IntArray:
        """Number of interactions per item index."""
        return np.bincount(self.items, minlength=self.n_items).astype(np.int64)


def _check_social(matrix: sp.spmatrix, n_users: int) -> sp.csr_matrix:
    """``matrix`` as canonical CSR float64 (sorted indices, explicit zeros dropped), validated.

    Raises:
        DataFormatError: wrong shape, non-finite or negative weights, or a self-loop.
    """
    if not sp.issparse(matrix):
        raise DataFormatError("social must be a scipy sparse matrix (users x users)")
    if matrix.shape != (n_users, n_users):
        raise DataFormatError(f"social has shape {matrix.shape}, the user vocabulary needs ({n_users}, {n_users})")
    m = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    m.sum_duplicates()
    if len(m.data) and (not np.isfinite(m.data).all() or (m.data < 0).any()):
        raise DataFormatError("social edge weights must be finite and non-negative")
    m.eliminate_zeros()
    if n_users and m.diagonal().any():
        k = int(np.flatnonzero(m.diagonal())[0])
        raise DataFormatError(f"social has a self-loop at user index {k}; nobody trusts or follows themselves here")
    m.sort_indices()
    return m
