"""Side-by-side accuracy and speed against Surprise and implicit, on the same folds, in one process.

    python benchmarks/peers.py [--datasets ml-100k,ml-latest-small] [--json results/peers.json]
    python benchmarks/peers.py --knn-speed [--busy] [--repeats 3]

Rating prediction: ML-100K u1-u5 (and ml-latest-small kfold:5): Surprise
BaselineOnly, SVD, SVDpp, KNNBaseline (item, pearson_baseline) vs ours with
equal factors/epochs/neighbours. Top-N: ML-100K per-user stratified 75/25
(seed 42), k=10, seen items excluded: implicit ALS/BPR called directly vs our
wrappers, plus our other models. Prints tables with our/peer time ratios.
``--knn-speed``: item-kNN against Surprise KNNBaseline (k=40, item-based
pearson_baseline), fit + predict timed back to back in one process on ML-100K
u1, ml-latest-small and FilmTrust (first kfold:5 fold, seed 42), the median of
``--repeats`` alternating runs; ``--busy`` keeps one other CPU-bound process
running for the whole measurement (as on a shared machine) and stops it after.
``--cornac`` adds cornac's deep and graph models (Mult-VAE, RecVAE, BiVAE,
LightGCN) and its EASE on the same top-N split, ranked over our item indices.
Needs the ``bench`` extra (scikit-surprise, cornac).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cinerec.algorithms import RatingPredictor
from cinerec.algorithms.registry import create
from cinerec.data.interactions import Interactions
from cinerec.data.readers import read_dataset
from cinerec.data.splits import Split, kfold_split, ml100k_folds, stratified_split
from cinerec.errors import InvalidParameter
from cinerec.evaluation import metrics as M
from cinerec.evaluation.protocols import evaluate_split

DATA = Path(os.environ.get("CINEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))

# (label, ours (algo, params), peer factory name, peer params) -- equal capacity on both sides
RATING_PAIRS: list[tuple[str, tuple[str, dict[str, Any]], str, dict[str, Any]]] = [
    ("baseline", ("bias", {}), "BaselineOnly", {}),
    # equal capacity (factors, epochs); learning rate and regularisation are each side's own
    ("svd (100 f, 20 ep)", ("biased-mf", {"n_factors": 100, "n_epochs": 20, "lr": 0.01, "reg": 0.1}), "SVD",
     {"n_factors": 100, "n_epochs": 20}),
    ("svd++ (20 f, 20 ep)", ("svdpp", {"n_factors": 20, "n_epochs": 20, "lr": 0.007, "reg": 0.05}), "SVDpp",
     {"n_factors": 20, "n_epochs": 20}),
    ("item-knn baseline (k=40)", ("item-knn", {"k": 40}), "KNNBaseline",
     {"k": 40, "sim_options": {"name": "pearson_baseline", "user_based": False}, "verbose": False}),
]


def surprise_fit_predict(name: str, params: dict[str, Any], split: Split) -> tuple[float, float, float, float]:
    """(rmse, mae, fit s, predict s) of a Surprise algorithm on one split."""
    import surprise

    train = split.train.to_frame()
    test = split.test.to_frame()
    lo, hi = split.train.rating_scale
    reader = surprise.Reader(rating_scale=(lo, hi))
    trainset = surprise.Dataset.load_from_df(train[["user", "item", "rating"]], reader).build_full_trainset()
    algo = getattr(surprise, name)(**params)
    t0 = time.perf_counter()
    algo.fit(trainset)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = algo.test(list(zip(test["user"], test["item"], test["rating"], strict=True)))
    pred_s = time.perf_counter() - t0
    est = np.array([p.est for p in preds])
    return M.rmse(est, test["rating"]), M.mae(est, test["rating"]), fit_s, pred_s


def implicit_topn(kind: str, params: dict[str, Any], split: Split, k: int = 10) -> tuple[float, float, float]:
    """(ndcg@k, precision@k, fit s) of implicit's model called directly."""
    from threadpoolctl import threadpool_limits

    x = split.train.implicit_matrix.astype(np.float32).tocsr()
    with threadpool_limits(1, "blas"):
        if kind == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            model = AlternatingLeastSquares(**params, calculate_training_loss=False)
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            model = BayesianPersonalizedRanking(**params, num_threads=1)
        t0 = time.perf_counter()
        model.fit(x, show_progress=False)
        fit_s = time.perf_counter() - t0
    users = np.unique(split.test.users)
    ids, _ = model.recommend(users, x[users], N=k, filter_already_liked_items=True)
    truth = split.test.binary[users]
    return float(M.ndcg_at_k(ids, truth, k).mean()), float(M.precision_at_k(ids, truth, k).mean()), fit_s


#: The rating hybrid of the tables: autorec's fit (minutes) would be repeated for each inner fold and the refit.
RATING_HYBRID = "bayesian-mf,item-knn,svdpp"

#: cornac models beside ours on the same top-N split: (label, class name, parameters). Mult-VAE and RecVAE as their
#: papers configure them (600-d hidden, 200-d latent), LightGCN and BiVAE with cornac's example settings.
CORNAC_TOPN: list[tuple[str, str, dict[str, Any]]] = [
    ("EASE", "EASE", {"lamb": 500, "posB": True, "verbose": False}),
    ("Mult-VAE", "VAECF", {"k": 200, "autoencoder_structure": [600], "likelihood": "mult", "n_epochs": 200,
                           "batch_size": 100, "learning_rate": 0.001, "beta": 0.2}),
    ("RecVAE", "RecVAE", {"hidden_dim": 600, "latent_dim": 200, "n_epochs": 50, "use_gpu": False}),
    ("BiVAE", "BiVAECF", {"k": 50, "encoder_structure": [100], "n_epochs": 300, "batch_size": 128,
                          "learning_rate": 0.001, "use_gpu": False}),
    ("LightGCN", "LightGCN", {"emb_size": 64, "num_epochs": 200, "num_layers": 3, "batch_size": 1024,
                              "learning_rate": 0.001, "lambda_reg": 1e-4}),
]


def cornac_topn(name: str, params: dict[str, Any], split: Split, k: int = 10) -> tuple[float, float, float]:
    """(ndcg@k, precision@k, fit s) of a cornac model on ``split``, ranked over our item indices with training items excluded."""
    import cornac
    from threadpoolctl import threadpool_limits

    from cinerec.algorithms._topk import topk

    train = split.train
    triplets = [(str(u), str(i), float(r)) for u, i, r in zip(train.users, train.items, train.implicit_matrix[train.users, train.items].A1, strict=True)]
    dataset = cornac.data.Dataset.from_uir(triplets, seed=42)
    model = getattr(cornac.models, name)(seed=42, **params)
    with threadpool_limits(1, "blas"):
        t0 = time.perf_counter()
        model.fit(dataset)
        fit_s = time.perf_counter() - t0
    users = np.unique(split.test.users)
    ours = np.array([int(raw) for raw in dataset.iid_map], dtype=np.int64)  # cornac index -> our item index
    cols = np.array(list(dataset.iid_map.values()), dtype=np.int64)
    scores = np.full((len(users), train.n_items), np.nan)
    for row, u in enumerate(users):
        idx = dataset.uid_map.get(str(u))
        if idx is not None:
            scores[row, ours] = np.ravel(np.asarray(model.score(idx), dtype=np.float64))[cols]
    ids, _ = topk(scores, k, exclude=train.binary[users])
    truth = split.test.binary[users]
    return float(M.ndcg_at_k(ids, truth, k).mean()), float(M.precision_at_k(ids, truth, k).mean()), fit_s


def run_cornac(split: Split, title: str) -> list[dict[str, Any]]:
    """The :data:`CORNAC_TOPN` rows on one split (needs ``pip install cornac`` and PyTorch)."""
    rows = []
    print(f"\n## cornac on the same split: {title}\n")
    print("| cornac model | NDCG@10 | P@10 | fit s |")
    print("|---|---|---|---|")
    for label, name, params in CORNAC_TOPN:
        try:
            n, p, f = cornac_topn(name, params, split)
        except ImportError as exc:  # cornac's LightGCN needs dgl, which has no wheel for this Python/torch
            print(f"| {label} | not run: {exc.name or exc} is not installed | | |", flush=True)
            continue
        print(f"| {label} | {n:.4f} | {p:.4f} | {f:.1f} |", flush=True)
        rows.append({"model": label, "ndcg": n, "precision": p, "fit": f})
    return rows


def run_rating(splits: list[Split], title: str, warm: Callable[[], None]) -> list[dict[str, Any]]:
    warm()
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for split in splits:
        for label, (algo, params), peer, pparams in RATING_PAIRS:
            row = evaluate_split(create(algo, **params), split, 10)
            acc[label]["ours_rmse"].append(row["rmse"])
            acc[label]["ours_mae"].append(row["mae"])
            acc[label]["ours_fit"].append(row["fit_seconds"])
            r, a, f, _ = surprise_fit_predict(peer, pparams, split)
            acc[label]["peer_rmse"].append(r)
            acc[label]["peer_mae"].append(a)
            acc[label]["peer_fit"].append(f)
            print(f"  {split.name} {label}: ours {row['rmse']:.4f} ({row['fit_seconds']:.2f}s) | Surprise {peer} {r:.4f} ({f:.2f}s)", flush=True)
    out = []
    print(f"\n## {title}\n")
    print("| model | ours RMSE | Surprise RMSE | ours MAE | Surprise MAE | ours fit s | Surprise fit s | time ratio ours/peer |")
    print("|---|---|---|---|---|---|---|---|")
    for label, _, peer, _ in RATING_PAIRS:
        d = {k: float(np.mean(v)) for k, v in acc[label].items()}
        ratio = d["ours_fit"] / d["peer_fit"] if d["peer_fit"] else float("nan")
        print(f"| {label} vs {peer} | {d['ours_rmse']:.4f} | {d['peer_rmse']:.4f} | {d['ours_mae']:.4f} | {d['peer_mae']:.4f} "
              f"| {d['ours_fit']:.3f} | {d['peer_fit']:.3f} | {ratio:.3f} |")
        out.append({"model": label, "peer": peer, **d, "time_ratio": ratio})
    return out


def run_extra_rating(splits: list[Split], algos: list[tuple[str, dict[str, Any]]], title: str) -> list[dict[str, Any]]:
    out = []
    print(f"\n## {title}\n")
    print("| model | RMSE (sd over folds) | MAE | fit s |")
    print("|---|---|---|---|")
    for algo, params in algos:
        rows = [evaluate_split(create(algo, **params), s, 10) for s in splits]
        d = {m: float(np.mean([r[m] for r in rows])) for m in ("rmse", "mae", "fit_seconds")}
        d["rmse_std"] = float(np.std([r["rmse"] for r in rows]))
        print(f"| {algo} {params or ''} | {d['rmse']:.4f} ({d['rmse_std']:.4f}) | {d['mae']:.4f} | {d['fit_seconds']:.3f} |",
              flush=True)
        out.append({"model": algo, "params": params, **d, "learned": [r["learned"] for r in rows]})
    return out


#: Our other top-N rows (defaults; the item-item family, the hybrid with its noise rule, the deep models need features).
TOPN_OURS: list[tuple[str, dict[str, Any]]] = [
    ("ease", {}), ("slim", {}), ("rp3beta", {}), ("item-knn", {}), ("user-knn", {}), ("popularity", {}),
    ("hybrid", {"members": "ease,implicit-als,user-knn"}), ("hybrid", {"members": "ease,slim,implicit-als"}),
]


def run_topn(split: Split) -> list[dict[str, Any]]:
    ours_als = create("implicit-als")
    ours_bpr = create("bpr")
    als_p = {"factors": ours_als.n_factors, "regularization": ours_als.regularization, "alpha": ours_als.alpha,
             "iterations": ours_als.n_iterations, "random_state": 42}
    bpr_p = {"factors": ours_bpr.n_factors, "learning_rate": ours_bpr.learning_rate,
             "regularization": ours_bpr.regularization, "iterations": ours_bpr.n_iterations, "random_state": 42}
    rows = []
    print("\n## Top-N, ML-100K per-user stratified 75/25 (seed 42), k=10, seen items excluded\n")
    print("| model | NDCG@10 | P@10 | fit s | peer NDCG@10 | peer P@10 | peer fit s | time ratio ours/peer |")
    print("|---|---|---|---|---|---|---|---|")
    for algo, kind, pp in (("implicit-als", "als", als_p), ("bpr", "bpr", bpr_p)):
        r = evaluate_split(create(algo), split, 10)
        n, p, f = implicit_topn(kind, pp, split)
        print(f"| {algo} vs implicit.{kind} | {r['ndcg@k']:.4f} | {r['precision@k']:.4f} | {r['fit_seconds']:.3f} "
              f"| {n:.4f} | {p:.4f} | {f:.3f} | {r['fit_seconds'] / f:.3f} |")
        rows.append({"model": algo, "ndcg": r["ndcg@k"], "precision": r["precision@k"], "fit": r["fit_seconds"],
                     "peer_ndcg": n, "peer_precision": p, "peer_fit": f})
    for algo, params in TOPN_OURS:
        label = algo + (f" [{params['members']}]" if "members" in params else "")
        r = evaluate_split(create(algo, **params), split, 10)
        print(f"| {label} | {r['ndcg@k']:.4f} | {r['precision@k']:.4f} | {r['fit_seconds']:.3f} | - | - | - | - |", flush=True)
        rows.append({"model": label, "ndcg": r["ndcg@k"], "precision": r["precision@k"], "fit": r["fit_seconds"],
                     "learned": r["learned"]})
    print("\nReference (Microsoft Recommenders, same protocol): BiVAE 0.475 / P@10 0.412, BPR 0.442 / 0.388, LightGCN 0.420, SAR 0.382")
    return rows


def knn_speed_splits() -> list[tuple[str, Split]]:
    """The three data sets of the kNN speed check: (label, first split)."""
    import pandas as pd

    small = read_dataset(DATA / "ml-latest-small").interactions()
    # FilmTrust: headerless user,item,rating with 0.5-4 stars and no timestamps
    ft = pd.read_csv(DATA / "filmtrust" / "ratings.txt", header=None, names=["user", "item", "rating"])
    filmtrust = Interactions.from_frame(ft, time_col=None)
    return [
        ("ml-100k u1", next(ml100k_folds(DATA / "ml-100k"))),
        ("ml-latest-small kfold:5 #1", next(kfold_split(small, 5, random_state=42))),
        ("filmtrust kfold:5 #1", next(kfold_split(filmtrust, 5, random_state=42))),
    ]


def ours_fit_predict(algo: str, params: dict[str, Any], split: Split) -> tuple[float, float, float]:
    """(rmse, fit s, predict s) of one of our rating predictors on one split."""
    model = create(algo, **params)
    t0 = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - t0
    if not isinstance(model, RatingPredictor) or split.test.ratings is None:
        raise InvalidParameter(f"{algo} does not predict ratings, or the split has none")
    t0 = time.perf_counter()
    pred = model.predict(split.test.users, split.test.items)
    pred_s = time.perf_counter() - t0
    return M.rmse(pred, split.test.ratings), fit_s, pred_s


def run_knn_speed(repeats: int, busy: bool) -> list[dict[str, Any]]:
    """Item-kNN vs Surprise KNNBaseline, fit + predict back to back; optionally with a busy CPU."""
    _, (algo, params), peer, pparams = RATING_PAIRS[-1]
    splits = knn_speed_splits()
    ours_fit_predict(algo, params, splits[0][1])  # load compiled kernels outside the timings
    hog = None
    if busy:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    rows = []
    try:
        for label, split in splits:
            times: dict[str, list[float]] = defaultdict(list)
            for _ in range(repeats):
                r_ours, f, p = ours_fit_predict(algo, params, split)
                times["ours_fit"].append(f)
                times["ours_total"].append(f + p)
                r_peer, _, f, p = surprise_fit_predict(peer, pparams, split)
                times["peer_fit"].append(f)
                times["peer_total"].append(f + p)
            t = {key: float(np.median(v)) for key, v in times.items()}
            rows.append({"data": label, "films": split.train.n_items, "ours_rmse": r_ours, "peer_rmse": r_peer, **t,
                         "fit_ratio": t["ours_fit"] / t["peer_fit"], "total_ratio": t["ours_total"] / t["peer_total"]})
            print(f"  {label}: ours {r_ours:.4f} (fit {t['ours_fit']:.2f}s, total {t['ours_total']:.2f}s) | Surprise {peer} "
                  f"{r_peer:.4f} (fit {t['peer_fit']:.2f}s, total {t['peer_total']:.2f}s)", flush=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    state = "one other CPU-bound process running" if busy else "no extra load"
    state += f"; load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    print(f"\n## Item-kNN vs Surprise {peer}, fit + predict, median of {repeats} ({state})\n")
    print("| data | films | ours RMSE | Surprise RMSE | ours fit s | Surprise fit s | fit ratio | ours fit+predict s "
          "| Surprise fit+predict s | fit+predict ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['films']} | {r['ours_rmse']:.4f} | {r['peer_rmse']:.4f} | {r['ours_fit']:.3f} "
              f"| {r['peer_fit']:.3f} | {r['fit_ratio']:.2f} | {r['ours_total']:.3f} | {r['peer_total']:.3f} "
              f"| {r['total_ratio']:.2f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ml-100k,ml-latest-small")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--knn-speed", action="store_true", help="only the item-kNN vs KNNBaseline speed check")
    ap.add_argument("--busy", action="store_true", help="with --knn-speed: run beside one CPU-bound process")
    ap.add_argument("--repeats", type=int, default=3, help="with --knn-speed: alternating runs per data set")
    ap.add_argument("--cornac", action="store_true", help="add cornac's Mult-VAE, RecVAE, BiVAE, LightGCN and EASE on the "
                    "top-N splits (tens of minutes on 2 cores)")
    args = ap.parse_args()
    report: dict[str, Any] = {}
    if args.knn_speed:
        report["knn_speed_busy" if args.busy else "knn_speed"] = run_knn_speed(args.repeats, args.busy)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
        return

    def warm() -> None:  # compile the numba kernels once, outside the timings
        s = next(ml100k_folds(DATA / "ml-100k"))
        small = s.train.subset(np.arange(2000))
        create("biased-mf", n_epochs=1).fit(small)
        create("svdpp", n_epochs=1).fit(small)
        create("item-knn").fit(small).predict(s.test.users[:10], s.test.items[:10])  # type: ignore[attr-defined]

    if "ml-100k" in args.datasets:
        folds = list(ml100k_folds(DATA / "ml-100k"))
        report["ml100k_rating"] = run_rating(folds, "Rating prediction, ML-100K u1-u5 (mean of 5 folds)", warm)
        report["ml100k_best"] = run_extra_rating(folds, [("autorec", {}), ("bayesian-mf", {}), ("biased-mf", {}), ("svdpp", {}), ("item-knn", {}),
                                                         ("user-knn", {}), ("hybrid", {"members": RATING_HYBRID})],
                                                 "Our tuned defaults, ML-100K u1-u5")
        data = read_dataset(DATA / "ml-100k").interactions()
        topn_split = stratified_split(data, 0.75, random_state=42)
        report["ml100k_topn"] = run_topn(topn_split)
        if args.cornac:
            report["ml100k_cornac"] = run_cornac(topn_split, "ML-100K per-user stratified 75/25 (seed 42)")
    if "ml-latest-small" in args.datasets:
        data = read_dataset(DATA / "ml-latest-small").interactions()
        folds = list(kfold_split(data, 5, random_state=42))
        report["mlsmall_rating"] = run_rating(folds, "Rating prediction, ml-latest-small kfold:5 (seed 42)", warm)
        report["mlsmall_best"] = run_extra_rating(folds, [("autorec", {}), ("bayesian-mf", {}), ("biased-mf", {}), ("svdpp", {}),
                                                          ("item-knn", {}), ("hybrid", {"members": RATING_HYBRID})],
                                                  "Our tuned defaults, ml-latest-small kfold:5")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
