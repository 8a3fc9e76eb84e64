"""Cold-start routing: onboarding -> content after the first ratings -> hybrid; fresh histories without refitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cinerec.algorithms.registry import create
from cinerec.data.features import dataset_features
from cinerec.data.readers import read_dataset
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry

pytestmark = pytest.mark.slow  # fits an ALS+content hybrid on ML-100K with item features


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> tuple[RecommenderService, object]:
    ds = read_dataset(datasets / "ml-100k")
    it = ds.interactions()
    data = it.with_features(dataset_features(it.item_vocab, ds.movies, ds.tags))
    model = create("hybrid", members="implicit-als,content-knn", switch_below=5).fit(data)
    reg = ModelRegistry(tmp_path_factory.mktemp("models"))
    reg.publish(model, user_ids=data.user_vocab.ids, item_ids=data.item_vocab.ids)
    return RecommenderService(reg), ds


def test_new_user_gets_a_popular_and_diverse_onboarding_list(service) -> None:  # type: ignore[no-untyped-def]
    svc, ds = service
    recs = svc.recommend(None, 20)
    assert recs.strategy == "onboarding" and len(recs.items) == 20
    ids = [r.movie_id for r in recs.items]
    assert ids[0] == 50  # Star Wars: the most rated film
    popular = [int(i) for i in ds.ratings["item"].value_counts().index[:20]]
    assert 8 <= len(set(ids) & set(popular)) < 20  # mostly popular, not just the popularity order
    genres = ds.movies.set_index("item")["genres"]
    assert len({g for i in ids for g in genres[i]}) >= 10
    assert all(r.reasons[0]["kind"] == "popular" for r in recs.items)


def test_first_ratings_route_to_content_then_to_the_hybrid(service) -> None:  # type: ignore[no-untyped-def]
    svc, ds = service
    horror = [i for i, g in zip(ds.movies["item"], ds.movies["genres"], strict=True) if "Horror" in g][:3]
    recs = svc.recommend(None, 10, history=[(i, 5.0) for i in horror])
    assert recs.strategy == "hybrid:history"
    genres = ds.movies.set_index("item")["genres"]
    assert sum("Horror" in genres[r.movie_id] for r in recs.items) >= 6  # content member: same kind of films
    assert not set(horror) & {r.movie_id for r in recs.items}
    assert any(r.reasons for r in recs.items)
    # with a longer history the collaborative member joins in: the list changes
    bigger = horror + [i for i, g in zip(ds.movies["item"], ds.movies["genres"], strict=True) if "Horror" in g][3:8]
    fused = svc.recommend(None, 10, history=[(i, 5.0) for i in bigger])
    assert fused.strategy == "hybrid:history" and [r.movie_id for r in fused.items] != [r.movie_id for r in recs.items]


def test_known_user_with_new_ratings_is_rescored_without_refitting(service) -> None:  # type: ignore[no-untyped-def]
    svc, ds = service
    r = ds.ratings
    mine = r[r["user"] == 1]
    as_trained = svc.recommend(1, 10)
    assert as_trained.strategy == "hybrid"
    same = svc.recommend(1, 10, history=list(zip(mine["item"], mine["rating"], strict=True)))
    assert same.strategy == "hybrid:history"
    # the history path agrees with the trained ranking on the trained history
    assert len({x.movie_id for x in same.items} & {x.movie_id for x in as_trained.items}) >= 6
    kids = [i for i, g in zip(ds.movies["item"], ds.movies["genres"], strict=True) if "Children" in g]
    extra = [i for i in kids if i not in set(mine["item"])][:15]
    assert len(extra) == 15
    hist = list(zip(mine["item"], mine["rating"], strict=True)) + [(i, 5.0) for i in extra]
    fresh = svc.recommend(1, 10, history=hist)
    assert fresh.strategy == "hybrid:history"
    assert not set(extra) & {x.movie_id for x in fresh.items}
    assert [x.movie_id for x in fresh.items] != [x.movie_id for x in as_trained.items]
    assert np.all(np.diff([x.score for x in fresh.items]) <= 1e-9)
