"""The short CI variant of benchmarks/serve_load.py: 10 users for 10 s against a served site, 0 errors and L1.

Speed targets (L2) stay in the benchmark: this machine is shared, so the test
checks correctness under concurrent load only: every request answered, no
acknowledged rating lost, each re-rated film holding the member's last
acknowledged value. A second test proves the L1 check is not vacuous: a
deleted row and a changed value are both caught.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def serve_load() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module("serve_load")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def short_run(serve_load: ModuleType, datasets: Path, tmp_path_factory: pytest.TempPathFactory,
              ) -> tuple[dict[str, object], int, Path]:
    """One 10 s run: 10 users, 1 worker, 20 members with 20 ratings each, the popularity model."""
    home = tmp_path_factory.mktemp("serve-load")
    out = home / "result.json"
    mp = pytest.MonkeyPatch()
    mp.setenv("CINEREC_DATA_DIR", str(datasets))
    try:
        status = serve_load.main(["--users", "10", "--duration", "10", "--rate", "100", "--workers", "1",
                                  "--members", "20", "--history", "20", "--hot-members", "10",
                                  "--write-share", "0.2", "--algo", "popularity", "--home", str(home),
                                  "--json", str(out), "--no-bar"])
    finally:
        mp.undo()
    return json.loads(out.read_text()), status, home


@pytest.mark.slow
def test_short_load_has_no_errors_and_no_lost_writes(short_run: tuple[dict[str, object], int, Path]) -> None:
    result, status, _ = short_run
    (run,) = result["runs"]  # type: ignore[misc]
    assert status == 0
    assert run["errors"] == 0, run["error_kinds"]
    assert run["reads"] > 100
    l1 = run["l1"]
    assert l1["pass"], l1
    assert l1["unique_acknowledged"] > 0 and l1["unique_rows"] == l1["unique_acknowledged"]
    assert l1["hot_writes"] > l1["hot_members_written"] > 0  # some member re-rated the hot film more than once
    assert l1["member_rows_after"] - l1["member_rows_before"] == l1["expected_new_rows"]


@pytest.mark.slow
def test_l1_check_catches_a_lost_and_a_stale_write(serve_load: ModuleType,
                                                   short_run: tuple[dict[str, object], int, Path]) -> None:
    _, _, home = short_run
    (site_dir,) = [p for p in home.iterdir() if p.is_dir()]
    url = f"sqlite:///{site_dir / 'run-1' / 'cinerec.db'}"
    members = json.loads((site_dir / "site.json").read_text())["members"]
    plan = serve_load.make_plan(url, members, 10, 0)
    name = members[0]
    film = plan.unrated[name][0]
    stored = _stored_value(url, plan.user_ids[name], plan.hot_movie)
    acked = 0.5 if stored != 0.5 else 1.0
    tally = serve_load.Tally()
    tally.unique_acked[(name, film)] = 4.0  # acknowledged, never stored: a lost write
    tally.hot_writes[name] = [(acked, True)]  # not the stored value: a stale final value
    l1 = serve_load.check_l1(url, plan, tally)
    assert not l1["pass"]
    assert l1["unique_acknowledged"] == 1 and l1["unique_rows"] == 0
    assert l1["hot_final_not_last_acknowledged"] == [{"member": name, "final": stored, "last_acknowledged": acked}]


def _stored_value(url: str, user_id: int, movie_id: int) -> float | None:
    from sqlalchemy import select

    from cinerec.store.db import make_engine, transaction
    from cinerec.store.models import Rating

    eng = make_engine(url)
    try:
        with transaction(eng, write=False) as session:
            return session.scalar(select(Rating.value).where(Rating.user_id == user_id, Rating.movie_id == movie_id))
    finally:
        eng.dispose()
