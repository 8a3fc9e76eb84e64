"""The experiments repository: experiments' life, one exposure per member per experiment, outcomes joined on events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from cinerec.errors import Conflict, InvalidParameter, NotFound
from cinerec.store.db import transaction
from cinerec.store.models import Event, ExperimentExposure, Movie, User
from cinerec.store.repos import events
from cinerec.store.repos import experiments as repo
from cinerec.store.repos.experiments import ExposureRow

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
VARIANTS = [{"name": "control", "model_version": "pop-1", "weight": 0.5},
            {"name": "treatment", "model_version": "ease-3", "weight": 0.5}]


@pytest.fixture
def engine(migrated_engine):  # type: ignore[no-untyped-def]
    return migrated_engine  # tests/conftest.py: migrated, on SQLite and PostgreSQL


def _users(engine, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        rows = [User(username=f"m{i}") for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [u.id for u in rows]


def test_experiment_life(engine) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        e = repo.create(s, "home-rail", seed="s1", metric="ctr", traffic=0.2, variants=VARIANTS)
        assert e.status == "draft" and e.started_at is None
        repo.create(s, "other", seed="s2", metric="rating", traffic=1.0, variants=VARIANTS)
        with pytest.raises(Conflict):
            repo.create(s, "home-rail", seed="s3", metric="ctr", traffic=1.0, variants=VARIANTS)
    with transaction(engine) as s:
        got = repo.get_by_name(s, "home-rail")
        assert got is not None and got.variants == VARIANTS and got.traffic == 0.2 and got.seed == "s1"
        assert {x.name for x in repo.list_all(s)} == {"home-rail", "other"}
        assert [x.name for x in repo.list_all(s, status="draft")] != []
        run = repo.set_status(s, "home-rail", "running", now=T0)
        assert run.started_at is not None
        repo.set_status(s, "home-rail", traffic=0.5)
        assert [x.name for x in repo.list_all(s, status="running")] == ["home-rail"]
        with pytest.raises(InvalidParameter):
            repo.set_status(s, "home-rail", traffic=1.5)
        with pytest.raises(InvalidParameter):
            repo.set_status(s, "home-rail", "paused")
        with pytest.raises(NotFound):
            repo.set_status(s, "nope", "running")
        repo.set_status(s, "home-rail", "stopped", now=T0 + timedelta(days=1))
        with pytest.raises(Conflict):
            repo.set_status(s, "home-rail", "running")
    with transaction(engine, write=False) as s:
        got = repo.get_by_name(s, "home-rail")
        assert got is not None and got.status == "stopped" and got.traffic == 0.5
        assert got.stopped_at is not None and got.started_at is not None


def test_record_exposures_keeps_the_first(engine) -> None:  # type: ignore[no-untyped-def]
    u1, u2 = _users(engine, 2)
    with transaction(engine) as s:
        eid = repo.create(s, "x", seed="s", metric="ctr", traffic=1.0, variants=VARIANTS).id
    with transaction(engine) as s:
        n = repo.record_exposures(s, [
            ExposureRow(eid, u1, "control", "pop-1", [5, 3, 9], T0),
            ExposureRow(eid, u1, "treatment", "ease-3", [1], T0 + timedelta(minutes=1)),  # same batch: ignored
            ExposureRow(eid, u2, "treatment", "ease-3", [2, 4], T0),
        ])
        assert n == 2
    with transaction(engine) as s:  # a later batch (another process) never overwrites
        assert repo.record_exposures(s, [ExposureRow(eid, u1, "treatment", "ease-3", [7], T0)]) == 0
        assert repo.record_exposures(s, []) == 0
    with transaction(engine, write=False) as s:
        row = s.scalar(select(ExperimentExposure).where(ExperimentExposure.user_id == u1))
        assert row is not None and (row.variant, row.model_version, row.items) == ("control", "pop-1", [5, 3, 9])
        assert repo.exposure_counts(s, eid) == {"control": 1, "treatment": 1}
    with transaction(engine) as s:  # a member who leaves takes their exposures along
        s.execute(delete(User).where(User.id == u2))
    with transaction(engine, write=False) as s:
        assert repo.exposure_counts(s, eid) == {"control": 1}
    with transaction(engine) as s:
        s.delete(repo.get(s, eid))
    with transaction(engine, write=False) as s:
        assert s.scalar(select(func.count()).select_from(ExperimentExposure)) == 0


def test_attributed_outcomes_window_kinds_and_recommended_films(engine) -> None:  # type: ignore[no-untyped-def]
    uids = _users(engine, 7)
    with transaction(engine) as s:
        x = repo.create(s, "x", seed="s", metric="ctr", traffic=1.0, variants=VARIANTS, window_days=7)
        assert (x.guardrails, x.min_sample, x.window_days) == ([], None, 7.0)
        films = [Movie(title="Shown"), Movie(title="Never shown")]
        s.add_all(films)
        s.flush()
        mid, other = films[0].id, films[1].id
        arms = ["control"] * 3 + ["treatment"] * 4
        repo.record_exposures(s, [ExposureRow(x.id, u, a, "v", [mid], T0) for u, a in zip(uids, arms, strict=True)])
        for u, a in zip(uids, arms, strict=True):  # what the exposure log writes: the films shown
            events.record(s, u, "impression", movie_id=mid, experiment="x", variant=a, model_version="v", position=0,
                          when=T0)
        events.record(s, uids[0], "click", movie_id=mid, when=T0 + timedelta(hours=1))       # counts
        events.record(s, uids[1], "rate", movie_id=mid, value=4.0, when=T0 - timedelta(hours=1))  # before
        events.record(s, uids[1], "rate", movie_id=mid, value=4.0, when=T0 + timedelta(days=9))   # after window
        events.record(s, uids[2], "watchlist", movie_id=mid, value=0, when=T0 + timedelta(hours=1))  # a removal
        events.record(s, uids[3], "share", movie_id=mid, value=1, when=T0 + timedelta(days=2))   # counts
        events.record(s, uids[4], "watchlist", movie_id=mid, value=1, when=T0 + timedelta(days=1))  # counts
        events.record(s, uids[4], "rate", movie_id=mid, value=3.5, when=T0 + timedelta(days=2))   # counts
        events.record(s, uids[5], "follow", object_id=uids[0], value=1, when=T0 + timedelta(hours=1))  # not a kind
        events.record(s, uids[6], "click", movie_id=other, when=T0 + timedelta(hours=1))   # not recommended
    with transaction(engine, write=False) as s:
        row = repo.get(s, x.id)
        assert row is not None
        got = [(o.user_id, o.kind, o.movie_id, o.value) for o in repo.attributed_outcomes(s, row)]
        assert got == [(uids[0], "click", mid, None), (uids[4], "watchlist", mid, 1.0), (uids[3], "share", mid, 1.0),
                       (uids[4], "rate", mid, 3.5)]
        assert repo.impression_counts(s, "x") == {"control": 3, "treatment": 4}
        assert [u for u, _, _ in repo.exposures(s, x.id)] == uids
        row.window_days = 10.0
        assert len(repo.attributed_outcomes(s, row)) == 5  # the rating 9 days on now counts
        assert s.scalar(select(func.count()).select_from(Event)) == 16
