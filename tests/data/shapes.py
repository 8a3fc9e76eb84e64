"""Small rating files in the shapes public data sets come in, written by the tests that use them.

MovieTweetings (``::``, 0-10, UTF-8 titles, IMDb ids, ``users.dat`` of two
fields), ML-1M (``::``, 1-5, Latin-1 titles, five-field ``users.dat``),
FilmTrust (headerless ``user,item,rating`` on 0.5-4) and LibRec style
(headerless, whitespace-separated ``user item rating time``).
"""

from __future__ import annotations

from pathlib import Path

#: (user, imdb number, rating 0-10, unix time); line 6 is out of range.
MT_RATINGS = [
    (1, "0114508", 8, 1381006850),
    (1, "0208092", 10, 1381006900),
    (2, "0208092", 5, 1586466072),
    (2, "0358273", 0, 1579057827),
    (3, "0114508", 7, 1579057830),
    (3, "0358273", 11, 1579057899),
]
MT_MOVIES = [
    ("0114508", "Amélie (2001)", "Comedy|Romance"),
    ("0208092", "Snatch (2000)", "Comedy|Crime"),
    ("0358273", "Walk the Line (2005)", ""),
]


def movietweetings(root: Path, *, users: bool = True, bad_row: bool = True) -> Path:
    """A MovieTweetings folder; with ``bad_row`` its last rating (11) is outside 0-10."""
    d = root / "movietweetings"
    d.mkdir(parents=True, exist_ok=True)
    rows = MT_RATINGS if bad_row else MT_RATINGS[:-1]
    (d / "ratings.dat").write_text("".join(f"{u}::{m}::{r}::{t}\n" for u, m, r, t in rows), encoding="utf-8")
    (d / "movies.dat").write_text("".join(f"{m}::{t}::{g}\n" for m, t, g in MT_MOVIES), encoding="utf-8")
    if users:
        (d / "users.dat").write_text("1::177651718\n2::3098346\n3::14253942\n", encoding="utf-8")
    return d


def ml1m(root: Path) -> Path:
    """An ML-1M folder: 1-5 ratings, Latin-1 ``movies.dat``, five-field ``users.dat``."""
    d = root / "ml-1m"
    d.mkdir(parents=True, exist_ok=True)
    (d / "ratings.dat").write_text("1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n")
    (d / "movies.dat").write_bytes("1::Misérables, Les (1995)::Drama\n2::Jumanji (1995)::Adventure\n".encode("latin-1"))
    (d / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    return d


#: FilmTrust-style rows: (user, item, stars on 0.5-4).
FT_RATINGS = [(1, 1, 2.0), (1, 2, 4.0), (1, 3, 3.5), (2, 1, 0.5), (2, 3, 1.5), (3, 2, 4.0), (3, 4, 3.0)]


def filmtrust(root: Path, sep: str = ",") -> Path:
    """A headerless FilmTrust-style ratings file (no trust.txt beside it)."""
    root.mkdir(parents=True, exist_ok=True)
    f = root / f"ft{'-space' if sep == ' ' else ''}.txt"
    f.write_text("".join(f"{u}{sep}{i}{sep}{r:g}\n" for u, i, r in FT_RATINGS))
    return f


#: LibRec-style rows: (user, item, rating, time) on 1-10.
LR_RATINGS = [(10, 100, 7, 1200000000), (10, 101, 9, 1200000100), (11, 100, 1, 1200000200), (12, 102, 10, 1200000300)]


def librec(root: Path) -> Path:
    """A headerless, whitespace-separated LibRec-style file with runs of spaces and tabs."""
    root.mkdir(parents=True, exist_ok=True)
    f = root / "librec.txt"
    seps = ["  ", "\t", " \t ", " "]
    f.write_text("".join(f"{u}{seps[k % 4]}{i} {r}\t{t}  \n" for k, (u, i, r, t) in enumerate(LR_RATINGS)))
    return f
