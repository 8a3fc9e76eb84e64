"""Explicit matrix factorisation: :class:`BiasedMF` (Funk SVD) and :class:`SVDpp`.

Both train with stochastic gradient descent over individual ratings in a
compiled loop (numba), seeded through ``random_state``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms import _sgd
from cinerec.algorithms._ann import LatentQuery
from cinerec.algorithms._latent import FoldInBlock, LatentFoldIn
from cinerec.algorithms.base import FloatArray, IntArray
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError, InvalidParameter, ModelFitError


class _FactorModel(LatentFoldIn):
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
    #: Set by :meth:`BiasedMF.from_factors` only: a model without biases (its fold-in holds the user bias at 0).
    bias_free_: bool

    def _user_vectors(self, users: IntArray) -> FloatArray:
        return self.user_factors_[users]

    def _score_known(self, users: IntArray) -> FloatArray:
        pu = self._user_vectors(users)
        scores = self.mu_ + self.user_bias_[users][:, None] + self.item_bias_[None, :] + pu @ self.item_factors_.T
        return np.asarray(scores + self._ranking_shift(), dtype=np.float64)

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Predicted ratings, clipped to the training scale; unknown users/items use the biases left."""
        us, its, ku, ki = self._pairs(users, items)
        pu = self._user_vectors(us)
        dot = np.einsum("ij,ij->i", pu, self.item_factors_[its])
        p = self.mu_ + np.where(ku, self.user_bias_[us], 0.0) + np.where(ki, self.item_bias_[its], 0.0) + np.where(ku & ki, dot, 0.0)
        return np.clip(p, self.min_rating_, self.max_rating_)

    # --------------------------------------------------------- history (fold-in)
    def _design(self) -> FloatArray:
        """``[1, q_i]``: the user bias column, then the item factors (a view of :meth:`_item_block`)."""
        return self._item_block()[:, :-1]

    def _item_block(self) -> FloatArray:
        """``[1, q_i, b_i + shift_i]`` once per fitted state: the fold-in design and the ANN item vectors are views of it.

        Two copies of the item side would cost half a GiB each at a million items.
        """
        cache = self._derived_cache()
        if "item_block" not in cache:
            shift = np.broadcast_to(np.asarray(self._ranking_shift(), dtype=np.float64), (self.n_items_,))
            cache["item_block"] = np.column_stack((np.ones(self.n_items_), self.item_factors_, self.item_bias_ + shift))
        block: FloatArray = cache["item_block"]
        return block

    def _offset(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``mu + b_i``."""
        return self.mu_ + self.item_bias_

    # --------------------------------------------------------- approximate top-k
    def _ann_item_vectors(self) -> FloatArray:
        """``[q_i, b_i + shift_i]``: the item bias (and ranking shift) rides on a user coordinate fixed at 1."""
        return self._item_block()[:, 1:]

    def _latent_users(self, users: IntArray) -> LatentQuery:
        """``mu + b_u`` and ``[p_u (+ implicit terms), 1]``."""
        w = np.column_stack((self._user_vectors(users), np.ones(len(users))))
        return LatentQuery(self.mu_ + np.asarray(self.user_bias_[users], dtype=np.float64), w)

    def _history_query(self, items: IntArray, values: FloatArray, x: FloatArray, offset: FloatArray) -> LatentQuery:
        """Design ``[1, q_i]``, offset ``mu + b_i``: the constant is ``mu + x_0``, the vector ``[x_1.., 1]``."""
        return LatentQuery(np.array([self.mu_ + x[0]]), np.r_[x[1:], 1.0][None, :])

    def _bias_reg(self) -> float:
        """Regularisation of the user bias per rating, as in training (pinned at 0 for a model without biases)."""
        if getattr(self, "bias_free_", False):
            return _PINNED
        reg_bias = getattr(self, "reg_bias", None)
        return float(self.reg if reg_bias is None else reg_bias)

    def _fold_in_prior(self, n: int, m: int) -> list[FoldInBlock]:
        """SGD's per-rating L2 penalty summed over the history: ``reg * n`` on factors, ``reg_bias * n`` on the bias."""
        diag = np.r_[self._bias_reg(), np.full(m - 1, float(self.reg))] * max(n, 1)
        return [FoldInBlock(slice(0, m), np.diag(np.maximum(diag, 1e-3)), np.zeros(m))]

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit` for the SGD models: linear in the ratings and in ``(users + items) x n_factors``.

        float64 factors of users and items (8 bytes each), with as much again
        for SVD++'s implicit item factors, TrustSVD's trust factors and the
        copies made when the scale is restored; per rating the standardised
        values, the visit order, random keys and index copies, about 96 bytes.
        """
        factors = (int(n_users) + int(n_items)) * int(self.n_factors)
        return 96 * int(n_ratings) + 16 * factors + 64 * (int(n_users) + int(n_items))

    def _init(self, data: Interactions) -> tuple[np.random.Generator, FloatArray]:
        """Validate, seed and initialise; returns the generator and the standardised ratings.

        Training runs on ``z = (r - mu) / rating_std_`` so that ``lr``, ``reg``
        and ``init_std`` mean the same thing on any rating scale;
        :meth:`_unstandardise` maps the learned parameters back.
        """
        if data.ratings is None:
            raise DataFormatError(f"{self.name} needs explicit ratings; use implicit-als or bpr for implicit data")
        if self.n_factors < 1 or self.n_epochs < 0:
            raise InvalidParameter("n_factors must be >= 1 and n_epochs >= 0")
        self._remember(data)
        rng = np.random.default_rng(self.random_state)
        self.mu_, self.rating_std_ = _standardisation(data.ratings)
        self.min_rating_, self.max_rating_ = data.rating_scale
        self.user_bias_ = np.zeros(data.n_users)
        self.item_bias_ = np.zeros(data.n_items)
        self.user_factors_ = rng.normal(self.init_mean, self.init_std, (data.n_users, self.n_factors))
        self.item_factors_ = rng.normal(self.init_mean, self.init_std, (data.n_items, self.n_factors))
        return rng, (np.asarray(data.ratings, dtype=np.float64) - self.mu_) / self.rating_std_

    def _unstandardise(self) -> None:
        """Put the learned parameters on the rating scale, the whole scale on the user side.

        ``r = mu + s (b_u + b_i + p_u . q_i)`` is stored as ``mu_ + user_bias_ +
        item_bias_ + user_factors_ . item_factors_`` with the biases and the
        user factors multiplied by ``s`` and the item factors unchanged. With
        the item side fixed, the per-rating penalties ``reg`` and ``reg_bias``
        are then the same ridge in rating units as in training, so a fold-in
        with them reproduces the trained user.
        """
        s = self.rating_std_
        self.user_bias_ *= s
        self.item_bias_ *= s
        self.user_factors_ *= s

    def _check_finite(self) -> None:
        if not (np.isfinite(self.user_factors_).all() and np.isfinite(self.item_factors_).all()):
            raise ModelFitError(f"{self.name} diverged (non-finite factors); lower the learning rate")


#: Ridge per rating that holds a fold-in coordinate at its prior mean (0): the user bias of a model trained without one.
_PINNED = 1e9

_A0, _B0 = 1.0, 1.0  # Gamma(shape, rate) prior of every precision, in standardised units: weak


def _standardisation(ratings: FloatArray) -> tuple[float, float]:
    """``(mean, standard deviation)`` of the training ratings; the deviation is 1 when they do not vary."""
    if not len(ratings):
        return 0.0, 1.0
    std = float(np.std(ratings))
    return float(np.mean(ratings)), std if std > 1e-12 else 1.0


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
    return np.asarray(np.arange(n, dtype=np.int64) + offsets, dtype=np.int64)


class BiasedMF(_FactorModel):
    """Biased matrix factorisation trained by SGD (Funk SVD, as Surprise's SVD).

    ``r_ui ~ mu + b_u + b_i + p_u . q_i``

    Args:
        n_factors: latent dimensions.
        n_epochs: passes over the training ratings.
        lr: learning rate of factors (and biases unless ``lr_bias`` is set).
        reg: L2 regularisation of factors (and biases unless ``reg_bias`` is set).
            Rates and penalties apply to the standardised ratings
            ``(r - mean) / std``, so they mean the same on any rating scale;
            the defaults are the former MovieLens-tuned 0.005 and 0.08 on
            stars, converted at MovieLens's rating deviation (about 1.13).
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
        self, n_factors: int = 100, n_epochs: int = 60, lr: float = 0.0056, reg: float = 0.07,
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

    @classmethod
    def from_factors(cls, data: Interactions, user_factors: npt.ArrayLike, item_factors: npt.ArrayLike, *,
                     reg: float, n_epochs: int) -> Self:
        """A fitted model of ratings predicted as the plain dot product ``p_u . q_i`` (explicit ALS, e.g. Spark's).

        Factors trained elsewhere become an ordinary artifact of this class:
        the global mean and both biases are zero, so ``predict`` returns the
        dot product (clipped to the rating scale of ``data``, as every rating
        predictor here), and a history is folded in by the ALS-WR user solve,
        ridge ``reg * n`` for ``n`` rated items with the user bias held at 0,
        which reproduces a trained user from its own ratings.

        Args:
            data: the interactions the factors were trained on (their
                vocabularies index the factor rows; the seen mask and rating
                scale come from them).
            user_factors: ``(n_users, k)`` rows aligned to ``data.user_vocab``.
            item_factors: ``(n_items, k)`` rows aligned to ``data.item_vocab``.
            reg: the ALS regularisation per rating (Spark's ``regParam``).
            n_epochs: the ALS iterations, recorded as ``n_epochs``.

        Raises:
            DataFormatError: factor shapes that do not match ``data``, non-finite factors or no ratings.
        """
        if data.ratings is None:
            raise DataFormatError("explicit factors need the ratings they were trained on")
        uf, itf = cls._checked_factors(data, user_factors, item_factors)
        model = cls(n_factors=uf.shape[1], n_epochs=n_epochs, reg=reg, random_state=None)
        model._remember(data)
        model.mu_, model.rating_std_ = 0.0, 1.0
        model.min_rating_, model.max_rating_ = data.rating_scale
        model.user_bias_ = np.zeros(data.n_users)
        model.item_bias_ = np.zeros(data.n_items)
        model.user_factors_, model.item_factors_ = uf, itf
        model.bias_free_ = True
        return model

    def fit(self, data: Interactions) -> Self:
        """Train by SGD on the standardised ratings (see :meth:`_init`)."""
        self.__dict__.pop("bias_free_", None)
        rng, r = self._init(data)
        lr_f, lr_b = float(self.lr), float(self.lr_bias if self.lr_bias is not None else self.lr)
        reg_b = float(self.reg_bias if self.reg_bias is not None else self.reg)
        if self.shuffle not in ("users", "ratings", "none"):
            raise InvalidParameter(f"shuffle must be users, ratings or none, got {self.shuffle!r}")
        indptr = data.matrix.indptr.astype(np.int64)  # interactions are stored sorted by user
        for _ in range(self.n_epochs):
            order = _visit_order(self.shuffle, indptr, rng)
            _sgd.biased_mf_epoch(data.users, data.items, r, order, 0.0, self.user_bias_, self.item_bias_,
                                 self.user_factors_, self.item_factors_, lr_b, lr_f, reg_b, float(self.reg))
            lr_f *= self.lr_decay
            lr_b *= self.lr_decay
        self._check_finite()
        self._unstandardise()
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
        self, n_factors: int = 100, n_epochs: int = 60, lr: float = 0.0056, reg: float = 0.07,
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
        """Train by SGD, user by user, on the standardised ratings (see :meth:`_init`)."""
        rng, z = self._init(data)
        self.implicit_factors_ = rng.normal(self.init_mean, self.init_std, (data.n_items, self.n_factors))
        m = data.matrix
        indptr, items = m.indptr.astype(np.int64), m.indices.astype(np.int64)
        vals = z  # interactions are stored sorted by (user, item), the CSR order
        lr, lr_y = float(self.lr), float(self.lr_y if self.lr_y is not None else self.lr)
        reg_y = float(self.reg_y if self.reg_y is not None else self.reg)
        for _ in range(self.n_epochs):
            order = rng.permutation(data.n_users).astype(np.int64)
            keys = rng.random(len(vals))
            _sgd.svdpp_epoch(indptr, items, vals, order, keys, 0.0, self.user_bias_, self.item_bias_,
                             self.user_factors_, self.item_factors_, self.implicit_factors_,
                             lr, lr, lr_y, float(self.reg_bias), float(self.reg), reg_y)
            lr *= self.lr_decay
            lr_y *= self.lr_decay
        self._check_finite()
        self._unstandardise()
        self.implicit_factors_ *= self.rating_std_  # the implicit term adds to p_u: user side
        self._implicit_sum()
        return self

    def _implicit_sum(self) -> None:
        seen = self.seen_
        cnt = np.maximum(np.diff(seen.indptr), 1)
        self.implicit_user_ = (seen @ self.implicit_factors_) / np.sqrt(cnt)[:, None]

    def _user_vectors(self, users: IntArray) -> FloatArray:
        return np.asarray(self.user_factors_[users] + self.implicit_user_[users], dtype=np.float64)

    def _offset(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``mu + b_i + q_i . |N|^-1/2 sum_{j in N} y_j`` with ``N`` the history's items."""
        return np.asarray(self.mu_ + self.item_bias_ + self.item_factors_ @ self._history_implicit(items), dtype=np.float64)

    def _history_implicit(self, items: IntArray) -> FloatArray:
        """``|N|^-1/2 sum_{j in N} y_j``: the history's implicit term on the user side."""
        return np.asarray(self.implicit_factors_[items].sum(axis=0) / np.sqrt(max(len(items), 1)), dtype=np.float64)

    def _history_query(self, items: IntArray, values: FloatArray, x: FloatArray, offset: FloatArray) -> LatentQuery:
        """As biased MF's, with the history's implicit term added to the user's vector."""
        return LatentQuery(np.array([self.mu_ + x[0]]), np.r_[x[1:] + self._history_implicit(items), 1.0][None, :])


class BayesianMF(_FactorModel):
    """Bayesian probabilistic matrix factorisation by Gibbs sampling (Salakhutdinov & Mnih 2008).

    The sampler runs on the standardised ratings ``z = (r - mean) / std``::

        z_ui ~ N(b_u + c_i + u_u . v_i, 1 / alpha)
        b_u ~ N(0, 1 / lambda_b),  c_i ~ N(0, 1 / lambda_c)
        u_u ~ N(mu_U, Lambda_U^-1),  v_i ~ N(mu_V, Lambda_V^-1)

    with Normal-Wishart hyper-priors on ``(mu_U, Lambda_U)`` and ``(mu_V,
    Lambda_V)`` (``mu0 = 0``, ``beta0``, ``W0 = I``, ``nu0 = n_factors``, in
    standardised units) and ``Gamma(1, 1)`` priors on the noise precision
    ``alpha`` and the bias precisions ``lambda_b``, ``lambda_c``. Every
    precision is learned from the data, so nothing depends on the rating
    scale, and a user or film with few ratings is shrunk towards the
    baseline ``mean + item bias`` (or ``+ user bias``) by as much as the
    data say biases and factors vary. Each sweep samples the
    hyper-parameters, then every user's ``[b_u, u_u]`` and every item's
    ``[c_i, v_i]`` from its Gaussian conditional (one batched Cholesky per
    side), then the precisions. Users and items without training ratings
    take their prior mean.

    Predictions average the kept samples; the learned parameters are stored
    on the rating scale: ``mu_`` the mean, ``user_bias_``/``item_bias_`` the
    posterior-mean biases times ``std``, and the kept samples' factors side
    by side (each scaled by ``1/sqrt(n_samples)``; the user side also by
    ``std``), so the posterior-mean score is one dot product and the model
    serves like any factor model.

    Args:
        n_factors: latent dimensions per sample.
        n_burnin: sweeps discarded before collecting.
        n_samples: samples averaged for prediction.
        thin: sweeps between kept samples.
        noise_precision: ``None`` to sample the noise precision (the
            default), or a fixed precision of the standardised ratings' noise.
        beta0: prior strength on the factor means.
        use_biases: sample user and item biases with their own learned
            shrinkage; ``False`` is the original BPMF, where the factor
            product alone carries every user's and film's offset.
        random_state: seed.

    Attributes:
        rating_std_: the training ratings' standard deviation (the unit of the sampler).
        noise_precision_: posterior mean of ``alpha`` in rating units (``alpha / std**2``).
        user_bias_reg_: ``E[lambda_b] / E[alpha]``, the pseudo-count a user
            bias is shrunk with (0 without biases).
    """

    name: ClassVar[str] = "bayesian-mf"

    def __init__(self, n_factors: int = 10, n_burnin: int = 20, n_samples: int = 80, thin: int = 1,
                 noise_precision: float | None = None, beta0: float = 2.0, use_biases: bool = True,
                 ranking_risk: float = 2.0, random_state: int | None = 42) -> None:
        self.n_factors = n_factors
        self.n_burnin = n_burnin
        self.n_samples = n_samples
        self.thin = thin
        self.noise_precision = noise_precision
        self.beta0 = beta0
        self.use_biases = use_biases
        self.ranking_risk = ranking_risk
        self.random_state = random_state

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: grows with ``n_samples x (users + items) x n_factors`` and with ``(n_factors + 1)^2``.

        Every kept sample of both factor matrices is held until the end and
        then stacked into one more copy (``2 n_samples`` float64 copies); each
        half-sweep builds a ``(d + 1) x (d + 1)`` precision matrix, its
        Cholesky factor and solver copies for every user or item, about
        ``48 (d + 1)^2`` bytes a row; the two CSR layouts of the residuals
        and supports and their working arrays take about 160 bytes a rating.
        """
        rows = int(n_users) + int(n_items)
        d = int(self.n_factors)
        return (160 * int(n_ratings) + 16 * rows * d * (int(self.n_samples) + 1) + 48 * (d + 1) ** 2 * rows
                + 64 * rows)

    def fit(self, data: Interactions) -> Self:
        """Run the Gibbs sampler on the standardised ratings and keep the averaged samples."""
        if data.ratings is None:
            raise DataFormatError("bayesian-mf needs explicit ratings")
        if self.n_factors < 1 or self.n_samples < 1 or self.thin < 1 or self.n_burnin < 0:
            raise InvalidParameter("n_factors, n_samples and thin must be >= 1, n_burnin >= 0")
        if self.noise_precision is not None and not self.noise_precision > 0:
            raise InvalidParameter("noise_precision must be positive (or None to sample it)")
        if not self.ranking_risk >= 0:
            raise InvalidParameter("ranking_risk must be >= 0 (0 ranks by the posterior mean)")
        self._remember(data)
        rng = np.random.default_rng(self.random_state)
        d = self.n_factors
        self.min_rating_, self.max_rating_ = data.rating_scale
        self.mu_, self.rating_std_ = _standardisation(data.ratings)
        z = (data.ratings - self.mu_) / self.rating_std_
        users, items = data.users, data.items
        n_users, n_items = data.shape
        user_counts, item_counts = data.user_counts(), data.item_counts()
        # both CSR layouts share one structure with the data; only the values change per half-sweep
        by_item = np.lexsort((users, items))
        res_u = sp.csr_matrix((z.copy(), items, np.r_[0, np.cumsum(user_counts)]), shape=data.shape)
        res_i = sp.csr_matrix((z[by_item], users[by_item], np.r_[0, np.cumsum(item_counts)]), shape=(n_items, n_users))
        sup_u = sp.csr_matrix((np.ones(len(z)), res_u.indices, res_u.indptr), shape=res_u.shape)
        sup_i = sp.csr_matrix((np.ones(len(z)), res_i.indices, res_i.indptr), shape=res_i.shape)
        has_u, has_i = user_counts > 0, item_counts > 0
        b, c = np.zeros(n_users), np.zeros(n_items)
        u = rng.normal(0, 0.1, (n_users, d))
        v = rng.normal(0, 0.1, (n_items, d))
        alpha = 1.0 if self.noise_precision is None else float(self.noise_precision)
        lam_b = lam_c = 1.0
        keep_u, keep_v = [], []
        sum_b, sum_c, sum_c2 = np.zeros(n_users), np.zeros(n_items), np.zeros(n_items)
        sum_alpha = sum_lam_b = 0.0
        total = self.n_burnin + self.n_samples * self.thin
        for sweep in range(total):
            mu_u, lam_u = self._sample_hyper(u[has_u], rng)
            res_u.data = z - c[items]
            b, u = self._sample_block(res_u, sup_u, v, mu_u, lam_u, lam_b, alpha, has_u, rng)
            mu_v, lam_v = self._sample_hyper(v[has_i], rng)
            res_i.data = (z - b[users])[by_item]
            c, v = self._sample_block(res_i, sup_i, u, mu_v, lam_v, lam_c, alpha, has_i, rng)
            # squared norms by np.sum, not @: OpenBLAS threads long dot products, a loss on a busy machine
            if self.use_biases:
                lam_b = float(rng.gamma(_A0 + has_u.sum() / 2, 1.0 / (_B0 + 0.5 * float(np.sum(b * b)))))
                lam_c = float(rng.gamma(_A0 + has_i.sum() / 2, 1.0 / (_B0 + 0.5 * float(np.sum(c * c)))))
            if self.noise_precision is None:
                e = z - b[users] - c[items] - np.einsum("ij,ij->i", u[users], v[items])
                alpha = float(rng.gamma(_A0 + len(z) / 2, 1.0 / (_B0 + 0.5 * float(np.sum(e * e)))))
            if sweep >= self.n_burnin and (sweep - self.n_burnin) % self.thin == self.thin - 1:
                keep_u.append(u)
                keep_v.append(v)
                sum_b += b
                sum_c += c
                sum_c2 += c * c
                sum_alpha += alpha
                sum_lam_b += lam_b
        n_kept, s = len(keep_u), self.rating_std_
        self.user_bias_ = s * sum_b / n_kept
        self.item_bias_ = s * sum_c / n_kept
        self.item_bias_sd_ = s * np.sqrt(np.maximum(sum_c2 / n_kept - (sum_c / n_kept) ** 2, 0.0))
        self.user_factors_ = np.hstack(keep_u) * (s / np.sqrt(n_kept))
        self.item_factors_ = np.hstack(keep_v) / np.sqrt(n_kept)
        self.noise_precision_ = sum_alpha / n_kept / s**2
        self.user_bias_reg_ = sum_lam_b / sum_alpha if self.use_biases else 0.0
        self._check_finite()
        return self

    def learned_summary(self) -> dict[str, Any]:
        """The learned noise level and the spread of the biases, in rating units."""
        self._check_fitted()
        return {"noise_sd": round(float(1.0 / np.sqrt(self.noise_precision_)), 4),
                "user_bias_sd": round(float(np.std(self.user_bias_)), 4),
                "item_bias_sd": round(float(np.std(self.item_bias_)), 4)}

    def _ranking_shift(self) -> FloatArray:
        """Rank by a lower credible bound: ``ranking_risk`` posterior standard deviations of the item bias below the mean.

        The posterior mean alone puts films with one or two enthusiastic
        ratings on top of every list (their bias is barely shrunk when the
        data say biases vary a lot); the bound keeps the ratings' own
        uncertainty in the ranking. :meth:`predict` is unaffected.
        """
        sd = getattr(self, "item_bias_sd_", None)
        return np.zeros(self.n_items_) if sd is None else -float(self.ranking_risk) * np.asarray(sd, dtype=np.float64)

    # --------------------------------------------------------- history (fold-in)
    def _design(self) -> FloatArray:
        """The kept samples' item factors side by side (each scaled by ``1/sqrt(n_samples)``)."""
        return np.asarray(self.item_factors_, dtype=np.float64)

    def _offset(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``mu + b_i``, plus the history's regularised user bias when the model has biases."""
        base = self.mu_ + self.item_bias_
        if not self.use_biases or not len(items):
            return base
        return base + float(np.sum(values - base[items]) / (float(self.user_bias_reg_) + len(items)))

    def _history_query(self, items: IntArray, values: FloatArray, x: FloatArray, offset: FloatArray) -> LatentQuery:
        """Design ``q_i``, offset ``mu + b_i + b_history``: the constant is ``mu + b_history``, the vector ``[x, 1]``."""
        history_bias = float(offset[0] - self.mu_ - self.item_bias_[0])
        return LatentQuery(np.array([self.mu_ + history_bias]), np.r_[x, 1.0][None, :])

    def _fold_in_prior(self, n: int, m: int) -> list[FoldInBlock]:
        """One block per kept sample: the Gaussian-Wishart posterior mean of that sample's user prior.

        Given a sample's (standardised) user factors ``U`` of the ``n`` users
        with ratings, the sampler draws ``Lambda ~ Wishart(d + n, W)`` and
        ``mu ~ N(n ubar / (beta0 + n), ...)``; the fold-in uses their
        expectations. In least-squares units the ridge is ``Lambda / alpha``
        (both standardised); the stored scaling of the factors (``1/sqrt(S)``
        on items, ``rating_std_/sqrt(S)`` on users) divides it by ``S`` and
        maps the mean to rating units.
        """
        d = int(self.n_factors)
        n_samples = max(m // d, 1)
        s = float(self.rating_std_)
        alpha = float(self.noise_precision_) * s**2  # standardised units, as sampled
        rated = np.diff(self.seen_.indptr) > 0
        blocks = []
        for k in range(n_samples):
            cols = slice(k * d, (k + 1) * d)
            u = self.user_factors_[rated, cols] * (np.sqrt(n_samples) / s)
            n_users = len(u)
            ubar = u.mean(axis=0) if n_users else np.zeros(d)
            cov = np.cov(u.T, bias=True).reshape(d, d) if n_users > 1 else np.zeros((d, d))
            beta = float(self.beta0) + n_users
            w_inv = np.eye(d) + n_users * cov + (float(self.beta0) * n_users / beta) * np.outer(ubar, ubar)
            lam = np.asarray((d + n_users) * np.linalg.inv(w_inv), dtype=np.float64)
            mean = n_users * ubar / beta
            blocks.append(FoldInBlock(cols, lam / (alpha * n_samples), mean * s / np.sqrt(n_samples)))
        return blocks

    def _sample_hyper(self, x: FloatArray, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """``(mu, Lambda)`` from their Normal-Wishart conditional given the rows of ``x``."""
        from scipy.stats import wishart

        n, d = x.shape
        xbar = x.mean(axis=0) if n else np.zeros(d)
        s = np.cov(x.T, bias=True).reshape(d, d) if n > 1 else np.zeros((d, d))
        beta = self.beta0 + n
        w_inv = np.eye(d) + n * s + (self.beta0 * n / beta) * np.outer(xbar, xbar)
        w = np.linalg.inv(w_inv)
        lam = np.atleast_2d(wishart.rvs(df=d + n, scale=(w + w.T) / 2, random_state=rng))
        mean = n * xbar / beta
        mu = rng.multivariate_normal(mean, np.linalg.inv(beta * lam))
        return mu, lam

    def _sample_block(
        self, resid: sp.csr_matrix, support: sp.csr_matrix, other: FloatArray, mu: FloatArray, lam: FloatArray,
        lam_bias: float, alpha: float, has_data: npt.NDArray[np.bool_], rng: np.random.Generator,
    ) -> tuple[FloatArray, FloatArray]:
        """One side's ``(biases, factors)``; rows without data take the prior mean ``(0, mu)``."""
        d = other.shape[1]
        if self.use_biases:
            design = np.c_[np.ones(len(other)), other]
            prior_mean = np.r_[0.0, mu]
            prior_prec = np.zeros((d + 1, d + 1))
            prior_prec[0, 0] = lam_bias
            prior_prec[1:, 1:] = lam
        else:
            design, prior_mean, prior_prec = other, mu, lam
        x = self._sample_side(resid, support, design, prior_mean, prior_prec, alpha, rng)
        x[~has_data] = prior_mean
        if self.use_biases:
            return x[:, 0].copy(), np.ascontiguousarray(x[:, 1:])
        return np.zeros(len(x)), x

    @staticmethod
    def _sample_side(
        resid: sp.csr_matrix, support: sp.csr_matrix, other: FloatArray, mean0: FloatArray, prec0: FloatArray,
        alpha: float, rng: np.random.Generator,
    ) -> FloatArray:
        """Every row's coefficients on ``other`` from its Gaussian conditional (prior ``N(mean0, prec0^-1)``)."""
        n, d = resid.shape[0], other.shape[1]
        outer = (other[:, :, None] * other[:, None, :]).reshape(other.shape[0], d * d)
        prec = prec0[None, :, :] + alpha * np.asarray(support @ outer).reshape(n, d, d)
        rhs = alpha * np.asarray(resid @ other) + (prec0 @ mean0)[None, :]
        chol = np.linalg.cholesky(prec)
        mean = np.linalg.solve(prec, rhs[:, :, None])[:, :, 0]
        z = rng.standard_normal((n, d, 1))
        # x = mean + L^-T z has covariance (L L^T)^-1 = prec^-1
        return mean + np.linalg.solve(np.transpose(chol, (0, 2, 1)), z)[:, :, 0]
