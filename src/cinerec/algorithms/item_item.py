"""Item-item top-N models: a history row times an item x item weight matrix.

:class:`EASE` (Steck 2019), :class:`SLIM` (Ning & Karypis 2011) and :class:`RP3beta` (Paudel et
al. 2017) learn different weight matrices ``W`` but score the same way: a
user's row ``x`` of the training matrix times ``W``. The shared base
:class:`_ItemItem` writes that product once, for trained users and for fresh
histories alike (a trained user's own history gets exactly the trained
scores), and explains a score by each history film's contribution
``x_j W_j,item``.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.data.interactions import Interactions
from cinerec.errors import InvalidParameter

__all__ = ["EASE", "SLIM", "RP3beta"]


class _ItemItem(RecommenderBase):
    """Shared state and scoring of the item-item family.

    Subclasses fit ``weights_`` (dense ``ndarray`` or sparse CSR,
    ``(n_items, n_items)``, row ``j`` holding what film ``j`` in a history
    adds to every film's score) and keep the training rows in ``x_`` through
    :meth:`_keep_rows`.
    """

    use_ratings: bool
    weights_: FloatArray | sp.csr_matrix
    x_: sp.csr_matrix

    def _keep_rows(self, data: Interactions, x: sp.csr_matrix) -> None:
        """Keep the training rows ``x`` and whether their values (not 1s) were the rows' entries."""
        self.x_ = sp.csr_matrix(x, dtype=np.float64)
        self.history_uses_values_ = data.confidence_has_values(self.use_ratings)

    def _product(self, rows: sp.csr_matrix) -> FloatArray:
        """``rows @ W`` as a dense float array: the one product trained users and histories share."""
        out = rows @ self.weights_
        return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float64)

    def _score_known(self, users: IntArray) -> FloatArray:
        return self._product(self.x_[users])

    def _history_row(self, values: FloatArray) -> FloatArray:
        """The history's values as ``x_`` holds training values: the values, or one per interaction."""
        return values if getattr(self, "history_uses_values_", self.use_ratings) else np.ones(len(values))

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``x W`` for the history row ``x``, built like a training row (sorted items) and multiplied by the same code."""
        order = np.argsort(items, kind="stable")
        row = self._history_row(values)[order]
        x = sp.csr_matrix((row, items[order], np.array([0, len(items)])), shape=(1, self.n_items_), dtype=np.float64)
        scores: FloatArray = self._product(x)[0]
        return scores

    def _weight_column(self, items: IntArray, item: int) -> FloatArray:
        """``W[items, item]`` as a dense vector."""
        w = self.weights_
        col = w[items, item].toarray().ravel() if sp.issparse(w) else w[items, item]
        return np.asarray(col, dtype=np.float64)

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """The liked history films with the largest contribution ``x_j W_j,item`` to ``item``'s score."""
        contrib = self._history_row(values) * self._weight_column(items, item)
        order = np.argsort(-contrib, kind="stable")[:n]
        return [Reason("liked_item", "because you rated it", int(items[j]), float(contrib[j]))
                for j in order if contrib[j] > 0]



def _keep_top_per_column(w: sp.csc_matrix, k: int) -> sp.csc_matrix:
    """The ``k`` largest entries of each column of ``w`` (all of them for ``k <= 0``)."""
    w = sp.csc_matrix(w)
    if k <= 0:
        return w
    keep = np.zeros(w.nnz, dtype=bool)
    for j in range(w.shape[1]):
        lo, hi = w.indptr[j], w.indptr[j + 1]
        if hi - lo <= k:
            keep[lo:hi] = True
        else:
            keep[lo + np.argpartition(-w.data[lo:hi], k - 1)[:k]] = True
    coo = w.tocoo()
    return sp.csc_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=w.shape)


class EASE(_ItemItem):
    """Embarrassingly Shallow Autoencoder (Steck 2019): closed-form item-item weights.

    ``B = I - P / diag(P)`` with ``P = (X^T X + lambda I)^-1``, diagonal zeroed;
    scores are ``X_u B``. Memory is ``O(n_items^2)``, so item count is capped.

    EDLAE's emphasised-denoising ridge (Steck 2020, ``p / (1 - p) diag(X^T X)
    + lambda I``) was tried and not kept: on the inner validation splits it
    gained 0.003 NDCG@10 on ML-100K but lost 0.001 on ml-latest-small.

    Args:
        regularization: the ``lambda`` on the diagonal.
        use_ratings: use ratings instead of 1s in ``X``.
        max_items: refuse catalogues larger than this (dense item x item matrix).
    """

    name: ClassVar[str] = "ease"

    def __init__(self, regularization: float = 500.0, use_ratings: bool = False, max_items: int = 20000) -> None:
        self.regularization = regularization
        self.use_ratings = use_ratings
        self.max_items = max_items

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: quadratic in the catalogue, ``32 n_items^2`` bytes.

        The Gram matrix ``X^T X`` is made dense (float64, ``8 n^2``), its
        inverse ``P`` and the weights ``B`` are two more float64 copies and
        the kept weights a float32 one (``4 n^2``), all alive at the end of
        the fit, plus LAPACK's workspace (``4 n^2`` of slack: the resident
        growth measured at 10,677 films was 3.9 GB against 3.3 GB for
        ``28 n^2``). 50,000 films need about 75 GiB; the ratings add about
        48 bytes each (``X`` in float32 and float64, the seen mask).
        """
        n = int(n_items)
        return 32 * n * n + 48 * int(n_ratings) + 64 * (int(n_users) + n)

    def fit(self, data: Interactions) -> Self:
        """Solve the closed form.

        Raises:
            InvalidParameter: more items than ``max_items``.
        """
        if data.n_items > self.max_items:
            raise InvalidParameter(
                f"EASE needs a dense {data.n_items}x{data.n_items} matrix; raise max_items or use item-knn/implicit-als"
            )
        self._remember(data)
        x = data.confidence(self.use_ratings).astype(np.float64)
        g = (x.T @ x).toarray()
        g[np.diag_indices_from(g)] += self.regularization
        p = np.linalg.inv(g)
        b = p / (-np.diag(p))
        b[np.diag_indices_from(b)] = 0.0
        self.weights_ = b.astype(np.float32)
        self._keep_rows(data, x)
        return self


class SLIM(_ItemItem):
    """Sparse Linear Methods (Ning & Karypis 2011) with an ElasticNet per item.

    Each film's column of ``X`` is regressed on the other films' columns with
    a non-negative ElasticNet without intercept (scikit-learn's coordinate
    descent on the sparse matrix); the coefficients are column ``j`` of the
    sparse weights ``W`` (diagonal 0: a film never explains itself). The
    objective per film is ``1/(2 n_users) |x_j - X w|^2 + alpha l1_ratio |w|_1
    + alpha (1 - l1_ratio)/2 |w|^2``. Each descent starts from 0: warm
    starts from the previous film's weights were no faster (43.9 s against
    44.2 s for 1,500 films of ml-latest-small) and, stopped at ``tol``,
    depended on the order of the films.

    Args:
        alpha: overall penalty strength.
        l1_ratio: share of the L1 part of the penalty.
        top_k: keep only the ``top_k`` largest weights per film (0: keep all).
        max_iter: coordinate-descent sweeps per film.
        tol: convergence tolerance of the descent.
        use_ratings: use ratings instead of 1s in ``X``.
    """

    name: ClassVar[str] = "slim"

    def __init__(self, alpha: float = 0.3, l1_ratio: float = 0.003, top_k: int = 0, max_iter: int = 100,
                 tol: float = 1e-4, use_ratings: bool = False) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.top_k = top_k
        self.max_iter = max_iter
        self.tol = tol
        self.use_ratings = use_ratings

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: linear in the ratings and in the kept weights.

        ``X`` as CSC and CSR (float64, about 40 bytes a rating with the seen
        mask), a dense coefficient vector per film, and the weights collected
        as COO triplets (at most ``n_items`` per film; 16 bytes each, twice
        while converting to CSR). The kept weights are bounded by ``top_k``
        or, without it, by every pair of films (a crude upper bound; real
        ElasticNet solutions are far sparser).
        """
        n = int(n_items)
        per_film = int(self.top_k) if self.top_k > 0 else min(n, max(1, int(n_ratings) // max(n, 1) * 4))
        return 48 * int(n_ratings) + 32 * n * per_film + 64 * (int(n_users) + n) + 8 * n

    def fit(self, data: Interactions) -> Self:
        """Fit one ElasticNet per film (about a minute on ml-latest-small's 9,000 films, one core)."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import ElasticNet

        self._remember(data)
        x = data.confidence(self.use_ratings).astype(np.float64)  # a copy: the cached matrix stays as it is
        x.sort_indices()
        xc = sp.csc_matrix(x)
        xc.sort_indices()
        n = data.n_items
        net = ElasticNet(alpha=self.alpha, l1_ratio=self.l1_ratio, positive=True, fit_intercept=False, copy_X=False,
                         precompute=False, selection="cyclic", max_iter=self.max_iter, tol=self.tol)
        rows: list[IntArray] = []
        cols: list[IntArray] = []
        vals: list[FloatArray] = []
        y = np.zeros(data.n_users, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for j in range(n):
                users = xc.indices[xc.indptr[j]:xc.indptr[j + 1]]
                # With X and w non-negative, a film no user of film j rated has gradient -X_k^T X w <= 0 at every
                # step, so the positive solution leaves it at 0: fitting on the co-rated films alone is the same
                # solution (bit for bit, measured) and 2.7x faster on ml-latest-small.
                cand = np.unique(x[users].indices)
                cand = cand[cand != j]
                if not len(cand):
                    continue
                y[:] = 0.0
                y[users] = xc.data[xc.indptr[j]:xc.indptr[j + 1]]
                net.fit(xc[:, cand], y, check_input=False)
                nz = np.flatnonzero(net.coef_ > 0)
                rows.append(cand[nz].astype(np.int64))
                cols.append(np.full(len(nz), j, dtype=np.int64))
                vals.append(np.asarray(net.coef_[nz], dtype=np.float64))
        r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
        v = np.concatenate(vals) if vals else np.empty(0)
        w = _keep_top_per_column(sp.csc_matrix((v, (r, c)), shape=(n, n)), int(self.top_k))
        self.weights_ = sp.csr_matrix(w, dtype=np.float32)
        self._keep_rows(data, x)
        return self


class RP3beta(_ItemItem):
    """Random walks of length three with popularity penalisation (Paudel et al. 2017; Dacrema et al. 2019).

    With ``P_ui`` the user-to-film transition matrix (``X`` with rows summed
    to 1) and ``P_iu`` the film-to-user one (``X^T`` likewise), the
    similarity of film ``i`` to film ``j`` is the probability of walking
    ``i -> u -> j`` with every step probability raised to ``alpha``, divided
    by ``pop_j^beta`` (``pop_j``: film ``j``'s number of users), as in
    Dacrema et al.'s reference code::

        W_ij = sum_u P_iu^alpha P_uj^alpha / pop_j^beta

    Each film keeps its ``top_k`` most similar films, and each row of ``W``
    is then normalised to sum to 1.

    Args:
        alpha: exponent of the transition probabilities (1: the plain walk).
        beta: popularity penalty exponent (0: none).
        top_k: neighbours kept per film.
        use_ratings: walk on ratings instead of 1s.
    """

    name: ClassVar[str] = "rp3beta"

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, top_k: int = 400, use_ratings: bool = False) -> None:
        self.alpha = alpha
        self.beta = beta
        self.top_k = top_k
        self.use_ratings = use_ratings

    #: Films whose similarity rows are made dense at once.
    _block: ClassVar[int] = 512

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: the ratings' copies, one dense block of rows and the kept neighbours.

        The two transition matrices and ``X`` (about 64 bytes a rating with
        the seen mask), a dense ``512 x n_items`` block of similarities with
        its sort keys (24 bytes a cell) and ``top_k`` neighbours per film as
        triplets (24 bytes each, twice while converting).
        """
        n = int(n_items)
        return 64 * int(n_ratings) + 24 * min(self._block, n) * n + 48 * n * int(self.top_k) + 64 * (int(n_users) + n)

    def fit(self, data: Interactions) -> Self:
        """Compute the similarities block by block.

        Raises:
            InvalidParameter: ``top_k < 1``.
        """
        if self.top_k < 1:
            raise InvalidParameter(f"RP3beta top_k must be at least 1, got {self.top_k}")
        self._remember(data)
        x = data.confidence(self.use_ratings).astype(np.float64)
        n = data.n_items
        p_ui = _rows_to_one(x).power(self.alpha)
        p_iu = _rows_to_one(sp.csr_matrix(x.T)).power(self.alpha)
        pop = np.diff(sp.csc_matrix(x).indptr).astype(np.float64)
        penalty = np.divide(1.0, pop ** self.beta, out=np.zeros(n), where=pop > 0)
        k = min(int(self.top_k), n - 1) if n > 1 else 0
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for start in range(0, n, self._block):
            stop = min(start + self._block, n)
            block = (p_iu[start:stop] @ p_ui).toarray() * penalty[None, :]
            block[np.arange(stop - start), np.arange(start, stop)] = 0.0
            if k <= 0:
                continue
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
            v = np.take_along_axis(block, top, axis=1)
            keep = v > 0
            rows.append(np.repeat(np.arange(start, stop), keep.sum(axis=1)))
            cols.append(top[keep])
            vals.append(v[keep])
        r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
        v = np.concatenate(vals) if vals else np.empty(0)
        w = _rows_to_one(sp.csr_matrix((v, (r, c)), shape=(n, n)))
        self.weights_ = sp.csr_matrix(w, dtype=np.float32)
        self._keep_rows(data, x)
        return self


def _rows_to_one(m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` with every non-empty row divided by its sum (rows of non-negative entries)."""
    m = sp.csr_matrix(m, dtype=np.float64, copy=True)
    sums = np.asarray(m.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    m.data *= np.repeat(scale, np.diff(m.indptr))
    return m
