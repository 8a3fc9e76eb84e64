"""Readers on real data and on broken files made here: exact messages."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cinerec.data.readers import detect_format, read_dataset, safe_extract, split_title
from cinerec.errors import DataFormatError

if TYPE_CHECKING:
    from tests.conftest import DatasetCounts

HEADER = "userId,movieId,rating,timestamp\n"
MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation|Children's|Comedy\n2,\"Usual Suspects, The (1995)\",Crime|Thriller\n"


def ml_latest(tmp_path: Path, ratings: str | bytes, movies: str | bytes = MOVIES) -> Path:
    d = tmp_path / "ml"
    d.mkdir(exist_ok=True)
    (d / "ratings.csv").write_bytes(ratings.encode() if isinstance(ratings, str) else ratings)
    (d / "movies.csv").write_bytes(movies.encode() if isinstance(movies, str) else movies)
    return d


def test_ml100k_counts_match_datasource(ml100k: Path, ml100k_counts: DatasetCounts) -> None:
    ds = read_dataset(ml100k)
    assert ds.format == "ml-100k"
    c = ml100k_counts
    assert ds.summary() == {"users": c.users, "movies": c.movies, "ratings": c.ratings, "tags": 0}
    assert len(ds.problems) == 0
    toy = ds.movies[ds.movies["item"] == 1].iloc[0]
    assert (toy["title"], toy["year"]) == ("Toy Story", 1995)
    assert set(toy["genres"]) == {"Animation", "Children", "Comedy"}


def test_ml_latest_small_counts_match_datasource(ml_small: Path, ml_small_counts: DatasetCounts) -> None:
    ds = read_dataset(ml_small)
    s, c = ds.summary(), ml_small_counts
    assert s == {"users": c.users, "movies": c.movies, "ratings": c.ratings, "tags": c.tags}
    assert ds.ratings["item"].nunique() == c.rated_movies
    row = ds.movies[ds.movies["item"] == 50].iloc[0]
    assert row["title"] == "The Usual Suspects" and row["imdb_id"] == "tt0114814" and row["tmdb_id"] == 629


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Toy Story (1995)", "Toy Story", 1995),
        ("  Shawshank  Redemption, The (1994) ", "The Shawshank Redemption", 1994),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", "City of Lost Children, The (Cité des enfants perdus, La)", 1995),
        ("Babylon 5", "Babylon 5", None),
        ("Stranger Things (2016-)", "Stranger Things", 2016),
    ],
)
def test_split_title(raw: str, title: str, year: int | None) -> None:
    assert split_title(raw) == (title, year)


def test_wrong_column_count_names_line(tmp_path: Path) -> None:
    d = ml_latest(tmp_path, HEADER + "1,1,4.0,100\n1,2,3.0,100,extra\n")
    with pytest.raises(DataFormatError) as e:
        read_dataset(d)
    assert str(e.value) == "ratings.csv:3: expected 4 fields, found 5; check the delimiter and quoting"
    assert e.value.line == 3


def test_short_line_names_line(tmp_path: Path) -> None:
    d = ml_latest(tmp_path, HEADER + "1,1,4.0,100\n1,2\n")
    with pytest.raises(DataFormatError, match=r"ratings.csv:3: expected 4 fields, found 2"):
        read_dataset(d)


def test_wrong_encoding_names_line_and_byte(tmp_path: Path) -> None:
    d = ml_latest(tmp_path, HEADER + "1,1,4.0,100\n", MOVIES.encode() + "3,Am\xe9lie (2001),Comedy\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as e:
        read_dataset(d)
    assert str(e.value) == (
        "movies.csv:4: byte 0xe9 at column 5 is not valid UTF-8; save the file as UTF-8 (or choose the dataset's own format)"
    )


def test_missing_column(tmp_path: Path) -> None:
    d = ml_latest(tmp_path, "userId,movieId,timestamp\n1,1,100\n")
    with pytest.raises(DataFormatError) as e:
        read_dataset(d)
    assert str(e.value) == "ratings.csv:1: missing column(s) ['rating']; the header has ['userId', 'movieId', 'timestamp']"


def test_out_of_range_and_bad_values_are_rejected_with_line_and_field(tmp_path: Path) -> None:
    d = ml_latest(tmp_path, HEADER + "1,1,4.0,100\n1,2,7,100\n2,1,five,100\n2,2,3.5,-4\n3,9,4.0,100\n3,1,4.3,100\n")
    ds = read_dataset(d)
    assert len(ds.ratings) == 1
    assert [str(p) for p in ds.problems.items] == [
        "ratings.csv:4: field 'rating': rating is not a number ('five')",
        "ratings.csv:3: field 'rating': rating out of range (not in 0.5-5 in steps of 0.5) ('7')",
        "ratings.csv:7: field 'rating': rating out of range (not in 0.5-5 in steps of 0.5) ('4.3')",
        "ratings.csv:5: field 'timestamp': bad timestamp (out of range) ('-4')",
        "ratings.csv:6: field 'movieId': unknown movie id ('9')",
    ]
    assert ds.problems.by_reason()["unknown movie id"] == 1


def test_duplicates_dropped_and_latest_conflict_kept(tmp_path: Path) -> None:
    d = ml_latest(tmp_path, HEADER + "1,1,4.0,100\n1,1,4.0,100\n1,2,2.0,300\n1,2,5.0,200\n")
    ds = read_dataset(d)
    got = {(r.user, r.item): r.rating for r in ds.ratings.itertuples()}
    assert got == {(1, 1): 4.0, (1, 2): 2.0}
    assert ds.problems.by_reason() == {"duplicate row": 1, "superseded by a later rating": 1}


def test_crlf_bom_and_u0085_inside_fields(tmp_path: Path) -> None:
    movies = "\ufeffmovieId,title,genres\r\n1,\"Odd\u0085Title (2000)\",Drama\r\n"
    d = ml_latest(tmp_path, ("\ufeff" + HEADER + "1,1,4.5,100\n").replace("\n", "\r\n"), movies)
    ds = read_dataset(d)
    # the row is not split at U+0085; title cleaning folds that control character into a space
    assert ds.movies["title"].tolist() == ["Odd Title"]
    assert ds.ratings["rating"].tolist() == [4.5]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "ratings.csv: the file is empty (0 bytes)"),
    (b"\n\n", "ratings.csv: the file has no data lines"),
    (HEADER.encode(), "ratings.csv: the file has a header but no data lines"),
])
def test_empty_files(tmp_path: Path, content: bytes, message: str) -> None:
    d = ml_latest(tmp_path, content)
    with pytest.raises(DataFormatError) as e:
        read_dataset(d)
    assert str(e.value) == message


def test_ml100k_broken_u_data(tmp_path: Path, ml100k: Path) -> None:
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "u.item").write_bytes((ml100k / "u.item").read_bytes())
    (d / "u.data").write_text("1\t1\t5\t874965758\n1\t2\t9\t874965758\n1\t3\n")
    with pytest.raises(DataFormatError, match=r"^u.data:3: expected 4 fields, found 2$"):
        read_dataset(d)


def test_generic_csv_any_scale_and_columns(tmp_path: Path) -> None:
    f = tmp_path / "scores.csv"
    f.write_text("who;what;score\na;x;9.5\nb;x;0\nb;y;10\n")
    with pytest.raises(DataFormatError, match="cannot find the user/item column"):
        read_dataset(f)
    from cinerec.data.readers import parse_columns_option

    ds = read_dataset(f, columns=parse_columns_option("user=who,item=what,rating=score"))
    assert sorted(ds.ratings["rating"].tolist()) == [0.0, 9.5, 10.0]
    assert ds.interactions().rating_scale == (0.0, 10.0)


def test_detect_formats(ml100k: Path, ml_small: Path, tmp_path: Path) -> None:
    assert detect_format(ml100k)[0] == "ml-100k"
    assert detect_format(ml_small)[0] == "ml-latest"
    with pytest.raises(DataFormatError, match="no dataset found"):
        detect_format(tmp_path)


def test_zip_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cinerec.data.readers as readers

    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(1001):
            z.writestr(f"f{i}.txt", "")
    with pytest.raises(DataFormatError, match="the archive has 1001 members; at most 1000 are accepted"):
        safe_extract(many, tmp_path / "out")
    # the size check reads the declared sizes before unpacking: shown with a 1 MiB limit
    monkeypatch.setattr(readers, "MAX_ARCHIVE_BYTES", 1024**2)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("ratings.csv", b"0" * (1024**3 // 256))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataFormatError, match=r"unpacks to 0.0 GiB \(4194304 bytes\); at most 0 GiB \(1048576 bytes\)"):
        safe_extract(bomb, tmp_path / "out2")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.txt", "x")
    with pytest.raises(DataFormatError, match="outside the target folder"):
        safe_extract(evil, tmp_path / "out3")
    notzip = tmp_path / "x.zip"
    notzip.write_text("hello")
    with pytest.raises(DataFormatError, match="not a readable zip archive"):
        read_dataset(notzip)


def test_huge_ids_are_rejected_not_wrapped(tmp_path: Path) -> None:
    d = ml_latest(tmp_path, HEADER + "1,1,4.0,100\n1e308,1,4.0,100\n99999999999999999999,2,3.0,100\n")
    ds = read_dataset(d)
    assert ds.ratings["user"].tolist() == [1]
    assert [p.reason for p in ds.problems.items] == ["bad user id (over 2147483647)"] * 2
    f = tmp_path / "g.csv"
    f.write_text("user,item,rating\n1e308,5,3\n2,5,4\n")
    assert read_dataset(f).ratings["user"].tolist() == ["1e308", "2"]
