"""Engines and sessions for SQLite (default) and PostgreSQL.

SQLite connections get ``busy_timeout`` first, then WAL, foreign keys on and
``synchronous=NORMAL``. Transactions begin with plain ``BEGIN``; engines made
with :func:`write_engine` begin with ``BEGIN IMMEDIATE`` so read-then-write
transactions take the write lock up front instead of failing with SQLITE_BUSY.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_BEGIN_OPTION = "cinerec_begin"


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with cinerec's connection settings.

    For SQLite the parent folder is created and each connection is set up as
    described in the module docstring.
    """
    u = make_url(url)
    if u.get_backend_name() == "postgresql" and "connect_timeout" not in u.query:
        # an unreachable server fails a request (and /api/v1/ready) in seconds instead of hanging on TCP
        return create_engine(url, echo=echo, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    if u.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True, future=True)
    if u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"isolation_level": None, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def write_engine(engine: Engine) -> Engine:
    """The same engine, whose transactions take the write lock at BEGIN (SQLite)."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    eng = write_engine(engine) if write else engine
    with Session(eng, expire_on_commit=False) as session, session.begin():
        yield session


def analyze(engine: Engine) -> None:
    """Refresh the query planner's table statistics after a bulk write (an import, a seeded graph).

    Without statistics SQLite's planner guesses, and picks, for example, a scan of
    every public list through a low-selectivity index over a lookup by film; with
    them it starts from the selective index. Takes well under a second on the demo
    data set (``ANALYZE`` on SQLite and PostgreSQL alike).
    """
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
