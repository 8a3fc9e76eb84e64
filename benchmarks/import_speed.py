"""Import time and peak memory for ML-100K and ml-latest-small on SQLite and PostgreSQL.

    python benchmarks/import_speed.py [--repeat 3]

Each import runs in a fresh process on an empty, migrated database (a new
SQLite file; a new PostgreSQL schema in database ``test``) and reports wall
time (read + import) and the process's peak RSS. Target: ML-100K under 5 s
on SQLite.
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

DATA = Path(os.environ.get("CINEREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
PG = "host=127.0.0.1 port=5432 dbname=test user=postgres"

CHILD = """
import json, resource, sys, time
from cinerec.data.readers import read_dataset
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
url, path = sys.argv[1], sys.argv[2]
upgrade(url)
t0 = time.perf_counter()
ds = read_dataset(path)
t1 = time.perf_counter()
rep = import_dataset(make_engine(url), ds)
t2 = time.perf_counter()
print(json.dumps({"read_s": t1 - t0, "import_s": t2 - t1, "total_s": t2 - t0, "ratings": rep.counts["ratings"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(url: str, dataset: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(dataset)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import psycopg

    print("| dataset | backend | ratings | read s | import s | total s (median) | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for name in ("ml-100k", "ml-latest-small"):
        for backend in ("sqlite", "postgresql"):
            runs = []
            for _ in range(args.repeat):
                if backend == "sqlite":
                    with tempfile.TemporaryDirectory() as tmp:
                        runs.append(run(f"sqlite:///{tmp}/bench.db", DATA / name))
                else:
                    schema = f"bench_{secrets.token_hex(4)}"
                    with psycopg.connect(PG, autocommit=True) as c:
                        c.execute(f"CREATE SCHEMA {schema}")
                    try:
                        runs.append(run(f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}", DATA / name))
                    finally:
                        with psycopg.connect(PG, autocommit=True) as c:
                            c.execute(f"DROP SCHEMA {schema} CASCADE")
            runs.sort(key=lambda r: r["total_s"])
            m = runs[len(runs) // 2]
            print(f"| {name} | {backend} | {m['ratings']} | {m['read_s']:.2f} | {m['import_s']:.2f} | {m['total_s']:.2f} | {max(r['peak_rss_mb'] for r in runs):.0f} |", flush=True)


if __name__ == "__main__":
    main()
