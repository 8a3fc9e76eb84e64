"""History scoring for latent-factor models, written once: :class:`LatentFoldIn`.

Every latent model (biased MF, SVD++, Bayesian MF, implicit ALS, BPR and the
neural two-tower) scores an item as ``offset_i + design_i . x_u``: a row of
the model's *item design* (its fixed item factors, with a column of ones
where the model has a user bias) times the user's *coordinates*, plus an
offset the user's coordinates do not carry (global mean and item bias; for
SVD++ also the history's implicit term; for BPR the item-bias column).

:meth:`LatentFoldIn.fold_in` returns the coordinates ``x`` of an unseen
history against the fixed item side, so that::

    score_history(items, values) == offset(items, values) + design @ fold_in(items, values)

It solves one regularised least-squares problem per block of coordinates
(one block for most models, one per kept sample for Bayesian MF):

- ``ratings`` loss (explicit models): ridge regression of ``value - offset``
  on the design rows of the history's items, the ridge and prior mean given
  by the model's own regularisation (:meth:`LatentFoldIn._fold_in_prior`);
- ``implicit`` loss (ALS, BPR, neural): weighted least squares over *every*
  item, preference 1 for the history's items with their confidence and
  preference 0 with confidence 1 for all others (the ``Y^T Y`` term of Hu,
  Koren and Volinsky 2008), as implicit ALS solves a user in training.

Models can replace the solve (:meth:`LatentFoldIn._fold_in_solve`), e.g. BPR
optimises its own pairwise loss; the return convention stays the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt

from cinerec.algorithms._ann import LatentQuery
from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError


class FoldInBlock(NamedTuple):
    """The prior of one block of a user's coordinates.

    Attributes:
        columns: the design columns of the block.
        precision: ``(k, k)`` ridge matrix (prior precision in least-squares units).
        mean: ``(k,)`` prior mean the ridge shrinks towards.
    """

    columns: slice
    precision: FloatArray
    mean: FloatArray


class LatentFoldIn(RecommenderBase):
    """Fold-in and history scoring shared by every latent-factor model.

    Subclasses provide the learned ``item_factors_`` and may override the
    hooks :meth:`_design`, :meth:`_offset`, :meth:`_fold_in_prior`,
    :meth:`_history_confidence` and :meth:`_explain_vectors`; the public
    :meth:`fold_in`, the history scores and the explanations are written here.

    Attributes:
        fold_in_loss: ``ratings`` (ridge regression on the history's ratings)
            or ``implicit`` (weighted least squares over every item).
    """

    fold_in_loss: ClassVar[str] = "ratings"
    item_factors_: FloatArray
    user_factors_: FloatArray

    @staticmethod
    def _checked_factors(data: Interactions, user_factors: npt.ArrayLike,
                         item_factors: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Factors trained elsewhere (e.g. on Spark) as float arrays, checked against ``data``'s users and items.

        Raises:
            DataFormatError: shapes that do not match ``data`` or non-finite factors.
        """
        uf = np.asarray(user_factors, dtype=np.float64)
        itf = np.asarray(item_factors, dtype=np.float64)
        if uf.ndim != 2 or itf.ndim != 2 or uf.shape != (data.n_users, itf.shape[1]) or len(itf) != data.n_items:
            raise DataFormatError(f"factor shapes {uf.shape} and {itf.shape} do not match "
                                  f"{data.n_users} users x {data.n_items} items")
        if not (np.isfinite(uf).all() and np.isfinite(itf).all()):
            raise DataFormatError("factors must be finite numbers")
        return uf, itf

    # ------------------------------------------------------------------ hooks
    def _design(self) -> FloatArray:
        """``(n_items, m)`` item design the user's coordinates multiply (default: the item factors)."""
        return np.asarray(self.item_factors_, dtype=np.float64)

    def _offset(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``(n_items,)`` score part the coordinates do not carry, for this history (default: zero)."""
        return np.zeros(self.n_items_)

    def _fold_in_prior(self, n: int, m: int) -> list[FoldInBlock]:
        """Blocks of the ``m`` coordinates with their ridge, for a history of ``n`` items.

        Blocks are solved independently and each explains an equal share of
        the target, so several blocks average their fits (Bayesian MF's
        samples); the default is one block with a small ridge.
        """
        return [FoldInBlock(slice(0, m), 1e-3 * np.eye(m), np.zeros(m))]

    def _history_confidence(self, values: FloatArray) -> FloatArray:
        """Confidence of the history's interactions for the ``implicit`` loss (default: the values)."""
        return values

    def _explain_vectors(self) -> FloatArray:
        """Item vectors compared by cosine for explanations (default: the item factors)."""
        return np.asarray(self.item_factors_, dtype=np.float64)

    # ----------------------------------------------------------------- fold-in
    def fold_in(self, items: npt.ArrayLike, values: npt.ArrayLike | None = None) -> FloatArray:
        """A user's coordinates for a history, the item side fixed: ``scores = offset + design @ x``.

        Args:
            items: item indices of the history (unknown ones are dropped).
            values: one rating or implicit weight per item (``None``: all 1).

        Returns:
            ``(m,)`` coordinates in the model's item design (for biased models
            the first one is the user bias).

        Raises:
            InvalidParameter: malformed history.
        """
        it, v = self._check_history(items, values)
        return self._fold_in_solve(it, v, self._fixed_design(), self._offset(it, v))

    def _fixed_design(self) -> FloatArray:
        """:meth:`_design`, built once per fitted state: a history request must not copy the whole item side."""
        cache = self._derived_cache()
        if "design" not in cache:
            cache["design"] = self._design()
        design: FloatArray = cache["design"]
        return design

    def _gram(self, design: FloatArray, cols: slice) -> FloatArray:
        """``d^T d`` of a block of the design, kept while the same design object is in use (O(n m^2) once, not per request)."""
        cache = self._derived_cache()
        key = f"gram:{cols.start}:{cols.stop}:{cols.step}"
        held = cache.get(key)
        if held is None or held[0] is not design:
            d = design[:, cols]
            held = cache[key] = (design, d.T @ d)
        gram: FloatArray = held[1]
        return gram

    def _fold_in_solve(self, items: IntArray, values: FloatArray, design: FloatArray, offset: FloatArray) -> FloatArray:
        """The regularised least-squares solve described in the module docstring."""
        m = design.shape[1]
        x = np.zeros(m)
        blocks = self._fold_in_prior(len(items), m)
        share = 1.0 / len(blocks)
        for cols, prec, mean in blocks:
            d = design[:, cols]
            dh = d[items]
            if self.fold_in_loss == "implicit":
                conf = self._history_confidence(values)
                # every item: preference 0 with confidence 1; history items: preference 1 with their confidence
                a = self._gram(design, cols) + (dh.T * (conf - 1.0)) @ dh
                b = dh.T @ (conf * (1.0 - offset[items]) + offset[items])
                if offset.any():  # zero for implicit ALS: skip an O(n m) product per request
                    b -= d.T @ offset
            else:
                a = dh.T @ dh
                b = dh.T @ (values - offset[items])
            x[cols] = np.linalg.solve(a + prec, share * b + prec @ mean)
        return x

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``offset + design @ fold_in`` for a validated history."""
        design = self._fixed_design()
        offset = self._offset(items, values)
        scores = offset + design @ self._fold_in_solve(items, values, design, offset)
        return np.asarray(scores + self._ranking_shift(), dtype=np.float64)

    def _trained_user_gaussian(self, n_dims: int) -> tuple[FloatArray, FloatArray] | None:
        """Precision and mean of the trained users' vectors (their first ``n_dims`` columns), once per model.

        A fold-in prior for models whose training leaves user vectors far more
        shrunk than their nominal regularisation says (SGD for a fixed number
        of epochs, early stopping). ``None`` with fewer than two trained users.
        The result depends only on learned state, so it is kept on the instance
        (not saved: it is derived) instead of being recomputed per request.
        """
        cache = self._derived_cache()
        key = f"user_gaussian:{n_dims}"
        if key not in cache:
            trained = np.asarray(self.user_factors_, dtype=np.float64)[np.diff(self.seen_.indptr) > 0, :n_dims]
            if len(trained) < 2:
                cache[key] = None
            else:
                cov = np.cov(trained.T).reshape(n_dims, n_dims) + 1e-6 * np.eye(n_dims)
                cache[key] = (np.asarray(np.linalg.inv(cov), dtype=np.float64), trained.mean(axis=0))
        prior: tuple[FloatArray, FloatArray] | None = cache[key]
        return prior

    def _ranking_shift(self) -> FloatArray | float:
        """Added to every ranking score (not to rating predictions); 0 unless a model ranks by something else."""
        return 0.0

    # --------------------------------------------------- approximate top-k
    def _latent_items(self) -> FloatArray:
        """The item side of ``score = const_u + v_i . w_u`` (:meth:`_ann_item_vectors`), once per fitted state."""
        cache = self._derived_cache()
        if "latent_items" not in cache:
            cache["latent_items"] = np.asarray(self._ann_item_vectors(), dtype=np.float64)  # a view where it can be
        vectors: FloatArray = cache["latent_items"]
        return vectors

    def _ann_item_vectors(self) -> FloatArray:
        """Item vectors ``v_i`` (default: the item factors, for models that score ``p_u . q_i``)."""
        return np.asarray(self.item_factors_, dtype=np.float64)

    def _latent_users(self, users: IntArray) -> LatentQuery:
        """Trained users against :meth:`_ann_item_vectors` (default: their factors, no constant)."""
        return LatentQuery(np.zeros(len(users)), np.asarray(self.user_factors_[users], dtype=np.float64))

    def _latent_history(self, items: IntArray, values: FloatArray) -> LatentQuery:
        """The folded-in history against :meth:`_ann_item_vectors` (the fold-in of :meth:`_score_history`)."""
        design = self._fixed_design()
        offset = self._offset(items, values)
        return self._history_query(items, values, self._fold_in_solve(items, values, design, offset), offset)

    def _history_query(self, items: IntArray, values: FloatArray, x: FloatArray, offset: FloatArray) -> LatentQuery:
        """``offset + design @ x + shift`` as a :class:`LatentQuery` (default: the design is the item vectors, no offset)."""
        return LatentQuery(np.zeros(1), np.asarray(x, dtype=np.float64)[None, :])

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """The liked history films whose item vectors point most the same way as ``item``'s."""
        return self._explain_by_vectors(self._explain_vectors(), items, item, n)


#: Most non-history items a pairwise fold-in compares the history's items with (a fixed seeded sample beyond).
BPR_FOLD_IN_NEGATIVES = 4096


def _newton_ascent(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    derivatives: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    x: FloatArray,
    max_steps: int = 30,
) -> FloatArray:
    """Maximise a concave ``objective`` by damped Newton steps (backtracking keeps every step an ascent).

    ``objective(x)`` returns the value and a cache; ``derivatives(x, cache)``
    returns the gradient and the (positive definite) negated Hessian.
    """
    f, cache = objective(x)
    for _ in range(max_steps):
        grad, neg_hess = derivatives(x, cache)
        step = np.linalg.solve(neg_hess, grad)
        t = 1.0
        while True:
            f_new, cache_new = objective(x + t * step)
            if f_new >= f or t < 1e-4:
                break
            t *= 0.5
        x, f, cache = x + t * step, f_new, cache_new
        if np.abs(t * step).max() < 1e-7:
            break
    return x


def bpr_fold_in(design: FloatArray, offset: FloatArray, items: IntArray, precision: FloatArray,
                mean: FloatArray) -> FloatArray:
    """The user coordinates maximising the BPR objective of a history against fixed items.

    ``sum_{i in items} mean_{j not in items} log sigmoid(x . (d_i - d_j) + o_i - o_j)
    - (x - mean)^T precision (x - mean) / 2`` (a Gaussian prior) is concave in ``x``. At most :data:`BPR_FOLD_IN_NEGATIVES` non-history
    items (a fixed seeded sample) stand in for all of them on large catalogues.
    """
    x = np.array(mean, dtype=np.float64)
    neg = np.ones(len(design), dtype=bool)
    neg[items] = False
    neg_items = np.flatnonzero(neg)
    if len(neg_items) > BPR_FOLD_IN_NEGATIVES:
        neg_items = np.sort(np.random.default_rng(0).choice(neg_items, BPR_FOLD_IN_NEGATIVES, replace=False))
    if not len(items) or not len(neg_items):
        return x
    dp, dn = design[items], design[neg_items]
    bp, bn = offset[items], offset[neg_items]
    scale = 1.0 / len(neg_items)

    def objective(x: FloatArray) -> tuple[float, FloatArray]:
        s = (dp @ x + bp)[:, None] - (dn @ x + bn)[None, :]
        return float(-scale * np.logaddexp(0.0, -s).sum() - 0.5 * (x - mean) @ precision @ (x - mean)), s

    def derivatives(x: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
        w = 0.5 * (1.0 - np.tanh(0.5 * s))  # sigmoid(-s): each pair's weight in the gradient
        h = w * (1.0 - w)
        grad = scale * (dp.T @ w.sum(axis=1) - dn.T @ w.sum(axis=0)) - precision @ (x - mean)
        cross = dp.T @ h @ dn
        neg_hess = scale * (dp.T @ (dp * h.sum(axis=1)[:, None]) + dn.T @ (dn * h.sum(axis=0)[:, None]) - cross - cross.T)
        return grad, neg_hess + precision

    return _newton_ascent(objective, derivatives, x)


def softmax_fold_in(design: FloatArray, items: IntArray, weights: FloatArray, precision: FloatArray,
                    mean: FloatArray) -> FloatArray:
    """The user coordinates maximising a full-softmax likelihood of a history against fixed items.

    ``sum_i w_i log softmax(design @ x)_i - (x - mean)^T precision (x - mean) / 2``
    over the history's items ``i``: a Gaussian prior; concave in ``x``.
    """
    x = np.array(mean, dtype=np.float64)
    if not len(items):
        return x
    wsum = float(weights.sum())
    target = design[items].T @ weights

    def objective(x: FloatArray) -> tuple[float, FloatArray]:
        z = design @ x
        return float(target @ x - wsum * np.logaddexp.reduce(z) - 0.5 * (x - mean) @ precision @ (x - mean)), z

    def derivatives(x: FloatArray, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = np.exp(z - z.max())
        p /= p.sum()
        expected = design.T @ p
        grad = target - wsum * expected - precision @ (x - mean)
        neg_hess = wsum * (design.T @ (design * p[:, None]) - np.outer(expected, expected)) + precision
        return grad, neg_hess

    return _newton_ascent(objective, derivatives, x)
