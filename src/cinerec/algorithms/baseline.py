"""Non-personalised and bias baselines."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError


class Popularity(RecommenderBase):
    """Rank items by how many users interacted with them.

    Scores every user the same way, including unknown users, which makes it
    the onboarding list for cold-start users.

    Args:
        damping: added to every count before the log; scores are ``log(count + damping)``.
    """

    name: ClassVar[str] = "popularity"

    def __init__(self, damping: float = 1.0) -> None:
        self.damping = damping

    def fit(self, data: Interactions) -> Self:
        """Count interactions per item."""
        self._remember(data)
        self.item_scores_ = np.log(data.item_counts().astype(np.float64) + float(self.damping))
        return self

    def score(self, users: IntArray, items: IntArray | None = None) -> FloatArray:
        """The same popularity row for every user, known or not."""
        self._check_fitted()
        u = np.atleast_1d(np.asarray(users, dtype=np.int64))
        it = self._items(items)
        row = np.full(len(it), np.nan)
        ok = (it >= 0) & (it < self.n_items_)
        row[ok] = self.item_scores_[it[ok]]
        return np.tile(row, (len(u), 1))

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """The same popularity row for any history."""
        return self.item_scores_.astype(np.float64, copy=True)

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """Popular items are explained by their popularity."""
        count = round(np.exp(self.item_scores_[item]) - self.damping)
        return [Reason("popular", f"popular: {count} people rated it", None, float(self.item_scores_[item]))][:n]


def fit_biases(
    data: Interactions, reg_user: float, reg_item: float, n_epochs: int
) -> tuple[float, FloatArray, FloatArray]:
    """Regularised user and item biases by alternating least squares (Koren 2010).

    ``b_i = sum(r - mu - b_u) / (reg_item + n_i)`` and likewise ``b_u``: the
    penalties are pseudo-counts of ratings at the mean, so a user or film
    with few ratings is shrunk towards the global mean whatever the rating
    scale, and mapping every rating by ``a r + b`` maps the mean by ``a mu +
    b`` and multiplies the biases by ``a``.

    Args:
        data: explicit ratings.
        reg_user, reg_item: pseudo-counts shrinking user and item biases.
        n_epochs: alternating rounds (items first).

    Returns:
        ``(global_mean, user_bias, item_bias)``.

    Raises:
        DataFormatError: the data has no ratings.
    """
    if data.ratings is None:
        raise DataFormatError("bias baselines need explicit ratings")
    r, u, i = data.ratings, data.users, data.items
    mu = float(r.mean()) if len(r) else 0.0
    cu = np.bincount(u, minlength=data.n_users).astype(np.float64)
    ci = np.bincount(i, minlength=data.n_items).astype(np.float64)
    bu = np.zeros(data.n_users)
    bi = np.zeros(data.n_items)
    for _ in range(n_epochs):
        bi = np.bincount(i, weights=r - mu - bu[u], minlength=data.n_items) / (reg_item + ci)
        bu = np.bincount(u, weights=r - mu - bi[i], minlength=data.n_users) / (reg_user + cu)
    return mu, bu, bi


class BiasBaseline(RecommenderBase):
    """Global mean plus regularised user and item biases: ``mu + b_u + b_i``.

    Args:
        reg_user: regularisation of user biases.
        reg_item: regularisation of item biases.
        n_epochs: alternating least-squares rounds.
    """

    name: ClassVar[str] = "bias"
    predicts_ratings: ClassVar[bool] = True

    def __init__(self, reg_user: float = 15.0, reg_item: float = 10.0, n_epochs: int = 10) -> None:
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_epochs = n_epochs

    def fit(self, data: Interactions) -> Self:
        """Fit the biases."""
        self._remember(data)
        self.mu_, self.user_bias_, self.item_bias_ = fit_biases(data, self.reg_user, self.reg_item, self.n_epochs)
        self.min_rating_, self.max_rating_ = data.rating_scale
        return self

    def _score_known(self, users: IntArray) -> FloatArray:
        return self.mu_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """``mu + b_u + b_i`` with ``b_u`` fitted to the history as training fits it (``reg_user``).

        ``b_u = sum(r - mu - b_i) / (reg_user + n)``: the last step of
        :func:`fit_biases` for a trained user, so a trained user's own
        ratings give their trained scores and ranking.
        """
        bu = float(np.sum(values - self.mu_ - self.item_bias_[items]) / (float(self.reg_user) + len(items))) if len(items) else 0.0
        return self.mu_ + bu + self.item_bias_

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Predicted ratings; unknown users or items fall back to the remaining terms."""
        us, its, ku, ki = self._pairs(users, items)
        p = self.mu_ + np.where(ku, self.user_bias_[us], 0.0) + np.where(ki, self.item_bias_[its], 0.0)
        return np.clip(p, self.min_rating_, self.max_rating_)
