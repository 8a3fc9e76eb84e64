"""The simulator's whole path: a simulated experiment replayed through the product's storage and exposure log.

The report read back from the database must equal the simulation's own
analysis: same members per variant (the stored rule assigns each member as
the simulation did), same conversions, impressions, p-values and decision.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from cinerec.data.readers import read_dataset
from cinerec.errors import Conflict
from cinerec.experiments.simulate import ClickModel, simulate_once
from cinerec.service.experiments import replay
from cinerec.store.db import make_engine, transaction
from cinerec.store.migrate import upgrade
from cinerec.store.models import Event, ExperimentExposure


@pytest.fixture(scope="module")
def clicks(datasets: Path) -> ClickModel:
    return ClickModel.fit(read_dataset(datasets / "ml-100k").interactions(), "item-knn", "popularity", k=10,
                          random_state=5)


def test_replay_through_the_database_reports_what_the_simulation_analysed(clicks: ClickModel, tmp_path: Path) -> None:
    sim = simulate_once(clicks, members=1500, days=10, seed=3)
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        got = replay(engine, sim)
        want = sim.report
        assert [(v.name, v.users, v.converted["click"], v.clicks, v.impressions) for v in got.variants] == \
            [(v.name, v.users, v.converted["click"], v.clicks, v.impressions) for v in want.variants]
        assert sum(v.users for v in got.variants) == len(sim.exposures)
        for a, b in zip(got.primary, want.primary, strict=True):
            assert a.p_value == pytest.approx(b.p_value) and a.sequential_p == pytest.approx(b.sequential_p)
            assert a.rel_ci == pytest.approx(b.rel_ci) and a.decision == b.decision
        assert got.srm is not None and want.srm is not None and got.srm.p_value == pytest.approx(want.srm.p_value)
        assert [p.conversions for p in got.series] == [p.conversions for p in want.series]
        with transaction(engine, write=False) as s:
            assert s.scalar(select(func.count()).select_from(ExperimentExposure)) == len(sim.exposures)
            assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "click")) == len(sim.clicks)
        with pytest.raises(Conflict):  # never into a database that already holds members
            replay(engine, sim)
    finally:
        engine.dispose()
