"""Relevance of ranked lists against held-out items, and the project's one NDCG.

Both :mod:`cinerec.evaluation.metrics` (which re-exports these) and model
selection inside :mod:`cinerec.algorithms` (hybrid weights, neural early
stopping) score with these functions, so a model is chosen by exactly the
metric it is later reported with. They are pure numpy/scipy and sit in the
data layer so that algorithms can use them without importing the evaluation
layer above them.

``recs`` is ``(n_users, k)`` item indices with ``-1`` for an empty slot;
``truth`` is one array of relevant item indices per user, or a CSR matrix
whose row ``r`` holds user ``r``'s relevant items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = ["hits_matrix", "ndcg_at_k", "relevant_counts"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def hits_matrix(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """Boolean ``(n_users, k)``: whether each recommended item is relevant.

    Args:
        recs: recommended item indices, ``-1`` for an empty slot.
        truth: relevant items per user (arrays, or rows of a CSR matrix).

    Returns:
        ``True`` where ``recs`` names a relevant item; empty slots are never hits.
    """
    recs = np.asarray(recs, dtype=np.int64)
    if sp.issparse(truth):
        t = sp.csr_matrix(truth)
        safe = np.where(recs >= 0, recs, 0)
        rows = np.repeat(np.arange(recs.shape[0]), recs.shape[1]).reshape(recs.shape)
        hit = np.asarray(t[rows.ravel(), safe.ravel()]).reshape(recs.shape) != 0
        return np.asarray(hit & (recs >= 0), dtype=np.bool_)
    out = np.zeros(recs.shape, dtype=bool)
    for r, rel in enumerate(truth):
        out[r] = np.isin(recs[r], rel) & (recs[r] >= 0)
    return out


def relevant_counts(truth: Sequence[IntArray] | sp.csr_matrix) -> IntArray:
    """Number of relevant items per user."""
    if sp.issparse(truth):
        return np.asarray(np.diff(sp.csr_matrix(truth).indptr), dtype=np.int64)
    return np.array([len(t) for t in truth], dtype=np.int64)


def ndcg_at_k(recs: IntArray, truth: Sequence[IntArray] | sp.csr_matrix, k: int) -> FloatArray:
    """Per-user NDCG with binary relevance and a ``log2(rank + 1)`` discount.

    The ideal DCG places ``min(k, n_relevant)`` relevant items first; a user
    with no relevant item scores 0.

    Args:
        recs: ``(n_users, >= k)`` recommended item indices, seen items already excluded.
        truth: relevant items per user.
        k: cut-off.

    Returns:
        ``(n_users,)`` values in ``[0, 1]``.
    """
    hits = hits_matrix(recs[:, :k], truth)
    disc = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = (hits * disc).sum(axis=1)
    n = np.minimum(relevant_counts(truth), k)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    idcg = np.where(n > 0, ideal[np.maximum(n - 1, 0)], 1.0)
    return np.asarray(np.where(n > 0, dcg / idcg, 0.0), dtype=np.float64)
