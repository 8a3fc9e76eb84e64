"""Explicit matrix factorisation: :class:`BiasedMF` (Funk SVD) and :class:`SVDpp`.

Both train with stochastic gradient descent over individual ratings in a
compiled loop (numba), seeded through ``random_state``.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms import _sgd
from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError, InvalidParameter, ModelFitError


class _FactorModel(RecommenderBase):
    predicts_ratings: ClassVar[bool] = True
    n_factors: int
    n_epochs: int
    reg: float
    init_mean: float
    init_std: float
    random_state: int | None
    mu_: float
    user_bias_: FloatArray
    item_bias_: FloatArray
    user_factors_: FloatArray
    item_factors_: FloatArray

    @property
    def reg_factor(self) -> float:
        """Ridge strength used by :meth:`fold_in`."""
        return float(self.reg)

    def _user_vectors(self, users: IntArray) -> FloatArray:
        return self.user_factors_[users]

    def _score_known(self, users: IntArray) -> FloatArray:
        pu = self._user_vectors(users)
        return self.mu_ + self.user_bias_[users][:, None] + self.item_bias_[None, :] + pu @ self.item_factors_.T

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Predicted ratings, clipped to the training scale; unknown users/items use the biases left."""
        us, its, ku, ki = self._pairs(users, items)
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
        return self._explain_by_vectors(self.item_factors_, user, item, n)

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


def _visit_order(shuffle: str, indptr: IntArray, rng: np.random.Generator) -> IntArray:
    """Indices of the (user-sorted) ratings in the order one epoch visits them."""
    n = int(indptr[-1])
    if shuffle == "ratings":
        return rng.permutation(n).astype(np.int64)
    if shuffle == "none":
        return np.arange(n, dtype=np.int64)
    users = rng.permutation(len(indptr) - 1)
    lengths = np.diff(indptr)[users]
    starts = indptr[:-1][users]
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return (np.arange(n, dtype=np.int64) + offsets).astype(np.int64)


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
        shuffle: visiting order each epoch: ``users`` (users in random order,
            each user's ratings together: cache-friendly, the default),
            ``ratings`` (fully random) or ``none`` (storage order, as Surprise).
        random_state: seed for initialisation and shuffling.
    """

    name: ClassVar[str] = "biased-mf"

    def __init__(
        self, n_factors: int = 100, n_epochs: int = 60, lr: float = 0.005, reg: float = 0.08,
        lr_bias: float | None = None, reg_bias: float | None = None, lr_decay: float = 1.0,
        init_mean: float = 0.0, init_std: float = 0.05, shuffle: str = "users", random_state: int | None = 42,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.shuffle = shuffle
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.lr_decay = lr_decay
        self.init_mean = init_mean
        self.init_std = init_std
        self.random_state = random_state

    def fit(self, data: Interactions) -> Self:
        """Train by SGD."""
        rng, r = self._init(data)
        lr_f, lr_b = float(self.lr), float(self.lr_bias if self.lr_bias is not None else self.lr)
        reg_b = float(self.reg_bias if self.reg_bias is not None else self.reg)
        if self.shuffle not in ("users", "ratings", "none"):
            raise InvalidParameter(f"shuffle must be users, ratings or none, got {self.shuffle!r}")
        indptr = data.matrix.indptr.astype(np.int64)  # interactions are stored sorted by user
        for _ in range(self.n_epochs):
            order = _visit_order(self.shuffle, indptr, rng)
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
        self, n_factors: int = 100, n_epochs: int = 60, lr: float = 0.005, reg: float = 0.08,
        lr_y: float | None = None, reg_y: float | None = None, reg_bias: float = 0.005, lr_decay: float = 1.0,
        init_mean: float = 0.0, init_std: float = 0.05, random_state: int | None = 42,
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

    def fit(self, data: Interactions) -> Self:
        """Train by SGD, user by user."""
        rng, _r = self._init(data)
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


class BayesianMF(_FactorModel):
    """Bayesian probabilistic matrix factorisation by Gibbs sampling (Salakhutdinov & Mnih 2008).

    ``r_ui - mu ~ N(u_u . v_i, 1 / noise_precision)`` with Gaussian-Wishart
    hyper-priors on the user and item factor distributions. Each sweep samples
    the hyper-parameters, then every user vector and every item vector from
    its Gaussian conditional (one batched Cholesky per side). Predictions
    average the sampled models: the kept samples are stored side by side
    (scaled by ``1/sqrt(n_samples)``), so the posterior-mean score is one dot
    product and the model serves like any factor model.

    Args:
        n_factors: latent dimensions per sample.
        n_burnin: sweeps discarded before collecting.
        n_samples: samples averaged for prediction.
        thin: sweeps between kept samples.
        noise_precision: ``alpha``, the precision of the rating noise.
        beta0: prior strength on the factor means.
        use_biases: model residuals over regularised user/item biases
            (fitted first, as :class:`~cinerec.algorithms.BiasBaseline`).
        reg_user, reg_item: the biases' regularisation.
        random_state: seed.
    """

    name: ClassVar[str] = "bayesian-mf"

    def __init__(self, n_factors: int = 10, n_burnin: int = 20, n_samples: int = 80, thin: int = 1,
                 noise_precision: float = 1.5, beta0: float = 2.0, use_biases: bool = False,
                 reg_user: float = 15.0, reg_item: float = 5.0, random_state: int | None = 42) -> None:
        self.n_factors = n_factors
        self.n_burnin = n_burnin
        self.n_samples = n_samples
        self.thin = thin
        self.noise_precision = noise_precision
        self.beta0 = beta0
        self.use_biases = use_biases
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.random_state = random_state

    @property
    def reg_factor(self) -> float:
        """Ridge strength used by fold-in: noise variance over a unit prior."""
        return 1.0 / float(self.noise_precision)

    def fit(self, data: Interactions) -> Self:
        """Run the Gibbs sampler and keep the averaged samples."""
        if data.ratings is None:
            raise DataFormatError("bayesian-mf needs explicit ratings")
        if self.n_factors < 1 or self.n_samples < 1 or self.thin < 1 or self.n_burnin < 0:
            raise InvalidParameter("n_factors, n_samples and thin must be >= 1, n_burnin >= 0")
        self._remember(data)
        rng = np.random.default_rng(self.random_state)
        d = self.n_factors
        self.min_rating_, self.max_rating_ = data.rating_scale
        if self.use_biases:
            from cinerec.algorithms.baseline import fit_biases

            self.mu_, self.user_bias_, self.item_bias_ = fit_biases(data, self.reg_user, self.reg_item, 10)
        else:
            self.mu_ = float(data.ratings.mean()) if len(data) else 0.0
            self.user_bias_, self.item_bias_ = np.zeros(data.n_users), np.zeros(data.n_items)
        base = self.mu_ + self.user_bias_[data.users] + self.item_bias_[data.items]
        resid = sp.csr_matrix((data.ratings - base, (data.users, data.items)), shape=data.shape)
        support = data.binary
        resid_t, support_t = resid.T.tocsr(), support.T.tocsr()
        u = rng.normal(0, 0.1, (data.n_users, d))
        v = rng.normal(0, 0.1, (data.n_items, d))
        keep_u, keep_v = [], []
        total = self.n_burnin + self.n_samples * self.thin
        for sweep in range(total):
            mu_u, lam_u = self._sample_hyper(u, rng)
            u = self._sample_side(resid, support, v, mu_u, lam_u, rng)
            mu_v, lam_v = self._sample_hyper(v, rng)
            v = self._sample_side(resid_t, support_t, u, mu_v, lam_v, rng)
            if sweep >= self.n_burnin and (sweep - self.n_burnin) % self.thin == self.thin - 1:
                keep_u.append(u)
                keep_v.append(v)
        scale = 1.0 / np.sqrt(len(keep_u))
        self.user_factors_ = np.hstack(keep_u) * scale
        self.item_factors_ = np.hstack(keep_v) * scale
        self._check_finite()
        return self

    def _sample_hyper(self, x: FloatArray, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        from scipy.stats import wishart

        n, d = x.shape
        xbar = x.mean(axis=0)
        s = np.cov(x.T, bias=True).reshape(d, d)
        beta = self.beta0 + n
        w_inv = np.eye(d) + n * s + (self.beta0 * n / beta) * np.outer(xbar, xbar)
        w = np.linalg.inv(w_inv)
        lam = np.atleast_2d(wishart.rvs(df=d + n, scale=(w + w.T) / 2, random_state=rng))
        mean = n * xbar / beta
        mu = rng.multivariate_normal(mean, np.linalg.inv(beta * lam))
        return mu, lam

    def _sample_side(
        self, resid: sp.csr_matrix, support: sp.csr_matrix, other: FloatArray, mu: FloatArray, lam: FloatArray,
        rng: np.random.Generator,
    ) -> FloatArray:
        n, d = resid.shape[0], other.shape[1]
        alpha = float(self.noise_precision)
        outer = (other[:, :, None] * other[:, None, :]).reshape(other.shape[0], d * d)
        prec = lam[None, :, :] + alpha * np.asarray(support @ outer).reshape(n, d, d)
        rhs = alpha * np.asarray(resid @ other) + (lam @ mu)[None, :]
        chol = np.linalg.cholesky(prec)
        mean = np.linalg.solve(prec, rhs[:, :, None])[:, :, 0]
        z = rng.standard_normal((n, d, 1))
        # x = mean + L^-T z has covariance (L L^T)^-1 = prec^-1
        return mean + np.linalg.solve(np.transpose(chol, (0, 2, 1)), z)[:, :, 0]
