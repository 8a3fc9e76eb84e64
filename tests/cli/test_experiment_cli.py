"""``cinerec experiment create|start|ramp|stop|list|report`` in subprocesses, with members served in between."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from cinerec.service.experiments import ExperimentService
from cinerec.service.members import rate
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import train_from_store
from cinerec.store.db import make_engine, transaction
from cinerec.store.models import User
from tests.service.test_worker import build_site, child_env

pytestmark = pytest.mark.e2e


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cinerec", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_experiment_life_from_the_command_line(tmp_path: Path, datasets: Path) -> None:
    s = build_site(tmp_path / "home", datasets, users=120, algo="item-knn")
    eng = make_engine(s.resolved_database_url)
    reg = ModelRegistry(s.models_dir)
    active = reg.active_version()
    assert active is not None
    other = train_from_store(eng, reg, "popularity", activate=False).version
    env = child_env(s)

    # bad input: one line each, non-zero exit, nothing created
    for args, words in [(["--variant", "control"], "NAME=MODEL_VERSION"),
                        (["--variant", f"control={active}:x", "--variant", f"t={other}"], "not a number"),
                        (["--variant", f"control={active}", "--variant", "t=nope"], "nope"),
                        (["--variant", f"control={active}", "--variant", f"t={other}", "--metric", "revenue"],
                         "unknown metric"),
                        (["--variant", f"control={active}", "--variant", f"t={active}", "--rerank", "x=0.5"],
                         "no variant called 'x'"),
                        (["--variant", f"control={active}", "--variant", f"t={active}", "--rerank", "t=2"],
                         "between 0 and 1")]:
        r = cli("experiment", "create", "bad", *args, env=env)
        assert r.returncode != 0 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert "no experiments yet" in cli("experiment", "list", env=env).stdout

    r = cli("experiment", "create", "home-rail", "--variant", f"control={active}:50", "--variant",
            f"treatment={other}:50", "--guardrail", "share_rate", "--min-sample", "10", env=env)
    assert r.returncode == 0, r.stderr
    assert "home-rail: draft" in r.stdout and "control=" + active in r.stdout and "(50%)" in r.stdout
    assert cli("experiment", "start", "home-rail", env=env).returncode == 0
    assert "traffic 50%" in cli("experiment", "ramp", "home-rail", "--traffic", "0.5", env=env).stdout

    # a server process serves it: members in the traffic get their variant, and are logged once
    service = RecommenderService(reg)
    exps = ExperimentService(eng, service, poll_seconds=60)
    exps.refresh()
    assert [i.name for i in exps.running] == ["home-rail"]
    with transaction(eng, write=False) as session:
        uids = list(session.scalars(select(User.id).order_by(User.id)))
    served = 0
    for uid in uids:
        with transaction(eng, write=False) as session:
            recs = exps.recommendations(session, uid, 10)
        a = exps.assign(uid)
        assert (recs.experiment is not None) == (a is not None)
        if a is not None:
            served += 1
            assert recs.model_version == (active if a.variant == "control" else other)
            if served % 3 == 0:  # some rate the first recommended film
                rate(eng, uid, recs.items[0].movie_id, 4.5)
    exps.close()
    assert 30 < served < 90  # about half of 120

    r = cli("experiment", "report", "home-rail", "--plot", str(tmp_path / "plot.png"), env=env)
    assert r.returncode == 0, r.stderr
    assert "control" in r.stdout and "treatment" in r.stdout and "SRM" in r.stdout
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "home-rail: running" in cli("experiment", "list", env=env).stdout
    assert "stopped" in cli("experiment", "stop", "home-rail", env=env).stdout
    r = cli("experiment", "start", "home-rail", env=env)
    assert r.returncode != 0 and "cannot be restarted" in r.stderr
    r = cli("experiment", "report", "nope", env=env)
    assert r.returncode != 0 and "no experiment 'nope'" in r.stderr
    eng.dispose()
