"""Implicit-feedback top-N models: :class:`ImplicitALS`, :class:`BPR` (via ``implicit``) and :class:`EASE`."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.data.interactions import Interactions
from cinerec.errors import InvalidParameter


def _confidence(data: Interactions, use_ratings: bool) -> sp.csr_matrix:
    """User x item confidence: ratings (if asked and present) or implicit weights."""
    m = data.matrix if (use_ratings and data.ratings is not None) else data.implicit_matrix
    return sp.csr_matrix(m, dtype=np.float32)


class _LatentTopN(RecommenderBase):
    user_factors_: FloatArray
    item_factors_: FloatArray
    def _score_known(self, users: IntArray) -> FloatArray:
        return np.asarray(self.user_factors_[users] @ self.item_factors_.T, dtype=np.float64)

    def explain(self, user: int, item: int, n: int = 3) -> list[Reason]:
        """The user's items whose latent vectors are closest to ``item``'s."""
        return self._explain_by_vectors(self.item_factors_, user, item, n)


def _single_thread_blas() -> AbstractContextManager[object]:
    """Limit BLAS to one thread: implicit's own threads and OpenBLAS's fight each other."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


class ImplicitALS(_LatentTopN):
    """Weighted matrix factorisation by alternating least squares (Hu, Koren, Volinsky 2008).

    Wraps :class:`implicit.als.AlternatingLeastSquares`; confidence is
    ``1 + alpha * value`` where value is 1 per interaction (or the rating
    with ``use_ratings``).

    Args:
        n_factors: latent dimensions.
        regularization: L2 weight.
        alpha: confidence scaling.
        n_iterations: ALS sweeps.
        use_ratings: weight interactions by their rating.
        random_state: seed.
    """

    name: ClassVar[str] = "implicit-als"

    def __init__(self, n_factors: int = 32, regularization: float = 10.0, alpha: float = 1.0,
                 n_iterations: int = 15, use_ratings: bool = False, random_state: int | None = 42) -> None:
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.n_iterations = n_iterations
        self.use_ratings = use_ratings
        self.random_state = random_state

    def fit(self, data: Interactions) -> Self:
        """Fit with ``implicit`` and keep its factors as numpy arrays."""
        from implicit.cpu.als import AlternatingLeastSquares

        self._remember(data)
        with _single_thread_blas():
            model = AlternatingLeastSquares(
                factors=self.n_factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.n_iterations, random_state=self.random_state, calculate_training_loss=False,
            )
            model.fit(_confidence(data, self.use_ratings), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        return self

    def fold_in(self, items: IntArray, values: FloatArray) -> FloatArray:
        """A user vector from (item, value) pairs by one weighted least-squares solve."""
        self._check_fitted()
        y = self.item_factors_[np.asarray(items, dtype=np.int64)]
        c = 1.0 + self.alpha * np.asarray(values, dtype=np.float64)
        yty = self.item_factors_.T @ self.item_factors_
        a = yty + (y.T * (c - 1.0)) @ y + self.regularization * np.eye(y.shape[1])
        return np.linalg.solve(a, (y.T * c).sum(axis=1))

    def score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """Item scores for the :meth:`fold_in` vector of a history."""
        return np.asarray(self.item_factors_ @ self.fold_in(items, values), dtype=np.float64)


class BPR(_LatentTopN):
    """Bayesian Personalised Ranking (Rendle et al. 2009), via ``implicit``.

    Args:
        n_factors: latent dimensions.
        learning_rate: SGD step.
        regularization: L2 weight.
        n_iterations: epochs.
        random_state: seed.
    """

    name: ClassVar[str] = "bpr"

    def __init__(self, n_factors: int = 64, learning_rate: float = 0.005, regularization: float = 0.01,
                 n_iterations: int = 100, random_state: int | None = 42) -> None:
        self.n_factors = n_factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.n_iterations = n_iterations
        self.random_state = random_state

    def fit(self, data: Interactions) -> Self:
        """Fit with ``implicit`` (single-threaded for determinism)."""
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self._remember(data)
        with _single_thread_blas():
            model = BayesianPersonalizedRanking(
                factors=self.n_factors, learning_rate=self.learning_rate, regularization=self.regularization,
                iterations=self.n_iterations, random_state=self.random_state, num_threads=1,
            )
            model.fit(_confidence(data, False), show_progress=False)
        # implicit appends a bias column to both factor matrices: the dot product keeps it
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        return self


class EASE(RecommenderBase):
    """Embarrassingly Shallow Autoencoder (Steck 2019): closed-form item-item weights.

    ``B = I - P / diag(P)`` with ``P = (X^T X + lambda I)^-1``, diagonal zeroed;
    scores are ``X_u B``. Memory is ``O(n_items^2)``, so item count is capped.

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

    def fit(self, data: Interactions) -> Self:
        """Solve the closed form."""
        if data.n_items > self.max_items:
            raise InvalidParameter(
                f"EASE needs a dense {data.n_items}x{data.n_items} matrix; raise max_items or use item-knn/implicit-als"
            )
        self._remember(data)
        x = _confidence(data, self.use_ratings).astype(np.float64)
        g = (x.T @ x).toarray()
        g[np.diag_indices_from(g)] += self.regularization
        p = np.linalg.inv(g)
        b = p / (-np.diag(p))
        b[np.diag_indices_from(b)] = 0.0
        self.weights_ = b.astype(np.float32)
        self.x_ = x.tocsr()
        return self

    def _score_known(self, users: IntArray) -> FloatArray:
        return np.asarray(self.x_[users] @ self.weights_, dtype=np.float64)

    def score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``x B`` for a history row ``x`` (values with ``use_ratings``, else ones)."""
        self._check_fitted()
        it = np.asarray(items, dtype=np.int64)
        x = np.asarray(values, dtype=np.float64) if self.use_ratings else np.ones(len(it))
        return np.asarray(x @ self.weights_[it], dtype=np.float64)

    def explain(self, user: int, item: int, n: int = 3) -> list[Reason]:
        """The user's items with the largest weight towards ``item``."""
        self._check_fitted()
        row = self.x_[user]
        contrib = row.data * self.weights_[row.indices, item]
        order = np.argsort(-contrib)[:n]
        return [Reason("liked_item", "because you rated it", int(row.indices[j]), float(contrib[j])) for j in order if contrib[j] > 0]
