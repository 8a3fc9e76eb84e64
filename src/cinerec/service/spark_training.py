"""Training on Apache Spark: database (or a Parquet/CSV source) -> Spark ALS or item-kNN -> published version.

``cinerec train --engine spark`` runs :func:`train_on_spark`. The Spark jobs
themselves (:mod:`cinerec.algorithms.spark_als`,
:mod:`cinerec.algorithms.spark_knn`) take a data frame and return factors or
neighbour lists; this module supplies the data and publishes the result:

1. the training data: without ``data``, the database snapshot that
   :func:`cinerec.service.training.train_from_store` trains on, exported to
   Parquet in a temporary folder (``user, item, rating, timestamp, weight``
   with database ids; on a cluster master it is shipped from the driver
   instead, since executors cannot see the driver's temporary folder); with
   ``data``, a Parquet/CSV path or URL read by Spark;
2. a seeded random holdout (``als.holdout``, 10 % by default), a fit on the
   rest and its measure: RMSE and MAE from Spark's ``RegressionEvaluator``
   for explicit ratings, NDCG@10 (seen items excluded, every held-out
   interaction relevant) beside popularity's on the same split for implicit
   feedback;
3. the fit on all the data, whose factors become an ordinary artifact of the
   in-process factor model (:meth:`BiasedMF.from_factors` for ratings,
   :meth:`ImplicitALS.from_factors` for implicit feedback) published through
   :func:`cinerec.service.training.publish_model` exactly as an in-process
   fit is (id attachments, ANN index, manifest), with ``engine="spark"``,
   the master, the Spark settings and the holdout figures added.

``--algo item-knn`` follows the same steps with item-kNN similarities
computed on Spark (:func:`cinerec.algorithms.spark_knn.item_neighbours`,
centred with the baselines fitted here on the driver's copy of the ratings)
and published as an ordinary :class:`ItemKNN`
(:meth:`ItemKNN.from_neighbours`); its holdout reports RMSE, MAE and NDCG@10
(with popularity's) of that model on the held-out ratings.

A failure anywhere (no pyspark, no Java, a bad master, Spark errors) raises
before anything is published, so the active version stays as it was.
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine

from cinerec.algorithms.base import RecommenderBase
from cinerec.algorithms.baseline import Popularity
from cinerec.algorithms.implicit_mf import ImplicitALS
from cinerec.algorithms.knn import ItemKNN
from cinerec.algorithms.mf import BiasedMF
from cinerec.algorithms.spark_als import (
    ALSFactors,
    ALSSettings,
    check_frame,
    check_java,
    check_master,
    fit_als,
    holdout_rmse,
    is_local,
    read_frame,
    require_pyspark,
    spark_session,
    split,
)
from cinerec.algorithms.spark_knn import Centring, KNNSettings, item_neighbours
from cinerec.data.interactions import Interactions
from cinerec.data.relevance import ndcg_at_k
from cinerec.errors import DataFormatError, InvalidParameter
from cinerec.evaluation.metrics import mae, rmse
from cinerec.service.registry import ModelRegistry, VersionInfo
from cinerec.service.training import publish_model, snapshot

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

#: Names ``--algo`` accepts with ``--engine spark`` (also as ``--param`` prefixes) -> (Spark algorithm, defaults).
SPARK_ALGOS: dict[str, tuple[str, dict[str, Any]]] = {
    "als": ("als", {}), "spark-als": ("als", {}), "implicit-als": ("als", {"implicit": True}),
    "item-knn": ("item-knn", {}), "knn": ("item-knn", {}),
}


def parse_conf(items: list[str] | None) -> dict[str, str]:
    """``["spark.executor.memory=4g"]`` -> ``{"spark.executor.memory": "4g"}``.

    Raises:
        InvalidParameter: an item without ``=`` or with an empty key.
    """
    out: dict[str, str] = {}
    for text in items or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise InvalidParameter(f"--conf expects key=value, got {text!r}")
        out[key.strip()] = value.strip()
    return out


def spark_algo(name: str) -> tuple[str, dict[str, Any]]:
    """The Spark algorithm for an ``--algo`` name and the parameters the name implies.

    ``als`` is Spark's explicit ALS unless ``als.implicit=true``;
    ``implicit-als`` is the same with implicit feedback by default;
    ``item-knn`` (also ``knn``) is item-kNN with its similarities computed on Spark.

    Raises:
        InvalidParameter: an algorithm Spark training does not offer.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in SPARK_ALGOS:
        raise InvalidParameter(f"--engine spark trains --algo als, implicit-als (Spark MLlib ALS) or item-knn, "
                               f"not {name!r}")
    algo, defaults = SPARK_ALGOS[key]
    return algo, dict(defaults)


def preflight(master: str) -> None:
    """Check pyspark, the master URL and Java before any data is read (each failure is one line).

    Raises:
        InvalidParameter: no pyspark, or a malformed or unreachable master.
        ModelFitError: no usable Java.
    """
    require_pyspark()
    check_master(master)
    check_java()


def train_on_spark(
    registry: ModelRegistry, *, engine: Engine | None = None, data: str | None = None,
    master: str = "local[2]", conf: dict[str, str] | None = None, params: dict[str, Any] | None = None,
    algo: str = "als", activate: bool = True, spark: SparkSession | None = None, ann_min_items: int | None = None,
    extra: dict[str, Any] | None = None,
) -> VersionInfo:
    """Train ALS or item-kNN on Spark and publish it as a version of the in-process model (see the module docstring).

    Args:
        registry: where the version is published.
        engine: the database to train on (when ``data`` is not given).
        data: a Parquet or CSV path or URL with ``user, item, rating[, timestamp][, weight]``
            (:mod:`cinerec.algorithms.spark_als` describes the schema) instead of the database.
        master: the Spark master URL (``local[2]``, ``spark://HOST:7077``, ``yarn``, ``k8s://...``).
        conf: Spark settings over the small-machine defaults.
        params: ``als.KEY`` values (:class:`ALSSettings`), or for item-kNN ``knn.KEY`` values (:class:`KNNSettings`).
        algo: ``als``, ``implicit-als`` or ``item-knn`` (:data:`SPARK_ALGOS`).
        activate: switch the active pointer to the new version.
        spark: an existing session to use (it is left running); default: one for this run.
        ann_min_items: the ANN index threshold (as for ``train_from_store``).
        extra: more manifest metadata.

    Raises:
        InvalidParameter: bad parameters, no pyspark, a bad master URL.
        ModelFitError: no usable Java, Spark failed.
        DataFormatError: no data, or data of the wrong shape.
    """
    name, defaults = spark_algo(algo)
    merged = {**defaults, **(params or {})}
    settings = KNNSettings.from_params(merged) if name == "item-knn" else ALSSettings.from_params(merged)
    if engine is None and data is None:
        raise InvalidParameter("train_on_spark needs a database engine or a data source")
    if spark is None:
        preflight(master)
    meta: dict[str, Any] = {}
    with ExitStack() as stack:
        interactions: Interactions | None = None
        if data is None:
            assert engine is not None
            interactions, mark = snapshot(engine)
            meta.update(mark)
            if isinstance(settings, ALSSettings) and not settings.implicit and interactions.ratings is None:
                raise DataFormatError("explicit Spark ALS needs ratings; use --param als.implicit=true")
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cinerec-spark-")))
            source = str(export_parquet(interactions, folder / "interactions.parquet"))
        else:
            source = data
            meta["data_source"] = data
        if spark is None:
            spark = stack.enter_context(spark_session(master, conf))
        else:
            master = str(spark.sparkContext.master)
        local = is_local(master)
        if interactions is not None and not local:
            # executors on other machines cannot read the driver's temporary folder: ship the rows from here
            frame = check_frame(spark.createDataFrame(interactions.to_frame()), source)
        else:
            frame = read_frame(spark, source)
        if interactions is None:
            interactions = collect_interactions(frame, data or source)
        frame = frame.cache()
        stack.callback(frame.unpersist)
        if isinstance(settings, KNNSettings):
            model, fit_seconds, holdout = _fit_knn(frame, interactions, settings)
        else:
            model, fit_seconds, holdout = _fit(frame, interactions, settings, local)
    meta.update({"engine": "spark", "master": master, "spark_version": _spark_version(),
                 "spark_conf": dict(conf or {}), name.replace("item-", ""): settings.as_dict(), "holdout": holdout})
    return publish_model(registry, model, interactions, fit_seconds, {**meta, **(extra or {})},
                         activate=activate, ann_min_items=ann_min_items)


def _spark_version() -> str:
    import pyspark

    return str(pyspark.__version__)


def _fit(frame: DataFrame, data: Interactions, settings: ALSSettings, local: bool,
         ) -> tuple[RecommenderBase, float, dict[str, Any]]:
    """Holdout measure, then the fit on all of ``frame``; returns the model, its fit seconds and the measure."""
    holdout: dict[str, Any] = {}
    if settings.holdout > 0:
        train, test = split(frame, settings.holdout, settings.seed)
        factors, spark_model = fit_als(train, settings, local=local)
        holdout = {"fraction": settings.holdout, "seed": settings.seed, "fit_seconds": round(factors.fit_seconds, 3)}
        if settings.implicit:
            holdout.update(holdout_ranking(factors, data, test.select("user", "item").toPandas(), settings))
        else:
            holdout.update({k: round(v, 5) if isinstance(v, float) else v
                            for k, v in holdout_rmse(spark_model, test, settings).items()})
        log.info("Spark ALS holdout: %s", holdout)
    factors, _ = fit_als(frame, settings, local=local)
    return factor_model(factors, data, settings), factors.fit_seconds, holdout


def factor_model(factors: ALSFactors, data: Interactions, settings: ALSSettings) -> RecommenderBase:
    """The in-process model holding Spark's factors for ``data``'s vocabularies.

    Explicit ALS becomes a bias-free :class:`BiasedMF` (predictions are Spark's
    dot products, clipped to the rating scale); implicit ALS an
    :class:`ImplicitALS` that folds histories in with Spark's confidence and
    regularisation.
    """
    uf, itf = factors.aligned(data.user_vocab.ids, data.item_vocab.ids)
    if settings.implicit:
        return ImplicitALS.from_factors(data, uf, itf, regularization=settings.reg, alpha=settings.alpha,
                                        n_iterations=settings.iters, use_ratings=settings.use_ratings)
    return BiasedMF.from_factors(data, uf, itf, reg=settings.reg, n_epochs=settings.iters)


def holdout_ranking(factors: ALSFactors, data: Interactions, test_pairs: Any, settings: ALSSettings,
                    k: int = 10) -> dict[str, Any]:
    """NDCG@k of the holdout fit and of popularity on the same split (seen items excluded).

    Args:
        factors: the fit on the training part.
        data: all interactions (their vocabularies).
        test_pairs: a data frame of the held-out ``user, item`` pairs.
        settings: the ALS settings (for the model built from ``factors``).
        k: the cut-off.
    """
    train, test = held_out(data, test_pairs)
    return ranking_measures(factor_model(factors, train, settings), train, test, k)


def held_out(data: Interactions, test_pairs: Any) -> tuple[Interactions, Interactions]:
    """``data`` split into the rows that are not in ``test_pairs`` (``user, item`` raw ids) and those that are.

    Both parts keep ``data``'s vocabularies.
    """
    u = data.user_vocab.indices(np.asarray(test_pairs["user"]))
    i = data.item_vocab.indices(np.asarray(test_pairs["item"]))
    held = np.zeros(len(data), dtype=bool)
    if len(u):
        order = np.searchsorted(data.users * data.n_items + data.items, u * data.n_items + i)
        held[order[(u >= 0) & (i >= 0)]] = True
    return data.subset(~held), data.subset(held)


def ranking_measures(model: RecommenderBase, train: Interactions, test: Interactions, k: int = 10) -> dict[str, Any]:
    """NDCG@k of ``model`` (fitted on ``train``) and of popularity on ``test`` (seen items excluded)."""
    users = np.unique(test.users)
    truth = test.binary[users]
    popularity = Popularity().fit(train)
    out: dict[str, Any] = {"test_interactions": len(test), "test_users": len(users)}
    for name, m in (("ndcg_at_10", model), ("popularity_ndcg_at_10", popularity)):
        recs = m.recommend(users, k).items if len(users) else np.zeros((0, k), dtype=np.int64)
        out[name] = round(float(ndcg_at_k(recs, truth, k).mean()), 5) if len(users) else None
    return out


def _fit_knn(frame: DataFrame, data: Interactions, settings: KNNSettings,
             ) -> tuple[RecommenderBase, float, dict[str, Any]]:
    """Holdout measure, then the neighbours of all of ``frame``; returns the model, its fit seconds and the measure."""
    holdout: dict[str, Any] = {}
    if settings.holdout > 0:
        train_frame, test_frame = split(frame, settings.holdout, settings.seed)
        train, test = held_out(data, test_frame.select("user", "item").toPandas())
        model, seconds, shape = knn_model(train_frame, train, settings)
        holdout = {"fraction": settings.holdout, "seed": settings.seed, "fit_seconds": round(seconds, 3), **shape}
        if test.ratings is not None and len(test):
            predicted = model.predict(test.users, test.items)
            holdout.update({"rmse": round(rmse(predicted, test.ratings), 5),
                            "mae": round(mae(predicted, test.ratings), 5), "test_ratings": len(test)})
        holdout.update(ranking_measures(model, train, test))
        log.info("Spark item-kNN holdout: %s", holdout)
    model, seconds, _ = knn_model(frame, data, settings)
    return model, seconds, holdout


def knn_model(frame: DataFrame, data: Interactions, settings: KNNSettings) -> tuple[ItemKNN, float, dict[str, int]]:
    """An :class:`ItemKNN` on ``data`` whose similarities Spark computed from ``frame`` (the same rows).

    Returns:
        The model, the seconds taken (centring, Spark job, model) and the job's shape
        (``blocks``, ``capped_users``, ``neighbour_pairs``).
    """
    t0 = time.perf_counter()
    estimator = settings.estimator()
    constant, user_offsets, item_offsets = estimator.similarity_offsets(data)
    centring = Centring(constant, np.asarray(data.user_vocab.ids), user_offsets, np.asarray(data.item_vocab.ids),
                        item_offsets, binary=data.ratings is None)
    found = item_neighbours(frame, centring, shrinkage=estimator.shrinkage, min_support=estimator.min_support,
                            max_neighbors=estimator.max_neighbors, max_user_items=settings.max_user_items,
                            item_block=settings.item_block, seed=settings.seed)
    model = ItemKNN.from_neighbours(data, found.items, found.neighbours, found.similarities, **settings.model)
    shape = {"blocks": found.blocks, "capped_users": found.capped_users, "neighbour_pairs": len(found.items)}
    return model, time.perf_counter() - t0, shape


def export_parquet(data: Interactions, path: Path) -> Path:
    """Write ``data`` as Parquet with raw ids: ``user, item[, rating][, timestamp][, weight]``.

    Raises:
        InvalidParameter: pyarrow (part of the spark extra) is missing.
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InvalidParameter("exporting to Parquet needs pyarrow: pip install 'cinerec[spark]'") from None
    frame = data.to_frame()
    if "rating" not in frame:
        frame["rating"] = frame.get("weight", 1.0)
    frame.to_parquet(path, index=False)
    return path


def collect_interactions(frame: DataFrame, source: str) -> Interactions:
    """The rows of ``frame`` on the driver as :class:`Interactions` (the artifact needs the seen mask).

    Raises:
        DataFormatError: no rows.
    """
    pdf: Any = frame.toPandas()
    if not len(pdf):
        raise DataFormatError(f"{source} has no interactions to train on")
    return Interactions.from_frame(pdf, time_col="timestamp" if "timestamp" in pdf else None,
                                   weight_col="weight" if "weight" in pdf else None)
