"""TESTPLAN F4 sqlite-contention, through the API: rating writes while another connection holds the write lock.

(a) a lock held 3 s: 20 rating writes wait (busy_timeout >= 5 s) and all succeed;
(b) a lock held 10 s: writes answer 503 with Retry-After (not 500) and write nothing;
(c) 20 concurrent ratings of one film: all succeed and the film's aggregate counts each once;
and the app's connections run WAL with foreign keys on.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cinerec.config import Settings
from cinerec.service import accounts
from cinerec.service.throttle import Throttle
from cinerec.store.db import transaction
from cinerec.store.migrate import upgrade
from cinerec.store.models import Movie
from cinerec.web import create_app

PASSWORD = "correct horse battery staple 42"
N = 20


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app over a migrated SQLite file holding 3 films (default busy_timeout)."""
    settings = Settings(home=tmp_path_factory.mktemp("f4"))
    upgrade(settings.resolved_database_url)
    app = create_app(settings)
    with transaction(app.state.engine) as s:
        s.add_all([Movie(id=i, title=f"Film {i}", year=2000 + i) for i in (1, 2, 3)])
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def members(site: TestClient) -> list[dict[str, str]]:
    """Bearer headers of N members."""
    engine = site.app.state.engine  # type: ignore[attr-defined]
    out = []
    for i in range(N):
        name = f"f4member{i}"
        accounts.create_user(engine, name, PASSWORD)
        token = accounts.login(engine, Throttle(), name, PASSWORD, ip="f4").token
        out.append({"Authorization": f"Bearer {token}"})
    return out


def _db_path(site: TestClient) -> Path:
    return Path(site.app.state.engine.url.database)  # type: ignore[attr-defined]


def _hold_write_lock(db: Path, seconds: float, held: threading.Event) -> None:
    """Another connection takes the write lock (BEGIN IMMEDIATE + a write), holds it, then rolls back."""
    con = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO genres (name) VALUES ('held by another connection')")
        held.set()
        time.sleep(seconds)
        con.execute("ROLLBACK")
    finally:
        con.close()


def _rate_all(site: TestClient, members: list[dict[str, str]], movie_id: int, ratings: list[float]) -> list:  # type: ignore[type-arg]
    def one(i: int):  # type: ignore[no-untyped-def]
        return site.put(f"/api/v1/movies/{movie_id}/rating", json={"rating": ratings[i]}, headers=members[i])

    with ThreadPoolExecutor(max_workers=len(ratings)) as pool:
        return list(pool.map(one, range(len(ratings))))


def _film(site: TestClient, movie_id: int) -> tuple[int, float | None]:
    m = site.get(f"/api/v1/movies/{movie_id}").json()
    return m["n_ratings"], m["mean_rating"]


def test_f4_pragmas(site: TestClient) -> None:
    with site.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_f4_writes_wait_for_a_lock_held_3s(site: TestClient, members: list[dict[str, str]]) -> None:
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(_db_path(site), 3.0, held))
    holder.start()
    assert held.wait(5)
    t0 = time.perf_counter()
    answers = _rate_all(site, members, 1, [4.0] * N)
    waited = time.perf_counter() - t0
    holder.join()
    assert [r.status_code for r in answers] == [200] * N, [r.text for r in answers if r.status_code != 200]
    assert waited >= 2.5  # they did wait for the lock
    assert _film(site, 1) == (N, 4.0)


def test_f4_lock_held_10s_is_503_with_retry_after(site: TestClient, members: list[dict[str, str]]) -> None:
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(_db_path(site), 10.0, held))
    holder.start()
    assert held.wait(5)
    try:
        answers = _rate_all(site, members[:3], 2, [3.0] * 3)
    finally:
        holder.join()
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "unavailable" and int(r.headers["retry-after"]) >= 1
        assert "locked" not in r.text and "Traceback" not in r.text
    assert _film(site, 2) == (0, None)  # nothing written
    assert site.put("/api/v1/movies/2/rating", json={"rating": 3}, headers=members[0]).status_code == 200


def test_f4_concurrent_ratings_keep_the_aggregate(site: TestClient, members: list[dict[str, str]]) -> None:
    ratings = [0.5 + (i % 10) * 0.5 for i in range(N)]
    answers = _rate_all(site, members, 3, ratings)
    assert [r.status_code for r in answers] == [200] * N, [r.text for r in answers if r.status_code != 200]
    n, mean = _film(site, 3)
    assert n == N and mean == pytest.approx(sum(ratings) / N, abs=0.01)
    # and again, everyone changing their rating at once: the count stays, the mean follows
    answers = _rate_all(site, members, 3, [5.0] * N)
    assert all(r.status_code == 200 for r in answers)
    assert _film(site, 3) == (N, 5.0)
