"""Accuracy and beyond-accuracy metrics.

Ranking metrics take ``recs`` (``(n_users, k)`` item indices, ``-1`` for an
empty slot) and ``truth`` (one array of relevant item indices per user) and
return per-user values; average them over users who have test items. Seen
(training) items must already be excluded from ``recs``.

:func:`hits_matrix` and :func:`ndcg_at_k` are re-exported from
:mod:`cinerec.data.relevance`, the one definition that model selection
inside the algorithms uses too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.data.relevance import hits_matrix, ndcg_at_k, relevant_counts

__all__ = [
    "catalog_coverage",
    "hit_rate_at_k",
    "hits_matrix",
    "intra_list_diversity",
    "mae",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "rmse",
]

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


def precision_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user hits in the top ``k`` divided by ``k``."""
    return np.asarray(hits_matrix(recs[:, :k], truth).sum(axis=1) / float(k), dtype=np.float64)


def recall_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user hits in the top ``k`` divided by the number of relevant items."""
    n = relevant_counts(truth)
    return np.asarray(hits_matrix(recs[:, :k], truth).sum(axis=1) / np.maximum(n, 1), dtype=np.float64)


def hit_rate_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user 1 if any relevant item is in the top ``k``."""
    return np.asarray(hits_matrix(recs[:, :k], truth).any(axis=1), dtype=np.float64)


def map_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user average precision at ``k``: mean of precision at each hit, over ``min(k, n_relevant)``."""
    hits = hits_matrix(recs[:, :k], truth)
    prec = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    n = np.minimum(relevant_counts(truth), k)
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
    from sklearn.preprocessing import normalize

    v = sp.csr_matrix(normalize(sp.csr_matrix(item_vectors, dtype=np.float64)))
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
