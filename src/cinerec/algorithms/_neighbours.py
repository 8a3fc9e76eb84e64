"""Compiled kernels of the neighbourhood models (numba, cached on disk, single-threaded).

Similarities are accumulated sparsely, one query at a time, over the
co-occurring pairs only: the work is ``sum_u n_u^2`` (as in Surprise) and the
memory a few vectors of the catalogue's length, never an n x n block. The
kernels are single-threaded on purpose: on a shared two-core machine threads
only fight over the cores.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _top_mask(vals: np.ndarray, m: int, keep: int) -> np.ndarray:  # pragma: no cover - compiled
    """Mask of the ``keep`` largest of ``vals[:m]``; ties at the threshold go to the earliest entries."""
    mask = np.zeros(m, dtype=np.bool_)
    if keep <= 0:
        return mask
    if m <= keep:
        mask[:] = True
        return mask
    thr = np.partition(vals[:m].copy(), m - keep)[m - keep]
    taken = 0
    for e in range(m):
        if vals[e] > thr:
            mask[e] = True
            taken += 1
    for e in range(m):
        if taken >= keep:
            break
        if vals[e] == thr:
            mask[e] = True
            taken += 1
    return mask


@njit(cache=True)
def top_neighbours(  # pragma: no cover - compiled
    q_ptr: np.ndarray, q_rows: np.ndarray, q_vals: np.ndarray,
    m_ptr: np.ndarray, m_cols: np.ndarray, m_vals: np.ndarray,
    col_nnz: np.ndarray, exclude: np.ndarray, require_new: bool,
    shrinkage: float, min_support: int, keep: int, k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The most similar columns of a matrix ``M`` for each query vector over its rows.

    ``sim(q, b) = sum q_t M_tb / sqrt(sum q_t^2 * sum M_tb^2)``, every sum over
    the rows ``t`` stored in both, times ``(n - 1) / (n - 1 + shrinkage)`` for
    that common support ``n``; pairs with support below ``min_support`` or a
    similarity <= 0 are dropped.

    Args:
        q_ptr, q_rows, q_vals: the queries as CSR over the rows of ``M``.
        m_ptr, m_cols, m_vals: ``M`` as CSR (row -> columns and values).
        col_nnz: stored entries per column of ``M``.
        exclude: per query, a column never returned (its own column), or -1.
        require_new: drop columns whose every row is in the query (they
            have nothing outside it to offer).
        shrinkage, min_support: as above.
        keep: at most this many neighbours per query.
        k: of those, which are the ``k`` most similar (the ``top`` flags).

    Returns:
        ``(counts, cols, sims, top)``: ``counts[q]`` neighbours per query, then
        their columns, similarities and top-``k`` flags, query after query.
    """
    n_q = q_ptr.shape[0] - 1
    n_cols = col_nnz.shape[0]
    num = np.zeros(n_cols)
    sa = np.zeros(n_cols)
    sb = np.zeros(n_cols)
    cnt = np.zeros(n_cols, dtype=np.int64)
    touched = np.empty(n_cols, dtype=np.int64)
    cand_c = np.empty(n_cols, dtype=np.int64)
    cand_s = np.empty(n_cols)
    width = max(min(keep, n_cols), 0)
    counts = np.zeros(n_q, dtype=np.int64)
    out_c = np.empty(n_q * width, dtype=np.int64)
    out_s = np.empty(n_q * width)
    out_top = np.zeros(n_q * width, dtype=np.bool_)
    pos = 0
    support = max(min_support, 1)
    for q in range(n_q):
        n_t = 0
        for e in range(q_ptr[q], q_ptr[q + 1]):
            t = q_rows[e]
            xa = q_vals[e]
            xa2 = xa * xa
            for f in range(m_ptr[t], m_ptr[t + 1]):
                b = m_cols[f]
                xb = m_vals[f]
                if cnt[b] == 0:
                    touched[n_t] = b
                    n_t += 1
                num[b] += xa * xb
                sa[b] += xa2
                sb[b] += xb * xb
                cnt[b] += 1
        m = 0
        for e in range(n_t):
            b = touched[e]
            c = cnt[b]
            ok = c >= support and b != exclude[q] and not (require_new and c >= col_nnz[b])
            if ok and sa[b] > 0 and sb[b] > 0:
                s = num[b] / np.sqrt(sa[b] * sb[b])
                if shrinkage > 0:
                    s *= (c - 1) / (c - 1 + shrinkage)
                if s > 0:
                    cand_c[m] = b
                    cand_s[m] = s
                    m += 1
            num[b] = 0.0
            sa[b] = 0.0
            sb[b] = 0.0
            cnt[b] = 0
        chosen = _top_mask(cand_s, m, width)
        n_keep = 0
        for e in range(m):
            if chosen[e]:
                cand_c[n_keep] = cand_c[e]
                cand_s[n_keep] = cand_s[e]
                n_keep += 1
        top = _top_mask(cand_s, n_keep, k)
        for e in range(n_keep):
            out_c[pos + e] = cand_c[e]
            out_s[pos + e] = cand_s[e]
            out_top[pos + e] = top[e]
        counts[q] = n_keep
        pos += n_keep
    return counts, out_c[:pos], out_s[:pos], out_top[:pos]


@njit(cache=True)
def neighbour_adjustments(  # pragma: no cover - compiled
    ctx: np.ndarray, tgt: np.ndarray, order: np.ndarray,
    r_ptr: np.ndarray, r_idx: np.ndarray, r_val: np.ndarray,
    s_ptr: np.ndarray, s_idx: np.ndarray, s_val: np.ndarray,
    k: int, min_k: int, denominator_reg: float,
) -> np.ndarray:
    """``sum_j s_tj r_cj / (sum_j s_tj + denominator_reg)`` over the ``k`` most similar neighbours ``j`` of each target.

    For the pair ``(ctx[p], tgt[p])`` the neighbours are the entries of row
    ``tgt[p]`` of the similarity CSR ``s_*`` that are stored in row
    ``ctx[p]`` of the residual CSR ``r_*``. Pairs with fewer than ``min_k``
    such neighbours get 0.

    Args:
        ctx, tgt: the pairs.
        order: the pairs' positions sorted by ``ctx`` (each context's row is spread once).
        r_ptr, r_idx, r_val: residuals, one row per context.
        s_ptr, s_idx, s_val: positive similarities, one row per target.
        k, min_k, denominator_reg: the model's settings.

    Returns:
        One adjustment per pair.
    """
    n_space = 0
    for e in range(r_idx.shape[0]):
        n_space = max(n_space, r_idx[e] + 1)
    for e in range(s_idx.shape[0]):
        n_space = max(n_space, s_idx[e] + 1)
    stamp = np.full(n_space, -1, dtype=np.int64)
    res = np.zeros(n_space)
    width = 0
    for t in range(s_ptr.shape[0] - 1):
        width = max(width, s_ptr[t + 1] - s_ptr[t])
    cand_s = np.empty(width)
    cand_r = np.empty(width)
    out = np.zeros(ctx.shape[0])
    current = -1
    for n in range(order.shape[0]):
        p = order[n]
        c = ctx[p]
        if c != current:
            for e in range(r_ptr[c], r_ptr[c + 1]):
                stamp[r_idx[e]] = c
                res[r_idx[e]] = r_val[e]
            current = c
        t = tgt[p]
        m = 0
        for e in range(s_ptr[t], s_ptr[t + 1]):
            j = s_idx[e]
            if stamp[j] == c:
                cand_s[m] = s_val[e]
                cand_r[m] = res[j]
                m += 1
        chosen = _top_mask(cand_s, m, k)
        den = 0.0
        acc = 0.0
        nn = 0
        for e in range(m):
            if chosen[e]:
                den += cand_s[e]
                acc += cand_s[e] * cand_r[e]
                nn += 1
        if den > 0 and nn >= min_k:
            out[p] = acc / (den + denominator_reg)
    return out
