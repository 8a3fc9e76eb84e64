"""In-process profile of the site's hot routes: ms per request and the top cumulative entries.

    python benchmarks/profile_routes.py [--n 200] [--routes home,film] [--top 25] [--no-profile]
    python benchmarks/profile_routes.py --social [--routes "feed api (heavy)"]

With ``--social`` it uses ``benchmarks/load_social.py``'s site instead (the
demo's social graph, a rate event per rating) and that benchmark's routes,
as its members ``socialite`` and ``heavyfollower``.

Uses the demo-size site that ``benchmarks/load.py`` builds (``--home``,
copied to a temporary folder so the benchmark's database is not changed),
signs up one member with ten ratings and calls each route ``--n`` times
through httpx's ASGI transport (no network, no uvicorn) with the thread pool
replaced by inline calls, so that cProfile sees the route, its dependencies
and the template in one thread: the figures are the application's own cost
per request, one request at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROUTES: list[tuple[str, str, bool]] = [
    ("home", "/", False),
    ("home member", "/", True),
    ("browse", "/movies", False),
    ("film", "/movies/{film}", False),
    ("film member", "/movies/{film}", True),
    ("for-you", "/for-you", True),
    ("me/recommendations", "/api/v1/me/recommendations?k=10", True),
    ("profile recommendations", "/api/v1/explore/profiles/1/recommendations?k=10", False),
]


def main() -> None:
    """Copy the benchmark site, start the app in-process and time (and profile) each route."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--routes", default="")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--home", type=Path, default=None, help="the site (default: load.py's, or load_social.py's)")
    ap.add_argument("--social", action="store_true", help="the social site and routes of load_social.py")
    args = ap.parse_args()
    if args.home is None:
        args.home = ROOT / "results" / ("load-social-home" if args.social else "load-home")
    if args.social and not (args.home / "social.json").is_file():
        raise SystemExit(f"{args.home} is not built: run benchmarks/load_social.py once")
    if not args.social and not (args.home / "ready").is_file():
        raise SystemExit(f"{args.home} is not built: run benchmarks/load.py once")
    tmp = Path(tempfile.mkdtemp(prefix="cinerec-profile-"))
    shutil.copy(args.home / "cinerec.db", tmp / "cinerec.db")
    (tmp / "models").symlink_to((args.home / "models").resolve())
    os.environ["CINEREC_HOME"] = str(tmp)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import anyio.to_thread

    from cinerec.config import get_settings
    from cinerec.web import create_app

    async def inline(func: Any, *a: Any, **_: Any) -> Any:  # sync routes and dependencies in this thread
        return func(*a)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    get_settings.cache_clear()
    app = create_app(get_settings())
    wanted = {r.strip() for r in args.routes.split(",") if r.strip()}
    asyncio.run(_run(app, wanted, args))
    shutil.rmtree(tmp, ignore_errors=True)


async def _run(app: Any, wanted: set[str], args: argparse.Namespace) -> None:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        if args.social:
            await _run_social(c, wanted, args)
            return
        name, email, pw = "profiler", "profiler@example.org", "a quiet evening with 42 films"
        await c.post("/api/v1/auth/signup", json={"username": name, "email": email, "password": pw})
        token = (await c.post("/api/v1/auth/token", json={"username": name, "password": pw})).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        films = [m["id"] for m in (await c.get("/api/v1/movies", params={"limit": 10})).json()["data"]]
        for i, f in enumerate(films):
            (await c.put(f"/api/v1/movies/{f}/rating", json={"rating": 5.0 - (i % 4)}, headers=auth)).raise_for_status()
        fill = {"film": str(films[0])}
        summary = []
        for rname, path, member in ROUTES:
            if wanted and rname not in wanted:
                continue
            summary.append((rname, await _time_route(c, rname, path.format(**fill), auth if member else {}, args)))
        _print_summary(summary)


async def _time_route(c: Any, rname: str, url: str, headers: dict[str, str], args: argparse.Namespace) -> float:
    """Milliseconds per request of one route (``--n`` calls), and its profile unless ``--no-profile``."""
    for _ in range(5):
        assert (await c.get(url, headers=headers)).status_code == 200, url
    t0 = time.perf_counter()
    for _ in range(args.n):
        await c.get(url, headers=headers)
    ms = (time.perf_counter() - t0) / args.n * 1e3
    if not args.no_profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.n):
            await c.get(url, headers=headers)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(f"\n===== {rname} {url}: {ms:.2f} ms/request =====")
        print("\n".join(out.getvalue().splitlines()[6:]))
    return ms


def _print_summary(summary: list[tuple[str, float]]) -> None:
    print("\nroute                      ms/request (in-process, one at a time)")
    for rname, ms in summary:
        print(f"{rname:26} {ms:8.2f}")


async def _run_social(c: Any, wanted: set[str], args: argparse.Namespace) -> None:
    """The routes of ``benchmarks/load_social.py`` as its members."""
    import json

    from load_social import PASSWORD
    from load_social import ROUTES as SOCIAL_ROUTES

    fill = json.loads((args.home / "social.json").read_text())
    auth = {"": {}}
    for who, name in (("member", "socialite"), ("heavy", "heavyfollower")):
        r = await c.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
        auth[who] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    summary = []
    for rname, path, who in SOCIAL_ROUTES:
        if wanted and rname not in wanted:
            continue
        summary.append((rname, await _time_route(c, rname, path.format(**fill), auth[who], args)))
    _print_summary(summary)

if __name__ == "__main__":
    main()
