"""Neighbourhood collaborative filtering: :class:`ItemKNN` and :class:`UserKNN`.

One mechanism serves both: similarities are computed between the columns of
a matrix (items of the user x item matrix, or users of its transpose), with
sums taken over *common* support only, optional shrinkage
``n / (n + shrinkage)`` and a minimum support. Each column keeps its
``max_neighbors`` most similar positive neighbours as a sparse matrix, never
a dense n x n matrix.

Rating prediction follows Koren's neighbourhood model (the KNNBaseline idea
when ``center="baseline"``): ``b_ui + sum_j s_ij (r_uj - b_uj) / sum_j s_ij``
over the ``k`` most similar neighbours the user has rated.
"""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.algorithms.baseline import fit_biases
from cinerec.data.interactions import Interactions
from cinerec.errors import InvalidParameter

Similarity = Literal["cosine", "adjusted_cosine", "pearson", "pearson_baseline"]
Center = Literal["none", "mean", "baseline"]
SIMILARITIES = ("cosine", "adjusted_cosine", "pearson", "pearson_baseline")
CENTERS = ("none", "mean", "baseline")
_BLOCK_BYTES = 256 * 1024**2


def column_similarity(
    values: sp.spmatrix,
    support: sp.spmatrix,
    *,
    shrinkage: float,
    min_support: int,
    max_neighbors: int,
) -> sp.csr_matrix:
    """Similarity between the columns of ``values`` over common support.

    ``sim(a, b) = sum x_a x_b / sqrt(sum x_a^2 * sum x_b^2)``, all sums over the
    rows where both columns are stored, times ``(n - 1) / (n - 1 + shrinkage)``
    for support ``n``. Pairs with support below ``min_support`` get 0.

    Args:
        values: the matrix whose columns are compared.
        support: 1 where a value is observed (a value of exactly 0 still counts).
        shrinkage, min_support, max_neighbors: see the class docs.

    Returns:
        CSR ``(n_cols, n_cols)``: row ``a`` holds the ``max_neighbors`` largest
        positive similarities of column ``a`` (diagonal excluded).
    """
    x = sp.csc_matrix(values, dtype=np.float64)
    b = sp.csc_matrix(support, dtype=np.float64)
    x2 = x.multiply(x).tocsc()
    xt, bt, x2t = x.T.tocsr(), b.T.tocsr(), x2.T.tocsr()
    n = x.shape[1]
    block = max(1, min(n, _BLOCK_BYTES // (8 * 5 * max(n, 1))))
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    keep = max(1, min(max_neighbors, n - 1)) if n > 1 else 0
    for start in range(0, n, block):
        cols = np.arange(start, min(n, start + block))
        num = (xt @ x[:, cols]).toarray()
        sa = (x2t @ b[:, cols]).toarray()
        sb = (bt @ x2[:, cols]).toarray()
        cnt = (bt @ b[:, cols]).toarray()
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = num / np.sqrt(sa * sb)
        sim[~np.isfinite(sim)] = 0.0
        if shrinkage > 0:
            sim *= np.maximum(cnt - 1, 0) / (np.maximum(cnt - 1, 0) + shrinkage)
        sim[cnt < max(min_support, 1)] = 0.0
        sim[cols, np.arange(len(cols))] = 0.0
        if keep == 0:
            continue
        if keep < n:
            top = np.argpartition(-sim, keep - 1, axis=0)[:keep]
        else:
            top = np.broadcast_to(np.arange(n)[:, None], sim.shape)
        tv = np.take_along_axis(sim, top, axis=0)
        pos = tv > 0
        # result is symmetric in its inputs; row = the column whose neighbours these are
        rows_out.append(np.broadcast_to(cols[None, :], top.shape)[pos])
        cols_out.append(top[pos])
        vals_out.append(tv[pos])
    if not rows_out:
        return sp.csr_matrix((n, n))
    out = sp.csr_matrix(
        (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(cols_out))), shape=(n, n)
    )
    out.sort_indices()
    return out


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
        self._remember(data)
        explicit = data.ratings is not None
        r: FloatArray = data.ratings if data.ratings is not None else np.ones(len(data))
        u, i = data.users, data.items
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
        baseline = self.mu_ + self.user_bias_[u] + self.item_bias_[i]
        if not explicit or self.similarity == "cosine":
            x = r
        elif self.similarity == "pearson_baseline":
            x = r - baseline
        elif self.similarity == "pearson":
            x = r - (self.item_mean_[i] if self._by_item else self.user_mean_[u])
        else:  # adjusted cosine: remove the other side's mean
            x = r - (self.user_mean_[u] if self._by_item else self.item_mean_[i])
        mat = sp.csr_matrix((x + 0.0, (u, i)), shape=data.shape)
        support = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=data.shape)
        if not self._by_item:
            mat, support = mat.T.tocsr(), support.T.tocsr()
        self.similarity_ = column_similarity(
            mat, support, shrinkage=self.shrinkage, min_support=self.min_support, max_neighbors=self.max_neighbors,
        )
        if self.amplification != 1.0:
            self.similarity_.data **= self.amplification
        centre = self._centre(u, i)
        self.residuals_ = sp.csr_matrix((r - centre, (u, i)), shape=data.shape)
        self.truncated_ = _truncate_rows(self.similarity_, self.k)
        return self

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
        u, i = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        base = self._centre(us, its)
        if self.center == "baseline":
            base = self.mu_ + np.where(ku, self.user_bias_[us], 0) + np.where(ki, self.item_bias_[its], 0)
        elif self.center == "mean":
            fallback = self.mu_ if self.min_rating_ != self.max_rating_ else 1.0
            base = np.where(ki if self._by_item else ku, base, fallback)
        pred = base.copy()
        both = ku & ki
        # group pairs by the side whose history supplies the neighbours
        ctx = u if self._by_item else i
        tgt = i if self._by_item else u
        resid = self.residuals_ if self._by_item else self.residuals_.T.tocsr()
        sim = self.similarity_
        idx = np.flatnonzero(both)
        if len(idx):
            order = idx[np.argsort(ctx[idx], kind="stable")]
            cs = ctx[order]
            bounds = np.r_[0, np.flatnonzero(cs[1:] != cs[:-1]) + 1, len(cs)]
            for a, b in itertools.pairwise(bounds):
                rows = order[a:b]
                c = cs[a]
                hist = resid.indices[resid.indptr[c] : resid.indptr[c + 1]]
                if len(hist) == 0:
                    continue
                hres = resid.data[resid.indptr[c] : resid.indptr[c + 1]]
                s = sim[tgt[rows]][:, hist].toarray()
                kk = min(self.k, s.shape[1])
                if kk < s.shape[1]:
                    top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
                    s = np.take_along_axis(s, top, axis=1)
                    rr = hres[top]
                else:
                    rr = np.broadcast_to(hres, s.shape)
                s = np.where(s > 0, s, 0.0)
                den = s.sum(axis=1)
                nn = (s > 0).sum(axis=1)
                ok = (den > 0) & (nn >= self.min_k)
                adj = np.where(ok, (s * rr).sum(axis=1) / np.where(den > 0, den + self.denominator_reg, 1), 0.0)
                pred[rows] = pred[rows] + adj
        if self.min_rating_ != self.max_rating_:
            pred = np.clip(pred, self.min_rating_, self.max_rating_)
        return pred

    # --------------------------------------------------------------- ranking
    def _score_known(self, users: IntArray) -> FloatArray:
        seen = self.seen_[users]
        if self._by_item:
            return np.asarray((seen @ self.truncated_.T).toarray(), dtype=np.float64)
        return np.asarray((self.truncated_[users] @ self.seen_).toarray(), dtype=np.float64)

    def explain(self, user: int, item: int, n: int = 3) -> list[Reason]:
        """The user's rated items most similar to ``item`` (item-based) or similar users (user-based)."""
        self._check_fitted()
        if self._by_item:
            hist = self.seen_.indices[self.seen_.indptr[user] : self.seen_.indptr[user + 1]]
            s = self.similarity_[item][:, hist].toarray().ravel()
            order = np.argsort(-s)[:n]
            return [Reason("liked_item", "because you rated it", int(hist[j]), float(s[j])) for j in order if s[j] > 0]
        s = self.truncated_[user]
        raters = set(self.seen_[:, item].nonzero()[0].tolist())
        pairs = [(int(v), float(w)) for v, w in zip(s.indices, s.data, strict=True) if v in raters]
        pairs.sort(key=lambda p: -p[1])
        return [Reason("similar_users", f"{len(pairs)} people with similar taste liked it", None, sum(w for _, w in pairs))][: min(n, 1)] if pairs else []


def _truncate_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row."""
    m = m.tocsr()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m.copy()
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-m.data, rows))
    rank = np.arange(len(order)) - np.repeat(m.indptr[:-1], counts)
    keep = order[rank < k]
    out = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    out.sort_indices()
    return out


class ItemKNN(_KNN):
    """Item-based neighbourhood CF.

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


class UserKNN(_KNN):
    """User-based neighbourhood CF; same parameters as :class:`ItemKNN` with users as neighbours."""

    name: ClassVar[str] = "user-knn"
    _by_item: ClassVar[bool] = False
