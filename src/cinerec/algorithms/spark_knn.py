"""Item-kNN similarities on Apache Spark: a data frame in, every item's nearest neighbours out.

The Spark side of ``cinerec train --engine spark --algo item-knn`` (the
database export and the publishing live in
:mod:`cinerec.service.spark_training`, the session and the reading of the
data in :mod:`cinerec.algorithms.spark_als`). :func:`item_neighbours`
computes the similarity :class:`~cinerec.algorithms.knn.ItemKNN` computes in
process, and :meth:`ItemKNN.from_neighbours` turns the lists into an ordinary
fitted model, so the artifact is the in-process one.

**The similarity.** Each rating is centred as
:meth:`ItemKNN.similarity_offsets` says (``rating - (c + user[u] + item[i])``,
e.g. the bias baseline for ``pearson_baseline``; 1 per interaction for
implicit data); the similarity of items ``a`` and ``b`` is the cosine of the
centred values over the users who rated both, shrunk by
``(n - 1) / (n - 1 + shrinkage)`` for that common support ``n``; pairs under
``min_support`` or not positive are dropped, and each item keeps its
``max_neighbors`` most similar (ties: the smaller item id).

**The self-join, block-wise.** Items are hashed into blocks of about
``item_block`` items; every pair of blocks ``(I, J)`` is one task that
receives the ratings of both blocks (each rating goes to one task per block:
the data is replicated ``blocks`` times) and joins them on the user with
sparse products (``X_I^T X_J`` for the numerators, and the squared values
against the indicator for the norms over the common support), keeping each
item's ``max_neighbors`` best. A window function (``row_number`` over each
item, best first) keeps the overall best across blocks. No task holds more
than two blocks of the catalogue, and nothing item x item is ever collected:
the driver receives at most ``max_neighbors`` pairs per item, the size of the
artifact. The same self-join written row-wise in Spark SQL (``join`` on user,
``groupBy`` the item pair) produces ``sum_u n_u^2 / 2`` rows, 10 million on
ML-100K, and took 54-80 s against 10-14 s for the blocks (warm) on this two-core
machine.

**Huge histories.** A user with ``n`` ratings contributes ``n^2`` pairs to the
join, so a few very heavy users dominate its cost. ``max_user_items`` (off by
default) keeps a seeded random sample of that many ratings of each heavier
user for the similarity step only (baselines and predictions use every
rating). It changes the similarities of items mostly co-rated by heavy
users: they rest on fewer common users, so more are shrunk or fall under
``min_support`` (the README measures the effect on accuracy).

No approximate mode (``BucketedRandomProjectionLSH`` on normalised item
vectors) is offered: its cosine over *all* users is a different similarity
from the common-support one, so its neighbours could not be checked against
the in-process model's.

The block step runs Python (numpy, scipy, pandas, pyarrow and this module)
on the executors: on a cluster they need ``cinerec[spark]`` installed, as
the driver does. pyspark is imported inside the functions that need it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cinerec.algorithms.base import FloatArray, IntArray
from cinerec.algorithms.knn import ItemKNN
from cinerec.algorithms.spark_als import coerce_param, first_line
from cinerec.errors import InvalidParameter, ModelFitError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

#: The keys ``--param knn.KEY=value`` accepts besides :class:`ItemKNN`'s hyper-parameters.
SPARK_KEYS = ("max_user_items", "item_block", "holdout", "seed")


@dataclass(frozen=True)
class KNNSettings:
    """One Spark item-kNN run: the model's hyper-parameters and the Spark-side settings.

    Attributes:
        model: :class:`ItemKNN` hyper-parameters (``k``, ``similarity``, ``shrinkage``,
            ``min_support``, ``max_neighbors`` ...); the rest keep their defaults.
        max_user_items: cap on the ratings of one user that enter the self-join
            (a seeded sample of heavier users' ratings); 0 = no cap.
        item_block: about this many items per block of the self-join (memory per task
            grows with its square).
        holdout: share of the ratings held out (random, seeded) to measure the model; 0 skips it.
        seed: seed of the split and of the capped users' samples.
    """

    model: dict[str, Any] = field(default_factory=dict)
    max_user_items: int = 0
    item_block: int = 2000
    holdout: float = 0.1
    seed: int = 42

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> KNNSettings:
        """Settings from ``--param knn.KEY=value`` values.

        Raises:
            InvalidParameter: an unknown key, or a value of the wrong type or out of range.
        """
        defaults = ItemKNN().get_params()
        unknown = sorted(set(params) - set(defaults) - set(SPARK_KEYS))
        if unknown:
            raise InvalidParameter(f"unknown Spark item-kNN parameter(s) {', '.join(unknown)}; known: "
                                   f"{', '.join(sorted([*defaults, *SPARK_KEYS]))}")
        fields = cls.__dataclass_fields__
        model = {k: coerce_param(k, v, type(defaults[k]).__name__, "knn") for k, v in params.items() if k in defaults}
        spark = {k: coerce_param(k, v, fields[k].type, "knn") for k, v in params.items() if k in SPARK_KEYS}
        out = cls(model=model, **spark)
        ItemKNN(**out.model)._validate()
        if out.max_user_items < 0 or out.item_block < 1:
            raise InvalidParameter("knn.max_user_items must be >= 0 (0: no cap) and knn.item_block >= 1")
        if out.model.get("shrinkage", 0.0) < 0 or out.model.get("min_support", 1) < 0:
            raise InvalidParameter("knn.shrinkage and knn.min_support must be >= 0")
        if not 0.0 <= out.holdout < 1.0:
            raise InvalidParameter(f"knn.holdout must be in [0, 1), got {out.holdout}")
        return out

    def estimator(self) -> ItemKNN:
        """An unfitted :class:`ItemKNN` with these hyper-parameters."""
        return ItemKNN(**self.model)

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON values (for the manifest), the model's hyper-parameters in full."""
        return {**self.estimator().get_params(), "max_user_items": self.max_user_items,
                "item_block": self.item_block, "holdout": self.holdout, "seed": self.seed}


@dataclass(frozen=True)
class Centring:
    """What is compared for each rating: ``rating - ((constant + user_offset) + item_offset)``, or 1 if ``binary``.

    The arrays are keyed by raw ids (:meth:`ItemKNN.similarity_offsets` gives them in a vocabulary's order).
    """

    constant: float
    user_ids: IntArray
    user_offsets: FloatArray
    item_ids: IntArray
    item_offsets: FloatArray
    binary: bool = False


@dataclass
class Neighbours:
    """Every item's most similar items, collected on the driver.

    Attributes:
        items, neighbours: raw ids of each pair (``neighbours[p]`` is similar to ``items[p]``).
        similarities: the pair's similarity (before amplification).
        blocks: item blocks of the self-join.
        capped_users: users whose ratings were sampled down to ``max_user_items``.
        seconds: wall time of the Spark job (including collecting the lists).
    """

    items: IntArray
    neighbours: IntArray
    similarities: FloatArray
    blocks: int
    capped_users: int
    seconds: float


def item_neighbours(frame: DataFrame, centring: Centring, *, shrinkage: float, min_support: int,
                    max_neighbors: int, max_user_items: int = 0, item_block: int = 2000,
                    seed: int = 42) -> Neighbours:
    """Each item's ``max_neighbors`` most similar items (see the module docstring).

    Args:
        frame: ``user, item, rating`` rows (:func:`cinerec.algorithms.spark_als.check_frame`), one per pair.
        centring: what to compare for each rating.
        shrinkage, min_support, max_neighbors: as :class:`ItemKNN`'s.
        max_user_items: sample heavier users down to this many ratings (0: no cap).
        item_block: about this many items per block.
        seed: seed of the samples.

    Raises:
        ModelFitError: Spark failed.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    try:
        values, capped = _values(frame, centring, max_user_items, seed)
        n_items = values.select("item").distinct().count()
        blocks = max(1, math.ceil(n_items / item_block))
        keyed = values.withColumn("blk", F.pmod(F.xxhash64("item"), F.lit(blocks)).cast("int"))
        pair = [F.array(F.least("blk", F.lit(j)), F.greatest("blk", F.lit(j))) for j in range(blocks)]
        tasks = (keyed.withColumn("task", F.explode(F.array_distinct(F.array(*pair))))
                 .select("user", "item", "x", "blk", F.col("task")[0].alias("ta"), F.col("task")[1].alias("tb")))
        def kernel(pdf: pd.DataFrame) -> pd.DataFrame:  # a plain function: Spark reads the type of the UDF from it
            return block_similarities(pdf, shrinkage=float(shrinkage), min_support=int(min_support),
                                      keep=int(max_neighbors))

        sims = tasks.groupBy("ta", "tb").applyInPandas(kernel, "item long, neighbour long, sim double")
        best = Window.partitionBy("item").orderBy(F.desc("sim"), F.asc("neighbour"))
        top = (sims.withColumn("rank", F.row_number().over(best)).where(F.col("rank") <= max_neighbors)
               .select("item", "neighbour", "sim"))
        pdf: Any = top.toPandas()
    except Exception as exc:
        raise ModelFitError(f"Spark item-kNN failed: {first_line(exc)}") from None
    return Neighbours(np.asarray(pdf["item"].to_numpy(), dtype=np.int64),
                      np.asarray(pdf["neighbour"].to_numpy(), dtype=np.int64),
                      np.asarray(pdf["sim"].to_numpy(), dtype=np.float64), blocks, capped, time.perf_counter() - t0)


def _values(frame: DataFrame, centring: Centring, max_user_items: int, seed: int) -> tuple[DataFrame, int]:
    """``user, item, x`` rows (``x`` the centred value) after the cap, and the number of capped users."""
    import pandas as pd
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = frame.select("user", "item", "rating")
    capped = 0
    if max_user_items > 0:
        per_user = Window.partitionBy("user")
        shuffled = Window.partitionBy("user").orderBy(F.xxhash64("item", F.lit(seed)), "item")
        rows = (rows.withColumn("n", F.count(F.lit(1)).over(per_user))
                .withColumn("pos", F.row_number().over(shuffled)))
        capped = rows.where((F.col("pos") == 1) & (F.col("n") > max_user_items)).count()
        rows = rows.where(F.col("pos") <= max_user_items).select("user", "item", "rating")
    if centring.binary:
        return rows.select("user", "item", F.lit(1.0).alias("x")), capped
    spark = frame.sparkSession
    x = F.col("rating")
    if np.any(centring.user_offsets) or np.any(centring.item_offsets) or centring.constant != 0:
        users = spark.createDataFrame(pd.DataFrame({"user": np.asarray(centring.user_ids, dtype=np.int64),
                                                    "uo": np.asarray(centring.user_offsets, dtype=np.float64)}),
                                      "user long, uo double")
        items = spark.createDataFrame(pd.DataFrame({"item": np.asarray(centring.item_ids, dtype=np.int64),
                                                    "io": np.asarray(centring.item_offsets, dtype=np.float64)}),
                                      "item long, io double")
        rows = rows.join(F.broadcast(users), "user", "left").join(F.broadcast(items), "item", "left")
        # the order of the additions of the in-process fit, so the centred values are the same doubles
        x = x - ((F.lit(float(centring.constant)) + F.coalesce("uo", F.lit(0.0))) + F.coalesce("io", F.lit(0.0)))
    return rows.select("user", "item", x.alias("x")), capped


def block_similarities(pdf: pd.DataFrame, *, shrinkage: float, min_support: int, keep: int) -> pd.DataFrame:
    """The similarities between the items of blocks ``ta`` and ``tb`` (one Spark task; both directions).

    ``pdf`` holds the ``user, item, x, blk`` rows of both blocks; the result
    holds ``item, neighbour, sim`` with at most ``keep`` neighbours per item.
    """
    import pandas as pd
    import scipy.sparse as sp

    ta, tb = int(pdf["ta"].iloc[0]), int(pdf["tb"].iloc[0])
    user_ids, u = np.unique(pdf["user"].to_numpy(), return_inverse=True)
    item_ids, i = np.unique(pdf["item"].to_numpy(), return_inverse=True)
    x = pdf["x"].to_numpy(dtype=np.float64)
    item_block = np.zeros(len(item_ids), dtype=np.int64)
    item_block[i] = pdf["blk"].to_numpy()
    shape = (len(user_ids), len(item_ids))
    xs = sp.csc_matrix((x, (u, i)), shape=shape)
    ones = sp.csc_matrix((np.ones(len(x)), (u, i)), shape=shape)
    squares = sp.csc_matrix((x * x, (u, i)), shape=shape)
    a_cols, b_cols = np.flatnonzero(item_block == ta), np.flatnonzero(item_block == tb)
    num = (xs[:, a_cols].T @ xs[:, b_cols]).tocoo()
    pos = num.data > 0  # a zero or negative numerator is never a neighbour
    r, c, v = num.row[pos], num.col[pos], num.data[pos]
    n = _at((ones[:, a_cols].T @ ones[:, b_cols]).tocsr(), r, c)
    sa = _at((squares[:, a_cols].T @ ones[:, b_cols]).tocsr(), r, c)
    sb = _at((ones[:, a_cols].T @ squares[:, b_cols]).tocsr(), r, c)
    ok = (n >= max(min_support, 1)) & (sa > 0) & (sb > 0)
    s = np.zeros(len(v))
    s[ok] = v[ok] / np.sqrt(sa[ok] * sb[ok])
    if shrinkage > 0:
        s[ok] *= (n[ok] - 1) / (n[ok] - 1 + shrinkage)
    ok &= s > 0
    a, b, s = item_ids[a_cols][r[ok]], item_ids[b_cols][c[ok]], s[ok]
    if ta != tb:
        a, b, s = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([s, s])
    else:
        own = a != b
        a, b, s = a[own], b[own], s[own]
    order = np.lexsort((b, -s, a))
    a, b, s = a[order], b[order], s[order]
    starts = np.searchsorted(a, a, side="left")
    best = np.arange(len(a)) - starts < keep
    return pd.DataFrame({"item": a[best].astype(np.int64), "neighbour": b[best].astype(np.int64), "sim": s[best]})


def _at(m: Any, rows: IntArray, cols: IntArray) -> FloatArray:
    """The entries of the CSR ``m`` at ``(rows, cols)`` (0 where none is stored)."""
    m.sum_duplicates()
    coo = m.tocoo()
    keys = coo.row.astype(np.int64) * m.shape[1] + coo.col
    want = rows.astype(np.int64) * m.shape[1] + cols
    if not len(keys):
        return np.zeros(len(want))
    p = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.where(keys[p] == want, coo.data[p], 0.0)
