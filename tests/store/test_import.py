"""Import end to end into SQLite and PostgreSQL: counts, idempotency (B4), atomicity, strictness."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, text

from cinerec.data.readers import read_dataset
from cinerec.errors import DataFormatError
from cinerec.store import importer
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset, table_counts
from cinerec.store.migrate import upgrade

if TYPE_CHECKING:
    from tests.conftest import DatasetCounts

DATA_TABLES = {
    "users": "source, source_id, username",
    "movies": "source, source_id, title, year, imdb_id, tmdb_id",
    "genres": "name",
    "movie_genres": "movie_id, genre_id",
    "ratings": "user_id, movie_id, value, created_at, updated_at",
    "tags": "user_id, movie_id, tag",
}


def content_hash(engine: Engine) -> str:
    """SHA-256 over every data table's rows in a fixed order."""
    h = hashlib.sha256()
    with engine.connect() as conn:
        for table, cols in DATA_TABLES.items():
            for row in conn.execute(text(f"SELECT {cols} FROM {table} ORDER BY {cols}")):
                h.update(repr(tuple(str(v) for v in row)).encode())
    return h.hexdigest()


@pytest.fixture
def engine(db_url: str) -> Engine:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.mark.slow  # imports ml-latest-small twice
def test_import_ml_latest_small_counts_and_idempotent(engine: Engine, ml_small: Path,
                                                      ml_small_counts: DatasetCounts) -> None:
    c = ml_small_counts
    rep = import_dataset(engine, read_dataset(ml_small))
    assert rep.counts == {"users": c.users, "movies": c.movies, "ratings": c.ratings, "tags": c.tags}
    counts = table_counts(engine)
    assert (counts["ratings"], counts["movies"], counts["users"], counts["tags"]) == (c.ratings, c.movies, c.users, c.tags)
    assert counts["genres"] == 19  # 18 MovieLens genres + IMAX; "(no genres listed)" is not a genre
    before = content_hash(engine)
    import_dataset(engine, read_dataset(ml_small))
    assert table_counts(engine) == counts
    assert content_hash(engine) == before


@pytest.mark.slow  # imports all of ML-100K
def test_import_ml100k_counts(engine: Engine, ml100k: Path, ml100k_counts: DatasetCounts) -> None:
    c = ml100k_counts
    rep = import_dataset(engine, read_dataset(ml100k))
    assert rep.counts == {"users": c.users, "movies": c.movies, "ratings": c.ratings, "tags": 0}
    with engine.connect() as conn:
        mean = conn.execute(text("SELECT AVG(value) FROM ratings")).scalar_one()
    assert mean == pytest.approx(3.52986, abs=1e-5)


def test_ratings_in_batches_write_what_one_batch_writes(engine: Engine, ml100k: Path, ml100k_counts: DatasetCounts,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Ratings go in batches (bounded memory); the database is the one a single batch writes, progress counts all."""
    seen: list[tuple[int, int]] = []
    with monkeypatch.context() as m:
        m.setattr(importer, "RATING_BATCH", 30_000)  # 4 batches of ML-100K
        rep = import_dataset(engine, read_dataset(ml100k), progress=lambda s, d, t: s == "ratings" and seen.append((d, t)))
    assert rep.counts["ratings"] == ml100k_counts.ratings
    done = [d for d, _ in seen]
    assert {t for _, t in seen} == {ml100k_counts.ratings} and done == sorted(done) and done[-1] == ml100k_counts.ratings
    assert any(d == 30_000 for d in done) and any(d == 60_000 for d in done)  # batch ends are reported
    batched = content_hash(engine)
    import_dataset(engine, read_dataset(ml100k))  # one batch over it: any missing or different row would change
    assert content_hash(engine) == batched and table_counts(engine)["ratings"] == ml100k_counts.ratings


@pytest.mark.parametrize("stage", ["users", "ratings"])
def test_failure_midway_leaves_database_unchanged(engine: Engine, ml100k: Path, ml_small: Path, stage: str) -> None:
    import_dataset(engine, read_dataset(ml100k))
    before, counts = content_hash(engine), table_counts(engine)
    with pytest.raises(RuntimeError, match="injected"):
        import_dataset(engine, read_dataset(ml_small), _fail_after=stage)
    assert table_counts(engine) == counts
    assert content_hash(engine) == before


def test_strict_refuses_rejected_rows(engine: Engine, tmp_path: Path) -> None:
    d = tmp_path / "ml"
    d.mkdir()
    (d / "movies.csv").write_text("movieId,title,genres\n1,A (2000),Drama\n")
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n1,1,4.0,100\n2,1,9,100\n")
    with pytest.raises(DataFormatError) as e:
        import_dataset(engine, read_dataset(d), strict=True)
    assert "ratings.csv:4: field 'rating': 1 row(s) rejected" in str(e.value)
    assert table_counts(engine)["ratings"] == 0
    rep = import_dataset(engine, read_dataset(d))
    assert rep.counts["ratings"] == 1
    assert rep.rejected == {"duplicate row": 1, "rating out of range (not in 0.5-5 in steps of 0.5)": 1}


def test_ratings_only_csv_makes_flagged_placeholders_that_a_movie_file_replaces(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("user,item,rating\nu1,m1,4\nu2,m1,3\nu2,m2,2\n")
    rep = import_dataset(engine, read_dataset(f))
    assert rep.counts["ratings"] == 3 and rep.placeholders == 2 and rep.problems == []
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source_id, title, is_placeholder FROM movies ORDER BY source_id")).all()
    assert [tuple(r) for r in rows] == [("m1", "Item m1", True), ("m2", "Item m2", True)]
    # the same source with titles: the placeholders become films, nothing is duplicated
    f.write_text("user,item,rating,title\nu1,m1,4,Heat (1995)\nu2,m1,3,Heat (1995)\nu2,m2,2,Alien (1979)\n")
    rep = import_dataset(engine, read_dataset(f))
    assert rep.placeholders == 0 and rep.counts["ratings"] == 3
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source_id, title, year, is_placeholder FROM movies ORDER BY source_id")).all()
    assert [tuple(r) for r in rows] == [("m1", "Heat", 1995, False), ("m2", "Alien", 1979, False)]
    assert table_counts(engine)["ratings"] == 3


IMPORT_SCRIPT = """
import sys, time
from cinerec.data.readers import read_dataset
from cinerec.store.db import make_engine
from cinerec.store import importer
orig = importer._upsert
def slow(session, table, rows, *a, **k):
    orig(session, table, rows, *a, **k)
    if table.name == "ratings":
        print("HALF", flush=True)
        time.sleep(60)
importer._upsert = slow
importer.import_dataset(make_engine(sys.argv[1]), read_dataset(sys.argv[2]))
"""


@pytest.mark.slow  # imports ML-100K, then ml-latest-small in a subprocess
def test_kill_9_midway_then_rerun(db_url: str, ml_small: Path, ml100k: Path, ml_small_counts: DatasetCounts) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    import_dataset(engine, read_dataset(ml100k))
    before, counts = content_hash(engine), table_counts(engine)
    proc = subprocess.Popen([sys.executable, "-c", IMPORT_SCRIPT, db_url, str(ml_small)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.time() + 60
    line = ""
    while time.time() < deadline and "HALF" not in line:
        line = proc.stdout.readline()
    assert "HALF" in line, "the import never reached the ratings"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert table_counts(engine) == counts
    assert content_hash(engine) == before
    rep = import_dataset(engine, read_dataset(ml_small))
    assert rep.counts["ratings"] == ml_small_counts.ratings
    assert table_counts(engine)["ratings"] == counts["ratings"] + ml_small_counts.ratings
    engine.dispose()
