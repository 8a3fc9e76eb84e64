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

from cinerec.algorithms._validation import validation_ndcg
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
    """Fuse the scores of several models with weights learned on a validation split.

    Ranking: each member's scores are normalised per user (``zscore`` or
    ``rank``) and summed with weights chosen on a simplex grid to maximise
    NDCG@``k`` on an inner per-user holdout of the training data. Ratings
    (when every member predicts ratings and the data has ratings): a ridge
    regression of the held-out ratings on the members' predictions
    (stacking), learned on the same holdout; ranking keeps its own NDCG
    weights, since stacking weights (often negative) fit ratings, not
    orderings. Members are then refitted on all the training data. A hybrid
    with a ranking-only member ranks but refuses :meth:`predict`.

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
        random_state: seed of the inner split.
    """

    name: ClassVar[str] = "hybrid"

    def __init__(
        self, members: str | Sequence[str | Mapping[str, Any]] | None = None, weights: Sequence[float] | None = None,
        normalization: Literal["zscore", "rank"] = "zscore", validation_fraction: float = 0.25, grid_step: float = 0.1,
        k: int = 10, ridge: float = 1.0, switch_below: int = 0, switch_member: str = "content-knn",
        random_state: int | None = 42,
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

        The members are fitted one after the other but every fitted member
        is kept (and refitted in place on all the data), so their costs add
        up. Without given ``weights``, an inner split copies the ratings
        (about 64 bytes a rating) and each member scores the validation
        members against every item: ``n_users x n_items`` float64 scores per
        member and two more for the grid search, quadratic in the data's size.
        """
        members = [create(s.algo, **s.params) for s in parse_members(self.members)]
        total = sum(m.estimate_fit_bytes(n_users, n_items, n_ratings) for m in members)
        if self.weights is None:
            total += 64 * int(n_ratings) + 8 * int(n_users) * int(n_items) * (len(members) + 2)
        return int(total) + 64 * (int(n_users) + int(n_items))

    # --------------------------------------------------------------- fitting
    def fit(self, data: Interactions) -> Self:
        """Learn the weights on an inner split, then fit every member on ``data``.

        Raises:
            InvalidParameter: invalid members, weights or normalisation.
        """
        from cinerec.data.splits import stratified_split

        specs = parse_members(self.members)
        if self.normalization not in ("zscore", "rank"):
            raise InvalidParameter(f"normalization must be zscore or rank, not {self.normalization!r}")
        if self.weights is not None and len(self.weights) != len(specs):
            raise InvalidParameter(f"weights needs {len(specs)} values, one per member")
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
            inner = stratified_split(data, 1 - self.validation_fraction, random_state=self.random_state)
            for m in members:
                m.fit(inner.train)
            self.weights_, self.validation_ndcg_ = self._search_weights(members, inner.train, inner.test)
            self.rating_weights_ = self.weights_.copy()
            if self.rating_mode_:
                preds = np.column_stack([self._member_predict(m, inner.test.users, inner.test.items) for m in members])
                x = np.c_[np.ones(len(preds)), preds]
                reg = self.ridge * np.eye(x.shape[1])
                reg[0, 0] = 0.0
                coef = np.linalg.solve(x.T @ x + reg, x.T @ inner.test.ratings)
                self.intercept_, self.rating_weights_ = float(coef[0]), coef[1:]
        self.members_ = [m.fit(data) for m in members]
        return self

    def _search_weights(self, members: list[RecommenderBase], train: Interactions, test: Interactions) -> tuple[FloatArray, float]:
        """The simplex-grid weights with the best validation NDCG@k, and that NDCG."""
        users = np.unique(test.users)
        truth, seen = test.binary[users], train.binary[users]
        norm = [normalise_rows(m.score(users), self.normalization) for m in members]
        best, best_w = -1.0, np.full(len(members), 1.0 / len(members))
        for w in simplex_grid(len(members), self.grid_step):
            total = sum((wi * s for wi, s in zip(w, norm, strict=True) if wi), np.zeros((len(users), train.n_items)))
            val = validation_ndcg(total, seen, truth, self.k)
            if val > best + 1e-9:
                best, best_w = val, np.asarray(w, dtype=np.float64)
        return best_w, best

    @staticmethod
    def _member_predict(model: RecommenderBase, users: npt.ArrayLike, items: npt.ArrayLike) -> FloatArray:
        if not isinstance(model, RatingPredictor):  # rating mode admits only rating predictors
            raise InvalidParameter(f"hybrid member {model.name} cannot predict ratings")
        return np.asarray(model.predict(np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)), dtype=np.float64)

    def _load_extra(self, folder: Path) -> None:
        """Artifacts of older hybrids: derive ``switch_index_``; their one set of weights served ranking and ratings."""
        if not hasattr(self, "switch_index_"):
            self.switch_index_ = self._switch_index(parse_members(self.members))
        if not hasattr(self, "rating_weights_"):
            self.rating_weights_ = np.asarray(self.weights_, dtype=np.float64).copy()

    # --------------------------------------------------------------- scoring
    def _score_known(self, users: IntArray) -> FloatArray:
        total = np.zeros((len(users), self.n_items_))
        for w, m in zip(self.weights_, self.members_, strict=True):
            if w:
                total += w * normalise_rows(m.score(users), self.normalization)
        if self.switch_index_ >= 0:
            small = np.diff(self.seen_.indptr)[users] < self.switch_below
            if small.any():
                member = self.members_[self.switch_index_]
                total[small] = normalise_rows(member.score(users[small]), self.normalization)
        return total

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        """Members' history scores, normalised and weighted; a history shorter than ``switch_below`` gets ``switch_member`` alone."""
        pairs: list[tuple[float, RecommenderBase]] = list(zip(self.weights_.tolist(), self.members_, strict=True))
        if self.switch_index_ >= 0 and len(items) < self.switch_below:
            pairs = [(1.0, self.members_[self.switch_index_])]
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
            ranking_only = [m.name for m in self.members_ if not _predicts(m)]
            why = (f"member{'s' if len(ranking_only) > 1 else ''} {', '.join(ranking_only)} cannot predict ratings"
                   if ranking_only else "it was trained on data without ratings")
            raise InvalidParameter(f"this hybrid ranks but does not predict ratings: {why}; use recommend() or score()")
        preds = np.column_stack([self._member_predict(m, users, items) for m in self.members_])
        return np.asarray(np.clip(self.intercept_ + preds @ self.rating_weights_, self.min_rating_, self.max_rating_), dtype=np.float64)

    # ------------------------------------------------------------ explaining
    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        """Reasons from ``switch_member`` first for a history shorter than ``switch_below``, else from the heaviest-weighted member that gives any.

        The length compared is that of the history's liked part (what
        :meth:`explain_history` passes on).
        """
        order = [int(i) for i in np.argsort(-self.weights_, kind="stable") if self.weights_[i] > 0]
        if self.switch_index_ >= 0 and len(items) < self.switch_below:
            order = [self.switch_index_, *(i for i in order if i != self.switch_index_)]
        for idx in order:
            reasons = self.members_[idx]._explain_history(items, values, item, n)
            if reasons:
                return reasons
        return []

    def learned_summary(self) -> dict[str, Any]:
        """Ranking weights and their inner validation NDCG; in rating mode also the stacker's weights and intercept."""
        self._check_fitted()
        names = [m.name for m in self.members_]
        labels = [f"{nm}[{k}]" if names.count(nm) > 1 else nm for k, nm in enumerate(names)]

        def per_member(w: FloatArray) -> dict[str, float]:
            return {lb: round(float(x), 4) for lb, x in zip(labels, w, strict=True)}

        out: dict[str, Any] = {"weights": per_member(self.weights_)}
        if hasattr(self, "validation_ndcg_"):
            out["validation_ndcg"] = round(float(self.validation_ndcg_), 4)
        if self.rating_mode_:
            out["rating_weights"] = per_member(self.rating_weights_)
            out["intercept"] = round(self.intercept_, 4)
        return out
