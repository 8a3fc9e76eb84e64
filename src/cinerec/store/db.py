"""Engines and sessions for SQLite (default) and PostgreSQL.

SQLite connections get ``busy_timeout`` first, then WAL, foreign keys on and
``synchronous=NORMAL``. Transactions begin with plain ``BEGIN``; engines made
with :func:`write_engine` begin with ``BEGIN IMMEDIATE`` so read-then-write
transactions take the write lock up front instead of failing with SQLITE_BUSY.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from cinerec.config import Settings

_BEGIN_OPTION = "cinerec_begin"


@dataclass(frozen=True)
class PoolSettings:
    """Connection pool of a server database (PostgreSQL); SQLite ignores it.

    Attributes:
        size: connections kept open per process.
        max_overflow: extra connections under a burst, closed when returned.
        timeout: seconds to wait for a free connection before failing.
        recycle: reopen connections older than this (seconds; -1: never).
        pre_ping: test each connection on checkout and replace a dead one.
    """

    size: int = 5
    max_overflow: int = 2
    timeout: float = 30.0
    recycle: int = 1800
    pre_ping: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolSettings:
        """The ``CINEREC_DB_POOL_*`` settings (see :class:`~cinerec.config.Settings`)."""
        return cls(size=settings.resolved_db_pool_size, max_overflow=settings.db_max_overflow,
                   timeout=settings.db_pool_timeout, recycle=settings.db_pool_recycle,
                   pre_ping=settings.db_pool_pre_ping)


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False,
                pool: PoolSettings | None = None) -> Engine:
    """Create an engine for ``url`` with cinerec's connection settings.

    For SQLite the parent folder is created and each connection is set up as
    described in the module docstring. A server database gets a
    ``QueuePool`` sized by ``pool`` (default :class:`PoolSettings()`);
    PostgreSQL connections also run with ``jit = off`` (any ``options`` of
    the URL are kept).
    """
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        p = pool or PoolSettings()
        opts: dict[str, Any] = {"pool_size": p.size, "max_overflow": p.max_overflow, "pool_timeout": p.timeout,
                                "pool_recycle": p.recycle, "pool_pre_ping": p.pre_ping}
        if u.get_backend_name() == "postgresql":
            connect: dict[str, Any] = {}
            if "connect_timeout" not in u.query:
                # an unreachable server fails a request (and /api/v1/ready) in seconds instead of hanging on TCP
                connect["connect_timeout"] = 5
            # JIT off: the feed's dozen correlated EXISTS price above jit_above_cost, and compiling them took
            # 3.9 s on a query that runs in 0.13 s (tests/store/test_pg_explain.py); OLTP queries never repay it
            given = u.query.get("options", "")
            connect["options"] = " ".join([*(given if isinstance(given, tuple) else [given]), "-c jit=off"]).strip()
            opts["connect_args"] = connect
        return create_engine(url, echo=echo, **opts)
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


def settings_engine(settings: Settings) -> Engine:
    """An engine on the configured database with the configured SQLite timeout and connection pool."""
    return make_engine(settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                       pool=PoolSettings.from_settings(settings))


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
