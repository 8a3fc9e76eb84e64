"""PostgreSQL bulk import with COPY: the same database as the row-by-row INSERT path, and all or nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cinerec.data.readers import read_dataset
from cinerec.store import importer
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset, table_counts
from cinerec.store.migrate import upgrade

pytestmark = pytest.mark.postgres

#: Every column a dataset import writes, ids included: COPY must assign the same serial ids as INSERT.
TABLES = {
    "users": "id, source, source_id, username, locale, is_admin, is_active",
    "movies": "id, source, source_id, title, year, imdb_id, tmdb_id, is_placeholder",
    "genres": "id, name",
    "movie_genres": "movie_id, genre_id",
    "ratings": "user_id, movie_id, value, source_value, created_at, updated_at",
    "tags": "user_id, movie_id, tag, created_at",
    "follows": "follower_id, followee_id",
    "movie_stats": "movie_id, n_ratings, rating_sum",
}


def table_hashes(engine: Engine) -> dict[str, str]:
    """SHA-256 of each table's rows in a fixed order."""
    out = {}
    with engine.connect() as conn:
        for table, cols in TABLES.items():
            h = hashlib.sha256()
            for row in conn.execute(text(f"SELECT {cols} FROM {table} ORDER BY {cols}")):
                h.update(repr(tuple(str(v) for v in row)).encode())
            out[table] = h.hexdigest()
    return out


@pytest.fixture
def pg_pair(pg_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two migrated, empty PostgreSQL schemas."""
    import secrets

    import psycopg

    other = f"t_{secrets.token_hex(6)}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {other}")
    url2 = pg_url.rsplit("%3D", 1)[0] + f"%3D{other}"
    upgrade(pg_url)
    upgrade(url2)
    a, b = make_engine(pg_url), make_engine(url2)
    try:
        yield a, b
    finally:
        a.dispose()
        b.dispose()
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as c:
            c.execute(f"DROP SCHEMA {other} CASCADE")


def _spy_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tables: list[str] = []
    real = importer._copy_upsert

    def spy(session, table, *a, **k):  # type: ignore[no-untyped-def]
        tables.append(table.name)
        real(session, table, *a, **k)

    monkeypatch.setattr(importer, "_copy_upsert", spy)
    return tables


def test_copy_import_equals_insert_import_on_ml100k(pg_pair: tuple[Engine, Engine], ml100k: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    by_copy, by_insert = pg_pair
    copied = _spy_copies(monkeypatch)
    seen: list[tuple[str, int, int]] = []
    rep = import_dataset(by_copy, read_dataset(ml100k), progress=lambda s, d, t: seen.append((s, d, t)))
    assert {"movies", "movie_genres", "ratings"} <= set(copied)  # the big tables went through COPY (943 users: INSERT)
    assert [d for s, d, _ in seen if s == "ratings"] == [20_000, 40_000, 60_000, 80_000, 100_000]  # batched progress
    copied.clear()
    rep2 = import_dataset(by_insert, read_dataset(ml100k), copy=False)
    assert copied == []
    assert rep.counts == rep2.counts
    assert table_counts(by_copy) == table_counts(by_insert)
    assert table_hashes(by_copy) == table_hashes(by_insert)


def test_copy_in_batches_goes_straight_into_the_empty_table(pg_pair: tuple[Engine, Engine], ml100k: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch of a first import is copied straight in (no staging), and the result is one batch's."""
    one, batched = pg_pair
    import_dataset(one, read_dataset(ml100k))
    direct: list[bool | None] = []
    real = importer._copy_upsert

    def spy(session, table, *a, **k):  # type: ignore[no-untyped-def]
        if table.name == "ratings":
            direct.append(k.get("into_empty"))
        real(session, table, *a, **k)

    monkeypatch.setattr(importer, "_copy_upsert", spy)
    monkeypatch.setattr(importer, "RATING_BATCH", 30_000)
    import_dataset(batched, read_dataset(ml100k))
    assert direct == [True] * 4
    assert table_hashes(batched) == table_hashes(one)
    import_dataset(batched, read_dataset(ml100k))  # a rerun: the table is not empty, each batch is staged
    assert direct[4:] == [None] * 4 and table_hashes(batched) == table_hashes(one)


@pytest.mark.slow  # imports ml-latest-small three times
def test_copy_import_with_tags_is_idempotent_and_equals_insert(pg_pair: tuple[Engine, Engine], ml_small: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    by_copy, by_insert = pg_pair
    copied = _spy_copies(monkeypatch)
    import_dataset(by_copy, read_dataset(ml_small))
    assert {"ratings", "tags", "movies"} <= set(copied)
    import_dataset(by_insert, read_dataset(ml_small), copy=False)
    first = table_hashes(by_copy)
    assert first == table_hashes(by_insert)
    import_dataset(by_copy, read_dataset(ml_small))  # a rerun (after success or a kill) changes nothing
    assert table_hashes(by_copy) == first


@pytest.mark.parametrize("stage", ["users", "ratings", "follows"])
def test_copy_failure_midway_leaves_database_unchanged(pg_url: str, ml100k: Path, ml_small: Path, stage: str) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        import_dataset(engine, read_dataset(ml100k))
        before, counts = table_hashes(engine), table_counts(engine)
        with pytest.raises(RuntimeError, match="injected"):
            import_dataset(engine, read_dataset(ml_small), _fail_after=stage)
        assert table_counts(engine) == counts
        assert table_hashes(engine) == before
        # no staging table outlives the transaction, and a rerun goes through
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_copy\\_%'")).scalar() == 0
        rep = import_dataset(engine, read_dataset(ml_small))
        assert table_counts(engine)["ratings"] == counts["ratings"] + rep.counts["ratings"]
    finally:
        engine.dispose()
