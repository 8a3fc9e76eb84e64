"""Rating files that are not MovieLens: detection from content, delimited-file options, encodings, scales, rejections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cinerec.data.readers import (
    RatingScale,
    detect_format,
    parse_columns_option,
    parse_sep_option,
    read_dataset,
)
from cinerec.errors import DataFormatError
from tests.data import shapes


def filmtrust_truth(path: Path) -> tuple[int, int, int, int, set[float]]:
    """(rows, distinct user-item pairs, users, items, rating values) of a FilmTrust file, read with plain Python."""
    rows = [ln.split(",") for ln in path.read_text().split("\n") if ln.strip()]
    pairs = {(r[0], r[1]) for r in rows}
    return len(rows), len(pairs), len({r[0] for r in rows}), len({r[1] for r in rows}), {float(r[2]) for r in rows}


# ------------------------------------------------------------------ MovieTweetings / ML-1M


def test_movietweetings_detected_from_content_with_its_scale_and_utf8_titles(tmp_path: Path) -> None:
    d = shapes.movietweetings(tmp_path)
    assert detect_format(d) == ("movietweetings", d)
    ds = read_dataset(d)
    assert ds.format == "movietweetings" and ds.scale == RatingScale(0, 10, 1)
    assert ds.ratings_read == len(shapes.MT_RATINGS)
    assert sorted(ds.ratings["rating"].tolist()) == sorted(r for _, _, r, _ in shapes.MT_RATINGS if r <= 10)
    assert [str(p) for p in ds.problems.items] == ["ratings.dat:6: field 'rating': rating out of range (not in 0-10 in steps of 1) ('11')"]
    movies = ds.movies
    assert movies is not None
    amelie = movies[movies["item"] == 114508].iloc[0]
    assert (amelie["title"], amelie["year"], amelie["imdb_id"]) == ("Amélie", 2001, "tt0114508")
    assert movies[movies["item"] == 358273].iloc[0]["genres"] == []
    assert ds.users is not None and ds.users["twitter_id"].tolist() == ["177651718", "3098346", "14253942"]
    assert "movies.dat: utf-8" in ds.notes


@pytest.mark.parametrize("users", [True, False])
def test_movietweetings_without_users_dat_is_still_recognised(tmp_path: Path, users: bool) -> None:
    d = shapes.movietweetings(tmp_path, users=users)
    assert detect_format(d)[0] == "movietweetings"
    # without zero-padded ids, ratings above 5 still say it
    unpadded = "".join(ln.lstrip("0") + "\n" for ln in (d / "movies.dat").read_text().splitlines())
    (d / "movies.dat").write_text(unpadded)
    assert detect_format(d)[0] == "movietweetings"


def test_ml1m_stays_ml1m_and_latin1_titles_decode(tmp_path: Path) -> None:
    d = shapes.ml1m(tmp_path)
    assert detect_format(d)[0] == "ml-1m"
    ds = read_dataset(d)
    assert ds.movies is not None and ds.movies["title"].tolist()[0] == "Les Misérables"
    assert "movies.dat: latin-1" in ds.notes and ds.scale == RatingScale(1, 5, 1)


def test_ratings_dat_alone_is_a_headerless_delimited_file(tmp_path: Path) -> None:
    d = shapes.movietweetings(tmp_path, users=False)
    (d / "movies.dat").unlink()
    ds = read_dataset(d / "ratings.dat")
    assert ds.format == "csv" and len(ds.ratings) == len(shapes.MT_RATINGS)  # no scale given: nothing out of range
    assert ds.ratings["timestamp"].tolist()[0] == shapes.MT_RATINGS[0][3]
    assert ds.rating_scale == RatingScale(0, 11, 1)
    ds = read_dataset(d / "ratings.dat", scale=RatingScale.parse("0:10"))
    assert len(ds.ratings) == len(shapes.MT_RATINGS) - 1 and ds.rejected_ratings() == 1


# ------------------------------------------------------------------ FilmTrust / LibRec / headerless CSV


def test_real_filmtrust_counts_read_from_the_file(datasets: Path) -> None:
    f = datasets / "filmtrust" / "ratings.txt"
    rows, pairs, users, items, values = filmtrust_truth(f)
    ds = read_dataset(f)
    assert ds.format == "filmtrust" and ds.scale == RatingScale(0.5, 4, 0.5)
    assert ds.ratings_read == rows and len(ds.ratings) == pairs
    assert ds.summary() == {"users": users, "movies": items, "ratings": pairs, "tags": 0}
    assert set(ds.ratings["rating"].unique()) <= values and ds.rejected_ratings() == 0
    assert sum(ds.problems.dropped.values()) == rows - pairs


@pytest.mark.parametrize("sep", [",", " "])
def test_filmtrust_shape_detected_from_content(tmp_path: Path, sep: str) -> None:
    f = shapes.filmtrust(tmp_path, sep)
    assert detect_format(f)[0] == "filmtrust"
    ds = read_dataset(f)
    assert len(ds.ratings) == len(shapes.FT_RATINGS)  # the first line is data, not a header
    assert ds.ratings.iloc[0][["user", "item", "rating"]].tolist() == [1, 1, 2.0]
    # named explicitly, a rating off FilmTrust's grid is a rejected row
    f.write_text(f.read_text() + f"4{sep}4{sep}4.5\n")
    ds = read_dataset(f, "filmtrust")
    assert [p.reason for p in ds.problems.items] == ["rating out of range (not in 0.5-4 in steps of 0.5)"]


def test_librec_whitespace_runs_and_time_column(tmp_path: Path) -> None:
    f = shapes.librec(tmp_path)
    assert detect_format(f)[0] == "librec"
    ds = read_dataset(f)
    got = sorted(map(tuple, ds.ratings[["user", "item", "rating", "timestamp"]].to_numpy().tolist()))
    assert got == sorted(shapes.LR_RATINGS)
    assert ds.rating_scale == RatingScale(1, 10, 1) and ds.scale is None


def test_headerless_comma_file_keeps_its_first_row(tmp_path: Path) -> None:
    f = tmp_path / "plain.csv"
    f.write_text("7,70,3\n8,70,5\n8,71,1\n")
    ds = read_dataset(f)
    assert len(ds.ratings) == 3 and ds.ratings["user"].tolist() == [7, 8, 8]
    assert "no header (found from the content)" in ds.notes[1]


def test_positional_columns_sep_and_no_header(tmp_path: Path) -> None:
    f = tmp_path / "odd.txt"
    f.write_text("x;70;9;a\nx;71;2;b\n")  # item;rating;?;user
    ds = read_dataset(f, columns=parse_columns_option("user=3,item=0,rating=1"), sep=";", header=False)
    assert sorted(map(tuple, ds.ratings[["user", "item", "rating"]].to_numpy().tolist())) == [("a", "x", 70.0), ("b", "x", 71.0)]
    # positions also pick header columns; names and positions mix
    g = tmp_path / "h.csv"
    g.write_text("who,what,score,when\nu1,m1,4,100\n")
    ds = read_dataset(g, columns=parse_columns_option("user=0,item=what,rating=2,time=3"))
    assert ds.ratings[["user", "item", "rating", "timestamp"]].to_numpy().tolist() == [["u1", "m1", 4.0, 100]]
    # --header on a file whose first line looks like data keeps it as the header
    ds = read_dataset(f, columns=parse_columns_option("user=3,item=0,rating=1"), sep=";", header=True)
    assert len(ds.ratings) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"columns": {"user": "who", "item": 1, "rating": 2}, "header": False}, "--columns user=who names header columns, but the file has no header"),
    ({"columns": {"user": 0, "item": 1, "rating": 7}}, "--columns rating=7: the file has 3 fields per line (positions 0-2)"),
    ({"columns": {"user": 0, "rating": 2}}, "--columns must give the item position(s) too"),
    ({"header": True}, "cannot find the user/item/rating column(s) in header"),
    ({"header": True}, "or pass --no-header if the first line is data"),
])
def test_option_errors_say_what_to_fix(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    f = shapes.filmtrust(tmp_path)
    with pytest.raises(DataFormatError) as e:
        read_dataset(f, "csv", **kwargs)  # type: ignore[arg-type]
    assert message in str(e.value)


def test_five_headerless_fields_need_columns(tmp_path: Path) -> None:
    f = tmp_path / "wide.csv"
    f.write_text("1,2,3,4,5\n1,3,3,4,5\n")
    with pytest.raises(DataFormatError, match=r"wide.csv:1: the file has no header and 5 fields per line; say which is which"):
        read_dataset(f)
    ds = read_dataset(f, columns=parse_columns_option("user=0,item=1,rating=4"))
    assert ds.ratings["rating"].tolist() == [5.0, 5.0]


def test_format_options_do_not_apply_to_movielens_folders(tmp_path: Path) -> None:
    d = shapes.ml1m(tmp_path)
    with pytest.raises(DataFormatError, match="apply to a delimited ratings file, and this folder reads as ml-1m"):
        read_dataset(d, sep="::")
    with pytest.raises(DataFormatError, match="apply to csv, librec, filmtrust files, not to ml-1m"):
        read_dataset(d, "ml-1m", header=False)
    # on the file itself they are honoured
    ds = read_dataset(d / "ratings.dat", sep="::", header=False)
    assert len(ds.ratings) == 3


def test_option_parsers() -> None:
    assert parse_columns_option("user=0,item=movie,rating=2") == {"user": 0, "item": "movie", "rating": 2}
    assert parse_sep_option("tab") == "\t" and parse_sep_option("::") == "::" and parse_sep_option("whitespace") == " "
    for bad, msg in [("user=0,item=0,rating=1", "two roles share one position"), ("user=0,user=1", "given twice"),
                     ("who=1", "unknown role 'who'")]:
        with pytest.raises(DataFormatError, match=msg):
            parse_columns_option(bad)
    with pytest.raises(DataFormatError, match="not a usable separator"):
        parse_sep_option('"')
    assert RatingScale.parse("0.5:4:0.5") == RatingScale(0.5, 4, 0.5)
    for bad in ("10:0", "a:b", "1", "0:10:0"):
        with pytest.raises(DataFormatError, match="--scale"):
            RatingScale.parse(bad)


# ------------------------------------------------------------------ encodings, scales, rejections


@pytest.mark.parametrize(("encoding", "expected"), [("utf-8", "utf-8"), ("latin-1", "latin-1")])
def test_encoding_detected_per_file(tmp_path: Path, encoding: str, expected: str) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes("user,item,rating,title\n1,1,4,Amélie (2001)\n2,2,3,Léon (1994)\n".encode(encoding))
    ds = read_dataset(f)
    assert ds.movies is not None and ds.movies["title"].tolist() == ["Amélie", "Léon"]
    assert ds.notes[1].startswith(f"t.csv: {expected}, comma-separated, a header")


def test_scale_mapping_onto_stars() -> None:
    ten = RatingScale(0, 10, 1)
    assert ten.mapping == "linear"
    assert np.allclose(ten.to_stars(np.array([0.0, 5.0, 10.0, 8.0])), [0.5, 2.75, 5.0, 4.1])
    for within in (RatingScale(1, 5, 1), RatingScale(0.5, 4, 0.5), RatingScale(0.5, 5, 0.5)):
        assert within.mapping == "identity" and within.to_stars(np.array([1.0, 4.0])).tolist() == [1.0, 4.0]
    assert RatingScale.infer(np.array([1.0, 2.5, 4.0])) == RatingScale(1, 4, 0.5)
    with pytest.raises(DataFormatError, match="give it with --scale LOW:HIGH"):
        RatingScale(7, 7).to_stars(np.array([7.0]))


def test_rejection_summary_and_share(tmp_path: Path) -> None:
    f = tmp_path / "mixed.csv"
    f.write_text("user,item,rating,timestamp\n1,1,4,100\n1,2,x,100\n2,1,3,-5\n2,2,y,-5\n3,3,2,100\n3,3,2,100\n")
    ds = read_dataset(f)
    assert ds.ratings_read == 6 and len(ds.ratings) == 2
    assert ds.rejected_ratings() == 3  # the row with two bad fields counts once
    assert ds.rejected_share() == pytest.approx(3 / 6)
    lines = ds.rejection_summary(limit=2)
    assert lines[0].startswith("mixed (csv): 2 ratings kept of 6 rows in mixed.csv; 3 rejected (50.00%); rating scale 2-4")
    assert "  mixed.csv:3: field 'rating': rating is not a number ('x')" in lines
    assert "  ... and 2 more" in lines
    assert "  rejected: rating is not a number: 2" in lines and "  rejected: bad timestamp (out of range): 2" in lines
    assert "  dropped (not an error): duplicate row: 1" in lines
    ds.check_rejected(0.5)
    with pytest.raises(DataFormatError) as e:
        ds.check_rejected(0.01)
    assert "3 of 6 rating rows (50.0%) were rejected, more than the 1% allowed" in str(e.value)
    assert "--max-rejected" in str(e.value)
