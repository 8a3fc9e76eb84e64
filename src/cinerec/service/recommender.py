"""The live recommender: one loaded model version, swapped atomically.

Each request takes one reference to the current :class:`LiveModel` and uses
it to the end, so a response never mixes versions; :meth:`refresh` replaces
the reference in a single assignment after the new version is fully loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cinerec.algorithms._topk import topk
from cinerec.algorithms.base import RecommenderBase, SupportsExplain, SupportsHistory
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
    cache: dict[str, Any] = field(default_factory=dict)


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

    def recommend(self, user_id: int | None, k: int = 10, *, explain: bool = True, exclude: list[int] | None = None,
                  history: Sequence[tuple[int, float]] | None = None) -> RecommendationList:
        """Top-``k`` movies for a database user id, routed by what is known about the user.

        - No interactions at all: the onboarding list, popular and diverse
          (``strategy="onboarding"``).
        - A ``history`` (movie id, value) that the model was not trained on (a
          new user, or ratings since training) and a model that can score
          histories: scored without refitting (``strategy="<algo>:history"``).
          A hybrid with ``switch_below`` ranks short histories by its content
          member, so the first few ratings get content-based lists.
        - Otherwise the model's own ranking for the user (``strategy=<algo>``).

        Args:
            user_id: database user id (``None`` for an anonymous visitor).
            k: list length, clamped to ``1..MAX_K``.
            explain: attach reasons.
            exclude: further movie ids to leave out.
            history: the user's current interactions from the store, if known.
        """
        live = self.live
        k = max(1, min(int(k), MAX_K))
        m = live.model
        u = live.users.index(user_id) if user_id is not None else -1
        trained = m.seen_[u].indices if u >= 0 else np.array([], dtype=np.int64)
        hist_items, hist_values = self._history(live, history)
        allowed = np.ones(len(live.items), dtype=bool)
        if exclude:
            ex = live.items.indices(exclude)
            allowed[ex[ex >= 0]] = False
        fresh = len(hist_items) > 0 and not np.array_equal(np.sort(hist_items), np.sort(trained))
        if fresh and isinstance(m, SupportsHistory):
            strategy = f"{live.algo}:history"
            allowed[hist_items] = False
            scores_all = m.score_history(hist_items, hist_values)
            items, scores = topk(scores_all[None, :], k, allowed=allowed)
            items, scores = items[0], scores[0]
        elif len(trained):
            allowed[hist_items] = False
            ranked = m.recommend(np.array([u]), k, candidates=np.flatnonzero(allowed) if not allowed.all() else None)
            strategy = live.algo
            items, scores = ranked.items[0], ranked.scores[0]
        else:
            strategy = "onboarding"
            allowed[hist_items] = False
            order = self._onboarding(live)
            items = order[allowed[order]][:k]
            scores = live.popularity[items].astype(np.float64)
        out = []
        history_reasons = (self._history_reasons(live, [i for i in items.tolist() if i >= 0], hist_items, hist_values)
                           if explain and strategy.endswith(":history") else {})
        for i, s in zip(items.tolist(), scores.tolist(), strict=True):
            if i < 0 or not np.isfinite(s):
                continue
            reasons: list[dict[str, Any]] = []
            if explain and strategy == live.algo and isinstance(m, SupportsExplain):
                for r in m.explain(u, i, 3):
                    reasons.append({"kind": r.kind, "text": r.text, "weight": round(float(r.weight), 4),
                                    "movie_id": int(live.items.raw(r.item)) if r.item is not None else None})
            elif explain and strategy.endswith(":history"):
                reasons += history_reasons.get(i, [])
            elif explain and strategy == "onboarding":
                reasons.append({"kind": "popular", "text": f"popular: {int(live.popularity[i])} ratings", "weight": 0.0, "movie_id": None})
            out.append(Recommendation(int(live.items.raw(i)), float(s), reasons))
        return RecommendationList(live.version, live.algo, strategy, out)

    @staticmethod
    def _history(live: LiveModel, history: Sequence[tuple[int, float]] | None) -> tuple[np.ndarray, np.ndarray]:
        """History as (item index, value) arrays, movies unknown to the model dropped."""
        if not history:
            return np.array([], dtype=np.int64), np.array([], dtype=np.float64)
        ids = np.array([h[0] for h in history], dtype=np.int64)
        vals = np.array([h[1] for h in history], dtype=np.float64)
        idx = live.items.indices(ids)
        keep = idx >= 0
        return idx[keep], vals[keep]

    def _onboarding(self, live: LiveModel) -> np.ndarray:
        """Popular films re-ranked for diversity (cached per model version).

        Maximal marginal relevance over the 300 most popular films: each pick
        maximises ``0.7 * popularity - 0.3 * max similarity to the picks so
        far``, similarity being the cosine of the films' audiences (who rated
        both), so the list does not open with five films of one franchise.
        """
        cached = live.cache.get("onboarding")
        if cached is not None:
            return np.asarray(cached)
        pool = np.argsort(-live.popularity, kind="stable")[:300]
        pool = pool[live.popularity[pool] > 0]
        cols = live.model.seen_[:, pool].T.tocsr().astype(np.float64)
        norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        sim = np.asarray((cols @ cols.T).todense()) / np.outer(norms, norms)
        rel = live.popularity[pool] / max(live.popularity[pool].max(initial=0), 1)
        picked: list[int] = []
        best_sim = np.zeros(len(pool))
        remaining = np.ones(len(pool), dtype=bool)
        for _ in range(len(pool)):
            mmr = np.where(remaining, 0.7 * rel - 0.3 * best_sim, -np.inf)
            j = int(np.argmax(mmr))
            picked.append(j)
            remaining[j] = False
            best_sim = np.maximum(best_sim, sim[j])
        rest = np.argsort(-live.popularity, kind="stable")[300:]
        order = np.concatenate([pool[picked], rest])
        live.cache["onboarding"] = order
        return order

    @staticmethod
    def _history_reasons(live: LiveModel, items: list[int], hist_items: np.ndarray,
                         hist_values: np.ndarray) -> dict[int, list[dict[str, Any]]]:
        """"Because you liked": for each item, the history films whose audiences overlap most with its own."""
        if not len(hist_items) or not items:
            return {}
        liked = hist_items[hist_values >= np.median(hist_values)]
        cols = live.cache.get("seen_csc")
        if cols is None:
            cols = live.cache["seen_csc"] = live.model.seen_.tocsc()
        lk = cols[:, liked]
        targets = cols[:, items]
        overlap = np.asarray((lk.T @ targets).todense())  # (n_liked, n_items)
        size = np.sqrt(np.outer(np.diff(lk.indptr), np.maximum(np.diff(targets.indptr), 1)))
        sim = overlap / np.where(size > 0, size, 1.0)
        out: dict[int, list[dict[str, Any]]] = {}
        for j, item in enumerate(items):
            order = np.argsort(-sim[:, j])[:3]
            out[item] = [{"kind": "liked_item", "text": "because you rated it", "weight": round(float(sim[o, j]), 4),
                          "movie_id": int(live.items.raw(int(liked[o])))} for o in order if sim[o, j] > 0]
        return out
