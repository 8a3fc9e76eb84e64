"""Content-based filtering: :class:`ContentKNN`."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms.base import FloatArray, IntArray, Reason, RecommenderBase
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError, InvalidParameter

_BLOCK_LABEL = {"genre": "genres", "person": "people", "tag": "tags", "text": "plot words", "decade": "era", "year": "era"}


class ContentKNN(RecommenderBase):
    """Recommend items whose content resembles what the user rated highly.

    A user's profile is the sum of the vectors of the items they rated,
    weighted by the mean-centred rating (items rated below the user's mean
    push the profile away) and by recency (``0.5 ** (age / half_life_days)``).
    Scores are cosine similarities between profile and item vectors, computed
    in a TruncatedSVD space of the item features. Items with features but no
    ratings (new films) are scored like any other.

    Args:
        n_components: TruncatedSVD dimensions (0 keeps the sparse features).
        half_life_days: recency half-life; 0 disables recency weighting.
        centre: subtract each user's mean rating before weighting.
        random_state: seed for the SVD.
    """

    name: ClassVar[str] = "content-knn"
    needs_features: ClassVar[bool] = True

    def __init__(self, n_components: int = 200, half_life_days: float = 0.0, centre: bool = True,
                 random_state: int | None = 42) -> None:
        self.n_components = n_components
        self.half_life_days = half_life_days
        self.centre = centre
        self.random_state = random_state

    def _weights(self, data: Interactions) -> FloatArray:
        if data.ratings is None:
            w = np.ones(len(data)) if data.weights is None else data.weights.copy()
        else:
            w = data.ratings.astype(np.float64).copy()
            if self.centre:
                cnt = np.maximum(np.bincount(data.users, minlength=data.n_users), 1)
                mean = np.bincount(data.users, weights=w, minlength=data.n_users) / cnt
                w = w - mean[data.users]
                # a user who rated everything alike still likes those films
                flat = np.bincount(data.users, weights=np.abs(w), minlength=data.n_users) < 1e-9
                w[flat[data.users]] = 1.0
        if self.half_life_days and data.timestamps is not None and len(data):
            last = np.zeros(data.n_users, dtype=np.int64)
            np.maximum.at(last, data.users, data.timestamps)
            age_days = (last[data.users] - data.timestamps) / 86400.0
            w = w * 0.5 ** (age_days / self.half_life_days)
        return w

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: linear in the ratings and in ``(users + items) x n_components``.

        Item vectors and user profiles are dense float64 with
        ``n_components`` columns, each built once more while normalised
        (24 bytes a value; without a reduction, 64 columns are assumed for
        the sparse profiles); the weighted rating matrix and its working
        arrays take about 64 bytes a rating.
        """
        width = int(self.n_components) or 64
        return 64 * int(n_ratings) + 24 * (int(n_users) + int(n_items)) * width + 64 * (int(n_users) + int(n_items))

    def fit(self, data: Interactions) -> Self:
        """Build item vectors and user profiles.

        Raises:
            DataFormatError: ``data`` carries no item features.
        """
        if data.item_features is None or data.item_features.n_features == 0:
            raise DataFormatError("content-knn needs item features: build them with cinerec.data.features or --features")
        if self.n_components < 0 or self.half_life_days < 0:
            raise InvalidParameter("n_components and half_life_days must be >= 0")
        self._remember(data)
        feats = data.item_features
        self.features_ = feats.matrix.copy()
        self.feature_names_ = np.asarray(feats.names, dtype=str)
        w = sp.csr_matrix((self._weights(data), (data.users, data.items)), shape=data.shape)
        self.user_weights_ = w
        if self.n_components:
            vec, self.explained_variance_ = feats.reduce(self.n_components, self.random_state or 0)
            self.item_vectors_ = self._normalise(vec)
            self.user_profiles_ = self._normalise(np.asarray(w @ self.item_vectors_))
        else:  # exact cosine on the sparse features
            self.explained_variance_ = 1.0
            self.item_vectors_ = self._normalise(feats.matrix)
            self.user_profiles_ = self._normalise(sp.csr_matrix(w @ self.item_vectors_))
        self.has_content_ = feats.has_content()
        return self

    def learned_summary(self) -> dict[str, Any]:
        """The TruncatedSVD's explained variance of the item features."""
        self._check_fitted()
        return {"explained_variance": round(float(self.explained_variance_), 4)}

    @staticmethod
    def _normalise(p: Any) -> Any:
        """Rows scaled to unit length (dense or sparse; all-zero rows stay zero)."""
        from sklearn.preprocessing import normalize

        return sp.csr_matrix(normalize(p)) if sp.issparse(p) else normalize(p)

    def _score_known(self, users: IntArray) -> FloatArray:
        s = self.user_profiles_[users] @ self.item_vectors_.T
        s = np.asarray(s.toarray() if sp.issparse(s) else s, dtype=np.float64)
        s[:, ~self.has_content_] = np.nan
        return s

    def training_history(self, user: int) -> tuple[IntArray, FloatArray]:
        """A trained user's items with their profile weights (mean-centred ratings, recency-weighted)."""
        self._check_fitted()
        if not 0 <= user < self.n_users_:
            return np.empty(0, dtype=np.int64), np.empty(0)
        row = self.user_weights_[user]
        return row.indices.astype(np.int64), np.asarray(row.data, dtype=np.float64)

    def fold_in(self, items: npt.ArrayLike, values: npt.ArrayLike | None = None) -> FloatArray:
        """A unit-length profile for a history, as :meth:`fit` builds a trained user's.

        With ``centre``, values are centred on the history's own mean (films
        below it push the profile away); a history whose values are all equal
        counts every film once. A history carries no timestamps, so there is
        no recency weighting.

        Args:
            items: item indices (unknown ones are dropped).
            values: one rating or weight per item (``None``: all 1).

        Returns:
            The profile in the item-vector space (dense ``(n_components,)``, or
            ``(n_features,)`` with ``n_components=0``).

        Raises:
            InvalidParameter: malformed history.
        """
        it, v = self._check_history(items, values)
        return self._profile(it, v)

    def _profile(self, items: IntArray, values: FloatArray) -> FloatArray:
        v = values
        if self.centre and len(v) and np.ptp(v) > 0:
            v = v - v.mean()
        elif len(v):
            v = np.ones_like(v)
        vecs = self.item_vectors_[items]
        prof = np.asarray(vecs.T @ v if sp.issparse(vecs) else v @ vecs).ravel()
        return np.asarray(self._normalise(prof[None, :])[0])

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """Cosine of every item to the history's profile (NaN for items without content)."""
        s = np.asarray(self.item_vectors_ @ self._profile(items, values), dtype=np.float64).ravel()
        s[~self.has_content_] = np.nan
        return s

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """The attributes ``item`` shares with the liked history films, e.g. "same director/cast: ..."."""
        if not len(items):
            return []
        target = self.features_[item]
        profile = np.asarray(self.features_[items].sum(axis=0)).ravel()
        contrib = target.multiply(profile[None, :]).tocsr()
        contrib.eliminate_zeros()
        if not contrib.nnz:
            return []
        order = np.argsort(-contrib.data)
        reasons: dict[str, list[str]] = {}
        weight: dict[str, float] = {}
        for j in order:
            kind, _, value = str(self.feature_names_[contrib.indices[j]]).partition(":")
            if kind in ("year", "embedding"):  # not nameable attributes
                continue
            label = "same director/cast" if kind == "person" else _BLOCK_LABEL.get(kind, kind)
            if len(reasons.get(label, [])) < 3:
                reasons.setdefault(label, []).append(value.replace("_", " "))
                weight[label] = weight.get(label, 0.0) + float(contrib.data[j])
        ranked = sorted(reasons, key=lambda k: -weight[k])[:n]
        return [Reason("attribute", f"{k}: {', '.join(reasons[k])}", None, weight[k]) for k in ranked]
