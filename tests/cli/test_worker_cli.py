"""``cinerec worker`` and ``cinerec models runs`` in subprocesses: runs, the run log, the lock, signals, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cinerec.config import Settings
from cinerec.service.worker import read_runs, training_lock
from tests.service.test_worker import build_site, child_env

pytestmark = pytest.mark.e2e


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cinerec", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def unserved(tmp_path: Path, datasets: Path) -> Settings:
    """A small site with ratings and no model yet."""
    return build_site(tmp_path / "home", datasets, users=60, algo=None)


def test_worker_once_trains_gates_and_logs_its_runs(unserved: Settings) -> None:
    env = child_env(unserved)
    r = cli("worker", "--once", env=env)
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.strip().split("\n")
    assert "activated" in line and "trigger=no-active-model" in line and "algo=hybrid" in line  # the demo's model
    assert "retrain" in r.stderr and "started (trigger no-active-model)" in r.stderr  # logged on the cinerec logger
    r = cli("worker", "--once", env=env)
    assert r.returncode == 0 and r.stdout.startswith("nothing to do: no trigger is due")
    r = cli("worker", "--once", "--force", env={**env, "CINEREC_RETRAIN_ALGO": "bias"})
    assert r.returncode == 0, r.stderr
    assert "rejected" in r.stdout and "holdout NDCG@10" in r.stdout and "algo=bias" in r.stdout
    r = cli("models", "runs", env=env)
    lines = r.stdout.strip().split("\n")
    assert r.returncode == 0 and len(lines) == 2 and "rejected" in lines[0] and "activated" in lines[1]
    assert cli("models", "runs", "--limit", "1", env=env).stdout.strip() == lines[0]
    listed = cli("models", "list", env=env).stdout.strip().split("\n")
    assert any(v.lstrip().split()[1] == "bias" and "rejected by the gate: holdout NDCG@10" in v for v in listed)
    assert any(v.startswith("*") and "hybrid" in v for v in listed)


def test_train_and_worker_refuse_while_another_run_holds_the_lock(unserved: Settings) -> None:
    env = child_env(unserved)
    with training_lock(unserved.models_dir):
        for args in (("train", "--algo", "popularity"), ("worker", "--once", "--force")):
            r = cli(*args, env=env)
            assert r.returncode == 4, r.stderr
            assert f"error: another training run is in progress (pid {os.getpid()})" in r.stderr
            assert "Traceback" not in r.stderr
    assert read_runs(unserved.models_dir)[0]["outcome"] == "skipped"
    assert cli("train", "--algo", "popularity", env=env).returncode == 0  # released


def test_worker_errors_are_one_line(tmp_path: Path, unserved: Settings) -> None:
    r = cli("worker", "--check-every", "0", env=child_env(unserved))
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: --check-every must be a positive number of seconds, at most a day; got 0.0")
    bare = Settings(home=tmp_path / "bare")
    r = cli("worker", "--once", env=child_env(bare))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().split("\n")[-1].startswith("error: the database has no tables yet: run `cinerec db upgrade`")
    r = cli("models", "runs", env=child_env(unserved))
    assert r.returncode == 0 and r.stdout.startswith("no retraining runs yet")


def test_sigterm_stops_the_loop_after_the_current_run(unserved: Settings) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cinerec", "worker", "--force", "--check-every", "0.2"],
                            env=child_env(unserved), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not read_runs(unserved.models_dir):  # the first run has started
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    [run] = read_runs(unserved.models_dir)
    assert run["outcome"] == "activated" and run["event"] == "ended"  # finished, not interrupted
    assert "stopping after the current run" in err and "retraining worker stopped" in err
    assert "activated" in out
