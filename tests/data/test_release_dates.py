"""Release dates from the TMDB CSV and the TMDB API reach ``movies.release_date``; bad dates are skipped, not fatal."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from cinerec.data.readers.metadata import parse_release_date, read_metadata
from cinerec.data.tmdb import to_metadata
from cinerec.store.db import make_engine, transaction
from cinerec.store.metadata import import_metadata
from cinerec.store.migrate import upgrade
from cinerec.store.models import Movie

CSV = '''id,title,overview,runtime,release_date
1,Good,"A film.",100,2009-12-10
2,Blank,"A film.",90,
3,Typo,"A film.",90,2009-13-45
4,Words,"A film.",90,sometime soon
5,Far,"A film.",90,3001-01-01
6,Future,"A film.",90,2031-05-01
'''


@pytest.mark.parametrize(("raw", "want"), [("2009-12-10", date(2009, 12, 10)), (" 1995-10-30 ", date(1995, 10, 30)),
                                           ("", None), (None, None), ("2009-02-30", None), ("10/30/1995", None),
                                           ("1869-12-31", None), ("2101-01-01", None), (20091210, None)])
def test_parse_release_date(raw: object, want: date | None) -> None:
    assert parse_release_date(raw) == want


def test_csv_and_api_dates_reach_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    eng = make_engine(url)
    with transaction(eng) as s:
        s.execute(insert(Movie), [{"id": i, "title": f"Film {i}", "tmdb_id": i, "release_date": date(2000, 1, 1) if i == 2 else None}
                                  for i in range(1, 9)])
    (tmp_path / "movies.csv").write_text(CSV)
    md = read_metadata(tmp_path / "movies.csv")
    assert md.texts is not None and md.texts.set_index("item")["release_date"].to_dict() == {
        1: date(2009, 12, 10), 2: None, 3: None, 4: None, 5: None, 6: date(2031, 5, 1)}
    r = import_metadata(eng, md)
    assert r.matched_films == 6  # the bad dates cost only the dates
    api = to_metadata([{"id": 7, "release_date": "1995-10-30", "overview": "x"}, {"id": 8, "release_date": ""}])
    import_metadata(eng, api)
    with transaction(eng, write=False) as s:
        got = {int(i): d for i, d in s.execute(select(Movie.id, Movie.release_date))}
    # film 2 had a date and the CSV had none for it: kept
    assert got == {1: date(2009, 12, 10), 2: date(2000, 1, 1), 3: None, 4: None, 5: None, 6: date(2031, 5, 1),
                   7: date(1995, 10, 30), 8: None}
    eng.dispose()


def test_recorded_tmdb_answer_carries_its_release_date() -> None:
    import json

    recorded = json.loads((Path(__file__).parent / "recorded" / "tmdb" / "862.json").read_text())
    md = to_metadata([{**recorded, "id": 862}])
    assert md.texts is not None and md.texts["release_date"].tolist() == [date(1995, 10, 30)]
