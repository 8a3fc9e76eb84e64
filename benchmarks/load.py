"""Server load benchmark: requests/s, p50, p99 and errors per route at 50 connections.

    python benchmarks/load.py [--duration 10] [--connections 50] [--rate 400] [--workers 2]

Builds (once, cached under ``--home``) a demo-size SQLite site from
ml-latest-small in ``CINEREC_DATA_DIR`` (default ``../shared/data``): the
schema, the import, the demo's model (``--algo``, default the demo's hybrid)
and one member with ten ratings. Then it starts ``uvicorn`` on 127.0.0.1 in a
subprocess and, route after route, keeps ``--connections`` keep-alive
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
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_site(home: Path, data_dir: Path, algo: str) -> None:
    """Create the demo-size database and model under ``home`` unless they exist."""
    os.environ["CINEREC_HOME"] = str(home)
    os.environ["CINEREC_DATA_DIR"] = str(data_dir)
    from cinerec.config import get_settings
    from cinerec.service.registry import ModelRegistry

    get_settings.cache_clear()
    s = get_settings()
    if (home / "ready").is_file():
        return
    from cinerec.cli.serve import DEMO_HYBRID
    from cinerec.data.readers import read_dataset
    from cinerec.service.training import train_from_store
    from cinerec.store.db import make_engine
    from cinerec.store.importer import import_dataset
    from cinerec.store.migrate import upgrade

    print(f"building the benchmark site in {home} (once)", flush=True)
    upgrade(s.resolved_database_url)
    eng = make_engine(s.resolved_database_url)
    import_dataset(eng, read_dataset(data_dir / "ml-latest-small"))
    train_from_store(eng, ModelRegistry(s.models_dir), algo, DEMO_HYBRID if algo == "hybrid" else {})
    eng.dispose()
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


@dataclass
class RouteResult:
    """What one route measured."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def row(self) -> tuple[str, str, str, str, str]:
        """Requests/s, p50 and p99 (ms) and errors, formatted."""
        lat = sorted(self.latencies)
        if not lat:
            return (self.name, "0", "-", "-", str(self.errors))
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        return (self.name, f"{len(lat) / self.seconds:.0f}", f"{statistics.median(lat) * 1e3:.1f}",
                f"{p99 * 1e3:.1f}", str(self.errors))


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    """Send one request on a keep-alive connection and read the whole response; returns the status."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next((int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.lower() == "content-length"), None)
    if length is None:
        raise ValueError("response without Content-Length")
    await reader.readexactly(length)
    return status


async def run_route(port: int, name: str, path: str, token: str | None, connections: int, rate: float,
                    duration: float) -> RouteResult:
    """Load one route for ``duration`` seconds."""
    headers = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/html,application/json\r\n"
    if token:
        headers += f"Authorization: Bearer {token}\r\n"
    raw = (headers + "\r\n").encode()
    result = RouteResult(name)
    start = time.perf_counter() + 0.2
    end = start + duration
    interval = connections / rate if rate > 0 else 0.0

    async def worker(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        due = start + (interval * i / connections)
        try:
            while True:
                now = time.perf_counter()
                if interval:
                    if due >= end:
                        break
                    if due > now:
                        await asyncio.sleep(due - now)
                    sent = due
                    due += interval
                else:
                    if now >= end:
                        break
                    sent = now
                try:
                    status = await _request(reader, writer, raw)
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    result.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                if status != 200:
                    result.errors += 1
                else:
                    result.latencies.append(time.perf_counter() - sent)
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    result.seconds = max(time.perf_counter(), end) - start
    return result


def start_server(home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """uvicorn on 127.0.0.1 in a subprocess, serving the site of ``home``."""
    env = {**os.environ, "CINEREC_HOME": str(home), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "cinerec.web:create_app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Poll the health route until the server answers."""
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not start in time")


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
    data_dir = Path(os.environ.get("CINEREC_DATA_DIR", ROOT.parent / "shared" / "data")).resolve()
    build_site(args.home.resolve(), data_dir, args.algo)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(args.home.resolve(), port, args.workers)
    try:
        wait_ready(base, proc)
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
            results.append(asyncio.run(run_route(port, name, url, token if needs_member else None, args.connections,
                                                 args.rate, min(args.duration, 60.0))))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    mode = f"open loop at {args.rate:.0f} req/s" if args.rate else "closed loop"
    print(f"\n{args.connections} connections, {mode}, {min(args.duration, 60.0):.0f} s per route, "
          f"{args.workers} uvicorn workers, {os.cpu_count()} CPUs")
    header = ("route", "req/s", "p50 ms", "p99 ms", "errors")
    rows = [header, *(r.row() for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


if __name__ == "__main__":
    main()
