"""F5: migrations on SQLite and PostgreSQL, round trip and ``alembic check``."""

from __future__ import annotations

from sqlalchemy import inspect

from cinerec.store.db import make_engine
from cinerec.store.migrate import MIGRATIONS, check, current, downgrade, upgrade


def test_upgrade_downgrade_upgrade_and_check(db_url: str) -> None:
    upgrade(db_url)
    assert current(db_url) is not None
    check(db_url)  # raises if models and schema differ
    downgrade(db_url, "base")
    eng = make_engine(db_url)
    assert set(inspect(eng).get_table_names()) <= {"alembic_version"}
    eng.dispose()
    upgrade(db_url)
    check(db_url)
    eng = make_engine(db_url)
    assert {"users", "movies", "ratings", "reviews", "shares", "follows", "watchlist", "events"} <= set(inspect(eng).get_table_names())
    eng.dispose()


def test_sqlite_migrations_use_batch_mode() -> None:
    for f in (MIGRATIONS / "versions").glob("0*.py"):
        body = f.read_text()
        if "alter_column" in body or "drop_column" in body or "create_index" in body:
            assert "batch_alter_table" in body, f.name
