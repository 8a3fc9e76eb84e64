"""Peak memory of the training snapshot's ratings read: streamed (now) against fetch-all (before).

    python benchmarks/snapshot_memory.py [--ratings 1000000]

Fills a fresh schema of database ``test`` on 127.0.0.1:5432 with
``--ratings`` seeded random ratings (users and films in ML-1M's proportions,
written by SQL, not by the importer), then, each in a fresh process, builds
the Interactions with :func:`cinerec.store.snapshot.load_interactions`
(server-side cursor, numpy chunks) and with the fetch-all code it replaced
(every row as a Python object, then one data frame). Prints wall time, the
Python heap's peak (tracemalloc, numpy included) and the process's peak RSS
above its baseline after imports.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cinerec.data.interactions import Interactions

PG = "host=127.0.0.1 port=5432 dbname=test user=postgres"


def fetch_all_interactions(engine: Engine) -> Interactions:
    """The snapshot as it was built before streaming: every row fetched as Python objects, then one frame.

    The reference of this benchmark, and of ``tests/store/test_snapshot_stream.py`` (same result as the stream).
    """
    import numpy as np
    import pandas as pd
    from sqlalchemy import select

    from cinerec.data.interactions import Interactions
    from cinerec.data.vocab import Vocabulary
    from cinerec.store.models import Movie, Rating, User

    with engine.connect() as conn:
        rows = conn.execute(select(Rating.user_id, Rating.movie_id, Rating.value, Rating.updated_at)).all()
        users = np.array(conn.execute(select(User.id).order_by(User.id)).scalars().all(), dtype=np.int64)
        movies = np.array(conn.execute(select(Movie.id).order_by(Movie.id)).scalars().all(), dtype=np.int64)
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "updated_at"])
    df["timestamp"] = (pd.to_datetime(df["updated_at"], utc=True).astype("int64") // 10**9).astype(np.int64)
    return Interactions.from_frame(df, user_vocab=Vocabulary(users), item_vocab=Vocabulary(movies))


CHILD = """
import json, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[4])
from snapshot_memory import fetch_all_interactions
from cinerec.store.db import make_engine
from cinerec.store.snapshot import load_interactions

url, mode, trace = sys.argv[1], sys.argv[2], sys.argv[3] == "trace"
engine = make_engine(url)
with engine.connect() as c:
    c.exec_driver_sql("SELECT 1")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if trace:
    tracemalloc.start()
t0 = time.perf_counter()
data = load_interactions(engine) if mode == "stream" else fetch_all_interactions(engine)
dt = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1] if trace else 0
print(json.dumps({"n": len(data), "s": dt, "heap_mb": peak / 2**20,
                  "rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}))
"""

FILL = """
INSERT INTO users (username, source, source_id, created_at, locale, is_admin, is_active, session_version)
  SELECT 'u' || g, 'bench', g::text, now(), 'en', false, true, 0 FROM generate_series(1, {users}) g;
INSERT INTO movies (title, source, source_id, created_at, is_placeholder)
  SELECT 'Film ' || g, 'bench', g::text, now(), false FROM generate_series(1, {movies}) g;
INSERT INTO ratings (user_id, movie_id, value, source_value, created_at, updated_at)
  SELECT DISTINCT ON (u, m) u, m, v, v, t, t FROM (
    SELECT (SELECT min(id) FROM users) + floor(power(random(), 2) * {users})::int AS u,
           (SELECT min(id) FROM movies) + floor(power(random(), 3) * {movies})::int AS m,
           ceil(random() * 10) / 2 AS v,
           TIMESTAMPTZ '2000-01-01' + random() * INTERVAL '8000 days' AS t
    FROM generate_series(1, {draws})) s
  ON CONFLICT DO NOTHING;
ANALYZE;
"""


def main() -> None:
    import psycopg

    from cinerec.store.migrate import upgrade

    ap = argparse.ArgumentParser()
    ap.add_argument("--ratings", type=int, default=1_000_000)
    args = ap.parse_args()
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        upgrade(url)
        with psycopg.connect(PG, autocommit=True, options=f"-csearch_path={schema}") as c:
            for stmt in FILL.format(users=max(args.ratings // 165, 10), movies=max(args.ratings // 270, 10),
                                    draws=int(args.ratings * 2)).split(";"):
                if stmt.strip():
                    c.execute(stmt)
        print("| read | ratings | seconds | Python heap peak MB | peak RSS growth MB |")
        print("|---|---|---|---|---|")
        for mode in ("fetch-all", "stream"):
            def child(trace: str, mode: str = mode) -> dict[str, float]:
                out = subprocess.run([sys.executable, "-c", CHILD, url, mode, trace,
                                     str(Path(__file__).resolve().parent)], capture_output=True, text=True,
                                     check=True)
                return json.loads(out.stdout.strip().splitlines()[-1])
            plain, traced = child("plain"), child("trace")
            print(f"| {mode} | {int(plain['n']):,} | {plain['s']:.2f} | {traced['heap_mb']:.0f} | {plain['rss_mb']:.0f} |",
                  flush=True)
    finally:
        with psycopg.connect(PG, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
