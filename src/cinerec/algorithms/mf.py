"""Explicit matrix factorisation: :class:`BiasedMF` (Funk SVD) and :class:`SVDpp`.

Both train with stochastic gradient descent over individual ratings in a
compiled loop (numba), seeded through ``random_state``.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from cinerec.algorithms import _sgd
from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError, InvalidParameter, ModelFitError


class _FactorModel(RecommenderBase):
    predicts_ratings: ClassVar[bool] = True

    def _user_vectors(self, users: IntArray) -> FloatArray:
        return self.user_factors_[users]

    def _score_known(self, users: IntArray) -> FloatArray:
        pu = self._user_vectors(users)
        return self.mu_ + self.user_bias_[users][:, None] + self.item_bias_[None, :] + pu @ self.item_factors_.T

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Predicted ratings, clipped to the training scale; unknown users/items use the biases left."""
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        ku = (u >= 0) & (u < self.n_users_)
        ki = (i >= 0) & (i < self.n_items_)
        us, its = np.where(ku, u, 0), np.where(ki, i, 0)
        pu = self._user_vectors(us)
        dot = np.einsum("ij,ij->i", pu, self.item_factors_[its])
        p = self.mu_ + np.where(ku, self.user_bias_[us], 0.0) + np.where(ki, self.item_bias_[its], 0.0) + np.where(ku & ki, dot, 0.0)
        return np.clip(p, self.min_rating_, self.max_rating_)

    def fold_in(self, items: IntArray, values: FloatArray) -> FloatArray:
        """A new user's factor vector from ratings, by ridge regression on fixed item factors.

        Returns:
            ``[bias, factors...]`` for the user.
        """
        self._check_fitted()
        it = np.asarray(items, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64) - self.mu_ - self.item_bias_[it]
        q = np.c_[np.ones(len(it)), self.item_factors_[it]]
        reg = np.eye(q.shape[1]) * max(self.reg_factor * max(len(it), 1), 1e-3)
        return np.linalg.solve(q.T @ q + reg, q.T @ v)

    def explain(self, user: int, item: int, n: int = 3) -> list[Reason]:
        """The user's rated items whose factors point most the same way as ``item``'s."""
        self._check_fitted()
        hist = self.seen_.indices[self.seen_.indptr[user] : self.seen_.indptr[user + 1]]
        if not len(hist):
            return []
        q = self.item_factors_
        a = q[item] / (np.linalg.norm(q[item]) + 1e-12)
        h = q[hist] / (np.linalg.norm(q[hist], axis=1, keepdims=True) + 1e-12)
        s = h @ a
        order = np.argsort(-s)[:n]
        return [Reason("liked_item", "because you rated it", int(hist[j]), float(s[j])) for j in order if s[j] > 0]

    def _init(self, data: Interactions) -> tuple[np.random.Generator, FloatArray]:
        if data.ratings is None:
            raise DataFormatError(f"{self.name} needs explicit ratings; use implicit-als or bpr for implicit data")
        if self.n_factors < 1 or self.n_epochs < 0:
            raise InvalidParameter("n_factors must be >= 1 and n_epochs >= 0")
        self._remember(data)
        rng = np.random.default_rng(self.random_state)
        self.mu_ = float(data.ratings.mean()) if len(data) else 0.0
        self.min_rating_, self.max_rating_ = data.rating_scale
        self.user_bias_ = np.zeros(data.n_users)
        self.item_bias_ = np.zeros(data.n_items)
        self.user_factors_ = rng.normal(self.init_mean, self.init_std, (data.n_users, self.n_factors))
        self.item_factors_ = rng.normal(self.init_mean, self.init_std, (data.n_items, self.n_factors))
        return rng, np.asarray(data.ratings, dtype=np.float64)

    def _check_finite(self) -> None:
        if not (np.isfinite(self.user_factors_).all() and np.isfinite(self.item_factors_).all()):
            raise ModelFitError(f"{self.name} diverged (non-finite factors); lower the learning rate")


class BiasedMF(_FactorModel):
    """Biased matrix factorisation trained by SGD (Funk SVD, as Surprise's SVD).

    ``r_ui ~ mu + b_u + b_i + p_u . q_i``

    Args:
        n_factors: latent dimensions.
        n_epochs: passes over the training ratings.
        lr: learning rate of factors (and biases unless ``lr_bias`` is set).
        reg: L2 regularisation of factors (and biases unless ``reg_bias`` is set).
        lr_bias, reg_bias: separate rates for the biases.
        lr_decay: learning rates are multiplied by this after each epoch.
        init_mean, init_std: normal initialisation of the factors.
        random_state: seed for initialisation and shuffling.
    """

    name: ClassVar[str] = "biased-mf"

    def __init__(
        self, n_factors: int = 100, n_epochs: int = 20, lr: float = 0.005, reg: float = 0.02,
        lr_bias: float | None = None, reg_bias: float | None = None, lr_decay: float = 1.0,
        init_mean: float = 0.0, init_std: float = 0.1, random_state: int | None = 42,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.lr_decay = lr_decay
        self.init_mean = init_mean
        self.init_std = init_std
        self.random_state = random_state

    @property
    def reg_factor(self) -> float:
        """The factor regularisation (used by fold-in)."""
        return float(self.reg)

    def fit(self, data: Interactions) -> Self:
        """Train by SGD."""
        rng, r = self._init(data)
        lr_f, lr_b = float(self.lr), float(self.lr_bias if self.lr_bias is not None else self.lr)
        reg_b = float(self.reg_bias if self.reg_bias is not None else self.reg)
        for _ in range(self.n_epochs):
            order = rng.permutation(len(r)).astype(np.int64)
            _sgd.biased_mf_epoch(data.users, data.items, r, order, self.mu_, self.user_bias_, self.item_bias_,
                                 self.user_factors_, self.item_factors_, lr_b, lr_f, reg_b, float(self.reg))
            lr_f *= self.lr_decay
            lr_b *= self.lr_decay
        self._check_finite()
        return self


class SVDpp(_FactorModel):
    """SVD++: biased MF plus an implicit-feedback term (Koren 2008).

    ``r_ui ~ mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)``
    where ``N(u)`` is the set of items ``u`` rated.

    Args:
        n_factors, n_epochs, lr, reg, lr_decay, init_mean, init_std, random_state:
            as :class:`BiasedMF`.
        lr_y, reg_y: learning rate and regularisation of the implicit factors
            (default to ``lr`` and ``reg``).
    """

    name: ClassVar[str] = "svdpp"

    def __init__(
        self, n_factors: int = 20, n_epochs: int = 20, lr: float = 0.007, reg: float = 0.02,
        lr_y: float | None = None, reg_y: float | None = None, reg_bias: float = 0.005, lr_decay: float = 1.0,
        init_mean: float = 0.0, init_std: float = 0.1, random_state: int | None = 42,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.lr_y = lr_y
        self.reg_y = reg_y
        self.reg_bias = reg_bias
        self.lr_decay = lr_decay
        self.init_mean = init_mean
        self.init_std = init_std
        self.random_state = random_state

    @property
    def reg_factor(self) -> float:
        """The factor regularisation (used by fold-in)."""
        return float(self.reg)

    def fit(self, data: Interactions) -> Self:
        """Train by SGD, user by user."""
        rng, r = self._init(data)
        self.implicit_factors_ = rng.normal(self.init_mean, self.init_std, (data.n_items, self.n_factors))
        m = data.matrix
        indptr, items = m.indptr.astype(np.int64), m.indices.astype(np.int64)
        vals = np.asarray(m.data, dtype=np.float64)
        lr, lr_y = float(self.lr), float(self.lr_y if self.lr_y is not None else self.lr)
        reg_y = float(self.reg_y if self.reg_y is not None else self.reg)
        for _ in range(self.n_epochs):
            order = rng.permutation(data.n_users).astype(np.int64)
            keys = rng.random(len(vals))
            _sgd.svdpp_epoch(indptr, items, vals, order, keys, self.mu_, self.user_bias_, self.item_bias_,
                             self.user_factors_, self.item_factors_, self.implicit_factors_,
                             lr, lr, lr_y, float(self.reg_bias), float(self.reg), reg_y)
            lr *= self.lr_decay
            lr_y *= self.lr_decay
        self._check_finite()
        self._implicit_sum()
        return self

    def _implicit_sum(self) -> None:
        seen = self.seen_
        cnt = np.maximum(np.diff(seen.indptr), 1)
        self.implicit_user_ = (seen @ self.implicit_factors_) / np.sqrt(cnt)[:, None]

    def _user_vectors(self, users: IntArray) -> FloatArray:
        return self.user_factors_[users] + self.implicit_user_[users]
