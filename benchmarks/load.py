"""Server load benchmark: requests/s, p50, p99 and errors per route at 50 connections.

    python benchmarks/load.py [--duration 10] [--connections 50] [--rate 400] [--workers 2]

Builds (once, cached under ``--home``) a demo-size SQLite site from
ml-latest-small in ``CINEREC_DATA_DIR`` (default ``../shared/data``): the
schema, the import, the demo's model (``--algo``, default the demo's hybrid)
and one member with ten ratings. Then it starts the server on 127.0.0.1 in a
subprocess (``benchmarks/_loadgen.py``: ``cinerec serve --workers N``, its log
in ``<home>/server.log``) and, route after route, keeps ``--connections`` keep-alive
HTTP/1.1 connections busy for ``--duration`` seconds each, and stops the
server at the end.

Load model: with ``--rate R`` the connections together send R requests/s on
a fixed schedule (open loop), and each latency is measured from the moment
the request was *due*, so a stalled server shows up in p99 instead of
slowing the generator down (no coordinated omission). ``--rate 0`` sends
back-to-back on every connection (closed loop, the saturation throughput).
Routes are a list of ``(name, path, needs_member)`` in :data:`ROUTES`: add a
line to add a route.

Figures depend on the machine and on whatever else runs on it: report them
with the load and the core count.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import (
    ROOT,
    build_base_site,
    data_dir,
    free_port,
    print_table,
    run,
    run_route,
    start_server,
    stop_server,
    wait_ready,
)

#: (name, path, needs the member's bearer token)
ROUTES: list[tuple[str, str, bool]] = [
    ("home", "/", False),
    ("browse", "/movies", False),
    ("browse api", "/api/v1/movies?limit=20", False),
    ("film page", "/movies/{film}", False),
    ("me/recommendations", "/api/v1/me/recommendations?k=10", True),
    ("profile recommendations", "/api/v1/explore/profiles/{profile}/recommendations?k=10", False),
]
MEMBER = ("loadtester", "loadtester@example.org", "a quiet evening with 42 films")


def build_site(home: Path, data: Path, algo: str) -> None:
    """Create the demo-size database and model under ``home`` unless they exist."""
    os.environ["CINEREC_HOME"] = str(home)
    os.environ["CINEREC_DATA_DIR"] = str(data)
    from cinerec.config import get_settings

    get_settings.cache_clear()
    s = get_settings()
    if (home / "ready").is_file():
        return
    print(f"building the benchmark site in {home} (once)", flush=True)
    build_base_site(s.resolved_database_url, s.models_dir, data, algo)
    (home / "ready").write_text(algo)


def member_token(base: str) -> str:
    """Sign up the benchmark member (or log in) and give it ten ratings; returns a bearer token."""
    import httpx

    name, email, password = MEMBER
    with httpx.Client(base_url=base, timeout=30) as c:
        c.post("/api/v1/auth/signup", json={"username": name, "email": email, "password": password})
        r = c.post("/api/v1/auth/token", json={"username": name, "password": password})
        r.raise_for_status()
        token = str(r.json()["access_token"])
        auth = {"Authorization": f"Bearer {token}"}
        films = [m["id"] for m in c.get("/api/v1/movies", params={"limit": 10}).json()["data"]]
        for i, film in enumerate(films):
            c.put(f"/api/v1/movies/{film}/rating", json={"rating": 5.0 - (i % 4)}, headers=auth).raise_for_status()
    return token


def main() -> None:
    """Parse arguments, build the site, start the server, load each route, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per route (capped at 60)")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rate", type=float, default=400.0, help="total requests/s per route; 0 = closed loop")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--algo", default="hybrid", help="model trained for the site (the demo's by default)")
    ap.add_argument("--home", type=Path, default=ROOT / "results" / "load-home", help="cached benchmark site")
    ap.add_argument("--routes", default="", help="comma-separated route names (default: all)")
    args = ap.parse_args()
    build_site(args.home.resolve(), data_dir(), args.algo)
    home = args.home.resolve()
    server = start_server(free_port(), args.workers, {"CINEREC_HOME": str(home)}, home / "server.log")
    base = server.base
    try:
        wait_ready(server)
        token = member_token(base)
        wanted = {r.strip() for r in args.routes.split(",") if r.strip()}
        import httpx

        first = httpx.get(f"{base}/api/v1/movies", params={"limit": 1}).json()["data"][0]["id"]
        fill = {"film": str(first), "profile": "1"}
        results = []
        for name, path, needs_member in ROUTES:
            if wanted and name not in wanted:
                continue
            url = path.format(**fill)
            for _ in range(10 * args.workers):  # new connections, so that every worker warms its caches
                httpx.get(base + url, headers={"Authorization": f"Bearer {token}"} if needs_member else {}, timeout=30)
            results.append(run(run_route(server.port, name, url, token if needs_member else None, args.connections,
                                         args.rate, min(args.duration, 60.0))))
    finally:
        stop_server(server)
    mode = f"open loop at {args.rate:.0f} req/s" if args.rate else "closed loop"
    print(f"\n{args.connections} connections, {mode}, {min(args.duration, 60.0):.0f} s per route, "
          f"{args.workers} uvicorn workers, {os.cpu_count()} CPUs")
    print_table([("route", "req/s", "p50 ms", "p99 ms", "errors"), *(r.row() for r in results)])

if __name__ == "__main__":
    main()
