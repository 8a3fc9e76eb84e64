"""Alternating least squares on Apache Spark: a data frame in, factors out.

The Spark side of ``cinerec train --engine spark`` (the database export and
the publishing live in :mod:`cinerec.service.spark_training`). Nothing here
knows about SQL or the model registry: :func:`fit_als` trains
:class:`pyspark.ml.recommendation.ALS` on a frame of ``user, item, rating``
rows and returns the factors as numpy arrays keyed by the raw ids, which the
service turns into an ordinary artifact of an in-process model
(:meth:`cinerec.algorithms.mf.BiasedMF.from_factors`,
:meth:`cinerec.algorithms.implicit_mf.ImplicitALS.from_factors`).

**Input schema** (Parquet or CSV with a header, read by :func:`read_frame`):

========== ======================================= ==========================================
column     type                                    meaning
========== ======================================= ==========================================
user       integer (32-bit, as Spark's ALS needs)  the member / user id
item       integer (32-bit)                        the film / item id
rating     number                                  explicit rating, or an implicit strength
timestamp  integer, optional                       unix seconds (kept, not used by ALS)
weight     number, optional                        implicit confidence (implicit mode reads it
                                                   instead of ``rating`` unless ``use_ratings``)
========== ======================================= ==========================================

Each ``(user, item)`` pair should appear once (the database export does).

pyspark is imported inside the functions that need it, so importing this
module (or anything else in cinerec) never imports pyspark; it is the
``spark`` extra (``pip install 'cinerec[spark]'``) and needs Java 17 or later.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cinerec.algorithms.base import FloatArray, IntArray
from cinerec.errors import DataFormatError, InvalidParameter, ModelFitError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Settings for one small machine (../shared/ECOSYSTEM.md): Spark's 200 shuffle partitions cost 8x the fit time
#: of 4 on 20k ratings. Every key can be overridden with ``--conf key=value``.
SMALL_MACHINE_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
#: Oldest Java major version pyspark 4 runs on.
MIN_JAVA = 17
#: The ALS blocks per side on a small machine (Spark's default is the parallelism, 10 on a cluster).
SMALL_MACHINE_BLOCKS = 2
_MASTER = re.compile(
    r"local(\[(\*|\d+)(,\s*\d+)?\])?|local-cluster\[\d+,\s*\d+,\s*\d+\]|yarn|k8s://\S+"
    r"|spark://[^\s/:,]+:\d+(,[^\s/:,]+:\d+)*")


@dataclass(frozen=True)
class ALSSettings:
    """Hyper-parameters of one Spark ALS run (the ``--param als.KEY=value`` keys).

    Attributes:
        rank: latent dimensions (``rank``).
        reg: regularisation per rating (``regParam``; Spark scales it by each user's and item's count: ALS-WR).
        alpha: implicit confidence scaling (``alpha``: confidence ``1 + alpha * r``).
        iters: ALS sweeps (``maxIter``).
        implicit: implicit-feedback mode (``implicitPrefs``).
        use_ratings: in implicit mode, weight interactions by their rating rather than their implicit weight.
        checkpoint_interval: checkpoint the lineage every N iterations (``checkpointInterval``;
            needs a checkpoint directory, set with ``--conf spark.checkpoint.dir=...`` on a cluster).
        holdout: share of the ratings held out (random, seeded) to measure the model; 0 skips it.
        blocks: user and item blocks (``numUserBlocks``/``numItemBlocks``); ``None``: 2 in local
            mode, Spark's default (the parallelism) elsewhere.
        seed: seed of the split and the factor initialisation.
    """

    rank: int = 10
    reg: float = 0.1
    alpha: float = 1.0
    iters: int = 10
    implicit: bool = False
    use_ratings: bool = False
    checkpoint_interval: int = 10
    holdout: float = 0.1
    blocks: int | None = None
    seed: int = 42

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ALSSettings:
        """Settings from ``--param als.KEY=value`` values.

        Raises:
            InvalidParameter: an unknown key or a value out of range.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidParameter(f"unknown Spark ALS parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        out = cls(**{k: coerce_param(k, v, cls.__dataclass_fields__[k].type) for k, v in params.items()})
        if out.rank < 1 or out.iters < 1 or out.reg < 0 or out.alpha < 0 or out.checkpoint_interval < 1:
            raise InvalidParameter("Spark ALS needs rank >= 1, iters >= 1, reg >= 0, alpha >= 0, checkpoint_interval >= 1")
        if not 0.0 <= out.holdout < 1.0:
            raise InvalidParameter(f"holdout must be in [0, 1), got {out.holdout}")
        if out.blocks is not None and out.blocks < 1:
            raise InvalidParameter(f"blocks must be >= 1, got {out.blocks}")
        return out

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON values (for the manifest)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def coerce_param(key: str, value: Any, kind: Any, prefix: str = "als") -> Any:
    """``value`` (a ``--param`` value: JSON or text) as the type named by ``kind`` (``"int"``, ``"bool"``, ...).

    Raises:
        InvalidParameter: a value that is not of that type (named as ``prefix.key``).
    """
    text = str(kind)
    try:
        if text == "str":
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if "bool" in text:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes"):
                return True
            if str(value).lower() in ("false", "0", "no"):
                return False
            raise ValueError(value)
        if value is None and "None" in text:
            return None
        if "int" in text:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        return float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{prefix}.{key}: {value!r} is not a valid {text.replace(' | None', '')}") from None


@dataclass
class ALSFactors:
    """What one ALS fit learned, collected on the driver.

    Attributes:
        user_ids, item_ids: raw ids of the factor rows.
        user_factors, item_factors: ``(n, rank)`` float64 factors.
        fit_seconds: wall time of the fit (including collecting the factors).
    """

    user_ids: IntArray
    user_factors: FloatArray
    item_ids: IntArray
    item_factors: FloatArray
    fit_seconds: float

    def aligned(self, user_ids: Any, item_ids: Any) -> tuple[FloatArray, FloatArray]:
        """The factors as rows in the order of ``user_ids`` and ``item_ids`` (zeros where Spark has none).

        A user or item without factors (one that only occurs in held-out rows)
        scores 0 for everything; the engine's fold-in gives such users vectors
        from their history.
        """
        return (_align(self.user_ids, self.user_factors, user_ids),
                _align(self.item_ids, self.item_factors, item_ids))


def _align(ids: IntArray, factors: FloatArray, order: Any) -> FloatArray:
    want = np.asarray(order)
    out = np.zeros((len(want), factors.shape[1]))
    pos = {int(v): k for k, v in enumerate(ids.tolist())}
    rows = np.fromiter((pos.get(int(v), -1) for v in want.tolist()), dtype=np.int64, count=len(want))
    hit = rows >= 0
    out[hit] = factors[rows[hit]]
    return out


# ------------------------------------------------------------------ preflight
def require_pyspark() -> None:
    """Raise one clear error when pyspark is not installed.

    Raises:
        InvalidParameter: no pyspark (names the extra to install).
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise InvalidParameter("training on Spark needs the spark extra: pip install 'cinerec[spark]'") from None


def check_java(env: Mapping[str, str] | None = None) -> str:
    """The ``java`` Spark will start, after checking that it runs and is Java 17 or later.

    Spark uses ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set, else the
    first ``java`` on ``PATH``; this looks in the same places.

    Returns:
        The version line (e.g. ``openjdk version "17.0.15"``).

    Raises:
        ModelFitError: no Java, one that does not run, or one older than 17.
    """
    env = os.environ if env is None else env
    home = env.get("JAVA_HOME")
    if home:
        java = str(Path(home) / "bin" / "java")
        if not Path(java).is_file():
            raise ModelFitError(f"Spark needs Java {MIN_JAVA}+: JAVA_HOME={home} has no bin/java "
                                "(point JAVA_HOME at a JDK or unset it)")
    else:
        found = shutil.which("java", path=env.get("PATH", ""))
        if found is None:
            raise ModelFitError(f"Spark needs Java {MIN_JAVA}+ and no java is on PATH "
                                "(install a JDK, e.g. apt-get install openjdk-17-jre-headless, or set JAVA_HOME)")
        java = found
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFitError(f"Spark needs Java {MIN_JAVA}+: `{java} -version` failed ({exc})") from None
    text = (done.stderr or done.stdout).strip()
    first = text.splitlines()[0] if text else ""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if done.returncode != 0 or match is None:
        raise ModelFitError(f"Spark needs Java {MIN_JAVA}+: `{java} -version` failed: {first or done.returncode}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_..." is Java 8
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise ModelFitError(f"Spark needs Java {MIN_JAVA}+, found Java {major} at {java}: set JAVA_HOME to a newer JDK")
    return first


def check_master(master: str, *, timeout: float = 5.0) -> None:
    """Reject a master URL Spark would not accept, and a standalone master nobody answers at.

    ``local``, ``local[N]``, ``local[*]``, ``local[N,F]``, ``spark://HOST:PORT[,HOST:PORT...]``,
    ``yarn`` and ``k8s://...`` are accepted. For ``spark://`` masters a TCP
    connection to each address is tried (``timeout`` seconds) before Spark
    starts, since Spark itself retries an absent master for a minute before
    failing.

    Raises:
        InvalidParameter: a malformed URL, or a standalone master that does not answer.
    """
    if not _MASTER.fullmatch(master.strip()):
        raise InvalidParameter(f"--master {master!r} is not a Spark master URL: use local[N], "
                               "spark://HOST:PORT, yarn or k8s://https://HOST:PORT")
    if master.startswith("spark://"):
        addresses = master.removeprefix("spark://").split(",")
        for address in addresses:
            host, _, port = address.rpartition(":")
            try:
                with socket.create_connection((host, int(port)), timeout=timeout):
                    return
            except OSError:
                continue
        raise InvalidParameter(f"--master {master}: no Spark master answers at {', '.join(addresses)}")


def is_local(master: str) -> bool:
    """Whether ``master`` runs Spark in this process's machine only (``local...``)."""
    return master.strip().startswith("local")


@contextmanager
def spark_session(master: str = "local[2]", conf: Mapping[str, str] | None = None,
                  app_name: str = "cinerec-train") -> Iterator[SparkSession]:
    """A Spark session on ``master`` with :data:`SMALL_MACHINE_CONF` (``conf`` overrides), stopped on exit.

    Checks pyspark, Java and the master URL first, so that each of them fails
    with one line instead of a JVM stack trace. ``SPARK_LOCAL_IP`` defaults to
    127.0.0.1 in local mode (no name lookup of the machine's hostname).

    Raises:
        InvalidParameter: no pyspark, a malformed or unreachable master URL.
        ModelFitError: no usable Java, or Spark failed to start.
    """
    require_pyspark()
    check_master(master)
    check_java()
    if is_local(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python tasks (the item-kNN blocks) run in this interpreter, which has cinerec and its dependencies
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**SMALL_MACHINE_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    # pyspark 4.3 warns on every pandas conversion under pandas 3; the columns exchanged here are plain numbers
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # a JVM that cannot start or a cluster that refuses: one line
        raise ModelFitError(f"Spark did not start on {master}: {first_line(exc)}") from None
    spark.sparkContext.setLogLevel("ERROR")
    checkpoint = (conf or {}).get("spark.checkpoint.dir")
    if checkpoint:
        spark.sparkContext.setCheckpointDir(checkpoint)
    try:
        yield spark
    finally:
        spark.stop()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Py4J errors run to pages), at most 300 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


# ---------------------------------------------------------------------- data
def read_frame(spark: SparkSession, source: str) -> DataFrame:
    """Read interactions from a Parquet or CSV path or URL (``s3a://``, ``hdfs://``, ``file://``...).

    CSV is recognised by a ``.csv`` / ``.csv.gz`` name and needs a header row;
    anything else is read as Parquet (a file or a folder of part files). The
    columns are checked and cast as in the module docstring.

    Raises:
        DataFormatError: unreadable source, missing columns, or ids that are not integers.
    """
    lower = source.lower().rstrip("/")
    try:
        if lower.endswith((".csv", ".csv.gz")):
            frame = spark.read.option("header", "true").option("inferSchema", "true").csv(source)
        else:
            frame = spark.read.parquet(source)
    except Exception as exc:
        raise DataFormatError(f"cannot read {source}: {first_line(exc)}") from None
    return check_frame(frame, source)


def check_frame(frame: DataFrame, source: str = "the data") -> DataFrame:
    """``frame`` with ``user``/``item`` cast to int and ``rating``/``weight`` to double, optional columns kept.

    Raises:
        DataFormatError: a required column is missing, or a user or item id is not a 32-bit integer.
    """
    from pyspark.sql import functions as F

    columns = {c.lower(): c for c in frame.columns}
    missing = [c for c in ("user", "item", "rating") if c not in columns]
    if missing:
        raise DataFormatError(f"{source} has no column(s) {', '.join(missing)} "
                              f"(expected user, item, rating[, timestamp][, weight]; found {', '.join(frame.columns)})")
    cols = [F.col(columns["user"]).cast("long").alias("user"), F.col(columns["item"]).cast("long").alias("item"),
            F.col(columns["rating"]).cast("double").alias("rating")]
    if "timestamp" in columns:
        cols.append(F.col(columns["timestamp"]).cast("long").alias("timestamp"))
    if "weight" in columns:
        cols.append(F.col(columns["weight"]).cast("double").alias("weight"))
    out = frame.select(*cols)
    limit = 2**31 - 1
    bad = out.where(F.col("user").isNull() | F.col("item").isNull() | F.col("rating").isNull()
                    | (F.col("user") > limit) | (F.col("item") > limit)
                    | (F.col("user") < -limit) | (F.col("item") < -limit)).limit(1).collect()
    if bad:
        raise DataFormatError(f"{source}: user and item must be 32-bit integer ids and rating a number "
                              f"(first bad row: {bad[0].asDict()})")
    return out.withColumn("user", F.col("user").cast("int")).withColumn("item", F.col("item").cast("int"))


def split(frame: DataFrame, holdout: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """A random (seeded) ``(train, test)`` split of the rows; test holds about ``holdout`` of them."""
    train, test = frame.randomSplit([1.0 - holdout, holdout], seed=seed)
    return train, test


# ---------------------------------------------------------------------- fit
def _als(settings: ALSSettings, blocks: int | None) -> Any:
    from pyspark.ml.recommendation import ALS

    als = ALS(rank=settings.rank, maxIter=settings.iters, regParam=settings.reg, alpha=settings.alpha,
              implicitPrefs=settings.implicit, checkpointInterval=settings.checkpoint_interval,
              seed=settings.seed, userCol="user", itemCol="item", ratingCol="value",
              coldStartStrategy="drop", nonnegative=False)
    if blocks is not None:
        als = als.setNumUserBlocks(blocks).setNumItemBlocks(blocks)
    return als


def value_column(frame: DataFrame, settings: ALSSettings) -> DataFrame:
    """``frame`` with the column ALS learns from as ``value``: the rating, or in implicit mode the weight.

    Implicit mode reads the ``weight`` column (1 where there is none) unless
    ``use_ratings``, as the in-process implicit ALS does.
    """
    from pyspark.sql import functions as F

    if settings.implicit and not settings.use_ratings:
        value = F.col("weight") if "weight" in frame.columns else F.lit(1.0)
    else:
        value = F.col("rating")
    return frame.select("user", "item", value.cast("float").alias("value"))


def fit_als(frame: DataFrame, settings: ALSSettings, *, local: bool = True) -> tuple[ALSFactors, Any]:
    """Train Spark's ALS on ``frame`` (checked columns, see :func:`check_frame`).

    Args:
        frame: the training rows.
        settings: the hyper-parameters.
        local: a local-mode session (2 blocks per side unless ``settings.blocks``).

    Returns:
        The collected factors and the Spark model (for evaluation on the cluster).

    Raises:
        ModelFitError: Spark failed during the fit.
    """
    blocks = settings.blocks if settings.blocks is not None else (SMALL_MACHINE_BLOCKS if local else None)
    t0 = time.perf_counter()
    try:
        model = _als(settings, blocks).fit(value_column(frame, settings))
        users = model.userFactors.toPandas()
        items = model.itemFactors.toPandas()
    except Exception as exc:
        raise ModelFitError(f"Spark ALS failed: {first_line(exc)}") from None

    def arrays(df: Any) -> tuple[IntArray, FloatArray]:
        ids = np.asarray(df["id"].to_numpy(), dtype=np.int64)
        feats = np.asarray(np.stack(df["features"].to_numpy()) if len(df) else np.zeros((0, settings.rank)),
                           dtype=np.float64)
        return ids, feats

    uid, uf = arrays(users)
    iid, itf = arrays(items)
    return ALSFactors(uid, uf, iid, itf, time.perf_counter() - t0), model


def holdout_rmse(model: Any, test: DataFrame, settings: ALSSettings) -> dict[str, Any]:
    """RMSE (Spark's :class:`RegressionEvaluator`) and MAE of ``model`` on ``test``.

    Pairs whose user or item the model never saw cannot be predicted; they
    are left out (as Spark's ``coldStartStrategy="drop"`` does) and counted
    as ``cold_dropped``.

    Raises:
        ModelFitError: Spark failed.
    """
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.sql import functions as F

    try:
        scored = model.setColdStartStrategy("nan").transform(value_column(test, settings)).cache()
        cold = F.isnan("prediction")
        row = scored.agg(F.count(F.lit(1)).alias("total"), F.sum(cold.cast("int")).alias("cold"),
                         F.avg(F.when(~cold, F.abs(F.col("prediction") - F.col("value")))).alias("mae")).first()
        warm = scored.where(~cold)
        value = RegressionEvaluator(metricName="rmse", labelCol="value", predictionCol="prediction").evaluate(warm)
        scored.unpersist()
    except Exception as exc:
        raise ModelFitError(f"Spark evaluation failed: {first_line(exc)}") from None
    total, n_cold = int(row["total"] or 0), int(row["cold"] or 0)
    return {"rmse": float(value), "mae": float(row["mae"]) if row["mae"] is not None else float("nan"),
            "test_ratings": total - n_cold, "cold_dropped": n_cold}
