"""Readers for the MovieLens releases (100K, 1M and 10M, latest/20M/25M) and MovieTweetings.

Each returns a cleaned, validated :class:`Dataset`. Format facts handled here:
u.item and the 1M ``.dat`` files are Latin-1 (10M's are UTF-8: the encoding is
detected per file, UTF-8 first); 1M uses ``::`` separators; latest/25M are
UTF-8 CSV with quoted titles, possibly CRLF. MovieTweetings uses the 1M
layout with 0-10 ratings, IMDb numbers as movie ids, UTF-8 titles and a
``users.dat`` of ``user_id::twitter_id``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.readers._dataset import (
    Dataset,
    RatingScale,
    dedupe_ratings,
    normalise_genre,
    parse_timestamps,
    reject_unknown_items,
    split_title,
)
from cinerec.data.readers._table import Problems, check_range, parse_numbers, read_table
from cinerec.errors import DataFormatError

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]


#: Largest id accepted: database keys are 32-bit integers.
MAX_ID = 2**31 - 1


def _ids(df: pd.DataFrame, col: str, path: Path, problems: Problems, what: str) -> tuple[np.ndarray, np.ndarray]:
    vals, ok = parse_numbers(df, col, path, problems, reason=f"bad {what} id", integer=True)
    big = ok & (vals > MAX_ID)
    if big.any():
        problems.add_many(path, df["_line"].to_numpy()[big], col, f"bad {what} id (over {MAX_ID})", df[col].to_numpy()[big])
    ok &= (vals > 0 if what == "movie" else vals >= 0) & ~big
    return np.where(ok, vals, -1).astype(np.int64), ok


def _ratings(
    df: pd.DataFrame, path: Path, problems: Problems, *, cols: tuple[str, str, str, str],
    lo: float, hi: float, step: float,
) -> pd.DataFrame:
    ucol, icol, rcol, tcol = cols
    u, uok = _ids(df, ucol, path, problems, "user")
    i, iok = _ids(df, icol, path, problems, "movie")
    r, rok = parse_numbers(df, rcol, path, problems, reason="rating is not a number")
    rok = check_range(df, rcol, r, rok, lo, hi, path, problems, step=step)
    ts, tok = parse_timestamps(df, tcol, path, problems)
    ok = uok & iok & rok & tok
    out = pd.DataFrame({"user": u, "item": i, "rating": r, "timestamp": ts.to_numpy(), "_line": df["_line"].to_numpy()})
    return out[ok].reset_index(drop=True)


def _movies_frame(items: np.ndarray, titles: list[str], genres: list[list[str]], extra: dict[str, list[str]] | None = None) -> pd.DataFrame:
    parsed = [split_title(t) for t in titles]
    df = pd.DataFrame({
        "item": items,
        "title": [p[0] for p in parsed],
        "year": pd.array([p[1] for p in parsed], dtype="Int64"),
        "genres": genres,
    })
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def _check_movie_ids(df: pd.DataFrame, ids: np.ndarray, ok: np.ndarray, path: Path, col: str) -> None:
    if not ok.all():
        k = int(np.argmin(ok))
        raise DataFormatError(f"bad movie id {df[col].iloc[k]!r}", path=path, line=int(df["_line"].iloc[k]), field=col)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        k = int(np.argmax(dup))
        raise DataFormatError(f"movie id {ids[k]} appears twice", path=path, line=int(df["_line"].iloc[k]), field=col)
    titles = df["title"].str.strip()
    if (titles == "").any():
        k = int(np.argmax((titles == "").to_numpy()))
        raise DataFormatError("empty title", path=path, line=int(df["_line"].iloc[k]), field="title")


def _users(path: Path, columns: list[str], sep: str, problems: Problems) -> pd.DataFrame:
    """A MovieLens user file (u.user, users.dat) as user, age, gender, occupation."""
    u = read_table(path, columns=columns, sep=sep, header=False, encoding="auto")
    uid, _ = _ids(u, "user", path, problems, "user")
    return pd.DataFrame({"user": uid, "age": pd.to_numeric(u["age"], errors="coerce"),
                         "gender": u["gender"].to_numpy(), "occupation": u["occupation"].to_numpy()})


def read_ml100k(folder: Path) -> Dataset:
    """Read MovieLens 100K from a folder with u.data, u.item (and optional u.user, u.genre).

    Raises:
        DataFormatError: on a structural problem in any file.
    """
    folder = Path(folder)
    problems = Problems()
    data_path, item_path = folder / "u.data", folder / "u.item"
    genres = ML100K_GENRES
    if (folder / "u.genre").is_file():
        g = read_table(folder / "u.genre", columns=["genre", "gid"], sep="|", header=False, encoding="auto")
        genres = g["genre"].tolist()
    item_cols = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", *[f"g{k}" for k in range(len(genres))]]
    items = read_table(item_path, columns=item_cols, sep="|", header=False, encoding="auto")
    ids, ok = _ids(items, "movie_id", item_path, Problems(), "movie")
    _check_movie_ids(items, ids, ok, item_path, "movie_id")
    flags = items[[f"g{k}" for k in range(len(genres))]].to_numpy() == "1"
    names = [normalise_genre(g) for g in genres]
    genre_lists = [[n for n, f in zip(names, row, strict=True) if f and n] for row in flags]
    dates = pd.to_datetime(items["release_date"].str.strip(), format="%d-%b-%Y", errors="coerce")
    movies = _movies_frame(ids, items["title"].tolist(), genre_lists)
    # ml-100k titles sometimes lack the year: fall back to the release date
    movies["year"] = movies["year"].fillna(pd.Series(pd.array(dates.dt.year, dtype="Int64"), index=movies.index))
    movies["imdb_url"] = items["imdb_url"].str.strip().to_numpy()

    raw = read_table(data_path, columns=["user", "item", "rating", "timestamp"], sep="\t", header=False)
    ratings = _ratings(raw, data_path, problems, cols=("user", "item", "rating", "timestamp"), lo=1, hi=5, step=1)
    ratings = reject_unknown_items(ratings, movies, data_path, problems, "item")
    ratings = dedupe_ratings(ratings, problems)
    users = None
    files = [data_path, item_path]
    if (folder / "u.user").is_file():
        users = _users(folder / "u.user", ["user", "age", "gender", "occupation", "zip"], "|", problems)
        files.append(folder / "u.user")
    return Dataset("ml-100k", "ml-100k", ratings, movies=movies, users=users, problems=problems, files=files,
                   scale=RatingScale(1, 5, 1), ratings_read=len(raw), notes=[f"u.item: {items.attrs['encoding']}"])


def _read_dat(folder: Path, fmt: str) -> Dataset:
    """The ``::``-separated layout shared by MovieLens 1M/10M and MovieTweetings."""
    folder = Path(folder)
    problems = Problems()
    rpath, mpath = folder / "ratings.dat", folder / "movies.dat"
    m = read_table(mpath, columns=["movie_id", "title", "genres"], sep="::", header=False, encoding="auto")
    ids, ok = _ids(m, "movie_id", mpath, Problems(), "movie")
    _check_movie_ids(m, ids, ok, mpath, "movie_id")
    genre_lists = [[g for g in (normalise_genre(x) for x in s.split("|")) if g] for s in m["genres"].tolist()]
    extra = {"imdb_id": [f"tt{i:07d}" for i in ids.tolist()]} if fmt == "movietweetings" else None
    movies = _movies_frame(ids, m["title"].tolist(), genre_lists, extra)
    raw = read_table(rpath, columns=["user", "item", "rating", "timestamp"], sep="::", header=False, encoding="auto")
    if fmt == "movietweetings":
        scale = RatingScale(0, 10, 1)
    else:
        step = 0.5 if (raw["rating"].str.contains(".", regex=False)).any() else 1.0
        scale = RatingScale(step, 5, step)
    ratings = _ratings(raw, rpath, problems, cols=("user", "item", "rating", "timestamp"),
                       lo=scale.low, hi=scale.high, step=scale.step or 1.0)
    ratings = reject_unknown_items(ratings, movies, rpath, problems, "item")
    ratings = dedupe_ratings(ratings, problems)
    users = None
    files = [rpath, mpath]
    notes = [f"movies.dat: {m.attrs['encoding']}"]
    upath = folder / "users.dat"
    if upath.is_file():
        if fmt == "movietweetings":
            u = read_table(upath, columns=["user", "twitter_id"], sep="::", header=False, encoding="auto")
            uid, uok = _ids(u, "user", upath, problems, "user")
            users = pd.DataFrame({"user": uid[uok], "twitter_id": u["twitter_id"].to_numpy()[uok]})
        else:
            users = _users(upath, ["user", "gender", "age", "occupation", "zip"], "::", problems)
        files.append(upath)
    default = "ml-1m" if fmt == "ml-1m" else "movietweetings"
    name = default if folder.name.lower() in (default, "") else folder.name.lower()
    return Dataset(name, fmt, ratings, movies=movies, users=users, problems=problems, files=files,
                   scale=scale, ratings_read=len(raw), notes=notes)


def read_ml1m(folder: Path) -> Dataset:
    """Read MovieLens 1M (or 10M) from a folder with ratings.dat and movies.dat (``::``-separated).

    Ratings are 1-5 stars (10M: 0.5-5 in half steps); others are rejected rows.
    """
    return _read_dat(folder, "ml-1m")


def read_movietweetings(folder: Path) -> Dataset:
    """Read MovieTweetings: ratings.dat ``user::movie::rating::time`` with 0-10 ratings, movies.dat, users.dat.

    Movie ids are IMDb numbers, kept as ids and recorded as ``imdb_id``
    (``tt0114508``); ratings outside 0-10 are rejected rows.
    """
    return _read_dat(folder, "movietweetings")


def read_ml_latest(folder: Path, name: str | None = None) -> Dataset:
    """Read MovieLens latest / latest-small / 20M / 25M (ratings.csv, movies.csv, tags.csv, links.csv)."""
    folder = Path(folder)
    problems = Problems()
    rpath, mpath = folder / "ratings.csv", folder / "movies.csv"
    m = read_table(mpath, columns=["movieId", "title", "genres"])
    ids, ok = _ids(m, "movieId", mpath, Problems(), "movie")
    _check_movie_ids(m, ids, ok, mpath, "movieId")
    genre_lists = [[g for g in (normalise_genre(x) for x in s.split("|")) if g] for s in m["genres"].tolist()]
    movies = _movies_frame(ids, m["title"].tolist(), genre_lists)
    files = [rpath, mpath]
    lpath = folder / "links.csv"
    if lpath.is_file():
        links = read_table(lpath, columns=["movieId", "imdbId", "tmdbId"])
        lid, lok = _ids(links, "movieId", lpath, problems, "movie")
        lk = pd.DataFrame({"item": lid[lok], "imdb_id": links["imdbId"].str.strip().to_numpy()[lok],
                           "tmdb": pd.to_numeric(links["tmdbId"].to_numpy()[lok], errors="coerce")})
        lk = lk.drop_duplicates("item")
        movies = movies.merge(lk, on="item", how="left")
        movies["imdb_id"] = movies["imdb_id"].where(movies["imdb_id"].fillna("") != "", None)
        movies["imdb_id"] = [f"tt{v.zfill(7)}" if isinstance(v, str) and v.isdigit() else None for v in movies["imdb_id"]]
        movies["tmdb_id"] = pd.array(movies.pop("tmdb"), dtype="Int64")
        files.append(lpath)
    raw = read_table(rpath, columns=["userId", "movieId", "rating", "timestamp"])
    ratings = _ratings(raw, rpath, problems, cols=("userId", "movieId", "rating", "timestamp"), lo=0.5, hi=5, step=0.5)
    ratings = reject_unknown_items(ratings, movies, rpath, problems, "movieId")
    ratings = dedupe_ratings(ratings, problems)
    tags = None
    tpath = folder / "tags.csv"
    if tpath.is_file():
        t = read_table(tpath, columns=["userId", "movieId", "tag", "timestamp"])
        tu, tuok = _ids(t, "userId", tpath, problems, "user")
        ti, tiok = _ids(t, "movieId", tpath, problems, "movie")
        tts, ttok = parse_timestamps(t, "timestamp", tpath, problems)
        text = t["tag"].str.strip()
        empty = (text == "").to_numpy()
        if empty.any():
            problems.add_many(tpath, t["_line"].to_numpy()[empty], "tag", "empty tag", text.to_numpy()[empty])
        ok = tuok & tiok & ttok & ~empty
        tags = pd.DataFrame({"user": tu, "item": ti, "tag": text.to_numpy(), "timestamp": tts.to_numpy(), "_line": t["_line"].to_numpy()})[ok]
        tags = reject_unknown_items(tags.reset_index(drop=True), movies, tpath, problems, "movieId")
        before = len(tags)
        tags = tags.drop_duplicates(["user", "item", "tag"], keep="last").reset_index(drop=True)
        problems.count_dropped("duplicate tag", before - len(tags))
        files.append(tpath)
    return Dataset(name or folder.name.lower() or "ml-latest", "ml-latest", ratings, movies=movies, tags=tags, problems=problems,
                   files=files, scale=RatingScale(0.5, 5, 0.5), ratings_read=len(raw))
