"""Exact vs approximate (faiss IVF) top-10 for a latent model on synthetic catalogues; prints one table.

    python benchmarks/topk.py [--sizes 100000,1000000] [--queries 1000] [--dim 64] [--nprobe 16,32,64,128] [--hnsw]

For each catalogue size a biased MF model is made from seeded synthetic
factors (clustered items and users with a decaying spectrum, as trained
factors have, plus item and user biases; ``--isotropic`` draws plain
Gaussians instead, the hardest case for any index) with 50 seen items per
user, 20 of them from the user's own exact top 50. Rows:

- ``exact``: the model's ``recommend`` with the index off (one matmul over
  the catalogue + the argpartition top-k of ``cinerec.algorithms._topk``);
- ``ann nprobe=N``: the same ``recommend`` through the index (over-fetch,
  seen filter, exact re-scoring, refill), ``N`` cells searched; ``(built)``
  marks the number the build's own recall check chose (build time includes it);
- ``exact history`` / ``ann history``: a member's path, ``recommend_history``
  of a user's seen items rated as the model predicts (fold-in, then top-10),
  exact and through the index (``HISTORY_PROBE_FACTOR`` times the built ``nprobe``);
- ``hnsw`` (``--hnsw``): faiss' HNSW graph on the same augmented vectors,
  raw search without the filter path, for comparison with the inverted file.

Latency is per query: single-thread (one query per call, BLAS and faiss on
one thread; p50/p99) and batch (queries ranked 50 at a time, 16 at 1M for
exact, both cores; mean per query). Recall@10 is against the exact lists.
Build is the index's training + filling time; size is its serialised bytes;
RSS is this process's resident memory after the size's run.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cinerec.algorithms import _ann
from cinerec.algorithms.mf import BiasedMF

EXACT = 10**12


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux ``/proc``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_model(n_items: int, n_users: int, dim: int, *, isotropic: bool, seed: int = 42) -> BiasedMF:
    """A fitted-looking :class:`BiasedMF` with seeded synthetic factors and 50 seen items per user."""
    rng = np.random.default_rng(seed)
    if isotropic:
        items = rng.normal(size=(n_items, dim))
        users = rng.normal(size=(n_users, dim))
    else:
        scale = 1.0 / np.sqrt(1.0 + np.arange(dim) / 4.0)
        centres = rng.normal(size=(256, dim)) * scale
        items = centres[rng.integers(0, 256, n_items)] + 0.7 * rng.normal(size=(n_items, dim)) * scale
        items *= rng.lognormal(0.0, 0.3, n_items)[:, None]  # popular items have longer vectors
        users = centres[rng.integers(0, 256, n_users)] + 0.7 * rng.normal(size=(n_users, dim)) * scale
    model = BiasedMF(n_factors=dim)
    model.n_users_, model.n_items_ = n_users, n_items
    model.mu_ = 3.5
    model.user_bias_ = rng.normal(0.0, 0.2, n_users)
    model.item_bias_ = np.zeros(n_items) if isotropic else rng.normal(0.0, 0.3, n_items)
    model.user_factors_, model.item_factors_ = users, items
    model.min_rating_, model.max_rating_ = 0.5, 5.0
    rows, cols = [], []
    for u in range(n_users):
        s = model.item_bias_ + items @ users[u]
        top50 = np.argpartition(-s, 50)[:50]
        picked = np.unique(np.r_[rng.choice(top50, 20, replace=False), rng.choice(n_items, 30, replace=False)])
        rows += [u] * len(picked)
        cols += picked.tolist()
    model.seen_ = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))
    model.seen_values_ = np.ones(len(rows), dtype=np.float32)
    return model


def single_thread() -> Any:
    """BLAS and faiss on one thread (restored by the caller through the returned limiter)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def per_query(fn: Callable[[np.ndarray], Any], users: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Latency of ``fn`` on each user alone (seconds) and its answers."""
    times, out = np.empty(len(users)), []
    for j, u in enumerate(users):
        t0 = time.perf_counter()
        out.append(fn(np.array([u])))
        times[j] = time.perf_counter() - t0
    return times, out


def batched(fn: Callable[[np.ndarray], Any], users: np.ndarray, size: int) -> float:
    """Mean seconds per query when ranking ``size`` users per call."""
    t0 = time.perf_counter()
    for lo in range(0, len(users), size):
        fn(users[lo:lo + size])
    return (time.perf_counter() - t0) / len(users)


def recall_at(got: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each exact top-k found."""
    return float(np.mean([len(set(g.tolist()) & set(t.tolist())) / len(t) for g, t in zip(got, truth, strict=True)]))


def run_size(n_items: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every row of one catalogue size."""
    import faiss

    n_queries = args.queries if n_items <= 200_000 else max(100, args.queries // 3)
    t0 = time.perf_counter()
    model = synthetic_model(n_items, n_queries, args.dim, isotropic=args.isotropic)
    print(f"  {n_items:,} items: data made in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    users = np.arange(n_queries)
    rows: list[dict[str, Any]] = []
    batch_exact = 50 if n_items <= 200_000 else 16

    model.ann_min_items = EXACT
    with single_thread():
        faiss.omp_set_num_threads(1)
        t_exact, answers = per_query(lambda u: model.recommend(u, 10), users)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    truth = np.vstack([a.items for a in answers])
    b_exact = batched(lambda u: model.recommend(u, 10), users, batch_exact)
    rows.append({"items": n_items, "method": "exact", "p50": np.median(t_exact), "p99": np.percentile(t_exact, 99),
                 "batch": b_exact, "recall": 1.0, "build": None, "size": None, "rss": rss_mb(), "n": n_queries})
    print(f"  exact done: p50 {np.median(t_exact) * 1e3:.2f} ms", file=sys.stderr, flush=True)

    rss0 = rss_mb()
    t0 = time.perf_counter()
    model.build_ann_index()
    build_s = time.perf_counter() - t0
    size = int(model.ann_index_.nbytes)
    model.ann_min_items = 0
    print(f"  index built in {build_s:.1f} s ({size / 2**20:.0f} MiB), rss +{rss_mb() - rss0:.0f} MiB", file=sys.stderr,
          flush=True)
    tuned = int(model.ann_nprobe_)  # what the build's own recall check chose (see RecommenderBase.build_ann_index)
    for nprobe in sorted(set(args.nprobe) | {tuned}):
        model.ann_nprobe_ = nprobe
        with single_thread():
            faiss.omp_set_num_threads(1)
            t_ann, answers = per_query(lambda u: model.recommend(u, 10), users)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        got = np.vstack([a.items for a in answers])
        b_ann = batched(lambda u: model.recommend(u, 10), users, 50)
        mark = " (built)" if nprobe == tuned else ""
        rows.append({"items": n_items, "method": f"ann ivf nlist={_ann.default_nlist(n_items)} nprobe={nprobe}{mark}",
                     "p50": np.median(t_ann), "p99": np.percentile(t_ann, 99), "batch": b_ann,
                     "recall": recall_at(got, truth), "build": build_s, "size": size, "rss": rss_mb(), "n": n_queries})
        print(f"  nprobe {nprobe}: recall {rows[-1]['recall']:.3f} p50 {np.median(t_ann) * 1e3:.3f} ms", file=sys.stderr,
              flush=True)

    model.ann_nprobe_ = tuned
    rows += history_rows(model, users[: max(100, n_queries // 5)], n_items)
    if args.hnsw and n_items <= 200_000:
        rows += hnsw_rows(model, users, n_items)
    return rows


def history_rows(model: BiasedMF, users: np.ndarray, n_items: int) -> list[dict[str, Any]]:
    """A member's path: ``recommend_history`` (fold-in of the ratings, then top-10) exact and through the index."""
    histories = []
    for u in users:
        items, _ = model.training_history(int(u))
        values = np.clip(np.round(2 * model.score(np.array([u]), items)[0]) / 2, 0.5, 5.0)
        histories.append((items, values))
    rows, truth = [], None
    for label, threshold in (("exact history (fold-in + top-k)", EXACT), (f"ann history nprobe={min(_ann.default_nlist(n_items), _ann.HISTORY_PROBE_FACTOR * model.ann_nprobe_)}", 0)):
        model.ann_min_items = threshold
        with single_thread():
            times, out = per_query(lambda j: model.recommend_history(*histories[int(j[0])], 10), np.arange(len(users)))
        got = np.vstack([o.items for o in out])
        truth = got if truth is None else truth
        rows.append({"items": n_items, "method": label, "p50": np.median(times), "p99": np.percentile(times, 99),
                     "batch": None, "recall": recall_at(got, truth), "build": None, "size": None, "rss": rss_mb(),
                     "n": len(users)})
        print(f"  {label}: p50 {np.median(times) * 1e3:.3f} ms", file=sys.stderr, flush=True)
    return rows


def hnsw_rows(model: BiasedMF, users: np.ndarray, n_items: int) -> list[dict[str, Any]]:
    """faiss HNSW on the same augmented vectors, raw search without filters (recall against the unfiltered top 10)."""
    import faiss

    vectors = model._latent_items()
    query = model._latent_users(users)
    truth = np.argsort(-(query.vectors @ vectors.T), axis=1)[:, :10]
    x = _ann._augment_items(vectors)
    rows = []
    for m in (16, 32):
        index = faiss.IndexHNSWFlat(x.shape[1], m)
        t0 = time.perf_counter()
        index.add(x)
        build_s = time.perf_counter() - t0
        size = len(faiss.serialize_index(index))
        for ef in (128, 512):
            params = faiss.SearchParametersHNSW(efSearch=ef)
            q = _ann._augment_queries(query.vectors)
            faiss.omp_set_num_threads(1)
            times, out = per_query(lambda u, p=params, qq=q, idx=index: idx.search(qq[u], 10, params=p)[1], users)
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            got = np.vstack(out)
            rows.append({"items": n_items, "method": f"hnsw M={m} efSearch={ef} (raw)", "p50": np.median(times),
                         "p99": np.percentile(times, 99), "batch": None, "recall": recall_at(got, truth),
                         "build": build_s, "size": size, "rss": rss_mb(), "n": len(users)})
    return rows


def main() -> None:
    """Parse arguments, run every size, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="catalogue sizes, comma-separated")
    ap.add_argument("--queries", type=int, default=1000, help="queries per size (a third, at least 100, above 200k items)")
    ap.add_argument("--dim", type=int, default=64, help="latent factors")
    ap.add_argument("--nprobe", default="16,32,64,128", help="IVF cells searched, comma-separated")
    ap.add_argument("--hnsw", action="store_true", help="add HNSW rows (raw search) for sizes up to 200k")
    ap.add_argument("--isotropic", action="store_true", help="plain Gaussian factors instead of clustered ones")
    args = ap.parse_args()
    args.nprobe = [int(x) for x in args.nprobe.split(",")]
    if not _ann.ann_available():
        sys.exit("faiss is not installed: pip install -e '.[ann]'")
    rows: list[dict[str, Any]] = []
    for n in (int(x) for x in args.sizes.split(",")):
        rows += run_size(n, args)
        gc.collect()  # the previous size's model and index go before the next is made

    def ms(x: float | None) -> str:
        return "" if x is None else f"{x * 1e3:.3f}"

    print(f"\ntop-10, {args.dim} factors, {'isotropic' if args.isotropic else 'clustered'} synthetic factors, "
          f"{os.cpu_count()} cores; latency in ms per query")
    head = f"{'items':>9} {'method':<38} {'queries':>7} {'p50 1-thr':>9} {'p99 1-thr':>9} {'batch':>8} {'recall@10':>9} " \
           f"{'build s':>7} {'index MiB':>9} {'RSS MiB':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        build = "" if r["build"] is None else f"{r['build']:.1f}"
        size = "" if r["size"] is None else f"{r['size'] / 2**20:.0f}"
        print(f"{r['items']:>9,} {r['method']:<38} {r['n']:>7} {ms(r['p50']):>9} {ms(r['p99']):>9} {ms(r['batch']):>8} "
              f"{r['recall']:>9.3f} {build:>7} {size:>9} {r['rss']:>8.0f}")


if __name__ == "__main__":
    main()
