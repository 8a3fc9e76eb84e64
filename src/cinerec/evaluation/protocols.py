"""Evaluation protocols: split specifications, per-fold evaluation and cross-validation."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms.base import RatingPredictor, RecommenderBase
from cinerec.algorithms.registry import create
from cinerec.data.interactions import Interactions
from cinerec.data.splits import (
    Split,
    kfold_split,
    leave_last_n_split,
    ml100k_folds,
    predefined_split,
    stratified_split,
    temporal_split,
)
from cinerec.errors import InvalidParameter
from cinerec.evaluation import metrics as M

METRICS = ("rmse", "mae", "precision@k", "recall@k", "ndcg@k", "map@k", "hit_rate@k", "mrr@k",
           "coverage", "novelty", "diversity", "fit_seconds", "predict_seconds")
SPLIT_HELP = "ml100k-folds | kfold:N | stratified:FRACTION | temporal:FRACTION | last:N | files:TRAIN,TEST"


@dataclass(frozen=True)
class AlgoSpec:
    """An algorithm name with hyper-parameters, as given on the command line."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> RecommenderBase:
        """A fresh, unfitted model."""
        return create(self.name, **self.params)


def parse_param(text: str) -> tuple[str, str, Any]:
    """Parse ``algo.key=value`` (value as JSON when possible, else a string).

    Raises:
        InvalidParameter: malformed text.
    """
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise InvalidParameter(f"--param expects NAME.key=value, got {text!r}")
    left, raw = text.split("=", 1)
    algo, key = left.split(".", 1)
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return algo.strip(), key.strip(), value


def make_splits(spec: str, data: Interactions | None, *, source: Path | None = None, random_state: int = 42) -> list[Split]:
    """Build the splits named by ``spec`` (see :data:`SPLIT_HELP`).

    Args:
        spec: the split specification.
        data: all interactions (not needed for ``ml100k-folds`` and ``files:``).
        source: the dataset folder (for ``ml100k-folds``).
        random_state: seed for random splits.

    Raises:
        InvalidParameter: unknown or malformed specification.
    """
    kind, _, arg = spec.partition(":")
    try:
        if kind == "ml100k-folds":
            if source is None:
                raise InvalidParameter("ml100k-folds needs --data pointing at an ML-100K folder with u1.base..u5.test")
            folder = source if source.is_dir() else source.parent
            if not (folder / "u1.base").is_file():
                raise InvalidParameter(f"ml100k-folds: {folder} has no u1.base; use the ML-100K folder")
            return list(ml100k_folds(folder))
        if kind == "files":
            from cinerec.data.readers import read_dataset

            parts = arg.split(",")
            if len(parts) != 2:
                raise InvalidParameter("files: expects TRAIN,TEST")
            tr, te = (read_dataset(Path(p)).interactions() for p in parts)
            return [predefined_split(tr, te, "files")]
        if data is None:
            raise InvalidParameter(f"split {spec!r} needs --data")
        if kind == "kfold":
            return list(kfold_split(data, int(arg or 5), random_state=random_state))
        if kind == "stratified":
            return [stratified_split(data, float(arg or 0.75), random_state=random_state)]
        if kind == "temporal":
            return [temporal_split(data, float(arg or 0.8))]
        if kind == "last":
            return [leave_last_n_split(data, int(arg or 1))]
    except ValueError as exc:
        if isinstance(exc, InvalidParameter):
            raise
        raise InvalidParameter(f"bad split {spec!r}: {exc}; use {SPLIT_HELP}") from None
    raise InvalidParameter(f"unknown split {spec!r}; use {SPLIT_HELP}")


def _truth(test: Interactions, relevance_threshold: float | None) -> tuple[np.ndarray, sp.csr_matrix]:
    t = test
    if relevance_threshold is not None and t.ratings is not None:
        t = t.subset(t.ratings >= relevance_threshold)
    users = np.unique(t.users)
    return users, t.binary[users]


def evaluate_split(
    model: RecommenderBase,
    split: Split,
    k: int = 10,
    *,
    relevance_threshold: float | None = None,
    batch_size: int = 2048,
) -> dict[str, Any]:
    """Fit ``model`` on ``split.train`` and measure it on ``split.test``.

    Rating metrics are computed when the model predicts ratings and the data
    is explicit (else ``None``); ranking metrics over the users with test
    items, excluding their training items from the lists.
    """
    t0 = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    row: dict[str, Any] = {"rmse": None, "mae": None}
    test = split.test
    if isinstance(model, RatingPredictor) and model.predicts_ratings and test.ratings is not None and split.train.ratings is not None:
        pred = model.predict(test.users, test.items)
        row["rmse"], row["mae"] = M.rmse(pred, test.ratings), M.mae(pred, test.ratings)
    users, truth = _truth(test, relevance_threshold)
    recs = np.concatenate(
        [model.recommend(users[s : s + batch_size], k).items for s in range(0, len(users), batch_size)]
    ) if len(users) else np.empty((0, k), dtype=np.int64)
    pred_s = time.perf_counter() - t0
    train = split.train
    pop = train.item_counts() / max(train.n_users, 1)
    row.update({
        "precision@k": float(M.precision_at_k(recs, truth, k).mean()) if len(users) else None,
        "recall@k": float(M.recall_at_k(recs, truth, k).mean()) if len(users) else None,
        "ndcg@k": float(M.ndcg_at_k(recs, truth, k).mean()) if len(users) else None,
        "map@k": float(M.map_at_k(recs, truth, k).mean()) if len(users) else None,
        "hit_rate@k": float(M.hit_rate_at_k(recs, truth, k).mean()) if len(users) else None,
        "mrr@k": float(M.mrr_at_k(recs, truth, k).mean()) if len(users) else None,
        "coverage": M.catalog_coverage(recs, train.n_items),
        "novelty": M.novelty(recs, pop),
        "diversity": M.intra_list_diversity(recs, train.binary.T.tocsr()),
        "fit_seconds": fit_s,
        "predict_seconds": pred_s,
        "learned": model.learned_summary(),
    })
    return row


@dataclass
class Results:
    """Per-fold results of an evaluation run and their summary."""

    dataset: str
    split: str
    k: int
    results: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """Mean and standard deviation of every metric per algorithm (label)."""
        out = []
        labels = list(dict.fromkeys(r["algo"] for r in self.results))
        for label in labels:
            rows = [r for r in self.results if r["algo"] == label]
            s: dict[str, Any] = {"algo": label, "params": rows[0]["params"], "folds": len(rows)}
            for m in METRICS:
                vals = [r[m] for r in rows if r.get(m) is not None and not (isinstance(r[m], float) and math.isnan(r[m]))]
                s[m] = float(np.mean(vals)) if vals else None
                s[f"{m}_std"] = float(np.std(vals)) if vals else None
            out.append(s)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written by ``cinerec evaluate --json``."""
        return {"dataset": self.dataset, "split": self.split, "k": self.k, "results": self.results, "summary": self.summary()}

    def write_json(self, path: Path) -> Path:
        """Write :meth:`to_dict` as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=float))
        return path


def label_of(spec: AlgoSpec, specs: Sequence[AlgoSpec]) -> str:
    """A label: the name, or name[params] when the name repeats (the entry without parameters keeps the bare name)."""
    if sum(s.name == spec.name for s in specs) == 1 or not spec.params:
        return spec.name
    return spec.name + "[" + ",".join(f"{k}={v}" for k, v in sorted(spec.params.items())) + "]"


def cross_validate(
    specs: Sequence[AlgoSpec],
    splits: Iterable[Split],
    *,
    k: int = 10,
    dataset: str = "",
    split_name: str = "",
    relevance_threshold: float | None = None,
    on_fold: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> Results:
    """Fit and evaluate every algorithm on every split.

    Args:
        specs: algorithms with parameters.
        splits: the folds (materialised once and shared by all algorithms).
        k: list length for ranking metrics.
        on_fold: called after each (label, fold, row), e.g. to advance a progress bar.
    """
    folds = list(splits)
    res = Results(dataset, split_name, k)
    for spec in specs:
        label = label_of(spec, specs)
        for split in folds:
            model = spec.build()
            row = evaluate_split(model, split, k, relevance_threshold=relevance_threshold)
            row = {"algo": label, "params": model.get_params(), "fold": split.name, **row}
            res.results.append(row)
            if on_fold:
                on_fold(label, split.name, row)
    return res
