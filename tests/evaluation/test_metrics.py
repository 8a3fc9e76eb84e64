"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from cinerec.evaluation import metrics as M

# user 0: relevant {1, 3, 5}; list [1, 2, 3, 4] -> hits at ranks 1 and 3
# user 1: relevant {9};       list [7, 8, 9, -1] -> hit at rank 3, padded slot
RECS = np.array([[1, 2, 3, 4], [7, 8, 9, -1]])
TRUTH = [np.array([1, 3, 5]), np.array([9])]


def test_rmse_mae() -> None:
    assert M.rmse([3, 4, 5], [4, 4, 3]) == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert M.mae([3, 4, 5], [4, 4, 3]) == pytest.approx(1.0)


def test_precision_recall_hit() -> None:
    np.testing.assert_allclose(M.precision_at_k(RECS, TRUTH, 4), [2 / 4, 1 / 4])
    np.testing.assert_allclose(M.recall_at_k(RECS, TRUTH, 4), [2 / 3, 1.0])
    np.testing.assert_allclose(M.precision_at_k(RECS, TRUTH, 2), [1 / 2, 0.0])
    np.testing.assert_allclose(M.hit_rate_at_k(RECS, TRUTH, 2), [1.0, 0.0])


def test_ndcg() -> None:
    dcg0 = 1 / math.log2(2) + 1 / math.log2(4)
    idcg0 = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    dcg1, idcg1 = 1 / math.log2(4), 1.0
    np.testing.assert_allclose(M.ndcg_at_k(RECS, TRUTH, 4), [dcg0 / idcg0, dcg1 / idcg1])


def test_map_and_mrr() -> None:
    ap0 = (1 / 1 + 2 / 3) / 3
    ap1 = (1 / 3) / 1
    np.testing.assert_allclose(M.map_at_k(RECS, TRUTH, 4), [ap0, ap1])
    np.testing.assert_allclose(M.mrr_at_k(RECS, TRUTH, 4), [1.0, 1 / 3])


def test_sparse_truth_equals_list_truth() -> None:
    t = sp.csr_matrix(([1, 1, 1, 1], ([0, 0, 0, 1], [1, 3, 5, 9])), shape=(2, 10))
    for f in (M.precision_at_k, M.recall_at_k, M.ndcg_at_k, M.map_at_k, M.mrr_at_k):
        np.testing.assert_allclose(f(RECS, t, 4), f(RECS, TRUTH, 4))


def test_coverage_novelty_diversity() -> None:
    assert M.catalog_coverage(RECS, 10) == pytest.approx(7 / 10)
    pop = np.full(10, 0.5)
    pop[1] = 0.25
    # items 1,2,3,4,7,8,9: one with p=0.25 (2 bits), six with p=0.5 (1 bit)
    assert M.novelty(RECS, pop) == pytest.approx((2 + 6 * 1) / 7)
    vec = np.array([[1, 0], [1, 0], [0, 1]])
    # list [0, 1, 2]: pairs (0,1) sim 1, (0,2) 0, (1,2) 0 -> mean distance 2/3
    assert M.intra_list_diversity(np.array([[0, 1, 2]]), vec) == pytest.approx(2 / 3)


def test_reports_show_what_the_hybrid_learned(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cinerec.algorithms.registry import create
    from cinerec.data.splits import stratified_split
    from cinerec.evaluation.protocols import Results, evaluate_split
    from cinerec.evaluation.report import learned_lines, write_report
    from tests.algorithms.contract import two_groups

    data, _ = two_groups()
    row = evaluate_split(create("hybrid", members="item-knn,popularity"), stratified_split(data, 0.75), 5)
    assert set(row["learned"]["weights"]) == {"item-knn", "popularity"}
    assert abs(sum(row["learned"]["weights"].values()) - 1) < 1e-9 and "validation_ndcg" in row["learned"]
    res = Results("toy", "stratified", 5, [{"algo": "hybrid", "params": {}, "fold": "f1", **row}])
    assert learned_lines(res)[0].startswith("hybrid (f1): weights: item-knn ")
    write_report(res, tmp_path)
    assert "What the models learned" in (tmp_path / "report.html").read_text()
