"""Shared fixtures: the real datasets, isolated SQLite and PostgreSQL databases, settings."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_BASE = os.environ.get("CINEREC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def data_dir() -> Path:
    """``CINEREC_DATA_DIR`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("CINEREC_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The folder of real datasets; fails (never skips) when it is missing."""
    d = data_dir()
    if not (d / "ml-100k" / "u.data").is_file() or not (d / "ml-latest-small" / "ratings.csv").is_file():
        pytest.fail(f"real datasets not found under {d}: set CINEREC_DATA_DIR to the folder holding ml-100k/ and ml-latest-small/")
    return d


@pytest.fixture(scope="session")
def ml100k(datasets: Path) -> Path:
    return datasets / "ml-100k"


@pytest.fixture(scope="session")
def ml_small(datasets: Path) -> Path:
    return datasets / "ml-latest-small"


@pytest.fixture(scope="session")
def ml100k_data(ml100k: Path):  # type: ignore[no-untyped-def]
    from cinerec.data.readers import read_dataset

    return read_dataset(ml100k).interactions()


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cinerec.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL on a fresh schema of database ``test``, dropped afterwards."""
    if not _pg_available():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (database test, user postgres)")
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cinerec.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, datasets: Path) -> Path:
    """An isolated CINEREC_HOME with CINEREC_DATA_DIR pointing at the real datasets."""
    from cinerec.config import get_settings

    h = tmp_path / "home"
    monkeypatch.setenv("CINEREC_HOME", str(h))
    monkeypatch.setenv("CINEREC_DATA_DIR", str(datasets))
    monkeypatch.delenv("CINEREC_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield h
    get_settings.cache_clear()
