"""Shared fixtures: the real datasets, isolated SQLite and PostgreSQL databases, settings."""

from __future__ import annotations

import csv
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _share_the_cores() -> None:
    """Under ``pytest -n N``, one thread per worker for BLAS, OpenMP, numba and torch: the workers are the parallelism.

    Every library otherwise starts one thread per core in every worker, and on this 2-core machine two workers
    running torch or BLAS side by side spun against each other: the neural model's ML-100K test took 156 s in the
    suite against 18 s alone, and the suite 16 min against 11. Set before the libraries start their pools (this
    file is imported first), and inherited by the CLI and server processes the tests start.
    """
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) <= 1:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    import sys

    if "torch" in sys.modules:  # a plugin got there first
        sys.modules["torch"].set_num_threads(1)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)


_share_the_cores()

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


@dataclass(frozen=True)
class DatasetCounts:
    """A dataset's sizes read from its files by plain parsing, independently of cinerec's readers.

    Tests compare against these instead of hard-coding a release's row counts
    (GroupLens republishes ml-latest-small).
    """

    ratings: int
    users: int
    movies: int
    rated_movies: int
    tags: int
    #: films with a release year or a genre other than "unknown" (what content features can place)
    movies_with_content: int


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return [line for line in path.read_bytes().decode(encoding).split("\n") if line.strip()]


@pytest.fixture(scope="session")
def ml100k_counts(ml100k: Path) -> DatasetCounts:
    """Counts of ML-100K from u.data, u.user and u.item."""
    ratings = [line.split("\t") for line in _lines(ml100k / "u.data")]
    items = [line.split("|") for line in _lines(ml100k / "u.item", "latin-1")]
    content = sum(1 for f in items if f[2].strip() or any(flag == "1" for flag in f[6:]))  # f[5] is "unknown"
    return DatasetCounts(len(ratings), len(_lines(ml100k / "u.user")), len(items), len({r[1] for r in ratings}), 0,
                         content)


@pytest.fixture(scope="session")
def ml_small_counts(ml_small: Path) -> DatasetCounts:
    """Counts of ml-latest-small from ratings.csv, movies.csv and tags.csv (csv module, header skipped)."""
    def rows(name: str) -> list[list[str]]:
        with open(ml_small / name, encoding="utf-8", newline="") as fh:
            return [r for r in list(csv.reader(fh))[1:] if r]

    ratings, movies = rows("ratings.csv"), rows("movies.csv")
    tags = rows("tags.csv") if (ml_small / "tags.csv").is_file() else []
    with_content = sum(1 for m in movies if m[2] != "(no genres listed)" or re.search(r"\(\d{4}\)\s*$", m[1]))
    return DatasetCounts(len(ratings), len({r[0] for r in ratings}), len(movies), len({r[1] for r in ratings}),
                         len(tags), with_content)


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


@pytest.fixture
def ann_searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The fetch size of every approximate-index search made during the test (the ANN path was taken)."""
    from cinerec.algorithms import _ann

    calls: list[int] = []
    real = _ann.search

    def spy(index: Any, vectors: Any, n: int, nprobe: int, radius: float = 1.0) -> Any:
        calls.append(n)
        return real(index, vectors, n, nprobe, radius)

    monkeypatch.setattr(_ann, "search", spy)
    return calls


@pytest.fixture
def migrated_engine(db_url: str) -> Iterator[Any]:
    """An engine on ``db_url`` (SQLite and PostgreSQL) with the schema at head, disposed afterwards."""
    from cinerec.store.db import make_engine
    from cinerec.store.migrate import upgrade

    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
