"""The batched exposure log: A6 (one exposure per member per experiment), batching, failures never raised."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cinerec.experiments.analysis import srm
from cinerec.experiments.assignment import Experiment, Variant
from cinerec.service import experiments
from cinerec.service import exposures as exposures_mod
from cinerec.service.exposures import ExposureLog
from cinerec.store.db import transaction
from cinerec.store.models import ExperimentExposure, Movie, User
from cinerec.store.repos import events
from cinerec.store.repos import experiments as repo


@pytest.fixture
def engine(migrated_engine):  # type: ignore[no-untyped-def]
    return migrated_engine  # tests/conftest.py: migrated, on SQLite and PostgreSQL


def _setup(engine, n_users: int, specs: list[tuple[str, Experiment, dict[str, str]]]):  # type: ignore[no-untyped-def]
    """Members, one film (and 5 more after it), the experiments' rows; returns (user ids, film id, {name: id})."""
    with transaction(engine) as s:
        users = [User(username=f"m{i}") for i in range(n_users)]
        film = Movie(title="Film")
        s.add_all([*users, film])
        s.flush()
        s.add_all([Movie(title=f"Visit {k}") for k in range(5)])
        ids = {name: repo.create(s, name, seed=exp.seed, metric="ctr", traffic=exp.traffic,
                                 variants=[{"name": v.name, "model_version": versions[v.name], "weight": v.weight}
                                           for v in exp.variants]).id
               for name, exp, versions in specs}
        return [u.id for u in users], film.id, ids


def _count(engine) -> int:  # type: ignore[no-untyped-def]
    with transaction(engine, write=False) as s:
        return int(s.scalar(select(func.count()).select_from(ExperimentExposure)) or 0)


def test_a6_one_exposure_per_member_per_experiment(engine) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(6)
    home = Experiment("home-rail", "seed-a6-home", [Variant("control", 0.5), Variant("treatment", 0.5)])
    similar = Experiment("similar", "seed-a6-similar", [Variant("a", 0.5), Variant("b", 0.5)], traffic=0.6)
    versions = {"home-rail": {"control": "pop-1", "treatment": "ease-3"}, "similar": {"a": "knn-2", "b": "als-4"}}
    specs = [("home-rail", home, versions["home-rail"]), ("similar", similar, versions["similar"])]
    uids, film, eids = _setup(engine, 1000, specs)

    # every visit of every member, 3-5 each, in shuffled order; items name the member and the visit
    visits = [(u, k) for u in uids for k in range(rng.randint(3, 5))]
    rng.shuffle(visits)
    first_items: dict[tuple[str, int], list[int]] = {}
    record_lock = threading.Lock()
    xlog = ExposureLog(engine, interval=0.05, batch_size=200)

    def serve(chunk: list[tuple[int, int]]) -> None:
        for u, k in chunk:
            for name, exp, _ in specs:
                variant = exp.assign(u)
                if variant is None:
                    continue  # outside the traffic: the default model, no exposure
                items = [film, film + 1 + k]  # which visit came first shows in the stored items
                if xlog.log(eids[name], u, variant, versions[name][variant], items, experiment=name):
                    with record_lock:
                        assert (name, u) not in first_items  # the in-process set lets one visit through
                        first_items[(name, u)] = items

    # a quarter served one by one, the rest by 4 concurrent threads (the writer thread flushing meanwhile)
    quarter = len(visits) // 4
    serve(visits[:quarter])
    rest = visits[quarter:]
    threads = [threading.Thread(target=serve, args=(rest[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    xlog.close()
    assert xlog.pending() == 0 and xlog.dropped == 0

    # a second server process (its own in-process set) sees the same members again: the database keeps the first
    other = ExposureLog(engine, start=False)
    for u in uids[:300]:
        v = home.assign(u)
        assert v is not None
        other.log(eids["home-rail"], u, v, versions["home-rail"][v], [film])
    assert other.flush() and other.written == 0 and other.duplicates == 300

    with transaction(engine, write=False) as s:
        rows = s.scalars(select(ExperimentExposure)).all()
        by_name = {eid: name for name, eid in eids.items()}
        keys = [(by_name[r.experiment_id], r.user_id) for r in rows]
        assert len(keys) == len(set(keys)) == len(first_items)
        for r in rows:
            name = by_name[r.experiment_id]
            exp = home if name == "home-rail" else similar
            assert r.variant == exp.assign(r.user_id)
            assert r.model_version == versions[name][r.variant]
            assert r.items == first_items[(name, r.user_id)]
        assert sum(1 for k in keys if k[0] == "home-rail") == 1000
        in_similar = sum(1 for u in uids if similar.assign(u) is not None)
        assert sum(1 for k in keys if k[0] == "similar") == in_similar
        assert 520 < in_similar < 680

        # the exposure counts feed the SRM check, which finds nothing wrong
        for name, exp, _ in specs:
            counts = repo.exposure_counts(s, eids[name])
            assert set(counts) == set(exp.variant_names)
            result = srm([counts[v] for v in exp.variant_names], [v.weight for v in exp.variants])
            assert not result.flagged, (name, counts, result.p_value)

    # outcomes join on the member's id, within the window after their exposure
    with transaction(engine, write=False) as s:
        home_rows = s.scalars(select(ExperimentExposure)
                              .where(ExperimentExposure.experiment_id == eids["home-rail"])).all()
        exposed_at = {r.user_id: r.created_at for r in home_rows}
    clicked = rng.sample(uids, 120)
    with transaction(engine) as s:
        for i, u in enumerate(clicked):
            when = exposed_at[u] + timedelta(hours=1 + i % 5)
            events.record(s, u, "click" if i % 2 else "rate", movie_id=film, value=None if i % 2 else 4.0, when=when)
        for u in clicked[:10]:  # a second outcome for a member does not count them twice
            events.record(s, u, "share", movie_id=film, value=1, when=exposed_at[u] + timedelta(days=1))
    rep = experiments.report(engine, "home-rail")
    with transaction(engine, write=False) as s:
        counts = repo.exposure_counts(s, eids["home-rail"])
    for v in rep.variants:
        assert v.users == counts[v.name]
        mine = [i for i, u in enumerate(clicked) if home.assign(u) == v.name]
        assert v.converted["click"] == v.clicks == sum(1 for i in mine if i % 2)
        assert v.converted["rate"] == sum(1 for i in mine if not i % 2)
        assert v.converted["share"] == sum(1 for i in mine if i < 10)
        # every visit showed a new list (its second film changes): two films each, repeats not suppressed
        assert v.impressions == 2 * sum(1 for u, _ in visits if home.assign(u) == v.name)
    assert not rep.srm_flagged


def test_log_never_touches_the_database_and_repeats_do_not_enqueue(engine,  # type: ignore[no-untyped-def]
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    uids, film, eids = _setup(engine, 5, [("x", Experiment("x", "s", [Variant("a", 0.5), Variant("b", 0.5)]),
                                           {"a": "v1", "b": "v2"})])

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("log() opened a transaction")

    monkeypatch.setattr(exposures_mod, "transaction", boom)
    xlog = ExposureLog(engine, start=False)
    assert xlog.log(eids["x"], uids[0], "a", "v1", [film])
    assert not xlog.log(eids["x"], uids[0], "a", "v1", [film])
    assert xlog.log(eids["x"], uids[1], "b", "v2", [film])
    assert xlog.pending() == 2 and _count(engine) == 0
    monkeypatch.undo()
    assert xlog.flush() and xlog.written == 2 and _count(engine) == 2
    xlog.forget(eids["x"])  # after forgetting, a visit enqueues again, and the database ignores it
    assert xlog.log(eids["x"], uids[0], "b", "v2", [film])
    assert xlog.flush() and xlog.duplicates == 1 and _count(engine) == 2


def test_batch_size_wakes_the_writer(engine) -> None:  # type: ignore[no-untyped-def]
    uids, film, eids = _setup(engine, 20, [("x", Experiment("x", "s", [Variant("a", 0.5), Variant("b", 0.5)]),
                                            {"a": "v1", "b": "v2"})])
    xlog = ExposureLog(engine, interval=60.0, batch_size=10)
    try:
        for u in uids[:10]:
            xlog.log(eids["x"], u, "a", "v1", [film])
        deadline = time.monotonic() + 10
        while _count(engine) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _count(engine) == 10
        for u in uids[10:13]:  # under the batch size: waits for the interval, or close()
            xlog.log(eids["x"], u, "a", "v1", [film])
        time.sleep(0.2)
        assert _count(engine) == 10
    finally:
        xlog.close()
    assert _count(engine) == 13


def test_failed_flush_is_retried_then_bad_rows_are_dropped(engine,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    uids, film, eids = _setup(engine, 4, [("x", Experiment("x", "s", [Variant("a", 0.5), Variant("b", 0.5)]),
                                           {"a": "v1", "b": "v2"})])
    xlog = ExposureLog(engine, start=False)
    real = repo.record_exposures
    calls = {"n": 0}

    def flaky(session, rows):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real(session, rows)

    monkeypatch.setattr(repo, "record_exposures", flaky)
    xlog.log(eids["x"], uids[0], "a", "v1", [film, 1])
    assert xlog.flush() is False  # logged, not raised
    assert "retrying" in caplog.text and xlog.pending() == 1
    xlog.log(eids["x"], uids[1], "b", "v2", [film])
    assert xlog.flush() and xlog.written == 2 and _count(engine) == 2

    # a row that can never be written (its member is gone) does not hold the others back for ever
    xlog.log(eids["x"], 10_000_000, "a", "v1", [film])
    xlog.log(eids["x"], uids[2], "a", "v1", [film])
    results = [xlog.flush() for _ in range(exposures_mod.MAX_BATCH_FAILURES)]
    assert results == [False] * exposures_mod.MAX_BATCH_FAILURES
    assert xlog.pending() == 0 and xlog.dropped == 1 and _count(engine) == 3
    assert "dropping the exposure of member 10000000" in caplog.text
