"""Business filters in the live service: every strategy ranks only the allowed films, exactly and through the ANN index.

A seeded implicit-ALS model over 3,000 synthetic films with an index; the
same published version served twice: exact ranking (``ann_min_items`` above
the catalogue) and through the index (at it). Allowed sets are built by hand
here (:class:`Candidates`); the database side of filters is tested in
tests/web/test_rec_filters_api.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cinerec.algorithms.base import RecommenderBase
from cinerec.algorithms.registry import create
from cinerec.service.recommender import Candidates, RecommenderService
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import build_ann
from tests.algorithms.contract import low_rank

pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is part of .[dev]")

N_ITEMS = 3000
BASE = 10_000  # database movie id of item index 0
USERS = range(100, 124)  # database user ids of trained users 0..23


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[RecommenderBase, RecommenderService, RecommenderService]:
    """The model, an exact service and an ANN service over one published version."""
    data = low_rank(n_users=150, n_items=N_ITEMS, rank=4, density=0.015)
    model = create("implicit-als", n_factors=8).fit(data)
    info = build_ann(model, 1000)
    assert info is not None
    reg = ModelRegistry(tmp_path_factory.mktemp("filters") / "models")
    reg.publish(model, user_ids=data.user_vocab.ids + 100, item_ids=data.item_vocab.ids + BASE, extra={"ann": info})
    return model, RecommenderService(reg, ann_min_items=N_ITEMS + 1), RecommenderService(reg, ann_min_items=N_ITEMS)




def allow(name: str, items: np.ndarray) -> Candidates:
    """Candidates for item indices (as database ids)."""
    ids = np.unique(np.asarray(items, dtype=np.int64)) + BASE
    return Candidates(f"{name};{len(ids)};{int(ids.sum())}", ids)


def truth(scores: np.ndarray, allowed: np.ndarray, banned: set[int], k: int) -> list[int]:
    """Database ids of the exact top-``k`` of ``scores`` among allowed item indices, ``banned`` left out."""
    ok = np.zeros(N_ITEMS, dtype=bool)
    ok[allowed] = True
    ok[list(banned)] = False
    ok &= np.isfinite(scores)
    pool = np.flatnonzero(ok)
    return [BASE + int(i) for i in pool[np.argsort(-scores[pool], kind="stable")[:k]]]


def ids(recs: Any) -> list[int]:
    return [r.movie_id for r in recs.items]


HALF = np.arange(0, N_ITEMS, 2)  # a broad filter: the index path is used (see _ann.ann_topk)
SEVENTH = np.arange(0, N_ITEMS, 7)  # a narrow one: ranking falls back to scoring the allowed films only


@pytest.mark.parametrize("share", [HALF, SEVENTH], ids=["half", "seventh"])
def test_trained_users_get_only_allowed_films_exactly_and_with_ann(served: tuple[Any, ...], ann_searches: list[int],
                                                                     share: np.ndarray) -> None:
    model, exact, fast = served
    cand = allow("share", share)
    assert fast.live.model.has_ann_index  # loaded (its warm-up ann_searches the index) before counting
    ann_searches.clear()
    used_index = False
    for user in USERS:
        u = user - 100
        seen = set(model.seen_[u].indices.tolist())
        watched_idx = int(share[np.argmax(model.score(np.array([u]))[0][share])])  # the best allowed film: marked watched
        banned = seen | {watched_idx}
        want = truth(model.score(np.array([u]))[0], share, banned, 10)
        a = exact.recommend(user, 10, explain=False, exclude=[BASE + watched_idx], candidates=cand)
        assert not ann_searches
        b = fast.recommend(user, 10, explain=False, exclude=[BASE + watched_idx], candidates=cand)
        assert a.strategy == b.strategy == "implicit-als"
        for got in (ids(a), ids(b)):
            assert len(got) == 10 and set(got) <= set((share + BASE).tolist())
            assert not set(got) & {BASE + i for i in banned}
        assert ids(a) == want and ids(b) == want
        used_index = used_index or bool(ann_searches)
        ann_searches.clear()
    if share is HALF:
        assert used_index  # the broad filter went through the index (over-fetch, then exact re-scoring)


def test_history_path_honours_the_filter_and_the_watched_films(served: tuple[Any, ...], ann_searches: list[int]) -> None:
    model, exact, fast = served
    cand = allow("half", HALF)
    for u in range(0, 12):
        hist_idx = model.seen_[u].indices[:15]
        history = [(BASE + int(i), 1.0) for i in hist_idx]
        scores = model.score_history(hist_idx, np.ones(len(hist_idx)))
        watched = int(HALF[np.nanargmax(np.where(np.isin(HALF, hist_idx), -np.inf, scores[HALF]))])
        want = truth(scores, HALF, set(hist_idx.tolist()) | {watched}, 10)
        for service in (exact, fast):
            got = service.recommend(5000 + u, 10, explain=False, history=history, exclude=[BASE + watched], candidates=cand)
            assert got.strategy == "implicit-als:history"
            assert ids(got) == want
    assert ann_searches


def test_ann_refills_when_the_best_films_are_filtered_out(served: tuple[Any, ...], ann_searches: list[int]) -> None:
    """Allowed: the half of the catalogue the user likes least, so the first over-fetch finds too few."""
    model, exact, fast = served
    for user in USERS[:8]:
        u = user - 100
        s = model.score(np.array([u]))[0]
        worst = np.argsort(s, kind="stable")[: N_ITEMS // 2]
        cand = allow(f"worst{u}", worst)
        want = truth(s, worst, set(model.seen_[u].indices.tolist()), 10)
        ann_searches.clear()
        got = fast.recommend(user, 10, explain=False, candidates=cand)
        assert ids(got) == want == ids(exact.recommend(user, 10, explain=False, candidates=cand))
        assert ann_searches  # it searched the index first, found nothing allowed among the best films, and refilled


@pytest.mark.parametrize("n_allowed", [12, 5, 0])
def test_k_when_enough_match_fewer_when_fewer_do(served: tuple[Any, ...], n_allowed: int) -> None:
    model, exact, fast = served
    user = 100
    seen = set(model.seen_[0].indices.tolist())
    unseen = np.array([i for i in range(N_ITEMS) if i not in seen])
    chosen = unseen[np.linspace(0, len(unseen) - 1, n_allowed).astype(int)] if n_allowed else unseen[:0]
    cand = allow(f"n{n_allowed}", np.concatenate([chosen, np.array(sorted(seen))[:3]]))  # seen films allowed but never shown
    for service in (exact, fast):
        got = ids(service.recommend(user, 10, explain=False, candidates=cand))
        assert len(got) == min(10, n_allowed) and set(got) <= {BASE + int(i) for i in chosen}
        hist = [(BASE + int(i), 1.0) for i in sorted(seen)[:10]]
        fresh = ids(service.recommend(7777, 10, explain=False, history=hist, candidates=cand))
        assert len(fresh) == min(10, n_allowed) and set(fresh) <= {BASE + int(i) for i in chosen}
        onboarding = ids(service.recommend(None, 10, explain=False, candidates=cand))
        assert set(onboarding) <= {BASE + int(i) for i in (*chosen, *sorted(seen)[:3])}
        assert len(onboarding) == min(10, n_allowed + 3)


def test_onboarding_order_is_cut_to_the_filter(served: tuple[Any, ...]) -> None:
    _, exact, _ = served
    everything = ids(exact.recommend(None, 100, explain=False))
    cand = allow("seventh", SEVENTH)
    allowed = set((SEVENTH + BASE).tolist())
    got = ids(exact.recommend(None, 10, explain=False, candidates=cand))
    full_order = ids(exact.recommend(None, 100, explain=False, candidates=allow("all", np.arange(N_ITEMS))))
    assert full_order == everything  # a filter allowing every film changes nothing
    assert got == [m + BASE for m in RecommenderService._onboarding(exact.live).tolist() if m + BASE in allowed][:10]
    assert exact.recommend(None, 10, explain=False).strategy == "onboarding"


def test_the_filter_is_part_of_the_cache_key_and_mapped_once_per_version(served: tuple[Any, ...]) -> None:
    _, exact, _ = served
    a = ids(exact.recommend(100, 10, explain=False, candidates=allow("half", HALF)))
    b = ids(exact.recommend(100, 10, explain=False, candidates=allow("odd", HALF + 1)))
    plain = ids(exact.recommend(100, 10, explain=False))
    assert not set(a) & set(b) and set(a) <= set((HALF + BASE).tolist()) and set(b) <= set((HALF + 1 + BASE).tolist())
    assert set(plain) - set(a)  # the unfiltered list was not served from the filtered one's entry (or the reverse)
    maps = exact.live.cache["candidates"]
    hits = maps.hits
    exact.recommend(101, 10, explain=False, candidates=allow("half", HALF))  # another user, same set: no new mapping
    assert maps.hits == hits + 1


def test_allowed_set_mapping_ignores_films_the_model_does_not_know(served: tuple[Any, ...]) -> None:
    _, exact, _ = served
    cand = Candidates("mixed", np.array([BASE + 4, BASE + 6, 1, 2, 99_999_999], dtype=np.int64))
    got = ids(exact.recommend(None, 10, explain=False, candidates=cand))
    assert sorted(got) == [BASE + 4, BASE + 6]
