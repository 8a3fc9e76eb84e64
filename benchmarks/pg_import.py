"""PostgreSQL import: COPY (the default) against batched INSERT (``copy=False``, the path before COPY).

    python benchmarks/pg_import.py [--repeat 1] [--synthetic 1000000]

Each import runs in a fresh process on an empty, migrated schema of database
``test`` on 127.0.0.1:5432 and times ``import_dataset`` alone (reading the
files is the same for both and excluded). Datasets: ML-100K and
ml-latest-small from ``CINEREC_DATA_DIR`` (or ``../shared/data``) and a
seeded synthetic MovieLens-format folder of ``--synthetic`` ratings
(ML-1M-sized by default; 0 skips it). Prints a markdown table with the
median import time of each path and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("CINEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
PG = "host=127.0.0.1 port=5432 dbname=test user=postgres"

CHILD = """
import json, sys, time
from cinerec.data.readers import read_dataset
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
url, path, copy = sys.argv[1], sys.argv[2], sys.argv[3] == "copy"
upgrade(url)
ds = read_dataset(path)
t0 = time.perf_counter()
rep = import_dataset(make_engine(url), ds, copy=copy)
print(json.dumps({"import_s": time.perf_counter() - t0, "ratings": rep.counts["ratings"]}))
"""


def synthetic(folder: Path, n: int, seed: int = 0) -> Path:
    """A MovieLens-format folder (movies.csv, ratings.csv) with ``n`` distinct ratings, power-law activity."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(n // 165, 10), max(n // 270, 10)  # ML-1M's shape: 6,040 users, 3,706 films
    u = np.minimum((rng.pareto(1.2, 2 * n) * n_users / 20).astype(np.int64), n_users - 1) + 1
    i = np.minimum((rng.pareto(1.0, 2 * n) * n_items / 30).astype(np.int64), n_items - 1) + 1
    pairs = np.unique(u * (n_items + 1) + i)
    pairs = rng.permutation(pairs)[:n]
    users, items = pairs // (n_items + 1), pairs % (n_items + 1)
    stars = rng.choice(np.arange(1, 11) / 2, size=len(pairs), p=[.01, .03, .02, .07, .05, .2, .12, .27, .08, .15])
    ts = rng.integers(946_684_800, 1_700_000_000, size=len(pairs))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "movies.csv", "w") as fh:
        fh.write("movieId,title,genres\n")
        fh.writelines(f"{m},Film {m} (2000),Drama|Comedy\n" for m in range(1, n_items + 1))
    with open(folder / "ratings.csv", "w") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        fh.writelines(f"{a},{b},{c:.1f},{d}\n" for a, b, c, d in zip(users, items, stars, ts, strict=True))
    return folder


def run(dataset: Path, method: str) -> dict[str, float]:
    import psycopg

    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        out = subprocess.run([sys.executable, "-c", CHILD, url, str(dataset), method],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        with psycopg.connect(PG, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--synthetic", type=int, default=1_000_000, help="ratings in the synthetic dataset (0: none)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sets = [("ml-100k", DATA / "ml-100k"), ("ml-latest-small", DATA / "ml-latest-small")]
        if args.synthetic:
            sets.append((f"synthetic-{args.synthetic:,}", synthetic(Path(tmp) / "synthetic", args.synthetic)))
        print("| dataset | ratings | INSERT s | COPY s | speed-up |")
        print("|---|---|---|---|---|")
        for name, path in sets:
            med = {}
            for method in ("insert", "copy"):
                runs = sorted((run(path, method) for _ in range(args.repeat)), key=lambda r: r["import_s"])
                med[method] = runs[len(runs) // 2]
            n = int(med["copy"]["ratings"])
            ins, cp = med["insert"]["import_s"], med["copy"]["import_s"]
            print(f"| {name} | {n:,} | {ins:.2f} | {cp:.2f} | {ins / cp:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
