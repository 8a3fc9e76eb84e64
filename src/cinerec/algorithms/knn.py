"""Neighbourhood collaborative filtering: :class:`ItemKNN` and :class:`UserKNN`.

One mechanism serves both: similarities are computed between the columns of
a matrix (items of the user x item matrix, or users of its transpose), with
sums taken over *common* support only, optional shrinkage
``(n - 1) / (n - 1 + shrinkage)`` and a minimum support. Each column keeps its
``max_neighbors`` most similar positive neighbours as a sparse matrix, never
a dense n x n matrix; the similarities are accumulated sparsely over the
co-occurring pairs by a compiled single-threaded kernel
(:mod:`cinerec.algorithms._neighbours`).

Rating prediction follows Koren's neighbourhood model (the KNNBaseline idea
when ``center="baseline"``): ``b_ui + sum_j s_ij (r_uj - b_uj) / sum_j s_ij``
over the ``k`` most similar neighbours the user has rated.

Ranking and histories: item-kNN scores a history (a trained user's training
items or a fresh one) with one sparse product of the history's indicator row
and the similarity matrix truncated to ``k`` neighbours per item; user-kNN
finds the ``k`` training users most similar to the history and sums their
interactions. Trained users go through exactly the same code as fresh
histories, so a user's own training history ranks exactly as the trained user.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms._neighbours import neighbour_adjustments, top_neighbours
from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.algorithms.baseline import fit_biases
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError, InvalidParameter

Similarity = Literal["cosine", "adjusted_cosine", "pearson", "pearson_baseline"]
Center = Literal["none", "mean", "baseline"]
SIMILARITIES = ("cosine", "adjusted_cosine", "pearson", "pearson_baseline")
CENTERS = ("none", "mean", "baseline")


def _csr(rows: IntArray, cols: IntArray, vals: FloatArray, shape: tuple[int, int]) -> sp.csr_matrix:
    """CSR with sorted indices that keeps stored zeros (a value of exactly 0 is still an observation)."""
    order = np.lexsort((cols, rows))
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((np.asarray(vals, dtype=np.float64)[order], np.asarray(cols, dtype=np.int64)[order], indptr),
                         shape=shape)


def _ptr(m: sp.csr_matrix) -> tuple[IntArray, IntArray, FloatArray]:
    """A CSR's arrays in the kernels' dtypes."""
    return (m.indptr.astype(np.int64, copy=False), m.indices.astype(np.int64, copy=False),
            m.data.astype(np.float64, copy=False))


def _neighbour_matrices(
    counts: IntArray, cols: IntArray, sims: FloatArray, top: npt.NDArray[np.bool_], n_cols: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The kernel's output as two CSR matrices: every kept neighbour, and only the top-``k`` ones."""
    n_q = len(counts)
    indptr = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    rows = np.repeat(np.arange(n_q), counts)
    tptr = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[top], minlength=n_q), out=tptr[1:])
    trunc = sp.csr_matrix((sims[top], cols[top], tptr), shape=(n_q, n_cols))
    trunc.sort_indices()
    full = sp.csr_matrix((sims, cols, indptr), shape=(n_q, n_cols))
    full.sort_indices()  # in place, on the kernel's arrays: after the top-k subset is taken
    return full, trunc



#: a matrix with its kernel-ready arrays and per-column counts
_KernelView = tuple[sp.csr_matrix, tuple[IntArray, IntArray, FloatArray], IntArray]


class _KNN(RecommenderBase):
    """Shared neighbourhood model; ``_by_item`` picks item-item or user-user."""

    _by_item: ClassVar[bool] = True
    predicts_ratings: ClassVar[bool] = True

    def __init__(
        self,
        k: int = 40,
        min_k: int = 1,
        similarity: Similarity = "pearson_baseline",
        center: Center = "baseline",
        shrinkage: float = 100.0,
        min_support: int = 1,
        max_neighbors: int = 400,
        reg_user: float = 15.0,
        reg_item: float = 5.0,
        n_bias_epochs: int = 10,
        amplification: float = 1.0,
        denominator_reg: float = 0.3,
    ) -> None:
        self.k = k
        self.min_k = min_k
        self.similarity = similarity
        self.center = center
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.max_neighbors = max_neighbors
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_bias_epochs = n_bias_epochs
        self.amplification = amplification
        self.denominator_reg = denominator_reg

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: linear in the ratings and in ``columns x max_neighbors``, never quadratic.

        Similarities are accumulated sparsely (no item x item or user x user
        block): the kernel reserves ``max_neighbors`` slots per compared
        column (items, or users for user-kNN) for its output, about 32 bytes
        a slot with the sparse matrices built from it; the fit also keeps
        five CSR copies of the ratings (ratings, the two kernel layouts,
        residuals, the seen mask) and a few float64 working arrays, about
        160 bytes a rating.
        """
        n_cols = int(n_items) if self._by_item else int(n_users)
        slots = n_cols * min(int(self.max_neighbors), n_cols)
        return 160 * int(n_ratings) + 32 * slots + 64 * (int(n_users) + int(n_items))

    def _validate(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise InvalidParameter(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.center not in CENTERS:
            raise InvalidParameter(f"center must be one of {CENTERS}, got {self.center!r}")
        if self.k < 1 or self.min_k < 0 or self.max_neighbors < 1:
            raise InvalidParameter("k and max_neighbors must be >= 1, min_k >= 0")
        if self.amplification <= 0 or self.denominator_reg < 0:
            raise InvalidParameter("amplification must be > 0 and denominator_reg >= 0")

    def fit(self, data: Interactions) -> Self:
        """Compute baselines, means and the truncated similarity matrix."""
        self._validate()
        r = self._fit_statistics(data)
        u, i = data.users.astype(np.int64), data.items.astype(np.int64)
        constant, user_offset, item_offset = self._offsets()
        x = r - ((constant + user_offset[u]) + item_offset[i])
        # the compared columns are items (rows: users) or users (rows: items)
        rows, cols = (u, i) if self._by_item else (i, u)
        n_cols = data.n_items if self._by_item else data.n_users
        by_row = _csr(rows, cols, x, (data.n_users if self._by_item else data.n_items, n_cols))
        by_col = _csr(cols, rows, x, (n_cols, by_row.shape[0]))
        full, trunc = self._neighbours(by_col, by_row, exclude=np.arange(n_cols, dtype=np.int64), require_new=False)
        self.similarity_ = full
        if self._by_item:
            self.truncated_ = trunc
        else:
            self.profiles_ = by_row  # items x users: what a history is compared against
        return self

    def similarity_offsets(self, data: Interactions) -> tuple[float, FloatArray, FloatArray]:
        """What :meth:`fit` on ``data`` subtracts from each rating before comparing: ``c + user[u] + item[i]``.

        The similarity is the cosine of these centred values over the common
        support (see :mod:`cinerec.algorithms._neighbours`); an engine that
        computes it elsewhere (:mod:`cinerec.algorithms.spark_knn`) centres
        with these offsets. Implicit data compares 1 for every interaction
        (offsets 0). This model is left unfitted.

        Returns:
            ``(constant, user_offsets, item_offsets)``, the arrays indexed like ``data``'s vocabularies.
        """
        self._validate()
        probe = type(self)(**self.get_params())
        probe._fit_statistics(data)
        return probe._offsets()

    def _offsets(self) -> tuple[float, FloatArray, FloatArray]:
        """The centring of :meth:`similarity_offsets`, from the fitted statistics."""
        zeros_u, zeros_i = np.zeros(self.n_users_), np.zeros(self.n_items_)
        if not self.explicit_ or self.similarity == "cosine":
            return 0.0, zeros_u, zeros_i
        if self.similarity == "pearson_baseline":
            return float(self.mu_), self.user_bias_, self.item_bias_
        # pearson removes the compared side's mean, adjusted cosine the other side's
        if (self.similarity == "pearson") == self._by_item:
            return 0.0, zeros_u, self.item_mean_
        return 0.0, self.user_mean_, zeros_i

    def _fit_statistics(self, data: Interactions) -> FloatArray:
        """Everything :meth:`fit` learns except the similarities; returns the values compared (ratings or ones)."""
        self._remember(data)
        self._kernel_view: _KernelView | None = None
        explicit = data.ratings is not None
        self.explicit_ = explicit
        r: FloatArray = data.ratings if data.ratings is not None else np.ones(len(data))
        u, i = data.users.astype(np.int64), data.items.astype(np.int64)
        cu = np.maximum(np.bincount(u, minlength=data.n_users), 1)
        ci = np.maximum(np.bincount(i, minlength=data.n_items), 1)
        self.user_mean_ = np.bincount(u, weights=r, minlength=data.n_users) / cu
        self.item_mean_ = np.bincount(i, weights=r, minlength=data.n_items) / ci
        if explicit:
            self.mu_, self.user_bias_, self.item_bias_ = fit_biases(data, self.reg_user, self.reg_item, self.n_bias_epochs)
            self.min_rating_, self.max_rating_ = data.rating_scale
        else:
            self.mu_, self.user_bias_, self.item_bias_ = 1.0, np.zeros(data.n_users), np.zeros(data.n_items)
            self.min_rating_, self.max_rating_ = 1.0, 1.0
        self.ratings_ = _csr(u, i, r, data.shape)
        self.residuals_ = _csr(u, i, r - self._centre(u, i), data.shape)
        return r

    def _neighbours(self, queries: sp.csr_matrix, by_row: sp.csr_matrix, *, exclude: IntArray,
                    require_new: bool) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Neighbours of each query row among the columns of ``by_row``: (all kept, top ``k``), amplified."""
        cached: _KernelView | None = getattr(self, "_kernel_view", None)
        if cached is None or cached[0] is not by_row:
            cached = (by_row, _ptr(by_row), np.bincount(by_row.indices, minlength=by_row.shape[1]).astype(np.int64))
            if by_row is getattr(self, "profiles_", None):
                # kept for the next request: every fresh history is compared with the same profiles
                self._kernel_view = cached
        _, (m_ptr, m_idx, m_val), col_nnz = cached
        counts, cols, sims, top = top_neighbours(
            *_ptr(queries), m_ptr, m_idx, m_val, col_nnz, exclude, require_new,
            float(self.shrinkage), int(self.min_support), int(self.max_neighbors), int(self.k),
        )
        if self.amplification != 1.0:
            sims = sims**self.amplification
        return _neighbour_matrices(counts, cols, sims, top, by_row.shape[1])

    def _centre(self, u: IntArray, i: IntArray) -> FloatArray:
        if self.center == "baseline":
            return self.mu_ + self.user_bias_[u] + self.item_bias_[i]
        if self.center == "mean":
            return self.item_mean_[i] if self._by_item else self.user_mean_[u]
        return np.zeros(len(u))

    # ------------------------------------------------------------ prediction
    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Predicted ratings for (user, item) pairs; unknowns fall back to the baseline/mean."""
        us, its, ku, ki = self._pairs(users, items)
        base = self._centre(us, its)
        if self.center == "baseline":
            base = self.mu_ + np.where(ku, self.user_bias_[us], 0) + np.where(ki, self.item_bias_[its], 0)
        elif self.center == "mean":
            fallback = self.mu_ if self.min_rating_ != self.max_rating_ else 1.0
            base = np.where(ki if self._by_item else ku, base, fallback)
        # the side whose history supplies the neighbours, and the side whose neighbours they are
        ctx, tgt = (us, its) if self._by_item else (its, us)
        resid = self.residuals_ if self._by_item else self.residuals_.T.tocsr()
        idx = np.flatnonzero(ku & ki)
        order = idx[np.argsort(ctx[idx], kind="stable")].astype(np.int64)
        adj = neighbour_adjustments(
            ctx.astype(np.int64), tgt.astype(np.int64), order, *_ptr(resid), *_ptr(self.similarity_),
            int(self.k), int(self.min_k), float(self.denominator_reg),
        )
        pred = base + adj
        if self.min_rating_ != self.max_rating_:
            pred = np.clip(pred, self.min_rating_, self.max_rating_)
        return np.asarray(pred, dtype=np.float64)


class ItemKNN(_KNN):
    """Item-based neighbourhood CF.

    Ranking: an item's score for a history is the sum of its similarities
    (among its ``k`` nearest neighbours) to the history's items; the values
    of a history do not weigh it (they choose only the explanations). The
    trained users' scores are the same product over their training items.

    Args:
        k: neighbours used per prediction (and kept per item for top-N scoring).
        min_k: fewer usable neighbours than this -> the baseline alone.
        similarity: ``cosine``, ``adjusted_cosine``, ``pearson`` or ``pearson_baseline``.
        center: ``none`` (weighted mean of ratings), ``mean`` (item-mean centred)
            or ``baseline`` (baseline residuals, the KNNBaseline idea).
        shrinkage: similarity shrinkage towards 0 for small support.
        min_support: minimum number of common users for a similarity.
        max_neighbors: similarities kept per item (memory bound).
        reg_user, reg_item, n_bias_epochs: the bias baseline's settings.
        amplification: similarities are raised to this power (case
            amplification: > 1 favours the closest neighbours).
        denominator_reg: added to the sum of neighbour similarities, so a
            prediction backed by weak neighbours stays near the baseline.
    """

    name: ClassVar[str] = "item-knn"
    _by_item: ClassVar[bool] = True

    @classmethod
    def from_neighbours(cls, data: Interactions, items: npt.ArrayLike, neighbours: npt.ArrayLike,
                        similarities: npt.ArrayLike, **params: Any) -> Self:
        """A fitted model on ``data`` whose similarities were computed elsewhere (e.g. on Spark).

        The baselines, means and residuals are fitted on ``data`` as
        :meth:`fit` does; the neighbour lists replace the similarity step.
        They must be what :meth:`fit` keeps: for each item at most
        ``max_neighbors`` positive similarities, before ``amplification``
        (applied here), of the values :meth:`similarity_offsets` centres.
        The ``k`` most similar of each item (ties: the smaller neighbour
        index) become the ranking matrix, so the result saves, serves,
        explains and scores histories like any fitted item-kNN.

        Args:
            data: the interactions the similarities were computed from.
            items, neighbours: raw item ids of each pair (``neighbour`` is similar to ``item``).
            similarities: the pair's similarity, in ``(0, 1]``.
            **params: the model's hyper-parameters (``k``, ``similarity``, ``shrinkage`` ...).

        Raises:
            InvalidParameter: an unknown or invalid hyper-parameter.
            DataFormatError: lists of different lengths, ids ``data`` does not know, self or repeated
                pairs, similarities that are not finite numbers in ``(0, 1]``, or more than
                ``max_neighbors`` neighbours for an item.
        """
        model = cls(**params)
        model._validate()
        a_raw, b_raw = np.asarray(items).ravel(), np.asarray(neighbours).ravel()
        sims = np.asarray(similarities, dtype=np.float64).ravel()
        if not len(a_raw) == len(b_raw) == len(sims):
            raise DataFormatError(f"{len(a_raw)} items, {len(b_raw)} neighbours and {len(sims)} similarities: "
                                  "give one of each per pair")
        # each distinct id looked up once: the lists name every item up to max_neighbors times
        distinct, where = np.unique(np.concatenate([a_raw, b_raw]), return_inverse=True)
        a, b = np.split(data.item_vocab.indices(distinct)[where], [len(a_raw)])
        unknown = np.flatnonzero((a < 0) | (b < 0))
        if len(unknown):
            e = unknown[0]
            raise DataFormatError(f"{len(unknown)} neighbour pair(s) name items the interactions do not have "
                                  f"(first: {a_raw[e]!r} -> {b_raw[e]!r})")
        if not np.isfinite(sims).all() or (sims <= 0).any() or (sims > 1 + 1e-9).any():
            raise DataFormatError("similarities must be finite numbers in (0, 1]")
        n = data.n_items
        key = a.astype(np.int64) * n + b
        if (a == b).any() or len(np.unique(key)) != len(key):
            raise DataFormatError("neighbour pairs must be distinct and never pair an item with itself")
        per_item = np.bincount(a, minlength=n)
        if len(per_item) and per_item.max() > model.max_neighbors:
            raise DataFormatError(f"item {data.item_vocab.ids[int(per_item.argmax())]!r} has {int(per_item.max())} "
                                  f"neighbours; max_neighbors is {model.max_neighbors}")
        model._fit_statistics(data)
        if model.amplification != 1.0:
            sims = sims**model.amplification
        # rank each item's neighbours: most similar first, ties to the smaller index
        order = np.lexsort((b, -sims, a))
        a, b, sims = a[order], b[order], sims[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(per_item, out=indptr[1:])
        top = np.arange(len(a)) - indptr[a] < model.k
        counts = per_item.astype(np.int64)
        model.similarity_, model.truncated_ = _neighbour_matrices(counts, b.astype(np.int64), sims, top, n)
        return model

    def _score_rows(self, history: sp.csr_matrix) -> FloatArray:
        """Scores of every item for each row of a 0/1 users x items history matrix (sorted indices)."""
        return np.asarray((history @ self.truncated_.T).toarray(), dtype=np.float64)

    def _score_known(self, users: IntArray) -> FloatArray:
        return self._score_rows(self.seen_[users])

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        it = np.sort(items)
        row = sp.csr_matrix((np.ones(len(it)), it, np.array([0, len(it)])), shape=(1, self.n_items_))
        return np.asarray(self._score_rows(row)[0], dtype=np.float64)

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """The history's (liked) films most similar to ``item``: "because you rated it"."""
        row = self.similarity_[item]
        s = np.zeros(self.n_items_)
        s[row.indices] = row.data
        sims = s[items]
        order = np.argsort(-sims, kind="stable")[:n]
        return [Reason("liked_item", "because you rated it", int(items[j]), float(sims[j])) for j in order if sims[j] > 0]


class UserKNN(_KNN):
    """User-based neighbourhood CF; same parameters as :class:`ItemKNN` with users as neighbours.

    Ranking finds the neighbours of a history: its similarity to every
    training user is computed as in training (the same centring: the
    history's own bias, fitted with ``reg_user``, for ``pearson_baseline``;
    its own mean for ``pearson``), over the films both rated, with the same
    shrinkage and support rules. Of the ``max_neighbors`` most similar, the
    ``k`` closest score every film by the sum of their similarities among
    those who interacted with it. A training user whose every film is in the
    history has nothing to add and is never a neighbour; this rule is what
    leaves a trained user out of their own neighbourhood, and trained users
    are ranked through this same path over their training ratings, so a
    user's training history ranks exactly as the trained user does.
    """

    name: ClassVar[str] = "user-knn"
    _by_item: ClassVar[bool] = False

    def _profile(self, indptr: IntArray, items: IntArray, values: FloatArray) -> FloatArray:
        """The histories' values centred as the training ratings were for the similarity."""
        n_rows = len(indptr) - 1
        rows = np.repeat(np.arange(n_rows), np.diff(indptr))
        if not self.explicit_:
            return np.ones(len(items))
        if self.similarity == "cosine":
            return np.asarray(values, dtype=np.float64).copy()
        if self.similarity == "pearson_baseline":
            count = np.diff(indptr).astype(np.float64)
            bu = np.bincount(rows, weights=values - self.mu_ - self.item_bias_[items], minlength=n_rows) / (self.reg_user + count)
            return values - (self.mu_ + bu[rows] + self.item_bias_[items])
        if self.similarity == "pearson":
            mean = np.bincount(rows, weights=values, minlength=n_rows) / np.maximum(np.diff(indptr), 1)
            return values - mean[rows]
        return values - self.item_mean_[items]

    def _history_neighbours(self, histories: sp.csr_matrix) -> sp.csr_matrix:
        """The ``k`` nearest training users of each history row (users x items, ratings, sorted indices)."""
        indptr, items, values = _ptr(histories)
        x = self._profile(indptr, items, values)
        queries = sp.csr_matrix((x, items, indptr), shape=histories.shape)
        exclude = np.full(histories.shape[0], -1, dtype=np.int64)
        return self._neighbours(queries, self.profiles_, exclude=exclude, require_new=True)[1]

    def _score_known(self, users: IntArray) -> FloatArray:
        return np.asarray((self._history_neighbours(self.ratings_[users]) @ self.seen_).toarray(), dtype=np.float64)

    def _history_row(self, items: IntArray, values: FloatArray) -> sp.csr_matrix:
        order = np.argsort(items, kind="stable")
        return sp.csr_matrix((values[order], items[order], np.array([0, len(items)])), shape=(1, self.n_items_))

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        w = self._history_neighbours(self._history_row(items, values))
        return np.asarray((w @ self.seen_).toarray()[0], dtype=np.float64)

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """ "N people with similar taste liked it": the history's neighbours who rated ``item`` at or above their mean."""
        w = self._history_neighbours(self._history_row(items, values))
        col = self.ratings_[:, item].tocsc()
        raters, ratings = col.indices, col.data
        liked = raters[ratings >= self.user_mean_[raters]] if self.explicit_ else raters
        weight = np.zeros(self.n_users_)
        weight[w.indices] = w.data
        people = liked[weight[liked] > 0]
        if not len(people):
            return []
        return [Reason("similar_users", f"{len(people)} people with similar taste liked it", None, float(weight[people].sum()))]
