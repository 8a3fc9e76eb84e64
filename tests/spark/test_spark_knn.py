"""Item-kNN similarities on Spark (local[2]) on ML-100K: the in-process neighbours, published as an ordinary version."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from cinerec.algorithms.knn import ItemKNN
from cinerec.data.interactions import Interactions
from cinerec.data.relevance import ndcg_at_k
from cinerec.errors import DataFormatError, InvalidParameter
from cinerec.evaluation.metrics import rmse
from cinerec.service.registry import ModelRegistry, VersionInfo
from tests.spark.test_spark_als import assert_serves

pytestmark = [
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

#: 1,682 items in blocks of 900: two blocks, so the window merges lists from two tasks per item
HOLDOUT, SEED, ITEM_BLOCK = 0.1, 42, 900


@pytest.fixture(scope="module")
def published(spark: Any, ml100k_parquet: Path, tmp_path_factory: pytest.TempPathFactory,
              ) -> tuple[ModelRegistry, VersionInfo, Any]:
    """Spark item-kNN (default hyper-parameters) published from Parquet, and the held-out pairs of its split."""
    from cinerec.algorithms.spark_als import read_frame, split
    from cinerec.service.spark_training import train_on_spark

    reg = ModelRegistry(tmp_path_factory.mktemp("spark-knn-models"))
    info = train_on_spark(reg, data=str(ml100k_parquet), spark=spark, algo="item-knn", ann_min_items=10**9,
                          params={"holdout": HOLDOUT, "seed": SEED, "item_block": ITEM_BLOCK})
    _, test = split(read_frame(spark, str(ml100k_parquet)), HOLDOUT, SEED)
    return reg, info, test.toPandas()


def pairs(m: sp.csr_matrix) -> dict[tuple[int, int], float]:
    coo = m.tocoo()
    return {(int(r), int(c)): float(v) for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)}


def assert_same_neighbours(got: sp.csr_matrix, want: sp.csr_matrix, share: float) -> None:
    """The same pairs up to ties at the cut (at least ``share`` of them), equal similarities to 1e-9."""
    g, w = pairs(got), pairs(want)
    common = g.keys() & w.keys()
    assert len(common) >= share * len(w) and abs(len(g) - len(w)) <= (1 - share) * len(w)
    assert max(abs(g[p] - w[p]) for p in common) < 1e-9
    # a pair only one side kept sits at that item's cut, tied (to rounding) with the other side's last neighbour
    for a, b in g.keys() ^ w.keys():
        row = want[a] if (a, b) in g else got[a]
        assert abs((g.get((a, b)) or w[(a, b)]) - row.data.min()) < 1e-9


@pytest.mark.spark
@pytest.mark.slow
def test_spark_neighbours_are_the_in_process_ones(published: tuple[ModelRegistry, VersionInfo, Any],
                                                  ml100k_data: Interactions) -> None:
    reg, info, _ = published
    model, attachments, _ = reg.load(info.version)
    assert isinstance(model, ItemKNN) and info.algo == "item-knn" and reg.active_version() == info.version
    assert np.array_equal(attachments["item_ids"], ml100k_data.item_vocab.ids)
    assert np.array_equal(attachments["user_ids"], ml100k_data.user_vocab.ids)
    t0 = time.perf_counter()
    local = ItemKNN().fit(ml100k_data)
    seconds = time.perf_counter() - t0
    print(f"\nitem-kNN fit on ML-100K: in-process {seconds:.2f} s, Spark {info.extra['fit_seconds']} s "
          f"({info.extra['knn']['item_block']} items per block, {info.extra['holdout']['blocks']} blocks)")
    assert info.extra["engine"] == "spark" and info.extra["knn"]["k"] == local.k
    assert info.extra["holdout"]["blocks"] == 2 and info.extra["holdout"]["capped_users"] == 0
    # pearson_baseline, shrinkage 100, 400 kept and 40 ranked per item: the same lists
    assert_same_neighbours(model.similarity_, local.similarity_, 0.999)
    assert_same_neighbours(model.truncated_, local.truncated_, 0.999)
    for name in ("mu_", "user_bias_", "item_bias_", "user_mean_", "item_mean_"):
        assert np.array_equal(getattr(model, name), getattr(local, name))
    u, i = ml100k_data.users[:2000], ml100k_data.items[:2000]
    assert np.abs(model.predict(u, i) - local.predict(u, i)).max() < 1e-6


@pytest.mark.spark
@pytest.mark.slow
def test_holdout_accuracy_is_the_in_process_models(published: tuple[ModelRegistry, VersionInfo, Any],
                                                   ml100k_data: Interactions) -> None:
    from cinerec.service.spark_training import held_out

    _, info, test_pairs = published
    hold = info.extra["holdout"]
    train, test = held_out(ml100k_data, test_pairs)
    assert hold["test_ratings"] == len(test) == len(test_pairs)
    local = ItemKNN().fit(train)
    local_rmse = rmse(local.predict(test.users, test.items), test.ratings)
    users = np.unique(test.users)
    local_ndcg = float(ndcg_at_k(local.recommend(users, 10).items, test.binary[users], 10).mean())
    print(f"\nholdout (10 %, seed {SEED}): RMSE spark {hold['rmse']} / in-process {local_rmse:.5f}, "
          f"NDCG@10 spark {hold['ndcg_at_10']} / in-process {local_ndcg:.5f} (popularity {hold['popularity_ndcg_at_10']})")
    assert 0.85 < hold["rmse"] < 1.0 and abs(hold["rmse"] - local_rmse) < 1e-4
    assert hold["ndcg_at_10"] > hold["popularity_ndcg_at_10"] * 0.5 and abs(hold["ndcg_at_10"] - local_ndcg) < 2e-3


@pytest.mark.spark
@pytest.mark.slow
def test_published_version_serves_users_histories_and_explanations(
        published: tuple[ModelRegistry, VersionInfo, Any], ml100k_data: Interactions) -> None:
    reg, info, _ = published
    assert_serves(reg, info, ml100k_data, "item-knn")
    # explanations come from the Spark similarities: the history's film most similar to the recommendation
    model, _, _ = reg.load(info.version)
    assert isinstance(model, ItemKNN)
    star_wars, jedi = ml100k_data.item_vocab.indices([50, 181])
    [reason] = model.explain_history(np.array([star_wars]), np.array([5.0]), int(jedi), 3)
    assert reason.item == star_wars and reason.weight == model.similarity_[jedi, star_wars] > 0


@pytest.mark.spark
def test_bad_parameters_are_refused_before_spark_runs(spark: Any, ml100k_parquet: Path, tmp_path: Path) -> None:
    from cinerec.service.spark_training import train_on_spark

    reg = ModelRegistry(tmp_path / "models")
    for params, words in (({"kk": 5}, "unknown Spark item-kNN parameter(s) kk; known: "),
                          ({"k": "many"}, "knn.k: 'many' is not a valid int"),
                          ({"similarity": "jaccard"}, "similarity must be one of"),
                          ({"max_user_items": -1}, "knn.max_user_items must be >= 0"),
                          ({"rank": 8}, "unknown Spark item-kNN parameter(s) rank")):
        with pytest.raises(InvalidParameter, match=words.replace("(", r"\(").replace(")", r"\)")):
            train_on_spark(reg, data=str(ml100k_parquet), spark=spark, algo="item-knn", params=params)
    assert reg.versions() == []


@pytest.mark.spark
def test_cap_samples_heavy_histories_only(spark: Any, ml100k_parquet: Path, ml100k_data: Interactions) -> None:
    from cinerec.algorithms.spark_als import read_frame
    from cinerec.algorithms.spark_knn import Centring, _values

    none = np.zeros(0, dtype=np.int64)
    centring = Centring(3.5, none, np.zeros(0), none, np.zeros(0))
    rows, capped = _values(read_frame(spark, str(ml100k_parquet)), centring, 200, SEED)
    got = rows.toPandas()
    per_user = np.bincount(ml100k_data.users)
    assert capped == (per_user > 200).sum() > 0
    assert len(got) == np.minimum(per_user, 200).sum()
    assert got.groupby("user").size().max() == 200
    assert np.allclose(got["x"], got.merge(ml100k_data.to_frame(), on=["user", "item"])["rating"] - 3.5)


def test_from_neighbours_rebuilds_the_fitted_model(ml100k_data: Interactions) -> None:
    local = ItemKNN(k=20, max_neighbors=60, similarity="pearson", center="mean", amplification=2.0).fit(ml100k_data)
    full = local.similarity_.tocoo()
    ids = ml100k_data.item_vocab.ids
    rebuilt = ItemKNN.from_neighbours(ml100k_data, ids[full.row], ids[full.col], full.data**0.5,
                                      **local.get_params())
    assert_same_neighbours(rebuilt.similarity_, local.similarity_, 0.999)
    assert_same_neighbours(rebuilt.truncated_, local.truncated_, 0.999)
    assert np.allclose(rebuilt.predict(ml100k_data.users[:500], ml100k_data.items[:500]),
                       local.predict(ml100k_data.users[:500], ml100k_data.items[:500]))


def test_from_neighbours_refuses_lists_that_do_not_fit(ml100k_data: Interactions) -> None:
    ids = ml100k_data.item_vocab.ids
    good = (ids[[0, 0, 1]], ids[[1, 2, 0]], np.array([0.5, 0.4, 0.5]))
    ItemKNN.from_neighbours(ml100k_data, *good)
    cases = [
        ((ids[[0, 0]], ids[[1, 2]], np.array([0.5])), "2 items, 2 neighbours and 1 similarities"),
        ((np.array([10**9]), ids[[1]], np.array([0.5])), "do not have"),
        ((ids[[0]], ids[[0]], np.array([0.5])), "never pair an item with itself"),
        ((ids[[0, 0]], ids[[1, 1]], np.array([0.5, 0.5])), "must be distinct"),
        ((ids[[0]], ids[[1]], np.array([np.nan])), r"finite numbers in \(0, 1\]"),
        ((ids[[0]], ids[[1]], np.array([-0.2])), r"finite numbers in \(0, 1\]"),
    ]
    for args, words in cases:
        with pytest.raises(DataFormatError, match=words):
            ItemKNN.from_neighbours(ml100k_data, *args)
    with pytest.raises(DataFormatError, match="has 2 neighbours; max_neighbors is 1"):
        ItemKNN.from_neighbours(ml100k_data, *good, max_neighbors=1)
    with pytest.raises(InvalidParameter):
        ItemKNN.from_neighbours(ml100k_data, *good, similarity="jaccard")
