"""`cinerec serve --workers N` runs N processes behind one port; `--with-worker` runs the retraining worker beside it.

The multi-process test starts the real command on a free port and talks to it over HTTP: two spawned uvicorn
workers answer, share a temporary Prometheus multiprocess folder (removed on exit) and run with one BLAS thread.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from cinerec.cli import serve as serve_cli
from cinerec.service.metrics import MULTIPROC_ENV


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from ``/proc/<pid>/task/*/children``)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def cmdline(pid: int) -> list[str]:
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]


def niceness(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of the whole line


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_") and k != MULTIPROC_ENV}
    env |= {"CINEREC_HOME": str(tmp_path / "home"), "CINEREC_WORKER_THREADS": "2"}
    return env


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cinerec", "serve", "--port", str(port), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_healthy(proc: subprocess.Popen[bytes], port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not answer /api/v1/health in time")


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def pids_that_served(folder: Path, route: str) -> set[int]:
    """Processes whose multiprocess metric files hold a latency sample for ``route``."""
    pids = set()
    for f in folder.glob("histogram_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(f)):  # type: ignore[no-untyped-call]
            metric, sample, labels, _ = json.loads(key)
            if metric == "cinerec_http_request_duration_seconds" and sample.endswith("_bucket") \
                    and labels.get("route") == route and value > 0:
                pids.add(int(f.stem.rsplit("_", 1)[1]))
    return pids


def test_serve_with_two_workers_answers_from_two_processes(server_env: dict[str, str],
                                                           stopper: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    proc = start(["--workers", "2"], server_env, port)
    stopper.append(proc)
    wait_healthy(proc, port)
    workers = [c for c in children(proc.pid) if any("spawn_main" in a for a in cmdline(c))]
    assert len(workers) == 2, [cmdline(c) for c in children(proc.pid)]
    envs = [environ(w) for w in workers]
    folder = Path(envs[0][MULTIPROC_ENV])
    assert folder.is_dir() and all(e[MULTIPROC_ENV] == str(folder) for e in envs)
    assert all(e[name] == "1" for e in envs for name in serve_cli.ONE_THREAD_ENV)
    # fresh connections, so that the kernel hands them to both processes
    served: set[int] = set()
    for _ in range(20):
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).json()["status"] == "ok"
        served = pids_that_served(folder, "/api/v1/health")
        if len(served) == 2:
            break
    assert served == set(workers)
    # any process's /metrics answers for both
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("cinerec_http_request_duration_seconds_count")
                and 'route="/api/v1/health"' in x)
    assert float(line.rsplit(" ", 1)[1]) >= 10
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not any(alive(w) for w in workers)
    assert not folder.exists(), "the temporary metrics folder is removed on exit"


def test_serve_keeps_a_configured_metrics_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with serve_cli._multiprocess_metrics_dir():
        assert os.environ[MULTIPROC_ENV] == str(tmp_path)
    assert tmp_path.is_dir() and os.environ[MULTIPROC_ENV] == str(tmp_path)
    monkeypatch.delenv(MULTIPROC_ENV)
    with serve_cli._multiprocess_metrics_dir():
        made = Path(os.environ[MULTIPROC_ENV])
        assert made.is_dir() and not any(made.iterdir())
    assert not made.exists() and MULTIPROC_ENV not in os.environ
    assert serve_cli.MULTIPROC_ENV == MULTIPROC_ENV


def test_a_configured_metrics_folder_that_does_not_exist_is_a_one_line_error(tmp_path: Path,
                                                                           server_env: dict[str, str]) -> None:
    env = server_env | {MULTIPROC_ENV: str(tmp_path / "missing")}
    r = subprocess.run([sys.executable, "-m", "cinerec", "serve", "--workers", "2", "--port", str(free_port())],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: {MULTIPROC_ENV}={tmp_path / 'missing'} is not a folder: create it "
                                             "(empty) or unset it, and cinerec serve uses a temporary one"]


def test_the_worker_child_is_cinerec_worker_and_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (sys.executable, "-m", "cinerec", "worker") == serve_cli.WORKER_COMMAND
    marker = tmp_path / "started"
    # a stand-in with the same life cycle: runs until told to stop
    monkeypatch.setattr(serve_cli, "WORKER_COMMAND", (sys.executable, "-c", (
        f"import pathlib, time; pathlib.Path({str(marker)!r}).write_text('x'); time.sleep(120)")))
    with serve_cli._retraining_worker() as proc:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists() and proc.poll() is None
    assert proc.returncode == -signal.SIGTERM


def test_a_worker_that_does_not_stop_gets_a_second_sigterm_then_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker, terms = tmp_path / "ready", tmp_path / "terms"
    monkeypatch.setattr(serve_cli, "WORKER_STOP_SECONDS", 0.5)
    monkeypatch.setattr(serve_cli, "WORKER_COMMAND", (sys.executable, "-c", (
        "import pathlib, signal, time; "
        f"signal.signal(signal.SIGTERM, lambda *_: open({str(terms)!r}, 'a').write('t')); "
        f"pathlib.Path({str(marker)!r}).write_text('x')\nwhile True: time.sleep(0.05)")))
    started = time.monotonic()
    with serve_cli._retraining_worker() as proc:
        while not marker.exists() and time.monotonic() - started < 30:
            time.sleep(0.05)
    assert proc.returncode == -signal.SIGKILL
    assert terms.read_text() == "tt", "two SIGTERMs (finish the run, then abandon it) before SIGKILL"
    assert time.monotonic() - started < 30


def test_serve_starts_the_worker_command_with_the_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--with-worker` spawns exactly WORKER_COMMAND before uvicorn runs and stops it after."""
    from typer.testing import CliRunner

    from cinerec.cli import app
    from cinerec.config import get_settings

    events: list[str] = []

    class FakePopen:
        pid = 4242
        returncode: int | None = None

        def __init__(self, args: list[str], preexec_fn: object = None) -> None:
            assert args == list(serve_cli.WORKER_COMMAND) and preexec_fn is serve_cli._worker_preexec
            events.append("worker started")

        def poll(self) -> int | None:
            return self.returncode

        def wait(self, timeout: float | None = None) -> int:
            while self.returncode is None:
                time.sleep(0.01)
            return self.returncode

        def terminate(self) -> None:
            events.append("worker stopped")
            self.returncode = -15

        def kill(self) -> None:
            self.returncode = -9

    def fake_run(app: object, **kwargs: object) -> None:
        assert os.environ.get(MULTIPROC_ENV), "the worker and the server share a metrics folder"
        events.append(f"uvicorn workers={kwargs.get('workers', 1)}")

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    monkeypatch.setattr("uvicorn.run", fake_run)
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.setenv("CINEREC_HOME", str(tmp_path))
    for name in serve_cli.ONE_THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--with-worker", "--workers", "3"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert events == ["worker started", "uvicorn workers=3", "worker stopped"]
    assert MULTIPROC_ENV not in os.environ
    assert all(os.environ[name] == "1" for name in serve_cli.ONE_THREAD_ENV)


def test_serve_with_worker_runs_the_real_worker_niced_and_stops_it(server_env: dict[str, str],
                                                                  stopper: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    proc = start(["--with-worker"], server_env, port)
    stopper.append(proc)
    wait_healthy(proc, port)
    worker = [c for c in children(proc.pid) if cmdline(c)[1:] == ["-m", "cinerec", "worker"]]
    assert len(worker) == 1, [cmdline(c) for c in children(proc.pid)]
    deadline = time.monotonic() + 60
    while niceness(worker[0]) == niceness(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker nices itself once it has started
    assert niceness(worker[0]) == niceness(proc.pid) + 10, "niced once, by the worker itself (not twice: 19)"
    folder = Path(environ(worker[0])[MULTIPROC_ENV])  # the worker's retraining metrics reach the server's /metrics
    assert folder.is_dir()
    assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not alive(worker[0])
    assert not folder.exists()
