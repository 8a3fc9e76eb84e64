"""Maximal marginal relevance and the onboarding order built on it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cinerec.algorithms.rerank import audience_similarity, mmr, onboarding_order
from cinerec.errors import InvalidParameter


def test_mmr_with_full_tradeoff_is_the_relevance_order() -> None:
    rel = np.array([0.2, 0.9, 0.5, 0.7])
    sim = np.ones((4, 4))
    np.testing.assert_array_equal(mmr(rel, sim, tradeoff=1.0), [1, 3, 2, 0])


def test_mmr_pushes_a_near_duplicate_below_a_different_item() -> None:
    rel = np.array([1.0, 0.98, 0.8])
    sim = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert mmr(rel, sim, tradeoff=0.7).tolist() == [0, 2, 1]
    assert mmr(rel, sim, tradeoff=0.7, k=2).tolist() == [0, 2]


def test_mmr_rejects_bad_input() -> None:
    with pytest.raises(InvalidParameter):
        mmr(np.ones(3), np.ones((2, 2)))
    with pytest.raises(InvalidParameter):
        mmr(np.ones(2), np.ones((2, 2)), tradeoff=1.5)


def test_onboarding_order_is_every_item_popular_first_and_diverse() -> None:
    # items 0 and 1 share one audience (a franchise), item 2 another, item 4 nobody
    rows = [(u, 0) for u in range(10)] + [(u, 1) for u in range(9)] + [(u, 2) for u in range(10, 18)] + [(0, 3)]
    u, i = zip(*rows, strict=True)
    seen = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=(20, 5))
    order = onboarding_order(seen, tradeoff=0.5)
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
    assert order[0] == 0 and order[1] == 2  # the second film of the franchise waits
    assert order[-1] == 4
    sim = audience_similarity(seen, np.array([0, 1, 2]))
    assert sim[0, 1] > 0.9 and sim[0, 2] == 0.0
