"""Implicit-feedback latent top-N models: :class:`ImplicitALS` and :class:`BPR` (via ``implicit``).

EASE, an item-item model, lives in :mod:`cinerec.algorithms.item_item`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms._ann import LatentQuery
from cinerec.algorithms._latent import FoldInBlock, LatentFoldIn, bpr_fold_in
from cinerec.algorithms.base import FloatArray, IntArray
from cinerec.data.interactions import Interactions


class _LatentTopN(LatentFoldIn):
    """Shared state of the implicit latent models: a history is folded in against the fixed item factors."""

    fold_in_loss: ClassVar[str] = "implicit"
    n_factors: int
    user_factors_: FloatArray
    item_factors_: FloatArray

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: linear in the ratings and in ``(users + items) x n_factors``.

        ``implicit`` trains float32 factors (one more column for BPR's item
        bias) that are then copied to float64, 12 bytes a factor (16 with
        slack for its solver's buffers); the confidence matrix, its transpose,
        the seen mask and their conversions take about 112 bytes a rating
        (the resident growth measured by ``benchmarks/scale.py``: 0.79 GB for
        8M training ratings, 4.3 GB for 40M; what ``tracemalloc`` sees is
        about half of that).
        """
        factors = (int(n_users) + int(n_items)) * (int(self.n_factors) + 1)
        return 112 * int(n_ratings) + 16 * factors + 64 * (int(n_users) + int(n_items))

    def _score_known(self, users: IntArray) -> FloatArray:
        return np.asarray(self.user_factors_[users] @ self.item_factors_.T, dtype=np.float64)

    def _history_weights(self, values: FloatArray) -> FloatArray:
        """The history's values read as training read them: the values themselves, or one per interaction."""
        return values if getattr(self, "history_uses_values_", False) else np.ones(len(values))


def _single_thread_blas() -> AbstractContextManager[object]:
    """Limit BLAS to one thread: implicit's own threads and OpenBLAS's fight each other."""
    from threadpoolctl import threadpool_limits

    limits: AbstractContextManager[object] = threadpool_limits(1, "blas")
    return limits


class ImplicitALS(_LatentTopN):
    """Weighted matrix factorisation by alternating least squares (Hu, Koren, Volinsky 2008).

    Wraps :class:`implicit.als.AlternatingLeastSquares`. As in ``implicit``
    (0.5 and later), an interaction's confidence is ``alpha * value``, where
    value is its implicit weight (1 by default, or the rating with
    ``use_ratings``), and every other item has preference 0 with confidence 1.
    A fresh history is folded in by the same weighted least-squares solve.

    Args:
        n_factors: latent dimensions.
        regularization: L2 weight.
        alpha: confidence scaling.
        n_iterations: ALS sweeps.
        use_ratings: weight interactions by their rating.
        random_state: seed.
    """

    name: ClassVar[str] = "implicit-als"
    #: Set by :meth:`from_factors` only (Spark's confidence ``1 + alpha * r`` and ridge ``reg * n``).
    confidence_offset_: float
    reg_per_interaction_: bool

    def __init__(self, n_factors: int = 32, regularization: float = 10.0, alpha: float = 1.0,
                 n_iterations: int = 15, use_ratings: bool = False, random_state: int | None = 42) -> None:
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.n_iterations = n_iterations
        self.use_ratings = use_ratings
        self.random_state = random_state

    @classmethod
    def from_factors(cls, data: Interactions, user_factors: npt.ArrayLike, item_factors: npt.ArrayLike, *,
                     regularization: float, alpha: float, n_iterations: int, use_ratings: bool = False,
                     ) -> Self:
        """A fitted model from factors of Spark's implicit-feedback ALS (``implicitPrefs``).

        Spark weights an interaction of value ``r`` with confidence
        ``1 + alpha * r`` (``implicit`` uses ``alpha * r``) and regularises a
        user with ``regularization * n`` for ``n`` interactions (``implicit``:
        ``regularization``); the artifact records both (``confidence_offset_``
        and ``reg_per_interaction_``) so that a history is folded in by
        Spark's own user solve.

        Args:
            data: the interactions the factors were trained on (vocabularies,
                seen mask and the values a history is read with).
            user_factors: ``(n_users, k)`` rows aligned to ``data.user_vocab``.
            item_factors: ``(n_items, k)`` rows aligned to ``data.item_vocab``.
            regularization: Spark's ``regParam``.
            alpha: Spark's ``alpha``.
            n_iterations: Spark's ``maxIter``.
            use_ratings: the interaction values given to Spark were the
                ratings (else the implicit weights), as for :meth:`fit`.

        Raises:
            DataFormatError: factor shapes that do not match ``data`` or non-finite factors.
        """
        uf, itf = cls._checked_factors(data, user_factors, item_factors)
        model = cls(n_factors=uf.shape[1], regularization=regularization, alpha=alpha, n_iterations=n_iterations,
                    use_ratings=use_ratings, random_state=None)
        model._remember(data)
        model.user_factors_, model.item_factors_ = uf, itf
        model.history_uses_values_ = data.confidence_has_values(use_ratings)
        model.confidence_offset_ = 1.0
        model.reg_per_interaction_ = True
        return model

    def fit(self, data: Interactions) -> Self:
        """Fit with ``implicit`` and keep its factors as numpy arrays."""
        from implicit.cpu.als import AlternatingLeastSquares

        self._remember(data)
        self.__dict__.pop("confidence_offset_", None)
        self.__dict__.pop("reg_per_interaction_", None)
        with _single_thread_blas():
            model = AlternatingLeastSquares(
                factors=self.n_factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.n_iterations, random_state=self.random_state, calculate_training_loss=False,
            )
            model.fit(sp.csr_matrix(data.confidence(self.use_ratings), dtype=np.float32), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        self.history_uses_values_ = data.confidence_has_values(self.use_ratings)
        return self

    def _history_confidence(self, values: FloatArray) -> FloatArray:
        """``alpha * value``, the confidence ``implicit`` gives a stored interaction (Spark's: ``1 + alpha * value``)."""
        offset = float(getattr(self, "confidence_offset_", 0.0))
        return offset + float(self.alpha) * self._history_weights(values)

    def _fold_in_prior(self, n: int, m: int) -> list[FoldInBlock]:
        """The training ridge: ``regularization * I`` whatever the history's length (Spark's: times ``n``)."""
        scale = max(n, 1) if getattr(self, "reg_per_interaction_", False) else 1
        return [FoldInBlock(slice(0, m), float(self.regularization) * scale * np.eye(m), np.zeros(m))]


class BPR(_LatentTopN):
    """Bayesian Personalised Ranking (Rendle et al. 2009), via ``implicit``.

    A fresh history is folded in by maximising BPR's own pairwise objective
    for the user against the fixed item factors (see :meth:`_fold_in_solve`);
    history values are ignored, as training ignores them.

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
            model.fit(sp.csr_matrix(data.confidence(False), dtype=np.float32), show_progress=False)
        # implicit appends a bias column to both factor matrices: the dot product keeps it
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        return self

    def _design(self) -> FloatArray:
        """The item factors without ``implicit``'s item-bias column."""
        return np.asarray(self.item_factors_[:, :-1], dtype=np.float64)

    def _offset(self, items: IntArray, values: FloatArray) -> FloatArray:
        """The item-bias column (its user coordinate is fixed at 1)."""
        return np.asarray(self.item_factors_[:, -1], dtype=np.float64)

    def _explain_vectors(self) -> FloatArray:
        """The item factors without the bias column."""
        return self._design()

    def _history_query(self, items: IntArray, values: FloatArray, x: FloatArray, offset: FloatArray) -> LatentQuery:
        """``[x, 1]`` against the full item factors: the bias column is the offset."""
        return LatentQuery(np.zeros(1), np.r_[x, 1.0][None, :])

    def _fold_in_solve(self, items: IntArray, values: FloatArray, design: FloatArray, offset: FloatArray) -> FloatArray:
        """The user's vector that maximises BPR's own objective against the fixed items (Newton's method).

        Training visits each of a user's interactions ``i`` with a uniformly
        drawn item ``j`` the user has not interacted with and takes a step on
        ``log sigmoid(x . (v_i - v_j) + b_i - b_j) - reg/2 |x|^2``; its fixed
        point for the user is the maximiser of::

            sum_{i in history} mean_{j not in history} log sigmoid(x . (v_i - v_j) + b_i - b_j) - prior(x)

        which is concave in ``x``; a few damped Newton steps reach it. SGD for
        a fixed number of epochs leaves the trained user vectors far more
        shrunk than the small ``regularization`` implies, so the prior is the
        Gaussian of the trained users' vectors (mean and covariance) instead
        of ``regularization * I``: on ML-100K that raised top-10 overlap with
        the trained ranking from 0.60 to 0.74 (least squares: 0.20).
        """
        d = design.shape[1]
        prior = self._trained_user_gaussian(d)  # the first d columns: implicit's bias column is the last
        if prior is None:
            return bpr_fold_in(design, offset, items, float(self.regularization) * len(items) * np.eye(d), np.zeros(d))
        return bpr_fold_in(design, offset, items, *prior)

