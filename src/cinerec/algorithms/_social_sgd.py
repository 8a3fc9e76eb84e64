"""Compiled SGD epoch of TrustSVD (numba, cached on disk); the model is :class:`cinerec.algorithms.social.TrustSVD`."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=True)
def trustsvd_epoch(  # pragma: no cover - compiled
    indptr: np.ndarray, items: np.ndarray, ratings: np.ndarray,
    tindptr: np.ndarray, trustees: np.ndarray, tvalues: np.ndarray,
    user_order: np.ndarray, rng_keys: np.ndarray,
    bu: np.ndarray, bi: np.ndarray, p: np.ndarray, q: np.ndarray, y: np.ndarray, w: np.ndarray,
    wu: np.ndarray, wi: np.ndarray, wt: np.ndarray, wv: np.ndarray,
    lr_bias: float, lr: float, reg_bias: float, reg: float, reg_trust: float,
) -> float:
    """One TrustSVD epoch, user by user; returns the training SSE of the ratings.

    Per rating ``(u, j)`` the biases, ``p_u`` and ``q_j`` take an SGD step on
    ``z_uj - (b_u + b_j + q_j . (p_u + |I_u|^-1/2 sum y_i + |T_u|^-1/2 sum w_v))``
    with the paper's count-weighted penalties (``reg * wu[u]`` for ``b_u``,
    ``reg * (wu[u] + wt[u])`` for ``p_u``, ``reg * wi[j]`` for ``b_j`` and
    ``q_j``). The implicit sums are computed once per user; the gradients of
    the ``y_i`` (rated items) and ``w_v`` (trustees) are accumulated over the
    user's ratings and applied once, averaged, as in the SVD++ epoch. Then each
    of the user's trust edges takes a step on the trust reconstruction loss
    ``reg_trust * (t_uv - p_u . w_v)^2 / 2`` (users whose ratings all lie
    outside the training set learn ``p_u`` from their trust alone).

    Args:
        wu, wi: ``|I_u|^-1/2`` and ``|U_i|^-1/2`` (0 where the count is 0).
        wt: ``|T_u|^-1/2``, the user's out-degree (0 without trustees).
        wv: ``|T_v^+|^-1/2``, the user's in-degree (0 when nobody trusts them).
    """
    k = p.shape[1]
    sse = 0.0
    ysum = np.zeros(k)
    wsum = np.zeros(k)
    gy = np.zeros(k)
    gw = np.zeros(k)
    for n in range(user_order.shape[0]):
        u = user_order[n]
        a = indptr[u]
        b = indptr[u + 1]
        ta = tindptr[u]
        tb = tindptr[u + 1]
        cnt = b - a
        tcnt = tb - ta
        if cnt == 0 and tcnt == 0:
            continue
        for f in range(k):
            ysum[f] = 0.0
            wsum[f] = 0.0
            gy[f] = 0.0
            gw[f] = 0.0
        if cnt > 0:
            for t in range(a, b):
                j = items[t]
                for f in range(k):
                    ysum[f] += y[j, f]
            for f in range(k):
                ysum[f] *= wu[u]
        if tcnt > 0:
            for t in range(ta, tb):
                v = trustees[t]
                for f in range(k):
                    wsum[f] += w[v, f]
            for f in range(k):
                wsum[f] *= wt[u]
        reg_u = reg * (wu[u] + wt[u])
        perm = np.argsort(rng_keys[a:b])
        for s in range(cnt):
            t = a + perm[s]
            i = items[t]
            dot = 0.0
            for f in range(k):
                dot += q[i, f] * (p[u, f] + ysum[f] + wsum[f])
            err = ratings[t] - (bu[u] + bi[i] + dot)
            sse += err * err
            bu[u] += lr_bias * (err - reg_bias * wu[u] * bu[u])
            bi[i] += lr_bias * (err - reg_bias * wi[i] * bi[i])
            for f in range(k):
                puf = p[u, f]
                qif = q[i, f]
                p[u, f] += lr * (err * qif - reg_u * puf)
                q[i, f] += lr * (err * (puf + ysum[f] + wsum[f]) - reg * wi[i] * qif)
                gy[f] += err * wu[u] * qif
                gw[f] += err * wt[u] * qif
        if cnt > 0:
            for t in range(a, b):
                j = items[t]
                for f in range(k):
                    y[j, f] += lr * (gy[f] / cnt - reg * wi[j] * y[j, f])
            if tcnt > 0:
                for t in range(ta, tb):
                    v = trustees[t]
                    for f in range(k):
                        w[v, f] += lr * (gw[f] / cnt - reg * wv[v] * w[v, f])
        if reg_trust > 0.0:
            for t in range(ta, tb):
                v = trustees[t]
                dot = 0.0
                for f in range(k):
                    dot += p[u, f] * w[v, f]
                e = tvalues[t] - dot
                for f in range(k):
                    puf = p[u, f]
                    wvf = w[v, f]
                    p[u, f] += lr * (reg_trust * e * wvf - (reg * wt[u] * puf if cnt == 0 else 0.0))
                    w[v, f] += lr * (reg_trust * e * puf - reg * wv[v] * wvf)
    return sse
