"""Memory of ``cinerec serve --workers N`` with memory-mapped model artifacts, and without.

    python benchmarks/serve_memory.py [--items 500000] [--factors 64] [--workers 1,4] [--home DIR]

Builds (once, cached under ``--home``) a tiny SQLite site (40 dataset profiles rating 300 films) and a
large latent model on the real training path: an implicit ALS model (``--factors`` factors) is fitted
(``service.training.fit_model``) on a seeded synthetic catalogue of ``--items`` items, the site's own
ratings included, then published with ``service.training.publish_model`` (which builds the faiss ANN
index over the items, as training does past ``CINEREC_ANN_MIN_ITEMS``) and activated.

Then for each worker count, with ``CINEREC_MMAP_ARTIFACTS`` on and off, it starts
``cinerec serve --workers N`` on 127.0.0.1, waits until ``/api/v1/ready`` answers, and sends profile
recommendation requests (each a history fold-in plus an ANN search) on fresh connections until every
worker process has answered at least two (read from each process's Prometheus multiprocess file), so
that each has loaded the model and built what it derives from it (the fold-in Gram matrix, its own faiss
index). It then reads ``/proc/<pid>/smaps_rollup`` of the server and all its children and prints:

- total RSS and PSS (PSS divides each shared page among the processes mapping it: the real cost);
- the model's share per worker: total PSS minus that of the same server with no model, over N;
- of that, the PSS of the artifact's mapped files (``arrays.npz`` + ``attachments.npz``: the arrays, shared) and
  the rest (private to each worker: the id maps, the faiss index, which faiss deserialises into memory of its own,
  and with ``mmap`` off the arrays themselves).

Figures depend on the machine; run it on an otherwise quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
#: Site size: dataset profiles, films, ratings per profile.
PROFILES, FILMS, RATED = 40, 300, 30
#: Synthetic raters (besides the profiles), taste clusters, ratings per synthetic item.
RATERS, CLUSTERS, PER_ITEM = 2000, 64, 2


def build(home: Path, n_items: int, factors: int, seed: int = 0) -> dict[str, Any]:
    """The site and the active model under ``home`` (reused when already built for these sizes)."""
    stamp = home / "built.json"
    want = {"items": n_items, "factors": factors, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()).get("want") == want:
        return dict(json.loads(stamp.read_text()))
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    os.environ["CINEREC_HOME"] = str(home)
    from cinerec.algorithms.registry import create
    from cinerec.config import get_settings
    from cinerec.data.interactions import Interactions
    from cinerec.data.readers import read_dataset
    from cinerec.service.registry import ModelRegistry
    from cinerec.service.training import fit_model, publish_model
    from cinerec.store.db import make_engine
    from cinerec.store.importer import import_dataset
    from cinerec.store.migrate import upgrade
    from cinerec.store.snapshot import load_interactions

    get_settings.cache_clear()
    settings = get_settings()
    rng = np.random.default_rng(seed)
    # the tiny site: a MovieLens-latest folder, imported like any dataset
    src = home / "tiny-site"
    src.mkdir()
    pd.DataFrame({"movieId": np.arange(1, FILMS + 1), "title": [f"Film {i} (2001)" for i in range(1, FILMS + 1)],
                  "genres": ["Drama"] * FILMS}).to_csv(src / "movies.csv", index=False)
    rows = [(u, int(m), float(rng.integers(1, 11)) / 2, 1_000_000 + k)
            for u in range(1, PROFILES + 1) for k, m in enumerate(rng.choice(np.arange(1, FILMS + 1), RATED, replace=False))]
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(src / "ratings.csv", index=False)
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    import_dataset(engine, read_dataset(src))
    site = load_interactions(engine, reviews=False, social=False)
    site_users = site.user_vocab.ids
    frame_site = pd.DataFrame({"user": site.user_vocab.ids[site.users], "item": site.item_vocab.ids[site.items],
                               "rating": site.ratings})
    # the large catalogue: synthetic items (ids past the site's) rated by synthetic raters of the same cluster,
    # so that the factors have the clustered structure of real ones (and the ANN index its usual recall)
    first_item, first_user = int(site.item_vocab.ids.max()) + 1, int(site_users.max()) + 1
    n_synthetic = n_items - len(site.item_vocab)
    items = np.repeat(np.arange(n_synthetic), PER_ITEM)
    cluster = items % CLUSTERS
    raters = cluster + CLUSTERS * rng.integers(0, RATERS // CLUSTERS, len(items))
    synthetic = pd.DataFrame({"user": first_user + raters, "item": first_item + items,
                              "rating": rng.integers(2, 11, len(items)) / 2})
    # the profiles also rate synthetic items of "their" cluster, so their histories reach the whole catalogue
    prof = np.repeat(np.arange(len(site_users)), RATED)
    prof_items = (prof % CLUSTERS) + CLUSTERS * rng.integers(0, n_synthetic // CLUSTERS, len(prof))
    profile_rows = pd.DataFrame({"user": site_users[prof], "item": first_item + prof_items, "rating": 4.0})
    data = Interactions.from_frame(pd.concat([frame_site, synthetic, profile_rows], ignore_index=True), time_col=None)
    model = create("implicit-als", n_factors=factors, n_iterations=3, random_state=seed)
    t0 = time.perf_counter()
    fit_seconds = fit_model(model, data)
    info = publish_model(ModelRegistry(settings.models_dir), model, data, fit_seconds, ann_min_items=settings.ann_min_items)
    built = {"want": want, "version": info.version, "items": data.n_items, "users": data.n_users,
             "interactions": len(data), "fit_seconds": round(fit_seconds, 1),
             "publish_seconds": round(time.perf_counter() - t0 - fit_seconds, 1), "ann": info.extra.get("ann"),
             "profiles": [int(u) for u in site_users],
             "artifact_mib": round(sum(f.stat().st_size for f in info.path.iterdir()) / MIB, 1)}
    stamp.write_text(json.dumps(built))
    return built


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren... (``/proc/<pid>/task/*/children``)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def rollup(pid: int) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        out[name.rstrip(":")] = int(value) * 1024
    return out


def mapped_file(pid: int, suffixes: tuple[str, ...]) -> dict[str, int]:
    """Summed ``Rss`` and ``Pss`` (bytes) of ``pid``'s mappings of files whose names end with ``suffixes``."""
    total = {"Rss": 0, "Pss": 0}
    current = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            current = len(head) >= 6 and head[-1].endswith(suffixes)
        elif current and head[0].rstrip(":") in total:
            total[head[0].rstrip(":")] += int(head[1]) * 1024
    return total


def served_recommendations(folder: Path) -> dict[int, float]:
    """Recommendation lists answered per process, from the Prometheus multiprocess files."""
    from prometheus_client.mmap_dict import MmapedDict

    out: dict[int, float] = {}
    for f in folder.glob("counter_*.db"):
        pid = int(f.stem.rsplit("_", 1)[1])
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(f)):  # type: ignore[no-untyped-call]
            if json.loads(key)[0] == "cinerec_recommendations":
                out[pid] = out.get(pid, 0.0) + value
    return out


def measure(home: Path, workers: int, mmap: bool, profiles: list[int], with_model: bool) -> dict[str, Any]:
    """Start the server, make every worker serve, and read its processes' memory."""
    metrics_dir = Path(tempfile.mkdtemp(prefix="cinerec-mem-metrics-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_")}
    env |= {"CINEREC_HOME": str(home), "CINEREC_MMAP_ARTIFACTS": str(mmap).lower(),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    port = free_port()
    log = (home.parent / f"serve-{workers}-{mmap}-{with_model}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cinerec", "serve", "--workers", str(workers), "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        route = "/api/v1/ready" if with_model else "/api/v1/health"
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not get ready (see {log.name})")
            try:
                if httpx.get(base + route, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        pids = [proc.pid, *descendants(proc.pid)]
        workers_pids = [p for p in pids if p != proc.pid] if workers > 1 else [proc.pid]
        workers_pids = [p for p in workers_pids if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()] \
            if workers > 1 else workers_pids
        requests = 0
        if with_model:
            def get(i: int) -> int:
                user = profiles[i % len(profiles)]
                # a new connection per request (the kernel spreads them over the workers); k varies: no cached list
                r = httpx.get(f"{base}/api/v1/explore/profiles/{user}/recommendations?k={1 + i % 50}", timeout=120)
                return r.status_code

            with ThreadPoolExecutor(8) as pool:
                while True:
                    codes = list(pool.map(get, range(requests, requests + 16)))
                    requests += len(codes)
                    bad = [c for c in codes if c != 200]
                    if bad:
                        raise SystemExit(f"recommendation requests failed: {bad[:5]} (see {log.name})")
                    served = served_recommendations(metrics_dir)
                    if all(served.get(p, 0) >= 2 for p in workers_pids) or time.monotonic() > deadline:
                        break
            if not all(served.get(p, 0) >= 2 for p in workers_pids):
                raise SystemExit(f"not every worker answered in time: {served}")
        time.sleep(1.0)
        pids = [proc.pid, *descendants(proc.pid)]
        roll = {p: rollup(p) for p in pids}
        files = {p: mapped_file(p, ("arrays.npz", "attachments.npz")) for p in workers_pids}
        return {"workers": workers, "mmap": mmap, "model": with_model, "processes": len(pids), "requests": requests,
                "rss": sum(r["Rss"] for r in roll.values()), "pss": sum(r["Pss"] for r in roll.values()),
                "private": sum(r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in roll.values()),
                "file_rss": sum(f["Rss"] for f in files.values()) / len(workers_pids),
                "file_pss": sum(f["Pss"] for f in files.values()) / len(workers_pids)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=500_000, help="catalogue size of the model")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "cinerec-serve-memory")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    home = args.home.resolve() / "site"
    t0 = time.perf_counter()
    built = build(home, args.items, args.factors)
    print(f"model {built['version']}: implicit ALS, {built['items']:,} items x {args.factors} factors, "
          f"{built['users']:,} users, {built['interactions']:,} interactions; fit {built['fit_seconds']} s, "
          f"ANN + publish {built['publish_seconds']} s; artifact {built['artifact_mib']} MiB; "
          f"ANN {built['ann']} (set up in {time.perf_counter() - t0:.0f} s)", flush=True)
    # the same site without a model: what the server processes cost by themselves
    bare = args.home.resolve() / "bare"
    bare.mkdir(parents=True, exist_ok=True)
    shutil.copy2(home / "cinerec.db", bare / "cinerec.db")
    rows = []
    baseline = {n: measure(bare, n, True, built["profiles"], with_model=False) for n in counts}
    for mmap in (True, False):
        for n in counts:
            r = measure(home, n, mmap, built["profiles"], with_model=True)
            r["model_per_worker"] = (r["pss"] - baseline[n]["pss"]) / n
            rows.append(r)
            print(f"  measured workers={n} mmap={mmap}: {r['requests']} requests", flush=True)
    ann_mib = (built["ann"] or {}).get("bytes", 0) / MIB
    header = ["workers", "mmap", "processes", "total RSS MiB", "total PSS MiB", "model PSS MiB/worker",
              "of which mapped artifact", "of which private"]
    table = [[str(b["workers"]), "(no model)", str(b["processes"]), f"{b['rss'] / MIB:.0f}", f"{b['pss'] / MIB:.0f}",
              "-", "-", "-"] for b in baseline.values()]
    table += [[str(r["workers"]), "on" if r["mmap"] else "off", str(r["processes"]), f"{r['rss'] / MIB:.0f}",
               f"{r['pss'] / MIB:.0f}", f"{r['model_per_worker'] / MIB:.0f}", f"{r['file_pss'] / MIB:.0f}",
               f"{(r['model_per_worker'] - r['file_pss']) / MIB:.0f}"] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for t in table:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(t, widths, strict=True)) + " |")
    print(f"\nmodel PSS/worker = (total PSS - the same server's without a model) / workers; {os.cpu_count()} CPUs. "
          f"The faiss index is {ann_mib:.0f} MiB serialised: every worker deserialises its own copy (private), while "
          "the serialised bytes stay in the shared mapping.")
    if args.json:
        args.json.write_text(json.dumps({"model": built, "baseline": list(baseline.values()), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
