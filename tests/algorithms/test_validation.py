"""Model selection scores with the evaluation's own NDCG, through the one top-k."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms._validation import validation_ndcg, validation_users
from cinerec.data import relevance
from cinerec.evaluation import metrics


def test_one_ndcg_definition() -> None:
    assert metrics.ndcg_at_k is relevance.ndcg_at_k
    assert metrics.hits_matrix is relevance.hits_matrix


def test_ndcg_values() -> None:
    recs = np.array([[3, 1, -1], [0, 2, 4]])
    truth = [np.array([1]), np.array([5])]
    np.testing.assert_allclose(relevance.ndcg_at_k(recs, truth, 3), [1 / np.log2(3), 0.0])


def test_validation_ndcg_masks_seen_items_and_ranks_best_first() -> None:
    scores = np.array([[0.9, 0.8, 0.1, np.nan], [0.1, 0.2, 0.3, 0.4]])
    seen = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 1]]))
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 1, 0]]))
    # user 0: the seen item 0 is masked, so item 1 ranks first; user 1: item 3 is masked, item 2 first
    assert validation_ndcg(scores, seen, truth, k=2) == 1.0
    # without the mask the seen items take the first place: 1/log2(3) each
    none = sp.csr_matrix((2, 4))
    np.testing.assert_allclose(validation_ndcg(scores, none, truth, k=2), 1 / np.log2(3))
    assert validation_ndcg(np.empty((0, 4)), sp.csr_matrix((0, 4)), sp.csr_matrix((0, 4))) == 0.0


def test_validation_users_skip_rows_without_held_out_items() -> None:
    truth = sp.csr_matrix(np.array([[0, 0], [1, 0], [0, 0], [1, 1]]))
    np.testing.assert_array_equal(validation_users(truth), [1, 3])
    np.testing.assert_array_equal(validation_users(truth, max_users=1), [1])
