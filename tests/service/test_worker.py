"""The retraining worker: triggers, the holdout gate, the training lock, the run log, and F1 (kill -9 during training)."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from cinerec.algorithms.persist import verify
from cinerec.algorithms.registry import create
from cinerec.config import Settings
from cinerec.data.readers import read_dataset
from cinerec.errors import Conflict
from cinerec.service import worker as W
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import (
    data_watermark,
    fit_model,
    publish_model,
    snapshot,
    train_from_store,
)
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
from cinerec.store.models import Rating, Review
from cinerec.store.repos import ratings as rating_repo


def build_site(home: Path, datasets: Path, *, users: int = 150, algo: str | None = "item-knn") -> Settings:
    """A SQLite site under ``home`` with the first ``users`` members of ml-latest-small (and ``algo`` active)."""
    s = Settings(home=home, data_dir=datasets, database_url=None, retrain_every=None, retrain_after=None,
                 retrain_algo=None)
    upgrade(s.resolved_database_url)
    eng = make_engine(s.resolved_database_url)
    if users:
        ds = read_dataset(datasets / "ml-latest-small")
        keep = sorted(ds.ratings["user"].unique())[:users]
        import_dataset(eng, dataclasses.replace(ds, ratings=ds.ratings[ds.ratings["user"].isin(keep)], tags=None))
    if algo is not None:
        train_from_store(eng, ModelRegistry(s.models_dir), algo)
    eng.dispose()
    return s


def child_env(s: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``python -m cinerec`` child on the site ``s``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_")}
    return {**env, "CINEREC_HOME": str(s.home), "CINEREC_DATABASE_URL": s.resolved_database_url, **extra}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Settings:
    """A small site with an active item-kNN model; tests that change it copy it first (:func:`fresh`)."""
    return build_site(tmp_path_factory.mktemp("worker-site"), datasets)


def fresh(site: Settings, tmp_path: Path, **changes: Any) -> Settings:
    """A private copy of the module's site (database and models), with settings ``changes``."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(site.home, home)
    return site.model_copy(update={"home": home, **changes})


def rate(eng: Engine, user_id: int, movie_ids: list[int], when: datetime | None = None) -> None:
    """``user_id`` rates each film 4 stars now (or at ``when``)."""
    with Session(eng) as session, session.begin():
        for m in movie_ids:
            rating_repo.upsert(session, user_id, m, 4.0, when or datetime.now(UTC))


def unrated(eng: Engine, user_id: int, n: int) -> list[int]:
    """``n`` films ``user_id`` has not rated."""
    from cinerec.store.models import Movie

    with eng.connect() as conn:
        rated = set(conn.execute(select(Rating.movie_id).where(Rating.user_id == user_id)).scalars())
        ids = conn.execute(select(Movie.id).order_by(Movie.id).limit(n + len(rated))).scalars().all()
    return [m for m in ids if m not in rated][:n]


def first_member(eng: Engine) -> int:
    with eng.connect() as conn:
        return int(conn.execute(select(Rating.user_id).order_by(Rating.user_id).limit(1)).scalar_one())


# ------------------------------------------------------------------ triggers
def test_due_triggers(site: Settings, tmp_path: Path, datasets: Path) -> None:
    empty = build_site(tmp_path / "empty", datasets, users=0, algo=None)
    assert W.RetrainWorker(empty).due() is None  # nothing to train on: no failing run every check
    assert W.RetrainWorker(empty).due(force=True) == "forced"
    unserved = build_site(tmp_path / "unserved", datasets, users=20, algo=None)
    assert W.RetrainWorker(unserved).due() == "no-active-model"

    s = fresh(site, tmp_path, retrain_every="1h", retrain_after=5)
    w = W.RetrainWorker(s)
    now = datetime.now(UTC)
    assert w.due(now=now) is None
    assert w.due(now=now + timedelta(hours=2)) == "schedule"
    member = first_member(w.engine)
    films = unrated(w.engine, member, 5)
    rate(w.engine, member, films[:3])
    assert W.new_interactions(w.engine, w._reference()[0]) == 3 and w.due(now=now) is None
    # an imported row whose timestamp is older than the model's data counts (by its id) ...
    rate(w.engine, member, films[3:4], when=datetime(2001, 1, 1, tzinfo=UTC))
    assert W.new_interactions(w.engine, w._reference()[0]) == 4 and w.due(now=now) is None
    # ... and so does a changed old rating (by updated_at)
    with Session(w.engine) as session, session.begin():
        old = session.scalars(select(Rating).where(Rating.user_id == member).order_by(Rating.id).limit(1)).one()
        session.execute(update(Rating).where(Rating.id == old.id).values(value=1.0, updated_at=datetime.now(UTC)))
    assert W.new_interactions(w.engine, w._reference()[0]) == 5
    assert w.due(now=now) == "new-interactions"
    with Session(w.engine) as session, session.begin():  # a review counts too
        session.add(Review(user_id=member, movie_id=films[4], text="great", sentiment=0.8))
    assert W.new_interactions(w.engine, w._reference()[0]) == 6


def test_watermark_and_new_interactions_on_each_database(db_url: str, datasets: Path) -> None:
    """The watermark and the count agree on SQLite (naive UTC times) and PostgreSQL (timestamptz)."""
    upgrade(db_url)
    eng = make_engine(db_url)
    ds = read_dataset(datasets / "ml-latest-small")
    keep = sorted(ds.ratings["user"].unique())[:5]
    import_dataset(eng, dataclasses.replace(ds, ratings=ds.ratings[ds.ratings["user"].isin(keep)], tags=None))
    mark = data_watermark(eng)
    assert mark["rating_id_max"] > 0 and mark["review_id_max"] == 0
    assert W.parse_time(mark["data_as_of"]) < datetime.now(UTC) - timedelta(days=365)  # the dataset's own times
    assert W.new_interactions(eng, mark) == 0
    member = first_member(eng)
    rate(eng, member, unrated(eng, member, 2))
    with Session(eng) as session, session.begin():
        session.add(Review(user_id=member, movie_id=unrated(eng, member, 1)[0], text="fine", sentiment=0.1))
    assert W.new_interactions(eng, mark) == 3
    assert W.new_interactions(eng, data_watermark(eng)) == 0
    eng.dispose()


def test_rejected_run_moves_the_watermarks_so_the_worker_does_not_loop(site: Settings, tmp_path: Path) -> None:
    s = fresh(site, tmp_path, retrain_every="1h", retrain_after=3, retrain_algo="popularity")
    w = W.RetrainWorker(s, gate_users=100)
    member = first_member(w.engine)
    rate(w.engine, member, unrated(w.engine, member, 3))
    assert w.due() == "new-interactions"
    rec = w.run("new-interactions")
    assert rec["outcome"] == "rejected"  # popularity loses to item-kNN
    assert w.due() is None  # the rejected candidate saw those ratings, and the schedule counts from this attempt
    assert w.due(now=datetime.now(UTC) + timedelta(hours=2)) == "schedule"


# ---------------------------------------------------------------------- gate
def test_gate_rejects_a_worse_candidate_and_keeps_it_registered(site: Settings, tmp_path: Path) -> None:
    s = fresh(site, tmp_path, retrain_algo="popularity")
    w = W.RetrainWorker(s)
    before = w.registry.active_version()
    rec = w.run("forced")
    assert rec["outcome"] == "rejected", rec
    assert w.registry.active_version() == before
    assert w.registry.info(rec["version"]).algo == "popularity"  # registered, not active
    gate = rec["gate"]
    assert gate["mode"] == "recipe" and gate["users"] == 150 and not gate["passed"]
    assert gate["candidate"] < gate["threshold"] == pytest.approx(gate["active"] * 0.98, abs=1e-6)
    assert rec["reason"].startswith("holdout NDCG@10 ") and before in rec["reason"]
    [logged] = W.read_runs(s.models_dir)
    assert logged["outcome"] == "rejected" and logged["version"] == rec["version"] and logged["seconds"] > 0

    # the same recipe as the active one passes, and its activation prunes the rejected candidate
    w.settings = s.model_copy(update={"retrain_algo": None})
    again = w.run("forced")
    assert again["outcome"] == "activated" and again["algo"] == "item-knn", again
    assert w.registry.active_version() == again["version"]
    assert rec["version"] not in {v.version for v in w.registry.versions()}


def test_gate_measures_the_active_model_on_interactions_it_never_saw(site: Settings, tmp_path: Path) -> None:
    """An active model trained on 85 % of the rows is compared on the other 15 % (rows it never saw): a fresh
    item-kNN beats a stale popularity model, and a popularity candidate is rejected against a stale item-kNN."""
    s = fresh(site, tmp_path)
    eng = make_engine(s.resolved_database_url)
    reg = ModelRegistry(s.models_dir)
    data, _ = snapshot(eng)
    old = data.subset(np.random.default_rng(0).random(len(data)) < 0.85)
    for stale, candidate, outcome in (("popularity", "item-knn", "activated"), ("item-knn", "popularity", "rejected")):
        model = create(stale)
        reg.activate(publish_model(reg, model, old, fit_model(model, old), activate=False).version)
        w = W.RetrainWorker(s.model_copy(update={"retrain_algo": candidate}), engine=eng)
        rec = w.run("forced")
        assert rec["outcome"] == outcome and rec["gate"]["mode"] == "new-data", rec
        assert rec["gate"]["users"] >= W.GATE_MIN_USERS


def test_holdout_keeps_each_users_newest_rows_out_and_only_eligible_ones() -> None:
    from tests.algorithms.contract import two_groups

    data, _ = two_groups()
    h = W.make_holdout(data, max_users=5, seed=1)
    assert h.n_users == 5 and len(h.train) == len(data) - sum(len(t) for t in h.truth)
    for (hist, _), held in zip(h.histories, h.truth, strict=True):
        assert len(held) >= 1 and not set(hist.tolist()) & set(held.tolist())
    none = W.make_holdout(data, eligible=np.zeros(len(data), dtype=bool))
    assert none.n_users == 0 and len(none.train) == len(data)


# ---------------------------------------------------------------------- lock
def test_training_lock_excludes_a_second_holder_and_dies_with_its_process(tmp_path: Path) -> None:
    busy = rf"another training run is in progress \(pid {os.getpid()}\)"
    with W.training_lock(tmp_path), pytest.raises(Conflict, match=busy), W.training_lock(tmp_path):
        pass
    with W.training_lock(tmp_path):  # released
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from cinerec.service.worker import training_lock\n"
         "with training_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(Conflict, match=rf"pid {holder.pid}"), W.training_lock(tmp_path):
        pass
    holder.kill()
    holder.wait()
    with W.training_lock(tmp_path):  # the kernel dropped it with the process
        pass


def test_worker_skips_while_another_run_holds_the_lock(site: Settings, tmp_path: Path) -> None:
    s = fresh(site, tmp_path)
    w = W.RetrainWorker(s)
    with W.training_lock(s.models_dir):
        rec = w.run("forced")
    assert rec["outcome"] == "skipped" and "another training run is in progress" in rec["reason"]
    assert W.read_runs(s.models_dir)[0]["outcome"] == "skipped"


# ------------------------------------------------------------------ the loop
def test_loop_survives_a_failed_run_and_stops_between_runs(site: Settings, tmp_path: Path) -> None:
    s = fresh(site, tmp_path, retrain_algo="no-such-algo")
    w = W.RetrainWorker(s, check_every=0.05)
    stop = threading.Event()
    seen: list[dict[str, Any]] = []

    def on_run(rec: dict[str, Any]) -> None:
        seen.append(rec)
        if rec["outcome"] == "failed":
            w.settings = s.model_copy(update={"retrain_algo": "popularity", "retrain_every": "1s"})
        else:
            stop.set()

    loop = threading.Thread(target=w.run_forever, args=(stop,), kwargs={"force_first": True, "on_run": on_run})
    loop.start()
    loop.join(60)
    assert not loop.is_alive()
    assert [r["outcome"] for r in seen][:1] == ["failed"] and "no-such-algo" in seen[0]["error"]
    assert seen[-1]["outcome"] in ("activated", "rejected") and seen[-1]["trigger"] == "schedule"
    assert [r["outcome"] for r in W.read_runs(s.models_dir)][::-1] == [r["outcome"] for r in seen]


def test_read_runs_marks_a_run_without_end_as_interrupted(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    W.append_run(tmp_path, {"id": "a", "event": "started", "trigger": "forced", "pid": dead.pid,
                            "started_at": "2026-01-01T00:00:00+00:00"})
    with (tmp_path / W.RUNS_FILE).open("a") as fh:
        fh.write('{"id": "b", "event": "sta')  # a line cut by a kill
    W.append_run(tmp_path, {"id": "c", "event": "started", "trigger": "schedule", "pid": os.getpid(),
                            "started_at": "2026-01-02T00:00:00+00:00"})
    with W.training_lock(tmp_path):
        runs = W.read_runs(tmp_path)
    assert [(r["id"], r["outcome"]) for r in runs] == [("c", "running"), ("a", "interrupted")]
    assert [r["outcome"] for r in W.read_runs(tmp_path)] == ["interrupted", "interrupted"]


# ------------------------------------------------------------------------ F1
def _check_serving(s: Settings, client: TestClient, version: str, member: int) -> None:
    """The active version is ``version``, complete and loadable; the API reports it and recommends with it."""
    reg = ModelRegistry(s.models_dir)
    assert reg.active_version() == version
    verify(reg.info(version).path)
    reg.load(version)
    r = client.get("/api/v1/models/active")
    assert r.status_code == 200 and r.json()["version"] == version
    deadline = time.monotonic() + 10  # a serving process notices a newly activated version within seconds
    while True:
        r = client.get(f"/api/v1/explore/profiles/{member}/recommendations?k=5")
        assert r.status_code == 200 and r.json()["data"]
        if r.json()["model_version"] == version or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.json()["model_version"] == version
    with W.training_lock(s.models_dir):  # nobody holds it: a killed run does not leave it stuck
        pass


def _wait_for_start(s: Settings, proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``proc`` holds the training lock and logged its run's start (its interpreter start-up is over)."""
    deadline = time.monotonic() + 60
    while not any(r.get("pid") == proc.pid for r in W.read_runs(s.models_dir, limit=1)):
        assert proc.poll() is None and time.monotonic() < deadline, "the worker never started its run"
        time.sleep(0.005)


def _phase(s: Settings, active: str, before: set[str]) -> str:
    """Where the killed run was, judged from what it left: a partial write, an inactive new version, or neither."""
    reg = ModelRegistry(s.models_dir)
    if list(reg.versions_dir.glob(".tmp-*")):
        return "publish"
    return "gate" if {v.version for v in reg.versions()} - before else "snapshot/fit"


@pytest.mark.slow  # eleven `cinerec worker` processes (about 4 s each)
def test_f1_kill_during_training_at_random_points(site: Settings, tmp_path: Path) -> None:
    """F1: `cinerec worker --once --force` SIGKILLed 10 times at seeded random moments spread over a run."""
    from cinerec.web import create_app

    s = fresh(site, tmp_path)
    eng = make_engine(s.resolved_database_url)
    member = first_member(eng)
    reg = ModelRegistry(s.models_dir)
    cmd = [sys.executable, "-m", "cinerec", "worker", "--once", "--force"]
    done = subprocess.run(cmd, env=child_env(s), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    duration = W.read_runs(s.models_dir)[0]["seconds"]  # from taking the lock to the end: snapshot, fit, publish, gate
    active = reg.active_version()
    assert active is not None
    rng = random.Random(11)
    phases = []
    with TestClient(create_app(s)) as client:
        _check_serving(s, client, active, member)
        for i in range(10):  # one seeded moment in each tenth of a measured run: snapshot, fit, publish, gate
            delay = duration * (i + rng.random()) / 10
            before = {v.version for v in reg.versions()}
            proc = subprocess.Popen(cmd, env=child_env(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    cwd=tmp_path)
            _wait_for_start(s, proc)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            phases.append("done" if proc.returncode != -signal.SIGKILL else _phase(s, active, before))
            now_active = reg.active_version()
            if now_active != active:  # killed (or finished) after its own flip: the new version, whole
                assert now_active not in before and phases[-1] in ("gate", "done"), (now_active, phases)
                active = now_active
            assert active is not None
            _check_serving(s, client, active, member)
            assert all(r["outcome"] != "running" for r in W.read_runs(s.models_dir))
        # the worker killed mid-run: the next run completes, cleans the partial writes and prunes
        done = subprocess.run(cmd, env=child_env(s), capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "activated" in done.stdout, done.stdout
        final = reg.active_version()
        assert final is not None and final != active
        _check_serving(s, client, final, member)
    print(f"F1: a run took {duration:.2f} s after start-up; the kills landed in {phases}")
    assert len(set(phases) - {"done"}) >= 2, phases  # the kills landed in different stages
    assert not list(reg.versions_dir.glob(".tmp-*")) and not list(reg.root.glob(".active.json.*"))
    kept = {v.version for v in reg.versions()}
    assert final in kept and len(kept) <= 3 and kept - {final} <= set(reg.previous_versions()[:2])
    outcomes = [r["outcome"] for r in W.read_runs(s.models_dir)]
    assert outcomes[0] == "activated" and "interrupted" in outcomes


def test_a_spark_trained_active_version_is_not_refitted_in_process(site: Settings, tmp_path: Path) -> None:
    from cinerec.algorithms import Popularity
    from tests.algorithms.contract import two_groups

    s = fresh(site, tmp_path)
    w = W.RetrainWorker(s)
    data, _ = two_groups()
    spark = w.registry.publish(Popularity().fit(data), user_ids=data.user_vocab.ids, item_ids=data.item_vocab.ids,
                               extra={"engine": "spark", "params": {"rank": 10}})
    before = {v.version for v in w.registry.versions()}
    rec = w.run("forced")
    assert rec["outcome"] == "failed" and "trained on Spark" in rec["error"] and "CINEREC_RETRAIN_ALGO" in rec["error"]
    assert w.registry.active_version() == spark.version  # nothing activated
    assert {v.version for v in w.registry.versions()} == before  # nothing published
    explicit = W.RetrainWorker(s.model_copy(update={"retrain_algo": "popularity"}))
    assert explicit.recipe()[0] == "popularity"  # an explicit recipe still retrains in-process
