"""Spark ALS (local[2]) on ML-100K published as ordinary versions: loads, serves, matches in-process accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cinerec.algorithms.implicit_mf import ImplicitALS
from cinerec.algorithms.mf import BiasedMF
from cinerec.data.interactions import Interactions
from cinerec.evaluation.metrics import rmse
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry, VersionInfo

pytestmark = [
    pytest.mark.spark, pytest.mark.slow,
    # pyspark 4.3's pandas conversions under pandas 3: harmless for the plain numeric columns exchanged here
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

#: The same hyper-parameters for Spark and the in-process counterparts: rank, regParam (per rating), sweeps.
RANK, REG, ITERS, HOLDOUT, SEED = 10, 0.1, 10, 0.1, 42


def als_wr(data: Interactions, rank: int, reg: float, iters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Explicit ALS with weighted-lambda regularisation (Zhou et al. 2008), Spark's objective, in numpy.

    Minimises ``sum (r - p_u . q_i)^2 + reg * (n_u |p_u|^2 + n_i |q_i|^2)``, item side first in each sweep as Spark.
    """
    rows = data.matrix.tocsr()
    cols = data.matrix.T.tocsr()
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(data.n_users, rank))
    users /= np.linalg.norm(users, axis=1, keepdims=True)
    items = np.zeros((data.n_items, rank))

    def solve(m: Any, other: np.ndarray, out: np.ndarray) -> None:
        for r in range(m.shape[0]):
            lo, hi = m.indptr[r], m.indptr[r + 1]
            if hi == lo:
                out[r] = 0.0
                continue
            y = other[m.indices[lo:hi]]
            out[r] = np.linalg.solve(y.T @ y + reg * (hi - lo) * np.eye(rank), y.T @ m.data[lo:hi])

    for _ in range(iters):
        solve(cols, users, items)
        solve(rows, items, users)
    return users, items


@pytest.fixture(scope="module")
def explicit(spark: Any, ml100k_parquet: Path, tmp_path_factory: pytest.TempPathFactory,
             ) -> tuple[ModelRegistry, VersionInfo, Any]:
    """Explicit Spark ALS published from a Parquet file, and the held-out pairs of its split."""
    from cinerec.algorithms.spark_als import read_frame, split
    from cinerec.service.spark_training import train_on_spark

    reg = ModelRegistry(tmp_path_factory.mktemp("spark-models"))
    info = train_on_spark(reg, data=str(ml100k_parquet), spark=spark, ann_min_items=10**9,
                          params={"rank": RANK, "reg": REG, "iters": ITERS, "holdout": HOLDOUT, "seed": SEED})
    # the same seeded split of the same file: randomSplit is deterministic for the same input partitions
    _, test = split(read_frame(spark, str(ml100k_parquet)), HOLDOUT, SEED)
    return reg, info, test.toPandas()


def test_explicit_artifact_records_spark_and_loads(explicit: tuple[ModelRegistry, VersionInfo, Any],
                                                   ml100k_data: Interactions) -> None:
    reg, info, test = explicit
    assert reg.active_version() == info.version and info.algo == "biased-mf"
    extra = info.extra
    assert extra["engine"] == "spark" and extra["master"].startswith("local") and extra["spark_version"].startswith("4.")
    assert extra["ratings"] == len(ml100k_data) and extra["fit_seconds"] > 0
    assert extra["als"]["rank"] == RANK and extra["als"]["implicit"] is False
    hold = extra["holdout"]
    assert hold["test_ratings"] + hold["cold_dropped"] == len(test)  # the split rebuilt here is the service's
    model, attachments, _ = reg.load(info.version)
    assert isinstance(model, BiasedMF) and model.user_factors_.shape == (ml100k_data.n_users, RANK)
    assert np.array_equal(attachments["user_ids"], ml100k_data.user_vocab.ids)
    assert np.array_equal(attachments["item_ids"], ml100k_data.item_vocab.ids)
    # predictions are Spark's dot products (no biases), clipped to the rating scale
    assert model.mu_ == 0.0 and not model.item_bias_.any()
    u, i = ml100k_data.users[:50], ml100k_data.items[:50]
    dots = np.einsum("ij,ij->i", model.user_factors_[u], model.item_factors_[i])
    assert np.allclose(model.predict(u, i), np.clip(dots, 1.0, 5.0))
    # the fold-in is Spark's user solve: a trained user's own ratings give back its vector, bias held at 0
    items, values = model.training_history(7)
    x = model.fold_in(items, values)
    assert abs(x[0]) < 1e-6 and np.allclose(x[1:], model.user_factors_[7], atol=1e-3)


def test_explicit_holdout_rmse_matches_in_process_on_the_same_split(
        explicit: tuple[ModelRegistry, VersionInfo, Any], ml100k_data: Interactions) -> None:
    _, info, test = explicit
    data = ml100k_data
    u = data.user_vocab.indices(test["user"].to_numpy())
    i = data.item_vocab.indices(test["item"].to_numpy())
    held = np.zeros(len(data), dtype=bool)
    held[np.searchsorted(data.users * data.n_items + data.items, u * data.n_items + i)] = True
    train, truth = data.subset(~held), data.subset(held)
    cold = (np.diff(train.binary.indptr)[truth.users] == 0) | (np.diff(train.binary.tocsc().indptr)[truth.items] == 0)
    warm = truth.subset(~cold)  # Spark drops pairs it has no factors for (coldStartStrategy="drop")
    spark_rmse = info.extra["holdout"]["rmse"]
    # same objective, rank, regularisation and sweeps in numpy
    pu, qi = als_wr(train, RANK, REG, ITERS)
    ref = rmse(np.einsum("ij,ij->i", pu[warm.users], qi[warm.items]), warm.ratings)
    # the product's in-process rating model at the same rank
    mf = BiasedMF(n_factors=RANK).fit(train)
    mf_rmse = rmse(mf.predict(warm.users, warm.items), warm.ratings)
    print(f"\nholdout RMSE: spark {spark_rmse:.4f}, numpy ALS-WR {ref:.4f}, in-process BiasedMF {mf_rmse:.4f}")
    assert 0.85 < spark_rmse < 0.98
    assert abs(spark_rmse - ref) < 0.02
    assert abs(spark_rmse - mf_rmse) < 0.02


def test_explicit_version_serves_users_and_histories(explicit: tuple[ModelRegistry, VersionInfo, Any],
                                                     ml100k_data: Interactions) -> None:
    reg, info, _ = explicit
    assert_serves(reg, info, ml100k_data, "biased-mf")


def assert_serves(reg: ModelRegistry, info: VersionInfo, data: Interactions, algo: str) -> None:
    """The active version ``info`` recommends unseen films to user 196 and to a fresh history, with reasons."""
    svc = RecommenderService(reg, ann_min_items=10**9)
    recs = svc.recommend(196, 10)
    assert recs.model_version == info.version and recs.algo == algo and len(recs.items) == 10
    seen = set(data.item_vocab.raw(data.items[data.users == data.user_vocab.index(196)]))
    assert not seen & {r.movie_id for r in recs.items}
    # an unseen member with a history: scored from the history, explained by the history's films
    history = [(50, 5.0), (181, 5.0), (172, 4.0), (1, 2.0)]  # Star Wars, Return of the Jedi, Empire, Toy Story
    fresh = svc.recommend(None, 10, history=history)
    assert fresh.strategy == f"{algo}:history" and len(fresh.items) == 10
    assert not {m for m, _ in history} & {r.movie_id for r in fresh.items}
    assert any(r.reasons for r in fresh.items)


def test_implicit_mode_publishes_and_ranks_above_popularity(spark: Any, ml100k_data: Interactions,
                                                            tmp_path: Path) -> None:
    from cinerec.service.spark_training import train_on_spark

    csv = tmp_path / "ml100k.csv"
    ml100k_data.to_frame().to_csv(csv, index=False)  # the CSV reader: user,item,rating,timestamp with a header
    reg = ModelRegistry(tmp_path / "models")
    info = train_on_spark(reg, data=str(csv), spark=spark, ann_min_items=10**9,
                          params={"implicit": True, "rank": 32, "reg": 0.05, "alpha": 10, "iters": 10,
                                  "holdout": HOLDOUT, "seed": SEED})
    hold = info.extra["holdout"]
    print(f"\nimplicit holdout NDCG@10: spark ALS {hold['ndcg_at_10']}, popularity {hold['popularity_ndcg_at_10']}")
    assert info.algo == "implicit-als" and info.extra["als"]["implicit"] is True
    assert hold["ndcg_at_10"] > 1.1 * hold["popularity_ndcg_at_10"] > 0.05
    model, _, _ = reg.load(info.version)
    assert isinstance(model, ImplicitALS) and model.confidence_offset_ == 1.0 and model.reg_per_interaction_
    items, values = model.training_history(3)
    assert np.allclose(model.fold_in(items, values), model.user_factors_[3], atol=1e-3)  # Spark's user solve
    svc = RecommenderService(reg, ann_min_items=10**9)
    assert len(svc.recommend(196, 10).items) == 10
    assert svc.recommend(None, 5, history=[(50, 1.0), (181, 1.0)]).strategy == "implicit-als:history"
