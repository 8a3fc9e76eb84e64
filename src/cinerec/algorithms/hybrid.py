"""Weighted fusion of registered models: :class:`WeightedHybrid`.

Members are a typed list: registry names, or nested configs
``{"algo": name, "params": {...}}`` whose parameters are validated by the
member's own ``__init__`` signature (:func:`parse_members`). The old
comma-separated string (``"ease,implicit-als"``, what
``--param hybrid.members=ease,implicit-als`` gives) is still accepted.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms._validation import per_user_ndcg, validation_users
from cinerec.algorithms.base import FloatArray, IntArray, RatingPredictor, Reason, RecommenderBase
from cinerec.algorithms.registry import canonical, create, get_class, validate_params
from cinerec.data.interactions import Interactions
from cinerec.errors import InvalidParameter

__all__ = ["DEFAULT_MEMBERS", "MemberSpec", "WeightedHybrid", "normalise_rows", "parse_members", "simplex_grid"]

#: The members of a hybrid built without ``members``.
DEFAULT_MEMBERS: tuple[str, ...] = ("ease", "implicit-als", "user-knn")


class MemberSpec(NamedTuple):
    """One validated member: its registered (canonical) name and its parameters.

    Attributes:
        algo: registry name, e.g. ``ease``.
        params: keyword arguments of the member's ``__init__``, validated against it.
    """

    algo: str
    params: dict[str, Any]

    def as_config(self) -> str | dict[str, Any]:
        """The JSON form: the bare name without parameters, else ``{"algo": name, "params": {...}}``."""
        return {"algo": self.algo, "params": dict(self.params)} if self.params else self.algo


def parse_members(members: str | Sequence[str | Mapping[str, Any]] | None) -> list[MemberSpec]:
    """Validate a hybrid's ``members`` into :class:`MemberSpec` objects.

    Args:
        members: a list of registry names (any accepted spelling) and
            ``{"algo": name, "params": {...}}`` configs; a comma-separated
            string of names; ``None`` for :data:`DEFAULT_MEMBERS`.

    Returns:
        One spec per member, in order, names canonical and parameters validated.

    Raises:
        InvalidParameter: no members, a hybrid among them, an unknown name, a
            config with keys other than ``algo`` and ``params``, or parameters
            the member's ``__init__`` rejects (unknown name or wrong type).
    """
    if members is None:
        items: list[Any] = list(DEFAULT_MEMBERS)
    elif isinstance(members, str):
        items = [m.strip() for m in members.split(",") if m.strip()]
    elif isinstance(members, Sequence):
        items = list(members)
    else:
        raise InvalidParameter(f"hybrid members must be a list of names and {{'algo', 'params'}} configs, not {type(members).__name__}")
    if not items:
        raise InvalidParameter("hybrid needs one or more members")
    specs = []
    for k, item in enumerate(items):
        params: Mapping[str, Any]
        if isinstance(item, str):
            algo, params = item, {}
        elif isinstance(item, Mapping):
            extra = sorted(set(item) - {"algo", "params"})
            if extra or not isinstance(item.get("algo"), str):
                raise InvalidParameter(f"hybrid member {k} must be a name or {{'algo': name, 'params': {{...}}}}; got keys {sorted(item)}")
            algo, params = item["algo"], item.get("params") or {}
            if not isinstance(params, Mapping):
                raise InvalidParameter(f"hybrid member {k} ({algo}): params must be a mapping, not {type(params).__name__}")
        else:
            raise InvalidParameter(f"hybrid member {k} must be a name or {{'algo': name, 'params': {{...}}}}, not {item!r}")
        name = canonical(algo)
        if name == WeightedHybrid.name:
            raise InvalidParameter("a hybrid cannot be a member of a hybrid")
        try:
            specs.append(MemberSpec(name, validate_params(name, params)))
        except InvalidParameter as exc:
            raise InvalidParameter(f"hybrid member {k}: {exc.message}") from None
    return specs


def normalise_rows(scores: FloatArray, how: str) -> FloatArray:
    """Per-row z-score or percentile rank; NaN (cannot score) becomes the row's minimum (0 for a row without scores)."""
    s = np.array(scores, dtype=np.float64)
    valid = np.isfinite(s)
    if how == "rank":
        filled = np.where(valid, s, -np.inf)
        ranks = filled.argsort(axis=1).argsort(axis=1).astype(np.float64)
        out = ranks / max(s.shape[1] - 1, 1)
    else:
        cnt = np.maximum(valid.sum(axis=1, keepdims=True), 1)
        mean = np.where(valid, s, 0).sum(axis=1, keepdims=True) / cnt
        var = np.where(valid, (s - mean) ** 2, 0).sum(axis=1, keepdims=True) / cnt
        out = (np.where(valid, s, 0.0) - mean) / np.where(var > 0, np.sqrt(var), 1.0)
    lowest = np.where(valid, out, np.inf).min(axis=1, keepdims=True) if s.shape[1] else np.zeros((len(s), 1))
    return np.where(valid, out, np.where(np.isfinite(lowest), lowest, 0.0))


def simplex_grid(n: int, step: float) -> list[tuple[float, ...]]:
    """All weight vectors of ``n`` non-negative multiples of ``step`` summing to 1."""
    k = round(1 / step)
    return [tuple(c / k for c in combo) for combo in itertools.product(range(k + 1), repeat=n) if sum(combo) == k]


def _predicts(model: RecommenderBase) -> bool:
    return isinstance(model, RatingPredictor) and model.predicts_ratings


class WeightedHybrid(RecommenderBase):
    """Fuse the scores of several models with weights learned on validation splits, or fall back to the best one.

    Ranking: each member's scores are normalised per user (``zscore`` or
    ``rank``) and summed with weights chosen on a simplex grid to maximise
    NDCG@``k`` on ``validation_folds`` inner per-user holdouts of the training
    data (each user's NDCG averaged over the folds). The best mixture is kept
    only if it beats the best single member by more than ``min_gain_se``
    paired standard errors of the per-user NDCG difference; else that member
    alone ranks (the arg-max of a noisy objective favours mixtures, which on
    unseen data can fall below their best member). Ratings (when every member
    predicts ratings and the data has ratings): a ridge regression of the
    held-out ratings on the members' predictions (stacking), kept only if its
    cross-validated squared error (by user groups) beats the best member's by
    more than ``min_gain_se`` standard errors (clustered by user); ranking
    keeps its own NDCG weights, since stacking weights (often negative) fit
    ratings, not orderings. Only the members that the result uses (non-zero
    weight, or the switch member) are then refitted on all the training data
    and kept. A hybrid with a ranking-only member ranks but refuses
    :meth:`predict`.

    Args:
        members: the members (see :func:`parse_members`): e.g.
            ``["ease", {"algo": "item-knn", "params": {"k": 40}}]``, or
            ``"ease,implicit-als"``; ``None`` for :data:`DEFAULT_MEMBERS`.
        weights: fixed weights (one per member) instead of learning them; in
            rating mode :meth:`predict` is then their weighted sum of the
            members' predictions.
        normalization: ``zscore`` or ``rank``.
        validation_fraction: share of each user's interactions held out to learn
            weights. Match the evaluation's holdout: weights learned in a
            sparser or denser regime transfer poorly (on ML-100K 75/25, 0.15
            gave worse test NDCG than 0.25 on two independent splits).
        grid_step: resolution of the ranking weight grid.
        k: list length of the NDCG objective.
        ridge: L2 penalty of the rating stacker.
        switch_below: per-user switching by profile size: users with fewer
            training interactions (or histories shorter than this) are ranked
            by ``switch_member`` alone; 0 disables switching.
        switch_member: the member for small profiles (typically ``content-knn``;
            the first member of that algorithm).
        validation_folds: inner holdouts (seeds ``random_state``,
            ``random_state + 1``, ...); each costs one fit of every member.
        min_gain_se: how many standard errors the best mixture (or the rating
            stacker) must gain over the best single member to be kept (at
            least 0; 0 keeps any positive gain: the plain arg-max of the grid).
            On the data sets measured, one inner fold with 0 (the former
            rule) fell below the best member (FilmTrust 75/25 seed 42: 0.6040
            against EASE's 0.6047 NDCG@10); two folds with 1 did not.
        random_state: seed of the first inner split.
    """

    name: ClassVar[str] = "hybrid"

    def __init__(
        self, members: str | Sequence[str | Mapping[str, Any]] | None = None, weights: Sequence[float] | None = None,
        normalization: Literal["zscore", "rank"] = "zscore", validation_fraction: float = 0.25, grid_step: float = 0.1,
        k: int = 10, ridge: float = 1.0, switch_below: int = 0, switch_member: str = "content-knn",
        validation_folds: int = 2, min_gain_se: float = 1.0, random_state: int | None = 42,
    ) -> None:
        self.members = members
        self.weights = weights
        self.normalization = normalization
        self.validation_fraction = validation_fraction
        self.grid_step = grid_step
        self.k = k
        self.ridge = ridge
        self.switch_below = switch_below
        self.switch_member = switch_member
        self.validation_folds = validation_folds
        self.min_gain_se = min_gain_se
        self.random_state = random_state

    @classmethod
    def _upgrade_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters of artifacts saved before members were a list (``members`` string plus ``member_params``)."""
        out = dict(params)
        if "member_params" not in out:
            return out
        by_name = out.pop("member_params") or {}
        if isinstance(out.get("members"), str):
            names = [m.strip() for m in out["members"].split(",") if m.strip()]
            out["members"] = [{"algo": m, "params": by_name[m]} if by_name.get(m) else m for m in names]
        return out

    @property
    def needs_features(self) -> bool:  # type: ignore[override]
        """Whether any member needs item features."""
        if hasattr(self, "members_"):
            return any(m.needs_features for m in self.members_)
        return any(get_class(s.algo).needs_features for s in parse_members(self.members))

    @property
    def predicts_ratings(self) -> bool:  # type: ignore[override]
        """True when fitted in rating mode: every member predicts ratings and the data had ratings."""
        return bool(getattr(self, "rating_mode_", False))

    def _switch_index(self, specs: list[MemberSpec]) -> int:
        """Index of the switch member (-1 when switching is off)."""
        if not self.switch_below:
            return -1
        target = canonical(self.switch_member)
        for idx, spec in enumerate(specs):
            if spec.algo == target:
                return idx
        raise InvalidParameter(f"switch_member {self.switch_member!r} is not among the members {', '.join(s.algo for s in specs)}")

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: the sum of the members' estimates, plus the weight search's dense scores.

        The members are fitted one after the other but, at worst, every
        member is kept (refitted in place on all the data), so their costs
        add up. Without given ``weights``, each inner split copies the
        ratings (about 64 bytes a rating) and each member scores the
        validation users against every item: ``n_users x n_items`` float64
        scores per member and two more for the grid search, quadratic in the
        data's size (the folds are searched one after the other).
        """
        members = [create(s.algo, **s.params) for s in parse_members(self.members)]
        total = sum(m.estimate_fit_bytes(n_users, n_items, n_ratings) for m in members)
        if self.weights is None:
            total += 64 * int(n_ratings) + 8 * int(n_users) * int(n_items) * (len(members) + 2)
        return int(total) + 64 * (int(n_users) + int(n_items))

    # --------------------------------------------------------------- fitting
    def fit(self, data: Interactions) -> Self:
        """Learn the weights on inner splits, then fit the members the weights use on ``data``.

        Raises:
            InvalidParameter: invalid members, weights, normalisation,
                ``validation_folds`` or ``min_gain_se``.
        """
        specs = parse_members(self.members)
        if self.normalization not in ("zscore", "rank"):
            raise InvalidParameter(f"normalization must be zscore or rank, not {self.normalization!r}")
        if self.weights is not None and len(self.weights) != len(specs):
            raise InvalidParameter(f"weights needs {len(specs)} values, one per member")
        if self.validation_folds < 1 or self.min_gain_se < 0:
            raise InvalidParameter("validation_folds must be 1 or more and min_gain_se 0 or more")
        switch = self._switch_index(specs)
        members = [create(s.algo, **s.params) for s in specs]
        self._remember(data)
        self.min_rating_, self.max_rating_ = data.rating_scale if data.ratings is not None else (-np.inf, np.inf)
        self.rating_mode_ = bool(data.ratings is not None and all(_predicts(m) for m in members))
        self.intercept_ = 0.0
        self.switch_index_ = switch
        if self.weights is not None:
            self.weights_ = np.asarray(self.weights, dtype=np.float64)
            self.rating_weights_ = self.weights_.copy()
        else:
            self._learn_weights(members, data)
        keep = self.weights_ != 0
        if self.rating_mode_:
            keep |= self.rating_weights_ != 0
        if switch >= 0:
            keep[switch] = True
        # a member without weight costs nothing: neither refitted nor kept
        self.member_index_ = np.flatnonzero(keep).astype(np.int64)
        self.members_ = [members[i].fit(data) for i in self.member_index_]
        return self

    def _learn_weights(self, members: list[RecommenderBase], data: Interactions) -> None:
        """Ranking weights (and the rating stacker) from ``validation_folds`` inner holdouts of ``data``."""
        from cinerec.data.splits import stratified_split

        grid = np.asarray(simplex_grid(len(members), self.grid_step), dtype=np.float64)
        ndcgs: list[FloatArray] = []
        users: list[IntArray] = []
        preds: list[FloatArray] = []
        ratings: list[FloatArray] = []
        rated_by: list[IntArray] = []
        for fold in range(self.validation_folds):
            seed = None if self.random_state is None else self.random_state + fold
            inner = stratified_split(data, 1 - self.validation_fraction, random_state=seed)
            for m in members:
                m.fit(inner.train)
            fold_users, fold_ndcg = self._grid_ndcg(members, inner.train, inner.test, grid)
            users.append(fold_users)
            ndcgs.append(fold_ndcg)
            if self.rating_mode_:
                preds.append(np.column_stack([self._member_predict(m, inner.test.users, inner.test.items) for m in members]))
                ratings.append(np.asarray(inner.test.ratings, dtype=np.float64))
                rated_by.append(inner.test.users)
        # each user's NDCG averaged over the folds that held out some of their items
        unique, inverse = np.unique(np.concatenate(users), return_inverse=True)
        per_fold = sp.csr_matrix((np.ones(len(inverse)), (np.arange(len(inverse)), inverse)), shape=(len(inverse), len(unique)))
        per_user = np.asarray((per_fold.T @ np.hstack(ndcgs).T).T, dtype=np.float64) / np.asarray(per_fold.sum(axis=0))
        self._choose_weights(grid, per_user)
        self.rating_weights_ = self.weights_.copy()
        if self.rating_mode_:
            self._stack_ratings(np.vstack(preds), np.concatenate(ratings), np.concatenate(rated_by))

    def _grid_ndcg(self, members: list[RecommenderBase], train: Interactions, test: Interactions,
                   grid: FloatArray) -> tuple[IntArray, FloatArray]:
        """The validation users and their NDCG@k under every grid point: ``(n_grid, n_users)``."""
        users = validation_users(test.binary)
        truth, seen = test.binary[users], train.binary[users]
        norm = [normalise_rows(m.score(users), self.normalization) for m in members]
        out = np.empty((len(grid), len(users)))
        for g, w in enumerate(grid):
            total = sum((wi * s for wi, s in zip(w, norm, strict=True) if wi), np.zeros((len(users), train.n_items)))
            out[g] = per_user_ndcg(total, seen, truth, self.k)
        return users, out

    def _choose_weights(self, grid: FloatArray, per_user: FloatArray) -> None:
        """The best mixture if it beats the best single member by ``min_gain_se`` paired standard errors, else that member.

        Sets ``weights_``, ``validation_ndcg_``, ``fallback_index_`` (the
        member ranking alone, -1 for a mixture), ``mixture_gain_`` (mean
        per-user NDCG gain of the best mixture over the best single member;
        0 without mixtures) and ``mixture_gain_se_`` (its standard error).
        """
        mean = per_user.mean(axis=1) if per_user.shape[1] else np.zeros(len(grid))
        single = (grid == 1.0).any(axis=1)
        best_single = int(np.flatnonzero(single)[np.argmax(mean[single])])
        self.fallback_index_ = int(np.argmax(grid[best_single]))
        self.mixture_gain_ = self.mixture_gain_se_ = 0.0
        chosen = best_single
        if not single.all():
            best_mix = int(np.flatnonzero(~single)[np.argmax(mean[~single])])
            diff = per_user[best_mix] - per_user[best_single]
            self.mixture_gain_ = float(diff.mean()) if len(diff) else 0.0
            self.mixture_gain_se_ = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
            if len(diff) > 1 and self.mixture_gain_ > self.min_gain_se * self.mixture_gain_se_:
                chosen, self.fallback_index_ = best_mix, -1
        self.weights_ = grid[chosen].copy()
        self.validation_ndcg_ = float(mean[chosen])

    def _stack_ratings(self, preds: FloatArray, ratings: FloatArray, users: IntArray, n_groups: int = 5) -> None:
        """Ridge stacking of held-out ratings, kept if it beats the best member out of sample by ``min_gain_se`` standard errors.

        The stacker's squared errors come from ``n_groups``-fold cross-fitting
        over groups of users; the gain is the mean squared error of the best
        member (on the same rows) minus the stacker's, and its standard error
        is clustered by user. Sets ``intercept_``, ``rating_weights_``,
        ``rating_fallback_index_`` (-1 when the stacker is kept),
        ``rating_gain_`` and ``rating_gain_se_``.
        """
        clipped = np.clip(preds, self.min_rating_, self.max_rating_)
        member_err = (clipped - ratings[:, None]) ** 2
        best = int(np.argmin(member_err.mean(axis=0)))
        unique, inverse = np.unique(users, return_inverse=True)
        group = np.random.default_rng(self.random_state).permutation(len(unique))[inverse] % max(min(n_groups, len(unique)), 1)
        stacked = np.empty(len(ratings))
        for g in np.unique(group):
            held = group == g
            intercept, coef = self._ridge(preds[~held], ratings[~held]) if (~held).any() else (0.0, np.eye(preds.shape[1])[best])
            stacked[held] = np.clip(intercept + preds[held] @ coef, self.min_rating_, self.max_rating_)
        diff = member_err[:, best] - (stacked - ratings) ** 2
        n = len(diff)
        self.rating_gain_ = float(diff.mean()) if n else 0.0
        by_user = np.bincount(inverse, weights=diff - self.rating_gain_, minlength=len(unique))
        self.rating_gain_se_ = float(np.sqrt(by_user @ by_user * len(unique) / (len(unique) - 1)) / n) if len(unique) > 1 else 0.0
        if len(unique) > 1 and self.rating_gain_ > self.min_gain_se * self.rating_gain_se_:
            self.intercept_, self.rating_weights_ = self._ridge(preds, ratings)
            self.rating_fallback_index_ = -1
        else:
            self.intercept_, self.rating_weights_ = 0.0, np.eye(preds.shape[1])[best]
            self.rating_fallback_index_ = best

    def _ridge(self, preds: FloatArray, ratings: FloatArray) -> tuple[float, FloatArray]:
        """Intercept (unpenalised) and weights of the ridge regression of ``ratings`` on ``preds``."""
        x = np.c_[np.ones(len(preds)), preds]
        reg = self.ridge * np.eye(x.shape[1])
        reg[0, 0] = 0.0
        coef = np.linalg.solve(x.T @ x + reg, x.T @ ratings)
        return float(coef[0]), np.asarray(coef[1:], dtype=np.float64)

    @staticmethod
    def _member_predict(model: RecommenderBase, users: npt.ArrayLike, items: npt.ArrayLike) -> FloatArray:
        if not isinstance(model, RatingPredictor):  # rating mode admits only rating predictors
            raise InvalidParameter(f"hybrid member {model.name} cannot predict ratings")
        return np.asarray(model.predict(np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)), dtype=np.float64)

    def _load_extra(self, folder: Path) -> None:
        """Artifacts of older hybrids: derive ``switch_index_``; their one set of weights served ranking and ratings; every member kept."""
        if not hasattr(self, "switch_index_"):
            self.switch_index_ = self._switch_index(parse_members(self.members))
        if not hasattr(self, "rating_weights_"):
            self.rating_weights_ = np.asarray(self.weights_, dtype=np.float64).copy()
        if not hasattr(self, "member_index_"):
            self.member_index_ = np.arange(len(self.members_), dtype=np.int64)

    # --------------------------------------------------------------- scoring
    def _weighted(self, weights: FloatArray) -> list[tuple[float, RecommenderBase]]:
        """The kept members with their weight in ``weights`` (one per configured member)."""
        return [(float(weights[i]), m) for i, m in zip(self.member_index_, self.members_, strict=True)]

    def _switch_member(self) -> RecommenderBase:
        return self.members_[int(np.flatnonzero(self.member_index_ == self.switch_index_)[0])]

    def _score_known(self, users: IntArray) -> FloatArray:
        total = np.zeros((len(users), self.n_items_))
        for w, m in self._weighted(self.weights_):
            if w:
                total += w * normalise_rows(m.score(users), self.normalization)
        if self.switch_index_ >= 0:
            small = np.diff(self.seen_.indptr)[users] < self.switch_below
            if small.any():
                total[small] = normalise_rows(self._switch_member().score(users[small]), self.normalization)
        return total

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """Members' history scores, normalised and weighted; a history shorter than ``switch_below`` gets ``switch_member`` alone."""
        pairs = self._weighted(self.weights_)
        if self.switch_index_ >= 0 and len(items) < self.switch_below:
            pairs = [(1.0, self._switch_member())]
        total = np.zeros(self.n_items_)
        for w, m in pairs:
            if w:
                total += w * normalise_rows(m.score_history(items, values)[None, :], self.normalization)[0]
        return total

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Stacked rating predictions: intercept plus the weighted member predictions, clipped to the rating scale.

        Raises:
            InvalidParameter: the hybrid was not fitted in rating mode (a
                member that cannot predict ratings, or data without ratings).
        """
        self._check_fitted()
        if not self.rating_mode_:
            ranking_only = [s.algo for s in parse_members(self.members) if get_class(s.algo).predicts_ratings is not True]
            why = (f"member{'s' if len(ranking_only) > 1 else ''} {', '.join(ranking_only)} cannot predict ratings"
                   if ranking_only else "it was trained on data without ratings")
            raise InvalidParameter(f"this hybrid ranks but does not predict ratings: {why}; use recommend() or score()")
        total = np.full(len(np.atleast_1d(users)), self.intercept_)
        for w, m in self._weighted(self.rating_weights_):
            if w:
                total += w * self._member_predict(m, users, items)
        return np.asarray(np.clip(total, self.min_rating_, self.max_rating_), dtype=np.float64)

    # ------------------------------------------------------------ explaining
    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """Reasons from ``switch_member`` first for a history shorter than ``switch_below``, else from the heaviest-weighted member that gives any.

        The length compared is that of the history's liked part (what
        :meth:`explain_history` passes on).
        """
        pairs = self._weighted(self.weights_)
        order = [m for _, m in sorted((p for p in pairs if p[0] > 0), key=lambda p: -p[0])]
        if self.switch_index_ >= 0 and len(items) < self.switch_below:
            switch = self._switch_member()
            order = [switch, *(m for m in order if m is not switch)]
        for member in order:
            reasons = member._explain_history(items, values, item, n)
            if reasons:
                return reasons
        return []

    def learned_summary(self) -> dict[str, Any]:
        """Ranking weights, their inner validation NDCG and the fallback decision; in rating mode also the stacker's.

        ``fallback`` names the member that ranks alone because no mixture beat
        it by ``min_gain_se`` standard errors; ``mixture_gain`` is the best
        mixture's mean per-user NDCG gain over that member (and
        ``mixture_gain_se`` its standard error). In rating mode
        ``rating_fallback`` (the member predicting alone), ``rating_gain`` and
        ``rating_gain_se`` (the stacker's cross-validated reduction of the
        squared error) do the same for ratings.
        """
        self._check_fitted()
        names = [s.algo for s in parse_members(self.members)]
        labels = [f"{nm}[{k}]" if names.count(nm) > 1 else nm for k, nm in enumerate(names)]

        def per_member(w: FloatArray) -> dict[str, float]:
            return {lb: round(float(x), 4) for lb, x in zip(labels, w, strict=True)}

        out: dict[str, Any] = {"weights": per_member(self.weights_)}
        if hasattr(self, "validation_ndcg_"):
            out["validation_ndcg"] = round(float(self.validation_ndcg_), 4)
        if hasattr(self, "fallback_index_"):
            if self.fallback_index_ >= 0:
                out["fallback"] = labels[self.fallback_index_]
            out["mixture_gain"] = round(float(self.mixture_gain_), 5)
            out["mixture_gain_se"] = round(float(self.mixture_gain_se_), 5)
        if self.rating_mode_:
            out["rating_weights"] = per_member(self.rating_weights_)
            out["intercept"] = round(self.intercept_, 4)
            if hasattr(self, "rating_fallback_index_"):
                if self.rating_fallback_index_ >= 0:
                    out["rating_fallback"] = labels[self.rating_fallback_index_]
                out["rating_gain"] = round(float(self.rating_gain_), 5)
                out["rating_gain_se"] = round(float(self.rating_gain_se_), 5)
        return out
