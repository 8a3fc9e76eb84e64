"""Nested hyper-parameter search: choose on validation carved from each fold's training part, report on its test part.

The test part of a fold never influences the parameters measured on it. For
every outer split, the training part is split again (per-user stratified,
its own seed); every point of a grid is fitted on the inner training part and
scored on the inner validation part; the best point is refitted on the whole
outer training part and measured on the outer test part. The outer scores
are what a report may quote (mean and standard deviation over folds), with
the points chosen per fold and the search's budget (fits and seconds).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cinerec.algorithms.registry import create, validate_params
from cinerec.data.splits import Split, stratified_split
from cinerec.errors import InvalidParameter
from cinerec.evaluation.protocols import evaluate_split

__all__ = ["FoldChoice", "NestedResult", "grid_points", "inner_split", "lower_is_better", "nested_search"]


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (errors and times)."""
    return metric in ("rmse", "mae", "fit_seconds", "predict_seconds")


def grid_points(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a search space ``{param: [values]}``, in a fixed order.

    Raises:
        InvalidParameter: a parameter with no values.
    """
    empty = [k for k, v in space.items() if not len(v)]
    if empty:
        raise InvalidParameter(f"search space: no values for {', '.join(empty)}")
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]


def inner_split(outer: Split, *, train_fraction: float = 0.75, random_state: int = 7) -> Split:
    """The validation split carved from ``outer.train`` (per-user stratified; its own seed)."""
    inner = stratified_split(outer.train, train_fraction, random_state=random_state)
    return Split(inner.train, inner.test, f"{outer.name}/inner")


@dataclass(frozen=True)
class FoldChoice:
    """What the search chose on one outer split and how that choice scored on its test part.

    Attributes:
        fold: the outer split's name.
        params: the chosen point (merged with the fixed parameters).
        validation: its score on the inner validation part.
        test: the outer test row of :func:`cinerec.evaluation.protocols.evaluate_split` (all metrics).
        trials: every point tried on this fold with its validation score, in grid order.
    """

    fold: str
    params: dict[str, Any]
    validation: float
    test: dict[str, Any]
    trials: list[tuple[dict[str, Any], float]]


@dataclass
class NestedResult:
    """The outcome of :func:`nested_search` for one algorithm.

    Attributes:
        algo: registry name.
        metric: the selection and report metric (``ndcg@k``, ``rmse``...).
        folds: one :class:`FoldChoice` per outer split.
        fits: models fitted in all (inner points plus one refit per fold).
        seconds: wall time of the whole search.
    """

    algo: str
    metric: str
    folds: list[FoldChoice] = field(default_factory=list)
    fits: int = 0
    seconds: float = 0.0

    def scores(self, metric: str | None = None) -> list[float]:
        """The outer test values of ``metric`` (default: the selection metric), one per fold."""
        m = metric or self.metric
        return [float(f.test[m]) for f in self.folds if f.test.get(m) is not None]

    def mean(self, metric: str | None = None) -> float:
        """Mean of :meth:`scores` (NaN without folds)."""
        s = self.scores(metric)
        return float(np.mean(s)) if s else math.nan

    def std(self, metric: str | None = None) -> float:
        """Population standard deviation of :meth:`scores` over folds (NaN without folds)."""
        s = self.scores(metric)
        return float(np.std(s)) if s else math.nan

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: mean, std, per-fold choices and the budget."""
        return {"algo": self.algo, "metric": self.metric, "mean": self.mean(), "std": self.std(), "fits": self.fits,
                "seconds": round(self.seconds, 1),
                "folds": [{"fold": f.fold, "params": f.params, "validation": f.validation, "test": f.test[self.metric],
                           "fit_seconds": f.test["fit_seconds"]} for f in self.folds]}


def nested_search(
    algo: str,
    space: Mapping[str, Sequence[Any]],
    splits: Iterable[Split],
    *,
    metric: str = "ndcg@k",
    k: int = 10,
    fixed: Mapping[str, Any] | None = None,
    inner: Callable[[Split], Split] = inner_split,
    on_trial: Callable[[str, dict[str, Any], float], None] | None = None,
) -> NestedResult:
    """Choose ``algo``'s parameters from ``space`` on each fold's inner validation, then measure on the fold's test.

    Args:
        algo: registry name.
        space: ``{param: [values]}``; every combination is tried (see :func:`grid_points`).
        splits: the outer splits.
        metric: a key of :func:`~cinerec.evaluation.protocols.evaluate_split`'s row;
            lower wins for errors (:func:`lower_is_better`), higher otherwise.
        k: list length of the ranking metrics.
        fixed: parameters held at one value for every point.
        inner: carves the validation split from an outer split (default :func:`inner_split`).
        on_trial: called with (fold name, point, validation score) after each inner fit.

    Returns:
        The per-fold choices, their outer test rows and the budget.

    Raises:
        InvalidParameter: unknown algorithm or parameter, a wrongly typed value, or an empty space.
    """
    points = [validate_params(algo, {**(fixed or {}), **p}) for p in grid_points(space)]
    lower = lower_is_better(metric)
    result = NestedResult(algo, metric)
    t_start = time.perf_counter()
    for outer in splits:
        val = inner(outer)
        trials: list[tuple[dict[str, Any], float]] = []
        for params in points:
            row = evaluate_split(create(algo, **params), val, k)
            score = row.get(metric)
            value = math.nan if score is None else float(score)
            trials.append((params, value))
            result.fits += 1
            if on_trial:
                on_trial(outer.name, params, value)
        finite = [t for t in trials if math.isfinite(t[1])]
        if not finite:
            raise InvalidParameter(f"{algo}: no point of the search space gave a finite {metric} on {outer.name}")
        best = (min if lower else max)(finite, key=lambda t: t[1])
        test = evaluate_split(create(algo, **best[0]), outer, k)
        result.fits += 1
        result.folds.append(FoldChoice(outer.name, best[0], best[1], test, trials))
    result.seconds = time.perf_counter() - t_start
    return result
