"""Model selection on an inner validation split: NDCG of score rows.

Hybrid weight search and neural early stopping both rank a validation split
here, through the one top-k (:func:`cinerec.algorithms._topk.topk`) and the
one NDCG (:func:`cinerec.data.relevance.ndcg_at_k`), so what a model is tuned
on is what the evaluation later reports.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms._topk import topk
from cinerec.data.relevance import ndcg_at_k

__all__ = ["validation_ndcg", "validation_users"]


def validation_users(truth: sp.csr_matrix, max_users: int | None = None) -> npt.NDArray[np.int64]:
    """Rows of ``truth`` with at least one held-out item (the first ``max_users`` of them on big data).

    Args:
        truth: CSR ``(n_users, n_items)`` of held-out interactions.
        max_users: cap on the number of users (``None``: all).

    Returns:
        Sorted user indices.
    """
    users = np.flatnonzero(np.diff(sp.csr_matrix(truth).indptr) > 0).astype(np.int64)
    return users if max_users is None else users[:max_users]


def per_user_ndcg(scores: npt.NDArray[np.float64], seen: sp.csr_matrix, truth: sp.csr_matrix,
                  k: int = 10) -> npt.NDArray[np.float64]:
    """NDCG@``k`` of each row when ranking ``scores`` with the training items masked.

    Args:
        scores: ``(n_rows, n_items)`` scores, NaN where the model cannot score.
        seen: CSR ``(n_rows, n_items)``: each row's training items, never ranked.
        truth: CSR ``(n_rows, n_items)``: each row's held-out items.
        k: list length.

    Returns:
        ``(n_rows,)`` NDCG values (empty for no rows).
    """
    if not len(scores):
        return np.zeros(0, dtype=np.float64)
    items, _ = topk(np.asarray(scores, dtype=np.float64), k, exclude=sp.csr_matrix(seen))
    return np.asarray(ndcg_at_k(items, sp.csr_matrix(truth), k), dtype=np.float64)


def validation_ndcg(scores: npt.NDArray[np.float64], seen: sp.csr_matrix, truth: sp.csr_matrix, k: int = 10) -> float:
    """Mean of :func:`per_user_ndcg` over the rows (0.0 for no rows)."""
    per_user = per_user_ndcg(scores, seen, truth, k)
    return float(per_user.mean()) if len(per_user) else 0.0
