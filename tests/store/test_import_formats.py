"""Importing files that are not MovieLens: scales kept and mapped onto stars, placeholders, refusals (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cinerec.data.readers import RatingScale, read_dataset
from cinerec.errors import DataFormatError
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset, table_counts
from cinerec.store.migrate import upgrade
from tests.data import shapes
from tests.data.test_formats import filmtrust_truth
from tests.store.test_import import content_hash


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def test_movietweetings_scale_recorded_values_as_stars_originals_kept(engine: Engine, tmp_path: Path) -> None:
    d = shapes.movietweetings(tmp_path)
    rep = import_dataset(engine, read_dataset(d))
    kept = [r for r in shapes.MT_RATINGS if r[2] <= 10]
    assert rep.counts == {"users": 3, "movies": 3, "ratings": len(kept), "tags": 0}
    assert (rep.scale, rep.mapping, rep.rows_read, rep.placeholders) == ("0-10 in steps of 1", "linear", len(shapes.MT_RATINGS), 0)
    with engine.connect() as conn:
        scale = conn.execute(text("SELECT source, low, high, step, mapping FROM rating_scales")).one()
        rows = conn.execute(text("SELECT m.source_id, r.source_value, r.value FROM ratings r JOIN movies m ON m.id = r.movie_id "
                                 "JOIN users u ON u.id = r.user_id ORDER BY u.source_id, m.source_id")).all()
        titles = dict(conn.execute(text("SELECT source_id, title FROM movies")).all())
        imdb = conn.execute(text("SELECT imdb_id FROM movies WHERE source_id = '114508'")).scalar_one()
    assert tuple(scale) == ("movietweetings", 0.0, 10.0, 1.0, "linear")
    assert [(m, sv) for m, sv, _ in rows] == [(str(int(m)), float(r)) for _, m, r, _ in sorted(kept)]
    for _, sv, stars in rows:
        assert stars == pytest.approx(0.5 + 4.5 * sv / 10)
    assert titles["114508"] == "Amélie" and imdb == "tt0114508"
    # idempotent, the mapping included
    before = content_hash(engine)
    import_dataset(engine, read_dataset(d))
    assert content_hash(engine) == before


def test_real_filmtrust_imports_all_rows_on_its_own_scale(engine: Engine, datasets: Path) -> None:
    f = datasets / "filmtrust" / "ratings.txt"
    rows, pairs, users, items, _ = filmtrust_truth(f)
    ds = read_dataset(f)
    values = ds.ratings["rating"]
    rep = import_dataset(engine, ds)
    # the trust.txt beside ratings.txt comes along: its people are users too (some rated nothing), its edges follows
    trust = [ln.split()[:2] for ln in (f.parent / "trust.txt").read_text().split("\n") if ln.strip()]
    people = {ln.split(",")[0] for ln in f.read_text().split("\n") if ln.strip()} | {u for e in trust for u in e}
    assert len(people) > users
    assert rep.counts == {"users": len(people), "movies": items, "ratings": pairs, "tags": 0, "follows": len(trust)}
    assert rep.placeholders == items and rep.mapping == "identity" and rep.rows_read == rows
    with engine.connect() as conn:
        scale = conn.execute(text("SELECT low, high, step, mapping FROM rating_scales WHERE source = 'filmtrust'")).one()
        agg = conn.execute(text("SELECT SUM(value), SUM(source_value), MIN(value), MAX(value) FROM ratings")).one()
        flagged = conn.execute(text("SELECT COUNT(*) FROM movies WHERE is_placeholder AND title LIKE 'Item %'")).scalar_one()
    assert tuple(scale) == (0.5, 4.0, 0.5, "identity")
    assert agg[0] == pytest.approx(values.sum()) and agg[1] == pytest.approx(values.sum())
    assert (agg[2], agg[3]) == (values.min(), values.max())
    assert flagged == items


def test_librec_file_with_a_declared_scale(engine: Engine, tmp_path: Path) -> None:
    f = shapes.librec(tmp_path)
    rep = import_dataset(engine, read_dataset(f, scale=RatingScale.parse("1:10:1")))
    assert rep.counts["ratings"] == len(shapes.LR_RATINGS) and rep.placeholders == len({i for _, i, _, _ in shapes.LR_RATINGS})
    with engine.connect() as conn:
        got = sorted(conn.execute(text("SELECT source_value, value FROM ratings")).all())
    assert [tuple(r) for r in got] == sorted((float(r), 0.5 + 4.5 * (r - 1) / 9) for _, _, r, _ in shapes.LR_RATINGS)


def test_too_many_rejected_rows_or_none_left_import_nothing(engine: Engine, tmp_path: Path) -> None:
    d = shapes.movietweetings(tmp_path)
    import_dataset(engine, read_dataset(shapes.ml1m(tmp_path)))
    before, counts = content_hash(engine), table_counts(engine)
    with pytest.raises(DataFormatError, match=r"1 of 6 rating rows \(16.7%\) were rejected, more than the 1% allowed"):
        import_dataset(engine, read_dataset(d), max_rejected=0.01)
    f = tmp_path / "ten.csv"
    f.write_text("7,70,9\n8,70,10\n")
    with pytest.raises(DataFormatError, match=r"nothing to import: none of the 2 rating rows was kept \(rating out of range"):
        import_dataset(engine, read_dataset(f, scale=RatingScale.parse("1:5")))
    assert content_hash(engine) == before and table_counts(engine) == counts
    rep = import_dataset(engine, read_dataset(d), max_rejected=0.2)
    assert rep.counts["ratings"] == len(shapes.MT_RATINGS) - 1
