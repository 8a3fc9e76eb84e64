"""The CINEREC_DB_POOL_* settings reach the PostgreSQL engine's connection pool."""

from __future__ import annotations

import pytest
from sqlalchemy.pool import QueuePool

from cinerec.config import Settings, get_settings
from cinerec.store.db import PoolSettings, make_engine, settings_engine


@pytest.mark.postgres
def test_pool_settings_from_the_environment_reach_the_engine(monkeypatch: pytest.MonkeyPatch, pg_url: str) -> None:
    for key, value in {"DATABASE_URL": pg_url, "DB_POOL_SIZE": "7", "DB_MAX_OVERFLOW": "3", "DB_POOL_TIMEOUT": "4.5",
                       "DB_POOL_RECYCLE": "600", "DB_POOL_PRE_PING": "false"}.items():
        monkeypatch.setenv(f"CINEREC_{key}", value)
    get_settings.cache_clear()
    try:
        from cinerec.cli._common import engine as cli_engine

        for eng in (settings_engine(get_settings()), cli_engine()):
            pool = eng.pool
            assert isinstance(pool, QueuePool)
            assert (pool.size(), pool._max_overflow, pool.timeout(), pool._recycle, pool._pre_ping) == (7, 3, 4.5, 600, False)
            with eng.connect() as conn:
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            eng.dispose()
    finally:
        get_settings.cache_clear()


@pytest.mark.postgres
def test_default_pool_is_one_connection_per_route_thread_plus_one(pg_url: str) -> None:
    s = Settings(database_url=pg_url, worker_threads=6)
    assert PoolSettings.from_settings(s) == PoolSettings(size=7, max_overflow=2, timeout=30.0, recycle=1800, pre_ping=True)
    eng = settings_engine(s)
    assert (eng.pool.size(), eng.pool._pre_ping) == (7, True)  # type: ignore[attr-defined]
    eng.dispose()


def test_sqlite_ignores_the_pool_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}", pool=PoolSettings(size=50))
    assert not isinstance(eng.pool, QueuePool) or eng.pool.size() != 50
    eng.dispose()


@pytest.mark.parametrize("bad", [{"db_pool_size": 0}, {"db_max_overflow": -1}, {"db_pool_recycle": -2}])
def test_bad_pool_settings_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Settings(**bad)  # type: ignore[arg-type]


@pytest.mark.postgres
def test_postgres_connections_run_without_jit_and_keep_the_urls_options(pg_url: str) -> None:
    eng = make_engine(pg_url)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
        assert conn.exec_driver_sql("SHOW search_path").scalar() == pg_url.rsplit("%3D", 1)[1]  # the URL's options
    eng.dispose()
