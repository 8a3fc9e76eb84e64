"""Engines and sessions for SQLite (default) and PostgreSQL.

SQLite connections get ``busy_timeout`` first, then WAL, foreign keys on and
``synchronous=NORMAL``. Transactions begin with plain ``BEGIN``; engines made
with :func:`write_engine` begin with ``BEGIN IMMEDIATE`` so read-then-write
transactions take the write lock up front instead of failing with SQLITE_BUSY.

SQLite before 3.51.3 (except the 3.44.6 and 3.50.7 backports) has the
WAL-reset bug (https://sqlite.org/wal.html#walresetbug): a *passive*
checkpoint that starts while another connection resets the WAL can skip part
of a transaction and corrupt the database. Passive checkpoints are what
SQLite's automatic checkpoint runs after a commit. On an affected library
(Debian 12 ships 3.40.1) every connection turns the automatic checkpoint off
and cinerec checkpoints in ``FULL`` mode instead, which holds the writer lock
from its start, so no other connection can reset the WAL under it: when a
connection returns to the pool and the WAL file has grown past
:data:`CHECKPOINT_WAL_BYTES`. It never waits (busy timeout 0 for the call): a
busy writer or an old reader leaves the rest to the next return.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from cinerec.config import Settings

_BEGIN_OPTION = "cinerec_begin"
log = logging.getLogger(__name__)

#: WAL size past which a connection returned to the pool checkpoints (SQLite's own default: 1,000 pages of 4 KiB).
CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024


def has_wal_reset_bug(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> bool:
    """Whether an SQLite library of ``version`` has the WAL-reset bug (3.7.0 up to 3.51.2, less two backports)."""
    fixed = version >= (3, 51, 3) or (3, 44, 6) <= version < (3, 45, 0) or (3, 50, 7) <= version < (3, 51, 0)
    return version >= (3, 7, 0) and not fixed


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
    own_checkpoints = has_wal_reset_bug()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        if own_checkpoints:
            cur.execute("PRAGMA wal_autocheckpoint = 0")
        cur.close()

    if own_checkpoints and u.database and u.database != ":memory:":
        wal = f"{u.database}-wal"

        @event.listens_for(engine, "checkin")
        def _on_checkin(dbapi_conn: Any, _record: Any) -> None:
            if dbapi_conn is not None:
                checkpoint_if_large(dbapi_conn, wal, busy_timeout_ms)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def checkpoint_if_large(dbapi_conn: Any, wal: str, busy_timeout_ms: int,
                        threshold: int = CHECKPOINT_WAL_BYTES) -> bool:
    """Run a ``FULL`` checkpoint without waiting when the WAL file is larger than ``threshold``; whether it ran.

    A connection in a transaction, a busy writer or a failed call leaves the
    WAL to the next connection returned (logged at debug level).
    """
    try:
        if os.stat(wal).st_size <= threshold or dbapi_conn.in_transaction:
            return False
    except (OSError, AttributeError):
        return False
    try:
        dbapi_conn.execute("PRAGMA busy_timeout = 0")
        try:
            dbapi_conn.execute("PRAGMA wal_checkpoint(FULL)").fetchall()
        finally:
            dbapi_conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    except sqlite3.Error as exc:
        log.debug("checkpoint of %s left for later: %s", wal, exc)
        return False
    return True


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
    data set. See :func:`analyze_tables` for what is analysed.
    """
    with engine.begin() as conn:
        analyze_tables(conn)


def analyze_tables(conn: Connection, tables: Iterable[str] | None = None) -> None:
    """``ANALYZE`` on ``conn``, inside its transaction (the statistics roll back with it).

    On PostgreSQL only cinerec's own tables (``tables``, default all of them, in
    the connection's schema), always in name order: a bare ``ANALYZE`` takes every
    table of the database, and two imports into different schemas of one database
    deadlocked on each other's tables (seen in CI); one order keeps two analyses
    from waiting on each other in a cycle. SQLite's ``ANALYZE`` covers its one file.
    """
    if conn.dialect.name != "postgresql":
        conn.execute(text("ANALYZE"))
        return
    if tables is None:
        from cinerec.store.models import Base

        tables = Base.metadata.tables
    quote = conn.dialect.identifier_preparer.quote
    conn.execute(text("ANALYZE " + ", ".join(quote(t) for t in sorted(tables))))
