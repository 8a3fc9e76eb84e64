"""The live recommender: one loaded model version, swapped atomically.

Each request takes one reference to the current :class:`LiveModel` and uses
it to the end, so a response never mixes versions. New versions come in
off the request path: :meth:`RecommenderService.watch` starts a thread that
looks at the registry's active pointer every ``CINEREC_MODEL_POLL_SECONDS``
(its modification stamp: one ``stat``), loads a newly activated version in
full, and only then replaces the reference in one assignment. Requests keep
being answered by the old version while the new one loads; every server
process notices a swap by itself within one poll interval, whatever process
(``cinerec worker``, ``cinerec models activate``) flipped the pointer.

Lists are cached under every input that shapes them: the model version, the
user id, ``k``, whether reasons are attached, fingerprints of the history
and of the excluded films, and the business filter's allowed set
(:class:`Candidates`, built by :mod:`cinerec.service.filters`). A rating changes the history, hence the key, so the
next request scores afresh; a new model version never meets an old entry.
The first level is a bounded in-process LRU
(:class:`~cinerec.service.cache.LRUCache`); with ``CINEREC_REDIS_URL`` a
second level in Redis (:class:`~cinerec.service.cache.RedisCache`) lets
every server process reuse a list another one computed.

What the service serves is counted in :mod:`cinerec.service.metrics`: lists
by strategy and algorithm, the loaded version, the caches' hits and misses.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cinerec.algorithms._ann import single_threaded_search
from cinerec.algorithms.base import RecommenderBase
from cinerec.algorithms.rerank import audience_similarity, mmr, onboarding_order
from cinerec.config import get_settings
from cinerec.data.vocab import Vocabulary
from cinerec.errors import InvalidParameter, NotFound
from cinerec.service import metrics
from cinerec.service.cache import LRUCache, RedisCache, fingerprint
from cinerec.service.registry import ModelRegistry

log = logging.getLogger(__name__)

#: The most recommendations one request may ask for.
MAX_K = 100
#: With a diversity setting, MMR picks ``k`` films from the model's top ``DIVERSITY_POOL * k``.
DIVERSITY_POOL = 3


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


@dataclass(frozen=True, eq=False)
class Candidates:
    """The films a business filter allows (see :mod:`cinerec.service.filters`).

    Attributes:
        key: identifies the filter *and* the set (a digest of the ids): the
            list cache's and the index map's key.
        movie_ids: the allowed database movie ids, sorted.
    """

    key: str
    movie_ids: np.ndarray


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie (database id) with its score and reasons."""

    movie_id: int
    score: float
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class RecommendationList:
    """A response: which model made it, how, and the items.

    ``experiment`` is ``(experiment, variant)`` when the list was served under an A/B experiment.
    """

    model_version: str
    algo: str
    strategy: str
    items: list[Recommendation]
    experiment: tuple[str, str] | None = None


class RecommenderService:
    """Serves recommendations from the registry's active model version.

    Args:
        registry: where versions are published.
        ann_min_items: catalogue size from which a model's ANN index ranks
            (default ``CINEREC_ANN_MIN_ITEMS``); exact scoring below it.
        poll_seconds: how often :meth:`watch` looks at the active pointer
            (default ``CINEREC_MODEL_POLL_SECONDS``).
        shared: a cache shared by server processes (Redis), consulted after
            this process's own and filled with what it computes.
    """

    #: Recommendation lists kept per process (least recently used evicted first).
    CACHE_SIZE = 4096
    #: The ``cache`` label of the list caches' hit and miss counters (``_shared`` for the Redis level).
    CACHE_NAME = "recommendations"
    #: Allowed sets mapped to item indices, kept per model version (least recently used evicted first).
    CANDIDATE_MAPS = 256

    def __init__(self, registry: ModelRegistry, *, ann_min_items: int | None = None, poll_seconds: float | None = None,
                 shared: RedisCache[RecommendationList] | None = None) -> None:
        settings = get_settings()
        self.registry = registry
        self.ann_min_items = settings.ann_min_items if ann_min_items is None else int(ann_min_items)
        self.poll_seconds = settings.model_poll_seconds if poll_seconds is None else float(poll_seconds)
        self._live: LiveModel | None = None
        self._pinned: dict[str, LiveModel] = {}
        self._lock = threading.Lock()
        self._pin_lock = threading.Lock()
        self._pointer_stamp: tuple[int, int] | None = None
        self._failed: tuple[tuple[int, int] | None, str] | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.cache: LRUCache[RecommendationList] = LRUCache(self.CACHE_SIZE, name=self.CACHE_NAME)
        self.shared = shared

    @classmethod
    def from_settings(cls, registry: ModelRegistry, redis_url: str | None) -> RecommenderService:
        """The service a server process runs: with a Redis-shared list cache when ``redis_url`` is set."""
        shared = None
        if redis_url:
            shared = RedisCache(redis_url, prefix="cinerec:recs:", ttl=3600, encode=_encode_list, decode=_decode_list,
                                name=f"{cls.CACHE_NAME}_shared")
        return cls(registry, shared=shared)

    def refresh(self, *, force: bool = False) -> bool:
        """Load the active version if it changed; returns whether a swap happened.

        Cheap when nothing changed: the pointer file's ``(mtime, inode)`` stamp
        is compared with the last one seen, and the pointer is read and parsed
        only when it differs (``force`` reads it anyway, and marks the loaded
        version on the process's ``cinerec_model_active`` gauge again, which
        another service in the same process may have taken). The new version
        is loaded in full before the one assignment that swaps it in.

        Raises:
            DataFormatError, NotFound: the active version cannot be loaded (the
                previous one, if any, keeps serving).
        """
        stamp = self.registry.pointer_stamp()
        if not force and stamp == self._pointer_stamp and self._live is not None:
            return False
        with self._lock:
            version = self.registry.active_version()
            if version is None or (self._live is not None and self._live.version == version):
                self._pointer_stamp = stamp
                if force and self._live is not None:
                    metrics.set_active_model(self._live.version, self._live.algo)
                return False
            live = self._load(version)
            self._live = live
            self._pointer_stamp = stamp
        metrics.set_active_model(live.version, live.algo)
        log.info("serving model version %s (%s)", live.version, live.algo)
        return True

    def _load(self, version: str) -> LiveModel:
        model, att, info = self.registry.load(version)
        model.ann_min_items = self.ann_min_items
        if model.has_ann_index:
            single_threaded_search()
        pop = np.asarray(model.seen_.sum(axis=0)).ravel()
        # one scoring of a short history here builds what the model derives on first use (fold-in design and
        # Gram matrices, the ANN index) before the swap, not in the first requests; a version that cannot
        # score is refused like one that cannot load
        warm = np.argsort(-pop, kind="stable")[:5]
        model.recommend_history(warm, np.full(len(warm), 4.0), 10)
        return LiveModel(version, info.algo, model, Vocabulary(att["user_ids"]), Vocabulary(att["item_ids"]), pop,
                         info.extra)

    def watch(self) -> None:
        """Start the background thread that swaps in newly activated versions (idempotent).

        A version that cannot be loaded is logged once and the current one keeps
        serving; the thread tries again when the pointer changes.
        """
        if self._watcher is not None and self._watcher.is_alive():
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch_loop, name="cinerec-model-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop the watcher thread (waits for it)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _watch_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            stamp = self.registry.pointer_stamp()
            if self._failed is not None and self._failed[0] == stamp:
                continue  # this pointer's version failed to load: wait for the next change
            try:
                self.refresh()
            except Exception as exc:  # keep serving the loaded version; say why once
                self._failed = (stamp, str(exc))
                log.error("could not load the newly activated model version; still serving %s: %s",
                          self._live.version if self._live else "nothing", exc)
            else:
                self._failed = None

    def pin(self, versions: Sequence[str] | set[str]) -> dict[str, str]:
        """Hold these versions loaded beside the active one (the variants of running experiments).

        Versions already held (or active) are kept as they are, new ones are
        loaded in full before they become visible, versions no longer wanted
        are released; the whole set is swapped in one assignment. Returns the
        versions that could not be loaded, with the reason (they stay
        unavailable: :meth:`pinned` answers ``None`` for them).
        """
        errors: dict[str, str] = {}
        with self._pin_lock:
            held = self._pinned
            out: dict[str, LiveModel] = {}
            for version in sorted(set(versions)):
                live = self._live
                if version in held:
                    out[version] = held[version]
                elif live is not None and live.version == version:
                    out[version] = live
                else:
                    try:
                        out[version] = self._load(version)
                    except Exception as exc:  # a broken or deleted version: report it, keep serving the rest
                        errors[version] = str(exc)
                        log.error("could not load model version %s for an experiment: %s", version, exc)
            self._pinned = out
        return errors

    def pinned(self, version: str) -> LiveModel | None:
        """The loaded model of ``version``: the active one or one held by :meth:`pin` (``None``: not loaded)."""
        live = self._live
        if live is not None and live.version == version:
            return live
        return self._pinned.get(version)

    @property
    def live(self) -> LiveModel:
        """The current model.

        Raises:
            NotFound: no model has been trained and activated yet.
        """
        live = self._live
        if live is None:
            self.refresh(force=True)
            live = self._live
        if live is None:
            raise NotFound("no recommendation model is active yet: run `cinerec train`")
        return live

    def recommend(self, user_id: int | None, k: int = 10, *, explain: bool = True, exclude: Sequence[int] | None = None,
                  history: Sequence[tuple[int, float]] | None = None,
                  candidates: Candidates | None = None, model: LiveModel | None = None,
                  diversity: float | None = None) -> RecommendationList:
        """Top-``k`` movies for a database user id, routed by what is known about the user.

        - A ``history`` (movie id, value) read from the store: the model scores
          it as it is now, without refitting (``strategy="<algo>:history"``), so
          a rating given a second ago already counts and the rated film is
          gone. A hybrid with ``switch_below`` ranks short histories by its
          content member.
        - No history given, a user the model was trained on: the model's own
          ranking (``strategy=<algo>``).
        - Nothing known: the onboarding list, popular and diverse
          (``strategy="onboarding"``).

        Every strategy ranks only the films ``candidates`` allows (a business
        filter): the model's ranking gets them as its ``candidates`` (exact
        scoring, or the ANN index with over-fetch and refill), the onboarding
        order is cut to them. Fewer than ``k`` films come back only when fewer
        allowed ones are left.

        Reasons come from the model's :meth:`explain_history` over the films the
        user liked (rated at or above their own mean), with the user's rating.

        Args:
            user_id: database user id (``None`` for an anonymous visitor).
            k: list length, clamped to ``1..MAX_K``.
            explain: attach reasons.
            exclude: further movie ids to leave out (e.g. films marked watched).
            history: the user's current interactions from the store, if known.
            candidates: the films a filter allows (``None``: every film).
            model: the loaded version to rank with (an experiment's variant,
                from :meth:`pinned`); the active one when ``None``.
            diversity: re-rank the model's top ``3k`` by maximal marginal
                relevance (:func:`cinerec.algorithms.rerank.mmr`) with this
                relevance weight in ``[0, 1]`` (1: the model's order; lower:
                more varied audiences); ``None`` leaves the order alone.

        The result is shared with other requests through the cache: treat it as read-only.
        """
        live = model or self.live
        k = max(1, min(int(k), MAX_K))
        if diversity is not None and not 0.0 <= diversity <= 1.0:
            raise InvalidParameter(f"diversity must be in [0, 1], got {diversity}")
        key = (live.version, user_id, k, explain, fingerprint(sorted(history or ())),
               fingerprint((int(m), 0.0) for m in sorted(set(exclude or ()))),
               None if candidates is None else candidates.key, diversity)

        def compute() -> RecommendationList:
            return self._recommend(live, user_id, k, explain, exclude, history, self._allowed(live, candidates),
                                   diversity)

        shared = self.shared
        result = self.cache.get_or_compute(key, compute if shared is None else lambda: shared.get_or_compute(key, compute))
        metrics.record_recommendation(result.strategy, result.algo)
        return result

    def _allowed(self, live: LiveModel, candidates: Candidates | None) -> _Allowed | None:
        """``candidates`` as the live model's item indices and mask, mapped once per (version, set).

        ``None`` when nothing restricts the model's catalogue (no filter, or one
        that allows every film the model knows): ranking then skips the mask.
        """
        if candidates is None:
            return None
        maps = live.cache.get("candidates")
        if maps is None:  # one per version; setdefault keeps the first of two racing threads'
            maps = live.cache.setdefault("candidates", LRUCache(self.CANDIDATE_MAPS, name="recommendation_candidates"))
        hit = maps.get(candidates.key)
        if hit is None:
            idx = live.items.indices(np.asarray(candidates.movie_ids, dtype=np.int64))
            idx = np.unique(idx[idx >= 0])
            n = len(live.items)
            if len(idx) == n:
                hit = _Allowed(None, None)
            else:
                mask = np.zeros(n, dtype=bool)
                mask[idx] = True
                idx.flags.writeable = mask.flags.writeable = False
                hit = _Allowed(idx, mask)
            maps.put(candidates.key, hit)
        return None if hit.items is None else hit

    def _recommend(self, live: LiveModel, user_id: int | None, k: int, explain: bool, exclude: Sequence[int] | None,
                   history: Sequence[tuple[int, float]] | None, allowed: _Allowed | None = None,
                   diversity: float | None = None) -> RecommendationList:
        m = live.model
        u = live.users.index(user_id) if user_id is not None else -1
        hist_items, hist_values = self._history(live, history)
        ex = live.items.indices(list(exclude)) if exclude else np.empty(0, dtype=np.int64)
        ex = ex[ex >= 0]
        cand = None if allowed is None else allowed.items
        fetch = k if diversity is None else min(MAX_K, DIVERSITY_POOL * k)  # MMR picks k from a wider pool
        if cand is not None and not len(cand):  # the filter allows no film this model knows
            strategy = f"{live.algo}:history" if len(hist_items) else live.algo if u >= 0 and m.seen_[u].nnz else "onboarding"
            return RecommendationList(live.version, live.algo, strategy, [])
        if len(hist_items):
            strategy = f"{live.algo}:history"
            ranked = m.recommend_history(hist_items, hist_values, fetch, exclude=ex, candidates=cand)
        elif u >= 0 and m.seen_[u].nnz:
            strategy = live.algo
            ranked = m.recommend(np.array([u]), fetch, exclude=ex, candidates=cand)
            hist_items, hist_values = m.training_history(u)
        else:
            strategy = "onboarding"
            order = self._onboarding(live)
            if allowed is not None and allowed.mask is not None:
                order = order[allowed.mask[order]]
            order = order[~np.isin(order, ex)][:k]
            ranked = None
        if ranked is not None:
            items, scores = ranked.items[0], ranked.scores[0]
            keep = (items >= 0) & np.isfinite(scores)
            items, scores = _diversified(m.seen_, items[keep], scores[keep], k, diversity)
        else:
            items, scores = order, live.popularity[order].astype(np.float64)
        value_of = dict(zip(hist_items.tolist(), hist_values.tolist(), strict=True))
        out = []
        for i, s in zip(items.tolist(), scores.tolist(), strict=True):
            reasons: list[dict[str, Any]] = []
            if explain and strategy == "onboarding":
                reasons.append({"kind": "popular", "text": f"popular: {int(live.popularity[i])} ratings", "weight": 0.0,
                                "movie_id": None})
            elif explain:
                for r in m.explain_history(hist_items, hist_values, i, 3):
                    reason: dict[str, Any] = {"kind": r.kind, "text": r.text, "weight": round(float(r.weight), 4),
                                              "movie_id": int(live.items.raw(r.item)) if r.item is not None else None}
                    if r.item is not None and history:
                        reason["rating"] = float(value_of[r.item])
                    reasons.append(reason)
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

    @staticmethod
    def _onboarding(live: LiveModel) -> np.ndarray:
        """The engine's onboarding order (:func:`cinerec.algorithms.rerank.onboarding_order`), once per version."""
        cached = live.cache.get("onboarding")
        if cached is None:
            cached = live.cache["onboarding"] = onboarding_order(live.model.seen_, popularity=live.popularity)
        return np.asarray(cached)


def _diversified(seen: Any, items: np.ndarray, scores: np.ndarray, k: int,
                 diversity: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` of a ranked list, re-ordered by MMR when ``diversity`` is set (relevance = score / max)."""
    if diversity is None or len(items) <= 1:
        return items[:k], scores[:k]
    rel = scores - scores.min()
    top = rel.max()
    rel = rel / top if top > 0 else np.ones_like(rel)
    order = mmr(rel, audience_similarity(seen, items), tradeoff=diversity, k=k)
    return items[order], scores[order]


@dataclass(frozen=True)
class _Allowed:
    """An allowed set in a model's item indices (sorted) and as an ``(n_items,)`` mask; both ``None``: everything."""

    items: np.ndarray | None
    mask: np.ndarray | None


def _encode_list(rec: RecommendationList) -> bytes:
    """A list as compact JSON, for the shared cache."""
    return json.dumps([rec.model_version, rec.algo, rec.strategy,
                       [[r.movie_id, r.score, r.reasons] for r in rec.items]], separators=(",", ":")).encode()


def _decode_list(raw: bytes) -> RecommendationList:
    """The inverse of :func:`_encode_list`."""
    version, algo, strategy, items = json.loads(raw)
    return RecommendationList(version, algo, strategy, [Recommendation(int(m), float(s), r) for m, s, r in items])
