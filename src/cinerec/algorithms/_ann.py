"""Approximate top-k for latent models: a faiss inverted-file index over the item vectors.

Every latent model ranks items for a user (trained or a folded-in history)
by ``const_u + v_i . w_u`` (see :meth:`RecommenderBase._latent_items`):
a maximum-inner-product search over the item vectors ``v_i``. The index
turns it into a nearest-neighbour search under L2 with the usual extra
coordinate (Bachrach et al. 2014): items become ``[v_i, sqrt(R^2 - |v_i|^2)]``
with ``R`` the largest item norm, queries ``[w_u, 0]``, so that
``|q - x_i|^2 = |w_u|^2 + R^2 - 2 v_i . w_u`` orders items exactly as the
inner product does. An inverted file (``IndexIVFFlat``: k-means cells,
``nprobe`` of them searched) beat HNSW graphs on these augmented vectors in
``benchmarks/topk.py``: at 100k items HNSW reached recall@10 0.83 (M=32,
efSearch=128) to 0.95 (efSearch=512), built 4x slower into a 2x larger
index, where the inverted file gave 0.995 at 64 cells in 0.7 ms.

:func:`ann_topk` is the one filtered ranking step built on it: it fetches
more than ``k`` candidates (``k`` plus the row's excluded items, scaled up by
the share of the catalogue a candidate mask removes, plus a margin), drops
the excluded and disallowed ones, re-scores the rest exactly with the
model's own vectors in float64 and keeps the best ``k``. When fewer than
``k`` survive it doubles the fetch and the number of cells searched, and
past :data:`MAX_FETCH_SHARE` of the catalogue (or when the allowed items are
few) it scores the allowed items exactly, so the answer always has every
slot an exact ranking would fill.

The index travels inside the model artifact as its serialised bytes
(``faiss.serialize_index``: a ``uint8`` array in ``arrays.npz``, covered by
the manifest's checksums, never a pickle). faiss is an optional dependency
(``pip install cinerec[ann]``): it is imported inside the functions, and
without it models rank exactly.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms._topk import topk

log = logging.getLogger(__name__)

#: Catalogue size from which a model with an index ranks through it (``CINEREC_ANN_MIN_ITEMS`` in the service).
ANN_MIN_ITEMS = 50_000
#: Past this share of the catalogue a fetch is not worth it: the allowed items are scored exactly.
MAX_FETCH_SHARE = 0.1
#: Candidates fetched beyond ``k`` plus the excluded items.
FETCH_MARGIN = 32
#: Rank the allowed items exactly when there are at most this many times as many as the search would fetch:
#: scoring a few thousand gathered vectors costs about what the search does and misses nothing (5 % of 100k
#: films allowed, 64 factors: 0.37 ms at recall@10 1.0, against 0.40 ms at 0.967 through the index).
EXACT_BELOW = 8
#: k-means training points per cell (faiss warns below 39).
TRAIN_POINTS_PER_CELL = 40
#: Folded-in histories search this many times the cells trained users do: their shorter, bias-led
#: vectors scatter their best items over more cells (recall@10 at 100k items: 0.94 at 64 cells, 0.99 at 128).
HISTORY_PROBE_FACTOR = 2

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class LatentQuery(NamedTuple):
    """Users as queries: scores are ``const[:, None] + vectors @ item_vectors.T``.

    Attributes:
        const: ``(n,)`` the part of each user's scores that is the same for every item.
        vectors: ``(n, d)`` each user's vector against the item vectors.
    """

    const: FloatArray
    vectors: FloatArray


def _faiss() -> Any:
    """The faiss module, typed ``Any`` (its SWIG bindings carry no usable types).

    Raises:
        ImportError: faiss is not installed.
    """
    return importlib.import_module("faiss")


def ann_available() -> bool:
    """Whether faiss can be imported (the ``ann`` extra is installed)."""
    try:
        _faiss()
    except ImportError:
        return False
    return True


def default_nlist(n_items: int) -> int:
    """Cells of the inverted file: about ``2 sqrt(n)``, at most ``n / 40`` so each cell has training points.

    faiss suggests ``4 sqrt(n)``; half of that halves the k-means training
    and assignment time (the build of 1M items on two cores) while each
    query scans ``n / nlist * nprobe`` vectors, still well under a
    millisecond at 1M items (``benchmarks/topk.py``).
    """
    return max(1, min(int(2 * math.sqrt(n_items)), n_items // TRAIN_POINTS_PER_CELL))


def default_nprobe(nlist: int) -> int:
    """Cells searched per query: 64, or 1/32 of the cells on very big catalogues.

    In ``benchmarks/topk.py`` 64 cells gave recall@10 0.995 at 100k items
    (632 cells) and 0.998 at 1M (2,000 cells) in 0.7-0.8 ms a query; 32
    were enough for trained users but not for folded-in histories, whose
    shorter vectors leave the item bias more of the ranking and whose best
    items spread over more cells (recall 0.94 at 32 cells, 0.99 at 64 on a
    20k catalogue).
    """
    return max(1, min(nlist, max(64, nlist // 32)))


def build_index(item_vectors: npt.ArrayLike, *, nlist: int | None = None, random_state: int | None = 0) -> Any:
    """A trained, filled faiss ``IndexIVFFlat`` over the augmented item vectors (see the module docstring).

    Args:
        item_vectors: ``(n_items, d)`` the model's item vectors.
        nlist: k-means cells (default :func:`default_nlist`).
        random_state: seed of the k-means training sample and initialisation.

    Returns:
        The faiss index (typed ``Any``: faiss ships no type information).

    Raises:
        ImportError: faiss is not installed.
        ValueError: no items, or vectors that are not finite.
    """
    faiss = _faiss()
    v = np.asarray(item_vectors, dtype=np.float64)
    if v.ndim != 2 or len(v) == 0:
        raise ValueError("an index needs a non-empty (n_items, d) matrix of item vectors")
    if not np.isfinite(v).all():
        raise ValueError("item vectors must be finite to be indexed")
    x = _augment_items(v)
    n, dim = x.shape
    cells = default_nlist(n) if nlist is None else max(1, min(int(nlist), n))
    quantizer = faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_L2)
    index.cp.seed = 0 if random_state is None else int(random_state)
    index.cp.niter = 10  # cell quality barely moves after ~10 iterations; the build time does
    sample = min(n, TRAIN_POINTS_PER_CELL * cells)
    rows = np.sort(np.random.default_rng(random_state).choice(n, sample, replace=False)) if sample < n else slice(None)
    index.train(np.ascontiguousarray(x[rows]))
    index.add(x)
    return index


def _augment_items(v: FloatArray) -> npt.NDArray[np.float32]:
    """``[v_i, sqrt(R^2 - |v_i|^2)]`` as float32 (the L2 form of inner-product search)."""
    sq = np.einsum("ij,ij->i", v, v)
    extra = np.sqrt(np.maximum(sq.max() - sq, 0.0))
    return np.ascontiguousarray(np.column_stack((v, extra)), dtype=np.float32)


def _augment_queries(w: FloatArray) -> npt.NDArray[np.float32]:
    """``[w_u, 0]`` as float32."""
    return np.ascontiguousarray(np.column_stack((w, np.zeros(len(w)))), dtype=np.float32)


def single_threaded_search() -> None:
    """Run faiss searches on the calling thread only (process-wide OpenMP setting).

    A server ranks one member per request on several route threads and
    worker processes; an OpenMP team per single-query search would only
    contend with them (and spin between searches). No-op without faiss.
    """
    try:
        _faiss().omp_set_num_threads(1)
    except ImportError:
        return


def serialize(index: Any) -> npt.NDArray[np.uint8]:
    """The index as a ``uint8`` array (faiss' own format), to store in an artifact's npz."""
    faiss = _faiss()
    return np.asarray(faiss.serialize_index(index), dtype=np.uint8)


def deserialize(blob: npt.NDArray[np.uint8], n_items: int, dim: int) -> Any | None:
    """The index stored by :func:`serialize`, or ``None`` (with a warning) when it cannot serve this model.

    An unreadable blob, or one that does not index ``n_items`` vectors of the
    model's dimension plus the extra coordinate, is not used: the model then
    ranks exactly, which is always correct, only slower.
    """
    faiss = _faiss()
    try:
        index = faiss.deserialize_index(np.ascontiguousarray(blob, dtype=np.uint8))
    except Exception as exc:  # faiss raises RuntimeError and friends for any malformed byte
        log.warning("the model's ANN index cannot be read (%s): ranking exactly", str(exc).splitlines()[0] if str(exc) else exc)
        return None
    if int(index.ntotal) != n_items or int(index.d) != dim + 1 or not hasattr(index, "nprobe"):
        log.warning("the model's ANN index does not match the model (%d vectors of %d dimensions for %d items of %d): "
                    "ranking exactly", int(index.ntotal), int(index.d), n_items, dim + 1)
        return None
    return index


def search(index: Any, vectors: FloatArray, n: int, nprobe: int, radius: float = 1.0) -> IntArray:
    """Item indices of the ``n`` best inner products for each query row (``-1`` where fewer were found).

    Each query is rescaled to norm ``radius`` first (the largest item norm,
    :func:`item_radius`): the inner-product order does not change, but the
    choice of cells does. The L2 distance to a cell's centre is
    ``|q|^2 + |c|^2 - 2 q . c``, so a short query (a folded-in history,
    shrunk by its ridge) picks cells by their centres' norms rather than by
    ``q . c``; at the items' own scale recall@10 of such queries rose from
    0.79 to 0.95 at 64 of 282 cells (trained users': 0.995 either way).
    """
    faiss = _faiss()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    scaled = np.divide(vectors * radius, norms, out=np.zeros_like(vectors), where=norms > 0)
    params = faiss.SearchParametersIVF(nprobe=int(min(nprobe, index.nlist)))
    _, ids = index.search(_augment_queries(scaled), int(n), params=params)
    return np.asarray(ids, dtype=np.int64)


def item_radius(item_vectors: FloatArray) -> float:
    """The largest item norm ``R`` of the augmentation (queries are searched at this norm)."""
    return float(np.sqrt(np.einsum("ij,ij->i", item_vectors, item_vectors).max())) if len(item_vectors) else 1.0


def ann_topk(
    searcher: Callable[[FloatArray, int, int], IntArray],
    query: LatentQuery,
    item_vectors: FloatArray,
    k: int,
    *,
    nprobe: int,
    max_nprobe: int,
    exclude: sp.csr_matrix | None = None,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> tuple[IntArray, FloatArray]:
    """Filtered top-``k`` through an approximate search, with exact scores (see the module docstring).

    Args:
        searcher: ``(vectors, n, nprobe) -> (n_rows, n)`` candidate item indices, ``-1`` padded.
        query: the users' constants and vectors.
        item_vectors: ``(n_items, d)`` float64, the exact re-scoring side.
        k: list length (clipped to the catalogue).
        nprobe, max_nprobe: cells searched first, and at most when refilling.
        exclude: CSR ``(n_rows, n_items)`` of items never to return (seen items).
        allowed: boolean ``(n_items,)``; False is never returned (candidates, business filters).

    Returns:
        ``(items, scores)`` of shape ``(n_rows, k)``, best first, padded with
        ``-1`` and NaN where fewer than ``k`` items are eligible, like :func:`topk`.
    """
    n_rows, n_items = len(query.vectors), len(item_vectors)
    k = max(0, min(int(k), n_items))
    items = np.full((n_rows, k), -1, dtype=np.int64)
    scores = np.full((n_rows, k), np.nan)
    if k == 0 or n_rows == 0:
        return items, scores
    n_allowed = n_items if allowed is None else int(allowed.sum())
    keep_share = max(n_allowed / n_items, 1.0 / n_items)
    max_fetch = max(k, int(MAX_FETCH_SHARE * n_items))
    excluded = [np.empty(0, dtype=np.int64)] * n_rows if exclude is None else [
        exclude.indices[exclude.indptr[r]:exclude.indptr[r + 1]].astype(np.int64) for r in range(n_rows)]
    fetch = [math.ceil((k + len(ex)) / keep_share) + FETCH_MARGIN for ex in excluded]
    pending = list(range(n_rows))
    probes = int(nprobe)
    while pending:
        # too much to fetch, or so few allowed items that scoring them all is cheaper: exact
        exact = {r for r in pending if fetch[r] > max_fetch or n_allowed <= EXACT_BELOW * fetch[r]}
        for r in exact:
            items[r], scores[r] = _exact_row(query, r, item_vectors, k, excluded[r], allowed)
        pending = [r for r in pending if r not in exact]
        if not pending:
            break
        found = searcher(query.vectors[pending], max(fetch[r] for r in pending), probes)
        short = []
        for row, r in zip(found, pending, strict=True):
            ids = row[row >= 0][: fetch[r]]
            if allowed is not None:
                ids = ids[allowed[ids]]
            if len(excluded[r]):
                ids = ids[~np.isin(ids, excluded[r], assume_unique=True)]
            if len(ids) < k:
                fetch[r] *= 2
                short.append(r)
                continue
            s = query.const[r] + item_vectors[ids] @ query.vectors[r]
            best = np.argsort(-s, kind="stable")[:k]
            items[r], scores[r] = ids[best], s[best]
        pending = short
        probes = min(2 * probes, max_nprobe)
    return items, scores


def _exact_row(query: LatentQuery, r: int, item_vectors: FloatArray, k: int, excluded: IntArray,
               allowed: npt.NDArray[np.bool_] | None) -> tuple[IntArray, FloatArray]:
    """Row ``r``'s exact top-``k`` over the allowed items only (every item when nothing restricts them)."""
    if allowed is None:
        pool = None
        s = query.const[r] + item_vectors @ query.vectors[r]
    else:
        pool = np.flatnonzero(allowed).astype(np.int64)
        s = query.const[r] + item_vectors[pool] @ query.vectors[r]
    keep = None
    if len(excluded):
        keep = ~np.isin(np.arange(len(s)) if pool is None else pool, excluded)
    local, vals = topk(s[None, :], k, allowed=keep)
    out_items = np.full(k, -1, dtype=np.int64)
    out_scores = np.full(k, np.nan)
    got = local[0]
    out_items[: len(got)] = got if pool is None else np.where(got >= 0, pool[np.maximum(got, 0)], -1)
    out_scores[: len(got)] = vals[0]
    return out_items, out_scores
