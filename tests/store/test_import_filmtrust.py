"""FilmTrust into the database: ratings and trust (as follows) in one transaction, idempotent, all or nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cinerec.data.readers import read_dataset
from cinerec.errors import DataFormatError
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset, table_counts
from cinerec.store.migrate import upgrade
from tests.store.test_import import content_hash

FOLLOWS = ("SELECT a.source_id, b.source_id FROM follows f JOIN users a ON a.id = f.follower_id "
           "JOIN users b ON b.id = f.followee_id WHERE a.source = :src AND b.source = :src")


@pytest.fixture
def engine(db_url: str) -> Engine:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def filmtrust(datasets: Path, tmp_path: Path) -> Path:
    """A writable copy of the FilmTrust folder (tests break its trust file)."""
    src = datasets / "filmtrust"
    if not (src / "trust.txt").is_file():
        pytest.fail(f"FilmTrust not found at {src}: set CINEREC_DATA_DIR to the folder holding filmtrust/")
    dst = tmp_path / "filmtrust"
    shutil.copytree(src, dst)
    return dst


def truth(folder: Path) -> tuple[set[tuple[str, str]], set[str], int, int]:
    """(trust edges, everybody in ratings or trust, distinct (user, item) pairs, items) with plain Python."""
    edges = {(ln.split()[0], ln.split()[1]) for ln in (folder / "trust.txt").read_text().split("\n") if ln.strip()}
    rows = [ln.split(",") for ln in (folder / "ratings.txt").read_text().split("\n") if ln.strip()]
    people = {r[0] for r in rows} | {u for e in edges for u in e}
    return edges, people, len({(r[0], r[1]) for r in rows}), len({r[1] for r in rows})


def follows_of(engine: Engine, source: str) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {(a, b) for a, b in conn.execute(text(FOLLOWS), {"src": source})}


@pytest.mark.slow  # imports FilmTrust (35k ratings) twice
def test_ratings_and_trust_import_together_and_idempotently(engine: Engine, filmtrust: Path) -> None:
    edges, people, pairs, items = truth(filmtrust)
    assert len(edges) == 1853  # checked against the file by hand; the fetch checksum pins these bytes
    rep = import_dataset(engine, read_dataset(filmtrust, "filmtrust"))
    assert rep.counts == {"users": len(people), "movies": items, "ratings": pairs, "tags": 0, "follows": len(edges)}
    counts = table_counts(engine)
    assert (counts["users"], counts["ratings"], counts["follows"]) == (len(people), pairs, len(edges))
    assert follows_of(engine, "filmtrust") == edges  # trustor follows trustee, never the other way round
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT counts FROM import_runs WHERE source = 'filmtrust'")).scalars().all()
    assert len(runs) == 1 and '"follows": 1853' in str(runs[0]).replace("'", '"')
    before = content_hash(engine), follows_of(engine, "filmtrust")
    import_dataset(engine, read_dataset(filmtrust, "filmtrust"))
    assert table_counts(engine) == counts
    assert (content_hash(engine), follows_of(engine, "filmtrust")) == before


def test_broken_trust_file_leaves_the_database_unchanged(engine: Engine, filmtrust: Path) -> None:
    small = filmtrust.parent / "small"
    small.mkdir()
    (small / "ratings.txt").write_text("1,10,3.5\n2,10,4\n3,11,0.5\n")
    (small / "trust.txt").write_text("1 2 1\n2 3 1\n4 1 1\n")
    rep = import_dataset(engine, read_dataset(small, "filmtrust"))
    assert rep.counts["users"] == 4 and rep.counts["follows"] == 3  # user 4 only trusts: still a user
    before, counts = content_hash(engine), table_counts(engine)
    (small / "ratings.txt").write_text("1,10,1\n2,10,1\n5,12,2\n")
    (small / "trust.txt").write_text("1 2 1\n3 1 1\n3 1\n")
    with pytest.raises(DataFormatError) as e:
        import_dataset(engine, read_dataset(small, "filmtrust"))
    assert (e.value.line, e.value.field) == (3, "value")
    assert table_counts(engine) == counts and content_hash(engine) == before
    assert follows_of(engine, "small") == {("1", "2"), ("2", "3"), ("4", "1")}


def test_failure_after_follows_rolls_back_everything(engine: Engine, filmtrust: Path) -> None:
    small = filmtrust.parent / "small"
    small.mkdir()
    (small / "ratings.txt").write_text("1,10,3.5\n2,10,4\n")
    (small / "trust.txt").write_text("1 2 1\n2 1 1\n")
    before, counts = content_hash(engine), table_counts(engine)
    with pytest.raises(RuntimeError, match="injected"):
        import_dataset(engine, read_dataset(small, "filmtrust"), _fail_after="follows")
    assert table_counts(engine) == counts and content_hash(engine) == before
    assert counts["follows"] == 0


def test_self_trust_and_repeats_never_reach_the_follows_table(engine: Engine, filmtrust: Path) -> None:
    small = filmtrust.parent / "small"
    small.mkdir()
    (small / "ratings.txt").write_text("1,10,3.5\n2,10,4\n")
    (small / "trust.txt").write_text("1 2 1\n1 1 1\n1 2 1\n")
    rep = import_dataset(engine, read_dataset(small, "filmtrust"))
    assert rep.counts["follows"] == 1
    assert rep.rejected == {"trust: repeated edge": 1, "trust: self-trust line": 1}
    assert follows_of(engine, "small") == {("1", "2")}
