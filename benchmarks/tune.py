"""Nested hyper-parameter search: the protocol behind every default and every tuned number in the README.

    python benchmarks/tune.py --protocol topn --data ml-100k [--algos ease,rp3beta] [--outer 3] [--json out.json]
    python benchmarks/tune.py --protocol rating --data ml-100k [--algos autorec]
    python benchmarks/tune.py --list

For each outer split the training part is split again (per-user stratified,
seed 7: 75/25 for top-N, 80/20 for ratings); every point of the algorithm's
search space below is fitted on the inner training part and scored on the
inner validation part (NDCG@10 for top-N, RMSE for ratings); the best point
is refitted on the whole outer training part and measured on the outer test
part, which the search never saw (:func:`cinerec.evaluation.tuning.nested_search`).
Outer splits: top-N, per-user stratified 75/25 with seeds 42, 43, ... (seed 42
is the README's single split); ratings, ML-100K's u1-u5 or ``kfold:5`` (seed 42)
elsewhere. Prints the chosen points per fold, the outer mean ± std and the
budget (fits, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

from cinerec.data.interactions import Interactions
from cinerec.data.readers import read_dataset
from cinerec.data.splits import Split, kfold_split, ml100k_folds, stratified_split
from cinerec.evaluation.tuning import NestedResult, grid_points, inner_split, nested_search

DATA = Path(os.environ.get("CINEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))

#: Search spaces for top-N (NDCG@10 on the inner validation part).
TOPN_SPACES: dict[str, dict[str, list[Any]]] = {
    "ease": {"regularization": [100.0, 200.0, 300.0, 500.0, 800.0]},
    "implicit-als": {"n_factors": [16, 32, 64], "regularization": [10.0, 30.0, 100.0], "alpha": [0.5, 1.0, 2.0]},
    "bpr": {"n_factors": [64, 200], "learning_rate": [0.005, 0.01], "regularization": [0.01, 0.05, 0.1]},
    "item-knn": {"k": [20, 40, 80], "shrinkage": [50.0, 100.0]},
    "slim": {"alpha": [1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0], "l1_ratio": [0.003, 0.02, 0.2]},
    "rp3beta": {"alpha": [0.5, 0.75, 1.0], "beta": [0.35, 0.4, 0.5, 0.6], "top_k": [100, 200, 400]},
    # Mult-VAE: the defaults were chosen one parameter at a time around a base (each fit 1.5-3 min here)
    "vae": {"batch_size": [32, 128], "input_dropout": [0.3, 0.5], "learning_rate": [0.001, 0.003],
            "refit": [False, True]},
    # the hybrid's noise rule: inner folds averaged and the paired standard errors a mixture must win by
    "hybrid": {"validation_folds": [1, 2], "min_gain_se": [0.0, 1.0, 2.0]},
}
#: Search spaces for rating prediction (RMSE on the inner validation part).
RATING_SPACES: dict[str, dict[str, list[Any]]] = {
    "biased-mf": {"n_factors": [50, 100, 200], "lr": [0.005, 0.01], "reg": [0.02, 0.05, 0.1]},
    "svdpp": {"n_factors": [20, 50], "lr": [0.005, 0.007], "reg": [0.02, 0.05]},
    "item-knn": {"k": [20, 40, 80], "shrinkage": [50.0, 100.0], "reg_item": [5.0, 10.0]},
}
#: Parameters needed to make a data set usable (e.g. features) but not searched.
NEEDS_FEATURES = {"neural", "vae", "content-knn"}


def load(name: str, with_features: bool) -> Interactions:
    """A data set under ``CINEREC_DATA_DIR``, with item features (genres, tags, offline metadata) when asked."""
    ds = read_dataset(DATA / name)
    it = ds.interactions()
    if not with_features:
        return it
    from cinerec.data.features import dataset_features
    from cinerec.data.readers.metadata import read_metadata

    extra = [read_metadata(DATA / m) for m in ("hetrec2011-movielens-2k", "tmdb-5000")] if name == "ml-latest-small" else []
    return it.with_features(dataset_features(it.item_vocab, ds.movies, ds.tags, extra))


def outer_splits(protocol: str, name: str, data: Interactions, n_outer: int) -> list[Split]:
    """The outer splits of a protocol (see the module docstring)."""
    if protocol == "topn":
        return [Split(s.train, s.test, f"seed-{seed}") for seed in range(42, 42 + n_outer)
                for s in [stratified_split(data, 0.75, random_state=seed)]]
    if name == "ml-100k":
        return list(ml100k_folds(DATA / "ml-100k"))[:n_outer]
    return list(kfold_split(data, 5, random_state=42))[:n_outer]


def print_result(res: NestedResult) -> None:
    """The per-fold choices and the outer summary as Markdown."""
    print(f"\n### {res.algo}: {res.metric} on the outer test parts {res.mean():.4f} ± {res.std():.4f} "
          f"({len(res.folds)} folds; {res.fits} fits, {res.seconds:.0f} s)\n")
    print(f"| fold | chosen point | inner validation {res.metric} | outer test {res.metric} | fit s |")
    print("|---|---|---|---|---|")
    for f in res.folds:
        point = ", ".join(f"{k}={v}" for k, v in f.params.items() if k in f.trials[0][0])
        print(f"| {f.fold} | {point} | {f.validation:.4f} | {f.test[res.metric]:.4f} | {f.test['fit_seconds']:.1f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", choices=["topn", "rating"], default="topn")
    ap.add_argument("--data", default="ml-100k", help="a data set folder under CINEREC_DATA_DIR")
    ap.add_argument("--algos", default="", help="comma-separated; default: every algorithm with a space for the protocol")
    ap.add_argument("--outer", type=int, default=0, help="outer splits (default: 3 for top-N, 5 for ratings)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--list", action="store_true", help="print the search spaces and their sizes, fit nothing")
    args = ap.parse_args(argv)
    spaces = TOPN_SPACES if args.protocol == "topn" else RATING_SPACES
    if args.list:
        for label, table in (("top-N", TOPN_SPACES), ("rating", RATING_SPACES)):
            for algo, space in table.items():
                print(f"{label} {algo}: {len(grid_points(space))} points {space}")
        return
    algos = [a for a in args.algos.split(",") if a] or list(spaces)
    unknown = [a for a in algos if a not in spaces]
    if unknown:
        sys.exit(f"no {args.protocol} search space for {', '.join(unknown)}; known: {', '.join(spaces)}")
    data = load(args.data, any(a in NEEDS_FEATURES for a in algos))
    n_outer = args.outer or (3 if args.protocol == "topn" else 5)
    splits = outer_splits(args.protocol, args.data, data, n_outer)
    metric = "ndcg@k" if args.protocol == "topn" else "rmse"
    inner = partial(inner_split, train_fraction=0.75 if args.protocol == "topn" else 0.8)
    report = []
    for algo in algos:
        res = nested_search(algo, spaces[algo], splits, metric=metric, inner=inner,
                            on_trial=lambda fold, p, v: print(f"  {fold} {p} -> {v:.4f}", file=sys.stderr, flush=True))
        print_result(res)
        report.append(res.to_dict())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"protocol": args.protocol, "data": args.data, "results": report}, indent=2,
                                        default=float))


if __name__ == "__main__":
    main()
