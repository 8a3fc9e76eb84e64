"""Approximate top-k in the service: built at training above CINEREC_ANN_MIN_ITEMS, used by the live model above it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cinerec.algorithms.registry import create
from cinerec.data.readers import read_dataset
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import build_ann, train_from_store
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
from tests.algorithms.contract import low_rank

pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is part of .[dev]")




def test_live_model_uses_the_index_only_above_the_threshold(tmp_path: Path, ann_searches: list[int]) -> None:
    data = low_rank(n_users=150, n_items=3000, rank=4, density=0.015)
    model = create("implicit-als", n_factors=8).fit(data)
    info = build_ann(model, 1000)
    assert info is not None and info["bytes"] > 0 and info["recall_at_10"] >= 0.95
    assert ann_searches  # the recall check ran through the index
    ann_searches.clear()
    reg = ModelRegistry(tmp_path / "models")
    reg.publish(model, user_ids=data.user_vocab.ids + 100, item_ids=data.item_vocab.ids + 10_000, extra={"ann": info})
    exact = RecommenderService(reg, ann_min_items=3001)
    fast = RecommenderService(reg, ann_min_items=3000)
    overlap = []
    for user in range(100, 130):
        a = exact.recommend(user, 10, explain=False)
        assert not ann_searches
        b = fast.recommend(user, 10, explain=False)
        assert ann_searches
        shown = {r.movie_id for r in b.items}
        watched = [r.movie_id for r in a.items[:3]]  # films marked watched leave the list
        assert not {r.movie_id for r in fast.recommend(user, 10, explain=False, exclude=watched).items} & set(watched)
        ann_searches.clear()
        seen = {10_000 + int(i) for i in model.seen_[user - 100].indices}
        assert not shown & seen
        overlap.append(len(shown & {r.movie_id for r in a.items}) / 10)
        # scores are the model's exact scores
        full = model.score(np.array([user - 100]))[0]
        assert all(abs(r.score - full[r.movie_id - 10_000]) < 1e-9 for r in b.items)
    assert np.mean(overlap) >= 0.9
    # a member's fresh history goes through the index too, and its films are never shown back
    history = [(10_000 + int(i), 1.0) for i in model.seen_[0].indices[:15]]
    got = fast.recommend(999, 10, explain=False, history=history)
    assert ann_searches and got.strategy == "implicit-als:history"
    assert not {r.movie_id for r in got.items} & {m for m, _ in history}


def test_training_builds_the_index_at_the_threshold(sqlite_url: str, tmp_path: Path, ml100k: Path) -> None:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    import_dataset(eng, read_dataset(ml100k))
    reg = ModelRegistry(tmp_path / "models")
    plain = train_from_store(eng, reg, "implicit-als", {"n_factors": 8, "n_iterations": 3})  # 1,682 films < 50,000
    assert "ann" not in plain.extra
    indexed = train_from_store(eng, reg, "implicit-als", {"n_factors": 8, "n_iterations": 3}, ann_min_items=1000)
    assert indexed.extra["ann"]["kind"] == "ivf-flat"
    model, _, _ = reg.load(indexed.version)
    assert model.has_ann_index and not reg.load(plain.version)[0].has_ann_index
    knn = train_from_store(eng, reg, "item-knn", ann_min_items=0)  # not a latent model: nothing to index
    assert "ann" not in knn.extra
