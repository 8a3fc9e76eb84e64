"""Compiled SGD epochs for the explicit factor models (numba, cached on disk)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=True)
def biased_mf_epoch(  # pragma: no cover - compiled
    users: np.ndarray, items: np.ndarray, ratings: np.ndarray, order: np.ndarray,
    mu: float, bu: np.ndarray, bi: np.ndarray, p: np.ndarray, q: np.ndarray,
    lr_bias: float, lr_factor: float, reg_bias: float, reg_factor: float,
) -> float:
    """One pass of Funk-style SGD over the ratings in ``order``; returns the training SSE."""
    k = p.shape[1]
    sse = 0.0
    for n in range(order.shape[0]):
        idx = order[n]
        u = users[idx]
        i = items[idx]
        dot = 0.0
        for f in range(k):
            dot += p[u, f] * q[i, f]
        err = ratings[idx] - (mu + bu[u] + bi[i] + dot)
        sse += err * err
        bu[u] += lr_bias * (err - reg_bias * bu[u])
        bi[i] += lr_bias * (err - reg_bias * bi[i])
        for f in range(k):
            puf = p[u, f]
            qif = q[i, f]
            p[u, f] += lr_factor * (err * qif - reg_factor * puf)
            q[i, f] += lr_factor * (err * puf - reg_factor * qif)
    return sse


@njit(cache=True, fastmath=True)
def svdpp_epoch(  # pragma: no cover - compiled
    indptr: np.ndarray, items: np.ndarray, ratings: np.ndarray, user_order: np.ndarray, rng_keys: np.ndarray,
    mu: float, bu: np.ndarray, bi: np.ndarray, p: np.ndarray, q: np.ndarray, y: np.ndarray,
    lr_bias: float, lr_factor: float, lr_y: float, reg_bias: float, reg_factor: float, reg_y: float,
) -> float:
    """One SVD++ epoch, user by user (CSR by user).

    The implicit sum ``|N(u)|^-1/2 sum_j y_j`` is computed once per user and
    kept current as ratings are visited; the gradient for the ``y_j`` is
    accumulated over the user's ratings and applied once per user, which
    costs O(|N(u)| k) per user instead of per rating.
    """
    k = p.shape[1]
    sse = 0.0
    ysum = np.zeros(k)
    grad = np.zeros(k)
    for n in range(user_order.shape[0]):
        u = user_order[n]
        a = indptr[u]
        b = indptr[u + 1]
        cnt = b - a
        if cnt == 0:
            continue
        norm = 1.0 / np.sqrt(cnt)
        for f in range(k):
            ysum[f] = 0.0
            grad[f] = 0.0
        for t in range(a, b):
            j = items[t]
            for f in range(k):
                ysum[f] += y[j, f]
        for f in range(k):
            ysum[f] *= norm
        # visit this user's ratings in a shuffled order
        perm = np.argsort(rng_keys[a:b])
        for s in range(cnt):
            t = a + perm[s]
            i = items[t]
            dot = 0.0
            for f in range(k):
                dot += q[i, f] * (p[u, f] + ysum[f])
            err = ratings[t] - (mu + bu[u] + bi[i] + dot)
            sse += err * err
            bu[u] += lr_bias * (err - reg_bias * bu[u])
            bi[i] += lr_bias * (err - reg_bias * bi[i])
            for f in range(k):
                puf = p[u, f]
                qif = q[i, f]
                p[u, f] += lr_factor * (err * qif - reg_factor * puf)
                q[i, f] += lr_factor * (err * (puf + ysum[f]) - reg_factor * qif)
                grad[f] += err * norm * qif
        for t in range(a, b):
            j = items[t]
            for f in range(k):
                delta = lr_y * (grad[f] / cnt - reg_y * y[j, f])
                y[j, f] += delta
    return sse
