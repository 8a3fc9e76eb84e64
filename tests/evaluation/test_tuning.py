"""Nested search: choices come from the inner validation part only, and the outer test part measures them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cinerec.data.splits import Split, kfold_split, stratified_split
from cinerec.errors import InvalidParameter
from cinerec.evaluation.tuning import grid_points, inner_split, nested_search
from tests.algorithms.contract import low_rank


def test_grid_points_cover_every_combination_in_order() -> None:
    assert grid_points({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(InvalidParameter, match="no values for b"):
        grid_points({"a": [1], "b": []})


def test_inner_split_is_carved_from_the_training_part_only() -> None:
    data = low_rank()
    outer = stratified_split(data, 0.75, random_state=42)
    val = inner_split(outer)
    pairs = lambda it: set(zip(it.users.tolist(), it.items.tolist(), strict=True))  # noqa: E731
    assert pairs(val.train) | pairs(val.test) == pairs(outer.train)
    assert not (pairs(val.train) | pairs(val.test)) & pairs(outer.test)


def test_topn_search_picks_the_best_validation_point_and_reports_its_outer_score() -> None:
    data = low_rank()
    splits = [Split(s.train, s.test, f"seed-{seed}") for seed in (42, 43)
              for s in [stratified_split(data, 0.75, random_state=seed)]]
    seen: list[str] = []
    res = nested_search("item-knn", {"k": [2, 30]}, splits, on_trial=lambda fold, p, v: seen.append(fold))
    assert res.fits == 2 * 2 + 2 and seen == ["seed-42", "seed-42", "seed-43", "seed-43"]
    for fold in res.folds:
        scores = [v for _, v in fold.trials]
        assert fold.validation == max(scores) and fold.params == fold.trials[int(np.argmax(scores))][0]
        assert 0 <= fold.test["ndcg@k"] <= 1
    assert res.mean() == pytest.approx(np.mean([f.test["ndcg@k"] for f in res.folds]))
    summary = res.to_dict()
    assert summary["fits"] == 6 and [f["fold"] for f in summary["folds"]] == ["seed-42", "seed-43"]


def test_rating_search_minimises_the_error() -> None:
    data = low_rank()
    res = nested_search("bias", {"reg_user": [0.0, 1e6]}, list(kfold_split(data, 3, random_state=0))[:1], metric="rmse",
                        fixed={"reg_item": 5.0})
    (fold,) = res.folds
    assert fold.validation == min(v for _, v in fold.trials) and fold.params["reg_item"] == 5.0
    assert math.isfinite(fold.test["rmse"]) and res.std() == 0.0


def test_bad_search_spaces_fail_before_any_fit() -> None:
    split = stratified_split(low_rank(), 0.75, random_state=42)
    with pytest.raises(InvalidParameter, match="no parameter"):
        nested_search("ease", {"lambda": [1.0]}, [split])
    with pytest.raises(InvalidParameter):
        nested_search("ease", {"regularization": ["lots"]}, [split])
