"""SQLite connection settings (F4's pragmas) and BEGIN IMMEDIATE for writers."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from cinerec.store.db import make_engine, transaction
from cinerec.store.migrate import upgrade
from cinerec.store.models import Genre


def test_sqlite_pragmas(sqlite_url: str) -> None:
    eng = make_engine(sqlite_url, busy_timeout_ms=5000)
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


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
