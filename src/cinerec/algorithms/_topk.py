"""One vectorised top-k over score matrices, with seen and candidate masks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


def topk(
    scores: npt.NDArray[np.float64],
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Top-``k`` columns of each row, best first.

    Args:
        scores: ``(n_rows, n_items)``; NaN means "cannot score" and is never returned.
        k: how many per row (clipped to ``n_items``).
        exclude: CSR ``(n_rows, n_items)``; stored entries are masked out.
        allowed: boolean ``(n_items,)`` or ``(n_rows, n_items)``; False is masked out.

    Returns:
        ``(items, values)`` of shape ``(n_rows, k)``; rows with fewer than
        ``k`` eligible items are padded with ``-1`` and NaN.
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    n_rows, n_items = s.shape
    k = max(0, min(int(k), n_items))
    s[np.isnan(s)] = -np.inf
    if exclude is not None and exclude.nnz:
        ex = exclude.tocoo()
        s[ex.row, ex.col] = -np.inf
    if allowed is not None:
        s[~np.broadcast_to(allowed, s.shape)] = -np.inf
    if k == 0 or n_rows == 0:
        return np.empty((n_rows, k), dtype=np.int64), np.empty((n_rows, k))
    if k < n_items:
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_items), (n_rows, n_items)).copy()
    vals = np.take_along_axis(s, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(vals, order, axis=1)
    bad = ~np.isfinite(vals)
    items[bad] = -1
    vals[bad] = np.nan
    return items, vals
