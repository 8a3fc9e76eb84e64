"""FilmTrust: where the trust network helps, and Surprise on the same folds.

    python benchmarks/filmtrust.py [--data ../shared/data/filmtrust] [--folds 5] [--seed 42] [--json out.json]

The folds are those of ``cinerec evaluate --data FOLDER --format filmtrust
--split kfold:5 --seed 42`` (the same reader, the same
:func:`~cinerec.evaluation.protocols.make_splits`), so the numbers line up with
its table. Per fold, on the held-out ratings, it reports RMSE overall and for
two groups of test users: those with at least one trustee in the graph, and
those with at most 5 training ratings ("cold"), for TrustSVD with and without
the graph (``use_trust=False``: the same model and penalties, trust terms off)
and for biased MF and SVD++; and RMSE/MAE of Surprise's ``SVD`` and
``SVDpp`` with their default parameters (when scikit-surprise, the ``bench``
extra, is installed). Rating metrics only: Surprise predicts one pair at a
time, too slow to rank every film for every user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cinerec.algorithms import RatingPredictor
from cinerec.algorithms.registry import create
from cinerec.data.readers import read_dataset
from cinerec.evaluation import metrics as M
from cinerec.evaluation.protocols import make_splits

DATA = Path(os.environ.get("CINEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")) / "filmtrust"

OURS: list[tuple[str, str, dict[str, Any]]] = [
    ("trust-svd", "trust-svd", {}),
    ("trust-svd[use_trust=false]", "trust-svd", {"use_trust": False}),
    ("biased-mf", "biased-mf", {}),
    ("svdpp", "svdpp", {}),
]
PEERS: list[tuple[str, str, dict[str, Any]]] = [("surprise SVD", "SVD", {}), ("surprise SVDpp", "SVDpp", {})]
COLD = 5


def main() -> None:
    """Run every model on every fold and print the mean (standard deviation) of each measure."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    data = read_dataset(args.data, "filmtrust").interactions()
    if data.social is None:
        sys.exit(f"{args.data} has no trust.txt beside ratings.txt")
    splits = make_splits(f"kfold:{args.folds}", data, random_state=args.seed)
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import surprise  # noqa: F401
        from peers import surprise_fit_predict
        peers = PEERS
    except ImportError:
        print("scikit-surprise is not installed (pip install -e .[bench]): no peer rows", file=sys.stderr)
        peers = []
    has_trust = data.trust_counts() > 0
    rows: dict[str, list[dict[str, float]]] = {}
    for split in splits:
        test = split.test
        counts = split.train.user_counts()
        groups = {"all": np.ones(len(test), dtype=bool), "with trustees": has_trust[test.users],
                  f"cold (<= {COLD} train ratings)": counts[test.users] <= COLD}
        assert test.ratings is not None
        for label, algo, params in OURS:
            t0 = time.perf_counter()
            model = create(algo, **params).fit(split.train)
            fit_s = time.perf_counter() - t0
            assert isinstance(model, RatingPredictor)
            pred = model.predict(test.users, test.items)
            r: dict[str, float] = {f"rmse {g}": M.rmse(pred[m], test.ratings[m]) for g, m in groups.items()}
            r["mae"] = M.mae(pred, test.ratings)
            r["fit s"] = fit_s
            rows.setdefault(label, []).append(r)
        for label, name, params in peers:
            rmse, mae, fit_s, _ = surprise_fit_predict(name, params, split)
            rows.setdefault(label, []).append({"rmse all": rmse, "mae": mae, "fit s": fit_s})
        print(f"{split.name} done", file=sys.stderr, flush=True)
    g_all = np.ones(len(data), dtype=bool)
    print(f"FilmTrust, kfold:{args.folds} seed {args.seed}: {len(data)} ratings, {int(data.social.nnz)} trust edges among "
          f"rated users; test ratings of users with trustees: {int(has_trust[data.users].sum())} of {int(g_all.sum())}")
    cols = list(dict.fromkeys(k for rs in rows.values() for r in rs for k in r))
    print("| model | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    summary: dict[str, dict[str, float]] = {}
    for label, rs in rows.items():
        cells = []
        for c in cols:
            vals = [r[c] for r in rs if c in r]
            if not vals:
                cells.append("")
                continue
            summary.setdefault(label, {})[c] = float(np.mean(vals))
            cells.append(f"{np.mean(vals):.4f} ({np.std(vals):.4f})" if c != "fit s" else f"{np.mean(vals):.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"folds": args.folds, "seed": args.seed, "per_fold": rows, "mean": summary}, indent=2))


if __name__ == "__main__":
    main()
