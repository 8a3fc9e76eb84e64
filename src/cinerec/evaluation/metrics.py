"""Accuracy and beyond-accuracy metrics.

Ranking metrics take ``recs`` (``(n_users, k)`` item indices, ``-1`` for an
empty slot) and ``truth`` (one array of relevant item indices per user) and
return per-user values; average them over users who have test items. Seen
(training) items must already be excluded from ``recs``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def rmse(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Root mean squared error."""
    p, a = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    return float(np.sqrt(np.mean((p - a) ** 2))) if len(a) else float("nan")


def mae(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Mean absolute error."""
    p, a = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    return float(np.mean(np.abs(p - a))) if len(a) else float("nan")


def hits_matrix(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """Boolean ``(n_users, k)``: whether each recommended item is relevant."""
    recs = np.asarray(recs, dtype=np.int64)
    if sp.issparse(truth):
        t = sp.csr_matrix(truth)
        safe = np.where(recs >= 0, recs, 0)
        rows = np.repeat(np.arange(recs.shape[0]), recs.shape[1]).reshape(recs.shape)
        hit = np.asarray(t[rows.ravel(), safe.ravel()]).reshape(recs.shape) != 0
        return hit & (recs >= 0)
    out = np.zeros(recs.shape, dtype=bool)
    for r, rel in enumerate(truth):
        out[r] = np.isin(recs[r], rel) & (recs[r] >= 0)
    return out


def _n_relevant(truth: Sequence[IntArray] | sp.csr_matrix) -> IntArray:
    if sp.issparse(truth):
        return np.diff(sp.csr_matrix(truth).indptr).astype(np.int64)
    return np.array([len(t) for t in truth], dtype=np.int64)


def precision_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user hits in the top ``k`` divided by ``k``."""
    return hits_matrix(recs[:, :k], truth).sum(axis=1) / float(k)


def recall_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user hits in the top ``k`` divided by the number of relevant items."""
    n = _n_relevant(truth)
    return hits_matrix(recs[:, :k], truth).sum(axis=1) / np.maximum(n, 1)


def hit_rate_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user 1 if any relevant item is in the top ``k``."""
    return np.asarray(hits_matrix(recs[:, :k], truth).any(axis=1), dtype=np.float64)


def ndcg_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user NDCG with binary relevance and a ``log2(rank + 1)`` discount.

    The ideal DCG places ``min(k, n_relevant)`` relevant items first.
    """
    hits = hits_matrix(recs[:, :k], truth)
    disc = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = (hits * disc).sum(axis=1)
    n = np.minimum(_n_relevant(truth), k)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    idcg = np.where(n > 0, ideal[np.maximum(n - 1, 0)], 1.0)
    return np.asarray(np.where(n > 0, dcg / idcg, 0.0), dtype=np.float64)


def map_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user average precision at ``k``: mean of precision at each hit, over ``min(k, n_relevant)``."""
    hits = hits_matrix(recs[:, :k], truth)
    prec = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    n = np.minimum(_n_relevant(truth), k)
    return np.where(n > 0, (prec * hits).sum(axis=1) / np.maximum(n, 1), 0.0)


def mrr_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user reciprocal rank of the first relevant item in the top ``k`` (0 if none)."""
    hits = hits_matrix(recs[:, :k], truth)
    first = np.argmax(hits, axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def catalog_coverage(recs: IntArray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    r = np.asarray(recs)
    return float(len(np.unique(r[r >= 0])) / n_items) if n_items else 0.0


def novelty(recs: IntArray, item_popularity: FloatArray) -> float:
    """Mean self-information ``-log2 p(i)`` of recommended items.

    Args:
        item_popularity: share of users who interacted with each item in training.
    """
    r = np.asarray(recs)
    valid = r >= 0
    if not valid.any():
        return float("nan")
    p = np.clip(np.asarray(item_popularity, dtype=np.float64)[r[valid]], 1e-12, 1.0)
    return float(np.mean(-np.log2(p)))


def intra_list_diversity(recs: IntArray, item_vectors: sp.csr_matrix | FloatArray) -> float:
    """Mean pairwise cosine distance between the items of each list, averaged over lists.

    Args:
        item_vectors: one row per item (genres, co-occurrence...).
    """
    v = sp.csr_matrix(item_vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    v = sp.diags(1.0 / norms) @ v
    out = []
    for row in np.asarray(recs):
        items = row[row >= 0]
        if len(items) < 2:
            continue
        sub = v[items]
        sim = (sub @ sub.T).toarray()
        n = len(items)
        out.append(1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))
    return float(np.mean(out)) if out else float("nan")
