"""Re-ranking: maximal marginal relevance, and the onboarding list built with it.

A scorer says how good each item is on its own; a re-ranker decides the
order of a list so that it is not five films of one franchise in a row.
:func:`mmr` is the re-ranker (Carbonell and Goldstein 1998);
:func:`onboarding_order` combines it with the simplest scorer, popularity,
into the list a member with no history is asked to rate from.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from cinerec.errors import InvalidParameter

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def mmr(relevance: FloatArray, similarity: FloatArray, *, tradeoff: float = 0.7, k: int | None = None) -> IntArray:
    """Order items by maximal marginal relevance.

    Each pick maximises ``tradeoff * relevance - (1 - tradeoff) * max similarity
    to the items picked so far``.

    Args:
        relevance: ``(n,)`` scores, ideally on ``[0, 1]`` (e.g. scaled by their maximum).
        similarity: ``(n, n)`` item-item similarity on the same scale.
        tradeoff: 1 ranks by relevance alone, 0 by novelty alone.
        k: how many to pick (default: all).

    Returns:
        Positions into ``relevance``, in pick order.

    Raises:
        InvalidParameter: shapes disagree or ``tradeoff`` is outside ``[0, 1]``.
    """
    rel = np.asarray(relevance, dtype=np.float64)
    sim = np.asarray(similarity, dtype=np.float64)
    n = len(rel)
    if sim.shape != (n, n):
        raise InvalidParameter(f"similarity must be ({n}, {n}) for {n} relevance scores, got {sim.shape}")
    if not 0.0 <= tradeoff <= 1.0:
        raise InvalidParameter(f"tradeoff must be in [0, 1], got {tradeoff}")
    k = n if k is None else max(0, min(int(k), n))
    picked = np.empty(k, dtype=np.int64)
    closest = np.zeros(n)
    remaining = np.ones(n, dtype=bool)
    for step in range(k):
        gain = np.where(remaining, tradeoff * rel - (1.0 - tradeoff) * closest, -np.inf)
        j = int(np.argmax(gain))
        picked[step] = j
        remaining[j] = False
        closest = np.maximum(closest, sim[j])
    return picked


def audience_similarity(seen: sp.spmatrix, items: IntArray) -> FloatArray:
    """Cosine similarity of ``items`` by who interacted with them (columns of a users x items matrix)."""
    cols = normalize(sp.csc_matrix(seen, dtype=np.float64)[:, items].T.tocsr(), norm="l2", axis=1)
    return np.asarray((cols @ cols.T).toarray())


def onboarding_order(seen: sp.spmatrix, *, popularity: FloatArray | None = None, pool: int = 300,
                     tradeoff: float = 0.7) -> IntArray:
    """Every item, ordered for a member with no history: popular, and diverse at the top.

    The ``pool`` most popular items are re-ranked by :func:`mmr` with their
    audience similarity (so the list does not open with one franchise); the
    rest follow by popularity; items nobody interacted with come last.

    Args:
        seen: the training users x items interaction mask.
        popularity: interactions per item, when the caller already has them (else counted from ``seen``).
        pool: how many of the most popular items are re-ranked.
        tradeoff: :func:`mmr`'s relevance weight.

    Returns:
        All item indices, best first.
    """
    if popularity is None:
        popularity = np.asarray(sp.csr_matrix(seen).getnnz(axis=0), dtype=np.float64)
    by_count = np.argsort(-popularity, kind="stable").astype(np.int64)
    head = by_count[:pool]
    head = head[popularity[head] > 0]
    if not len(head):
        return by_count
    relevance = popularity[head] / popularity[head].max()
    order = head[mmr(relevance, audience_similarity(seen, head), tradeoff=tradeoff)]
    return np.concatenate([order, by_count[len(head):]])
