"""SQLite connection settings (F4's pragmas) and BEGIN IMMEDIATE for writers."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import text

from cinerec.store.db import CHECKPOINT_WAL_BYTES, has_wal_reset_bug, make_engine, transaction
from cinerec.store.migrate import upgrade
from cinerec.store.models import Genre


def test_sqlite_pragmas(sqlite_url: str) -> None:
    eng = make_engine(sqlite_url, busy_timeout_ms=5000)
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        # no automatic (passive) checkpoints on a library with the WAL-reset bug
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == (0 if has_wal_reset_bug() else 1000)


@pytest.mark.parametrize(("version", "bug"), [((3, 40, 1), True), ((3, 44, 5), True), ((3, 44, 6), False),
                                              ((3, 45, 0), True), ((3, 50, 6), True), ((3, 50, 7), False),
                                              ((3, 51, 2), True), ((3, 51, 3), False), ((3, 53, 0), False),
                                              ((3, 6, 23), False)])
def test_wal_reset_bug_versions(version: tuple[int, int, int], bug: bool) -> None:
    """https://sqlite.org/wal.html#walresetbug: 3.7.0 to 3.51.2, fixed in 3.51.3 and the 3.44.6 / 3.50.7 backports."""
    assert has_wal_reset_bug(version) is bug


def test_the_wal_stays_bounded_from_many_writers(sqlite_url: str) -> None:
    """Checkpoints still happen (as FULL, on return to the pool) and the data is intact, with four writing threads."""
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url, busy_timeout_ms=5000)
    blob = "x" * 4000

    def write(k: int) -> None:
        for i in range(300):  # 4 threads x 300 rows x ~4 KB: ~5 MB of WAL frames, plus the index pages
            with transaction(eng) as s:
                s.add(Genre(name=f"g{k}-{i}-{blob}"))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wal = sqlite_url.removeprefix("sqlite:///") + "-wal"
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM genres WHERE name LIKE 'g%'")).scalar() == 1200
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    # without any checkpoint the WAL would hold every frame written (well over 3x the threshold)
    assert os.stat(wal).st_size < 3 * CHECKPOINT_WAL_BYTES


def test_writer_waits_for_a_held_write_lock(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url, busy_timeout_ms=5000)
    held = threading.Event()

    def hold() -> None:
        with transaction(eng) as s:
            s.add(Genre(name="Held"))
            s.flush()
            held.set()
            time.sleep(1.0)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    t0 = time.perf_counter()
    with transaction(eng) as s:
        s.add(Genre(name="Waited"))
    waited = time.perf_counter() - t0
    t.join()
    assert waited > 0.5
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM genres")).scalar() == 2


@pytest.mark.postgres
def test_analyze_takes_only_our_tables_on_postgres(pg_url: str) -> None:
    """A bare ANALYZE took every schema's tables, and two imports at once deadlocked on each other's."""
    import secrets

    import psycopg

    from cinerec.store.db import analyze

    upgrade(pg_url)
    eng = make_engine(pg_url)
    other = f"t_other_{secrets.token_hex(4)}"
    dsn = "host=127.0.0.1 port=5432 dbname=test user=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {other}")
        conn.execute(f"CREATE TABLE {other}.genres (id int)")
        conn.execute(f"INSERT INTO {other}.genres SELECT generate_series(1, 5)")
    try:
        analyze(eng)
        with eng.connect() as conn:
            ours = conn.execute(text("SELECT current_schema()")).scalar_one()
            reltuples = dict(conn.execute(text(
                "SELECT n.nspname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = 'genres' AND n.nspname IN (:ours, :other)"), {"ours": ours, "other": other}).all())
        assert reltuples[ours] >= 0  # analysed (-1: never)
        assert reltuples[other] == -1  # another schema's table was left alone
    finally:
        eng.dispose()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {other} CASCADE")
