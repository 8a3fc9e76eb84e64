"""Reader for a generic ratings CSV (any delimiter, a header, any rating scale)."""

from __future__ import annotations

import csv as _csv
from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.readers._dataset import Dataset, dedupe_ratings, parse_timestamps, split_title
from cinerec.data.readers._table import Problems, parse_numbers, read_table
from cinerec.errors import DataFormatError

#: Header names recognised for each role, compared case-insensitively.
ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "userid", "user_id", "uid"),
    "item": ("item", "itemid", "item_id", "movie", "movieid", "movie_id", "iid"),
    "rating": ("rating", "score", "stars", "value"),
    "time": ("timestamp", "time", "ts", "date"),
    "title": ("title", "movie_title", "name"),
}


def parse_columns_option(spec: str | None) -> dict[str, str]:
    """Parse ``user=uid,item=mid,rating=r,time=t`` into a role -> header map.

    Raises:
        DataFormatError: on an unknown role or a malformed pair.
    """
    if not spec:
        return {}
    out: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise DataFormatError(f"--columns expects role=column pairs, got {part!r}")
        role, name = (s.strip() for s in part.split("=", 1))
        if role not in ALIASES:
            raise DataFormatError(f"--columns: unknown role {role!r}; use {', '.join(ALIASES)}")
        out[role] = name
    return out


def _sniff_sep(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.readline().decode("utf-8", errors="replace")
    try:
        return _csv.Sniffer().sniff(head, delimiters=",\t;|").delimiter
    except _csv.Error:
        return ","


def _as_ids(s: pd.Series) -> np.ndarray:
    v = s.str.strip()
    num = pd.to_numeric(v, errors="coerce")
    # integers that fit int64 exactly become ints; anything else stays a string id
    if num.notna().all() and (num == np.floor(num)).all() and (num.abs() < 2**53).all():
        return num.to_numpy().astype(np.int64)
    return v.to_numpy(dtype=object)


def read_ratings_csv(path: Path, columns: dict[str, str] | None = None, name: str | None = None) -> Dataset:
    """Read a delimited ratings file with a header.

    Columns are found by name (``userId``, ``movie_id``, ``rating``...) or given
    with ``columns`` (role -> header). The rating scale is free (0-10, 0.5-4...);
    ratings must be finite numbers. A ``title`` column, when present, gives
    movie titles.

    Raises:
        DataFormatError: on a structural problem or a missing column.
    """
    path = Path(path)
    columns = dict(columns or {})
    sep = _sniff_sep(path) if path.is_file() and path.stat().st_size else ","
    head = read_table(path, columns=[], sep=sep, required=[])
    lower = {c.lower(): c for c in head.columns if c != "_line"}
    for role, names in ALIASES.items():
        if role not in columns:
            hit = next((lower[n] for n in names if n in lower), None)
            if hit:
                columns[role] = hit
    missing = [r for r in ("user", "item", "rating") if r not in columns or columns[r] not in head.columns]
    if missing:
        raise DataFormatError(
            f"cannot find the {'/'.join(missing)} column(s) in header {[c for c in head.columns if c != '_line']}; "
            "name them with --columns user=...,item=...,rating=...",
            path=path, line=1,
        )
    problems = Problems()
    u, i = _as_ids(head[columns["user"]]), _as_ids(head[columns["item"]])
    for role, arr in (("user", u), ("item", i)):
        empty = pd.Series(arr).astype(str).str.strip().eq("").to_numpy()
        if empty.any():
            k = int(np.argmax(empty))
            raise DataFormatError(f"empty {role} id", path=path, line=int(head["_line"].iloc[k]), field=columns[role])
    r, ok = parse_numbers(head, columns["rating"], path, problems, reason="rating is not a number")
    if "time" in columns and columns["time"] in head:
        ts, tok = parse_timestamps(head, columns["time"], path, problems)
        ts_arr = ts.to_numpy()
        ok &= tok
    else:
        ts_arr = np.zeros(len(head), dtype=np.int64)
    ratings = pd.DataFrame({"user": u, "item": i, "rating": r, "timestamp": ts_arr, "_line": head["_line"].to_numpy()})[ok]
    ratings = dedupe_ratings(ratings.reset_index(drop=True), problems)
    movies = None
    if "title" in columns and columns["title"] in head:
        t = pd.DataFrame({"item": i, "title": head[columns["title"]].to_numpy()}).drop_duplicates("item")
        parsed = [split_title(x) for x in t["title"]]
        movies = pd.DataFrame({"item": t["item"].to_numpy(), "title": [p[0] for p in parsed],
                               "year": pd.array([p[1] for p in parsed], dtype="Int64"),
                               "genres": [[] for _ in parsed]})
    return Dataset(name or path.stem.lower(), "csv", ratings, movies=movies, problems=problems, files=[path])
