"""History path vs trained path: how closely scoring a user's ratings as a fresh history agrees with training.

    python benchmarks/history_agreement.py [--algos ease,bpr] [--users 300]

ML-100K, per-user stratified 75/25 split (seed 42), default parameters
(features for content-knn, neural and hybrid: genres, year and tags). Each
algorithm is trained once; then, for up to ``--users`` test users (a seeded
sample), the user's training ratings are scored through the history path
(``recommend_history`` / ``score_history``, no refitting) and compared with
the trained path (``recommend`` / ``score``):

- top-10 overlap: share of the two top-10 lists (training items excluded) in common;
- Spearman: rank correlation of the two score rows over the items the user
  has not rated in training (items either path cannot score are dropped);
- NDCG@10 of the test items through each path.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from threadpoolctl import threadpool_limits

from cinerec.algorithms.registry import create, names
from cinerec.data.features import dataset_features
from cinerec.data.interactions import Interactions
from cinerec.data.readers import read_dataset
from cinerec.data.splits import stratified_split
from cinerec.evaluation.metrics import ndcg_at_k

DATA = Path(os.environ.get("CINEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def agreement(algo: str, train: Interactions, test: Interactions, users: np.ndarray, k: int = 10) -> dict[str, float]:
    """Fit ``algo`` on ``train`` and compare both paths for ``users`` (see the module docstring)."""
    t0 = time.perf_counter()
    model = create(algo).fit(train)
    fit_s = time.perf_counter() - t0
    mat = train.matrix if train.ratings is not None else train.binary
    trained = model.recommend(users, k)
    trained_scores = model.score(users)
    fresh_items = np.full((len(users), k), -1, dtype=np.int64)
    overlaps, rhos = [], []
    t0 = time.perf_counter()
    for row, u in enumerate(users):
        items = mat.indices[mat.indptr[u] : mat.indptr[u + 1]].astype(np.int64)
        values = np.asarray(mat.data[mat.indptr[u] : mat.indptr[u + 1]], dtype=np.float64)
        fresh = model.recommend_history(items, values, k)
        fresh_items[row] = fresh.items[0]
        a, b = set(fresh.items[0][fresh.items[0] >= 0].tolist()), set(trained.items[row][trained.items[row] >= 0].tolist())
        overlaps.append(len(a & b) / max(len(a), len(b), 1))
        hist = model.score_history(items, values)
        keep = np.ones(train.n_items, dtype=bool)
        keep[items] = False
        keep &= np.isfinite(hist) & np.isfinite(trained_scores[row])
        x, y = hist[keep], trained_scores[row][keep]
        if len(x) > 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
            rhos.append(float(spearmanr(x, y).statistic))
    history_ms = 1000 * (time.perf_counter() - t0) / max(len(users), 1)
    truth = test.binary[users]
    return {
        "overlap": float(np.mean(overlaps)),
        "spearman": float(np.mean(rhos)) if rhos else float("nan"),
        "ndcg_trained": float(ndcg_at_k(trained.items, truth, k).mean()),
        "ndcg_history": float(ndcg_at_k(fresh_items, truth, k).mean()),
        "fit_s": fit_s,
        "history_ms": history_ms,
    }


def main() -> None:
    """Parse arguments, run every selected algorithm, print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--algos", default=",".join(names()), help="comma-separated registry names (default: all)")
    ap.add_argument("--users", type=int, default=300, help="test users compared (seeded sample)")
    args = ap.parse_args()
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    ds = read_dataset(DATA / "ml-100k")
    it = ds.interactions()
    it = it.with_features(dataset_features(it.item_vocab, ds.movies, ds.tags))
    split = stratified_split(it, 0.75, random_state=42)
    test_users = np.unique(split.test.users)
    rng = np.random.default_rng(42)
    users = np.sort(rng.choice(test_users, size=min(args.users, len(test_users)), replace=False)).astype(np.int64)
    print(f"ML-100K stratified 75/25 (seed 42), {len(users)} test users, k=10\n")
    print("| algorithm | top-10 overlap | Spearman (unseen items) | NDCG@10 trained | NDCG@10 history | fit s | history ms/user |")
    print("|---|---|---|---|---|---|---|")
    for algo in algos:
        with threadpool_limits(1, "blas"):  # small per-user solves: BLAS threads only fight on a busy machine
            r = agreement(algo, split.train, split.test, users)
        print(f"| {algo} | {r['overlap']:.3f} | {r['spearman']:.3f} | {r['ndcg_trained']:.4f} | {r['ndcg_history']:.4f} "
              f"| {r['fit_s']:.1f} | {r['history_ms']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
