"""Where a request of benchmarks/serve_load.py's mix spends its CPU, in-process and one at a time.

    python benchmarks/profile_serve_load.py [--n 2000] [--site PATH] [--top 30]

Uses the SQLite site that ``benchmarks/serve_load.py`` built (``--site``,
default its 200-member hybrid site; copied to a temporary folder so the cached
one is not changed), logs every member in and sends the benchmark's mix
through httpx's ASGI transport (no network, no uvicorn; the thread pool
replaced by inline calls so cProfile sees routes and dependencies in one
thread): member ``i % members`` in turn, 10% rating writes of an unrated film,
90% ``GET /api/v1/me/recommendations?k=10``. One pass over all members first
(each member's list computed once, as a warm server has), then ``--n``
requests timed with CPU time (reads and writes apart), then ``--n`` more
under cProfile (CPU-time clock, so other processes on the machine do not
inflate it): CPU time by package/module, and the cumulative time of the
project's own functions. ``PROFILE_DUMP=FILE`` also writes the raw profile
there (for ``pstats``: e.g. who calls what).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_load
from _loadgen import ROOT

READ = "/api/v1/me/recommendations?k=10"


def _group(filename: str, name: str) -> str:
    if "/cinerec/" in filename:
        return "cinerec/" + filename.split("/cinerec/", 1)[1]
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/")[0]
    if filename == "~":
        return "builtin " + name
    return "stdlib " + Path(filename).name


async def _profile(app: Any, members: list[str], plan: serve_load.Plan, args: argparse.Namespace) -> None:
    import httpx

    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        auth = {}
        for m in members:
            r = await c.post("/api/v1/auth/token", json={"username": m, "password": serve_load.PASSWORD})
            auth[m] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        rng, taken = random.Random(args.seed), dict.fromkeys(members, 0)

        async def step(i: int) -> str:
            m = members[i % len(members)]
            if rng.random() < args.write_share:
                film = plan.unrated[m][taken[m]]
                taken[m] += 1
                r = await c.put(f"/api/v1/movies/{film}/rating", json={"rating": 3.5}, headers=auth[m])
                kind = "write"
            else:
                r = await c.get(READ, headers=auth[m])
                kind = "read"
            if r.status_code != 200:
                raise SystemExit(f"{kind} answered {r.status_code}: {r.text[:300]}")
            return kind

        for i in range(len(members)):
            await step(i)
        spent: dict[str, list[float]] = defaultdict(list)
        for i in range(args.n):
            t0 = time.process_time()
            kind = await step(i)
            spent[kind].append(time.process_time() - t0)
        total = sum(sum(v) for v in spent.values())
        print(f"{total / args.n * 1e3:.2f} CPU ms per request (client included); "
              + ", ".join(f"{k} {len(v)} x {sum(v) / len(v) * 1e3:.2f} ms" for k, v in spent.items()))
        prof = cProfile.Profile(time.process_time)
        prof.enable()
        for i in range(args.n, 2 * args.n):
            await step(i)
        prof.disable()
    if os.environ.get("PROFILE_DUMP"):
        prof.dump_stats(os.environ["PROFILE_DUMP"])
    stats = pstats.Stats(prof)
    groups: dict[str, float] = defaultdict(float)
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        groups[_group(filename, name)] += row[2]
    whole = sum(groups.values())
    print(f"\nprofiled: {whole / args.n * 1e3:.2f} CPU ms per request (profiler overhead included); own time by module:")
    for key, t in sorted(groups.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {t / args.n * 1e3:7.3f} ms  {t / whole:6.1%}  {key}")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(
        "cinerec/(web/api|web/deps|web/present|service|store/repos|algorithms)", args.top)
    print("\n" + "\n".join(out.getvalue().splitlines()[6:]))


def main() -> None:
    """Copy the site, start the app in-process, time and profile the mix."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="requests timed, and as many profiled")
    ap.add_argument("--site", type=Path, default=ROOT / "results" / "serve-load-home" / "sqlite-hybrid-m200-h0")
    ap.add_argument("--write-share", type=float, default=0.1)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    site = args.site.resolve()
    if not (site / "site.json").is_file():
        raise SystemExit(f"{site} is not built: run benchmarks/serve_load.py once (SQLite)")
    tmp = Path(tempfile.mkdtemp(prefix="cinerec-profile-"))
    try:
        src, dst = sqlite3.connect(site / "cinerec.db"), sqlite3.connect(tmp / "cinerec.db")
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        (tmp / "models").symlink_to(site / "models")
        os.environ["CINEREC_HOME"] = str(tmp)
        os.environ["CINEREC_DATABASE_URL"] = f"sqlite:///{tmp / 'cinerec.db'}"
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        import anyio.to_thread

        from cinerec.config import get_settings
        from cinerec.store.migrate import upgrade
        from cinerec.web import create_app

        async def inline(func: Any, *a: Any, **_: Any) -> Any:  # sync routes and dependencies in this thread
            return func(*a)

        anyio.to_thread.run_sync = inline  # type: ignore[assignment]
        get_settings.cache_clear()
        upgrade(get_settings().resolved_database_url)
        members = list(json.loads((site / "site.json").read_text())["members"])
        plan = serve_load.make_plan(get_settings().resolved_database_url, members, 0, args.seed)
        asyncio.run(_profile(create_app(get_settings()), members, plan, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
