"""The live recommender: one loaded model version, swapped atomically.

Each request takes one reference to the current :class:`LiveModel` and uses
it to the end, so a response never mixes versions; :meth:`refresh` replaces
the reference in a single assignment after the new version is fully loaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cinerec.algorithms.base import RecommenderBase, SupportsExplain
from cinerec.data.vocab import Vocabulary
from cinerec.errors import NotFound
from cinerec.service.registry import ModelRegistry

#: The most recommendations one request may ask for.
MAX_K = 100


@dataclass(frozen=True)
class LiveModel:
    """A loaded model version with its id maps and cold-start fallback."""

    version: str
    algo: str
    model: RecommenderBase
    users: Vocabulary
    items: Vocabulary
    popularity: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie (database id) with its score and reasons."""

    movie_id: int
    score: float
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class RecommendationList:
    """A response: which model made it, how, and the items."""

    model_version: str
    algo: str
    strategy: str
    items: list[Recommendation]


class RecommenderService:
    """Serves recommendations from the registry's active model version.

    Args:
        registry: where versions are published.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._live: LiveModel | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Load the active version if it changed; returns whether a swap happened."""
        version = self.registry.active_version()
        if version is None or (self._live is not None and self._live.version == version):
            return False
        with self._lock:
            if self._live is not None and self._live.version == version:
                return False
            model, att, info = self.registry.load(version)
            pop = np.asarray(model.seen_.sum(axis=0)).ravel()
            self._live = LiveModel(version, info.algo, model, Vocabulary(att["user_ids"]), Vocabulary(att["item_ids"]), pop, info.extra)
        return True

    @property
    def live(self) -> LiveModel:
        """The current model.

        Raises:
            NotFound: no model has been trained and activated yet.
        """
        live = self._live
        if live is None:
            self.refresh()
            live = self._live
        if live is None:
            raise NotFound("no recommendation model is active yet: run `cinerec train`")
        return live

    def recommend(self, user_id: int, k: int = 10, *, explain: bool = True, exclude: list[int] | None = None) -> RecommendationList:
        """Top-``k`` movies for a database user id.

        Users the model does not know, or who had no training interactions,
        get the popularity list (``strategy="popular"``).

        Args:
            user_id: database user id.
            k: list length, clamped to ``1..MAX_K``.
            explain: attach reasons.
            exclude: further movie ids to leave out (e.g. rated since training).
        """
        live = self.live
        k = max(1, min(int(k), MAX_K))
        m = live.model
        u = live.users.index(user_id)
        cand = None
        if exclude:
            allowed = np.ones(len(live.items), dtype=bool)
            ex = live.items.indices(exclude)
            allowed[ex[ex >= 0]] = False
            cand = np.flatnonzero(allowed)
        if u >= 0 and m.seen_[u].nnz > 0:
            ranked = m.recommend(np.array([u]), k, candidates=cand)
            strategy = live.algo
            items, scores = ranked.items[0], ranked.scores[0]
        else:
            strategy = "popular"
            order = np.argsort(-live.popularity, kind="stable")
            if cand is not None:
                order = order[np.isin(order, cand)]
            items = order[:k]
            scores = live.popularity[items].astype(np.float64)
        out = []
        for i, s in zip(items.tolist(), scores.tolist(), strict=True):
            if i < 0:
                continue
            reasons: list[dict[str, Any]] = []
            if explain and strategy != "popular" and isinstance(m, SupportsExplain):
                for r in m.explain(u, i, 3):
                    reasons.append({"kind": r.kind, "text": r.text, "weight": round(float(r.weight), 4),
                                    "movie_id": int(live.items.raw(r.item)) if r.item is not None else None})
            elif explain and strategy == "popular":
                reasons.append({"kind": "popular", "text": f"popular: {int(live.popularity[i])} ratings", "weight": 0.0, "movie_id": None})
            out.append(Recommendation(int(live.items.raw(i)), float(s), reasons))
        return RecommendationList(live.version, live.algo, strategy, out)
