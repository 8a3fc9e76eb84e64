"""The pieces the server load benchmarks share: the site, the server process and the load generator.

- :func:`build_base_site`: schema, ml-latest-small import and the demo's model for one database.
- :func:`server_command` / :func:`start_server` / :func:`wait_ready` / :func:`stop_server`: the
  site served on 127.0.0.1 by ``cinerec serve --workers N`` (uvicorn's CLI while that option
  does not exist), its log in a file, ready when ``/api/v1/health`` answers.
- :class:`Connection`: one keep-alive HTTP/1.1 connection speaking just enough HTTP for GET
  and PUT with a JSON body (Content-Length responses), with no client library in the way.
- :func:`drive`: ``users`` virtual users, each on its own schedule: open loop at ``rate``
  requests/s in total (latency counted from when each request was *due*, so a stalled server
  shows up in the percentiles instead of slowing the generator down: no coordinated
  omission) or closed loop (``rate`` 0, back to back).
- :func:`percentile`, :func:`print_table`, :func:`cpu_seconds` (a process tree's CPU time) and
  :func:`loadavg`, to report figures with what else the machine was doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
#: What a failed request raises inside :meth:`Connection.request`.
TRANSPORT_ERRORS = (OSError, ValueError, asyncio.IncompleteReadError)


def data_dir() -> Path:
    """``CINEREC_DATA_DIR`` or ``../shared/data`` beside the checkout."""
    return Path(os.environ.get("CINEREC_DATA_DIR", ROOT.parent / "shared" / "data")).resolve()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_base_site(database_url: str, models_dir: Path, data: Path, algo: str) -> None:
    """Schema, the ml-latest-small import and ``algo`` trained and activated (``hybrid``: the demo's)."""
    from cinerec.data.readers import read_dataset
    from cinerec.service.recipes import DEMO_HYBRID
    from cinerec.service.registry import ModelRegistry
    from cinerec.service.training import train_from_store
    from cinerec.store.db import make_engine
    from cinerec.store.importer import import_dataset
    from cinerec.store.migrate import upgrade

    upgrade(database_url)
    eng = make_engine(database_url)
    try:
        import_dataset(eng, read_dataset(data / "ml-latest-small"))
        train_from_store(eng, ModelRegistry(models_dir), algo, DEMO_HYBRID if algo == "hybrid" else {})
    finally:
        eng.dispose()


def _serve_has_workers() -> bool:
    from cinerec.cli.serve import serve

    return "workers" in inspect.signature(serve).parameters


def server_command(port: int, workers: int) -> list[str]:
    """The command that serves the site on 127.0.0.1:``port`` with ``workers`` processes.

    ``python -m cinerec serve --workers N`` where that option exists, else
    uvicorn's own CLI on the app factory (which is what ``serve`` runs).
    """
    if _serve_has_workers():
        return [sys.executable, "-m", "cinerec", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers)]
    return [sys.executable, "-m", "uvicorn", "--factory", "cinerec.web:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]


@dataclass
class Server:
    """A running server process and the file its output goes to."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log: IO[bytes]

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote."""
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def start_server(port: int, workers: int, env: dict[str, str], log_path: Path) -> Server:
    """Start :func:`server_command` with ``env`` added to this process's environment.

    BLAS is held to one thread per process: a server's parallelism is its requests.
    """
    full = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **env}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    proc = subprocess.Popen(server_command(port, workers), env=full, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return Server(proc, port, log_path, log)


def wait_ready(server: Server, timeout: float = 120) -> None:
    """Poll ``/api/v1/health`` until the server answers 200.

    Raises:
        SystemExit: the server exited or did not answer within ``timeout`` seconds (with its log's tail).
    """
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if server.proc.poll() is not None:
            raise SystemExit(f"the server exited with code {server.proc.returncode}; its log "
                             f"({server.log_path}) ends:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit(f"the server did not answer /api/v1/health within {timeout:.0f} s; its log ends:\n"
                     f"{server.log_tail()}")


def stop_server(server: Server) -> None:
    """Terminate the server (kill it after 10 s) and close its log."""
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    server.log.close()


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port``; reconnects after a failure."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self._fixed = f"Host: 127.0.0.1:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def encode(self, method: str, path: str, *, headers: dict[str, str] | None = None,
               json_body: Any = None) -> bytes:
        """The bytes of one request on this connection (the fixed headers, ``headers``, a JSON body)."""
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + body

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                      json_body: Any = None) -> tuple[int, bytes]:
        """Send one request and read the whole response (see :meth:`send`)."""
        return await self.send(self.encode(method, path, headers=headers, json_body=json_body))

    async def open(self) -> None:
        """Connect now (otherwise the first request connects)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send an encoded request and read the whole response.

        Returns:
            The status and the body.

        Raises:
            OSError, ValueError, asyncio.IncompleteReadError: the connection failed or the answer
                was not HTTP with a Content-Length (the connection is closed; the next call opens a new one).
        """
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            self._writer.write(raw)
            head = await self._reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next((int(v) for k, _, v in (ln.partition(":") for ln in lines[1:])
                           if k.lower() == "content-length"), None)
            if length is None:
                raise ValueError("response without Content-Length")
            return status, await self._reader.readexactly(length)
        except TRANSPORT_ERRORS:
            self.close()
            raise

    def close(self) -> None:
        """Close the socket (a later request opens a new one)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def drive(users: int, rate: float, duration: float, act: Callable[[int, float], Awaitable[bool]]) -> float:
    """Run ``users`` virtual users for ``duration`` seconds; returns the seconds the run took.

    Each user ``i`` calls ``await act(i, due)`` again and again, one call at a
    time. With ``rate`` > 0 the users together make ``rate`` calls per second
    on a fixed schedule (user ``i``'s calls are ``users / rate`` seconds apart,
    offset by ``i / rate``) and ``due`` is when the call was scheduled, which
    is the instant its latency counts from; a user that falls behind calls
    again at once. With ``rate`` 0 each user calls back to back and ``due`` is
    the moment of the call. ``act`` returns False to stop that user early.
    """
    start = time.perf_counter() + 0.2
    end = start + duration
    interval = users / rate if rate > 0 else 0.0

    async def user(i: int) -> None:
        due = start + interval * i / users
        while True:
            now = time.perf_counter()
            if interval:
                if due >= end:
                    return
                if due > now:
                    await asyncio.sleep(due - now)
                sent = due
                due += interval
            else:
                if now < start:
                    await asyncio.sleep(start - now)
                    now = time.perf_counter()
                if now >= end:
                    return
                sent = now
            if not await act(i, sent):
                return

    await asyncio.gather(*(user(i) for i in range(users)))
    return max(time.perf_counter(), end) - start


def run(coro: Awaitable[Any]) -> Any:
    """``asyncio.run`` on uvloop when it is installed (a cheaper client leaves more CPU to the server)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (Linux /proc), 0 where unreadable."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    family, total, grew = {pid}, 0.0, True
    while grew:
        grew = False
        for p, (parent, _) in stats.items():
            if parent in family and p not in family:
                family.add(p)
                grew = True
    for p in family:
        total += stats.get(p, (0, 0.0))[1]
    return total


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages from /proc/loadavg ("-" where unreadable)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "-"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of already sorted values: the value at index ``int(q * n)`` (nearest rank)."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class RouteResult:
    """What loading one route measured: latencies of the 200 answers, the other answers and failures."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def row(self) -> tuple[str, str, str, str, str]:
        """Requests/s, p50 and p99 (ms) and errors, formatted."""
        lat = sorted(self.latencies)
        if not lat:
            return (self.name, "0", "-", "-", str(self.errors))
        return (self.name, f"{len(lat) / self.seconds:.0f}", f"{statistics.median(lat) * 1e3:.1f}",
                f"{percentile(lat, 0.99) * 1e3:.1f}", str(self.errors))


async def run_route(port: int, name: str, path: str, token: str | None, connections: int, rate: float,
                    duration: float) -> RouteResult:
    """GET one path on ``connections`` keep-alive connections for ``duration`` seconds (see :func:`drive`)."""
    headers = {"Accept": "text/html,application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conns = [Connection(port, headers) for _ in range(connections)]
    raw = conns[0].encode("GET", path)
    result = RouteResult(name)

    async def act(i: int, sent: float) -> bool:
        try:
            status, _ = await conns[i].send(raw)
        except TRANSPORT_ERRORS:
            result.errors += 1
            await _reopen(conns[i])
            return True
        if status != 200:
            result.errors += 1
        else:
            result.latencies.append(time.perf_counter() - sent)
        return True

    try:
        await asyncio.gather(*(c.open() for c in conns))
        result.seconds = await drive(connections, rate, duration, act)
    finally:
        for c in conns:
            c.close()
    return result


async def _reopen(conn: Connection) -> None:
    """Reconnect after a failure, outside the next request's latency (a refused connect is counted then)."""
    with contextlib.suppress(OSError):
        await conn.open()


def print_table(rows: Sequence[Sequence[str]], left: int = 1) -> None:
    """Print rows (the first is the header) in aligned columns; the first ``left`` columns left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
