"""Readers for movie metadata: HetRec 2011 (directors, tags) and TMDB-style CSV (overview, keywords).

Both return frames keyed by the dataset's own ids (MovieLens ``movieId`` for
HetRec, ``tmdb_id`` for TMDB); :mod:`cinerec.data.features` aligns them to
an item vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.readers._table import Problems, parse_numbers, read_table
from cinerec.errors import DataFormatError


@dataclass
class Metadata:
    """Per-movie metadata frames; any may be ``None``.

    Attributes:
        directors: item, name (one row per director).
        tags: item, tag, weight.
        texts: item, overview, keywords (list of str), tagline, runtime[, poster_url][, release_date
            (a ``datetime.date`` or ``None``)].
        cast: item, name, order[, character, person_tmdb_id] (top-billed actors).
        key: what ``item`` holds: ``movielens`` (movieId) or ``tmdb`` (tmdbId).
    """

    key: str
    directors: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    texts: pd.DataFrame | None = None
    cast: pd.DataFrame | None = None


def read_hetrec(folder: Path | str) -> Metadata:
    """Read HetRec 2011 MovieLens-2k directors and weighted tags (keyed by movieId).

    The directors header of the published file has a space where a tab
    belongs; the header is therefore ignored and columns are positional.

    Raises:
        DataFormatError: a missing file or malformed line.
    """
    folder = Path(folder)
    problems = Problems()
    d = read_table(folder / "movie_directors.dat", columns=["movie", "director_id", "name"], sep="\t",
                   header=False, encoding="latin-1", skip_lines=1)  # its header has a space for a tab
    mid, ok = parse_numbers(d, "movie", folder / "movie_directors.dat", problems, reason="bad movie id", integer=True)
    directors = pd.DataFrame({"item": mid[ok].astype(np.int64), "name": d["name"].str.strip().to_numpy()[ok]})
    tags = None
    if (folder / "movie_tags.dat").is_file() and (folder / "tags.dat").is_file():
        names = read_table(folder / "tags.dat", columns=["id", "value"], sep="\t", encoding="latin-1")
        mt = read_table(folder / "movie_tags.dat", columns=["movieID", "tagID", "tagWeight"], sep="\t", encoding="latin-1")
        m, mok = parse_numbers(mt, "movieID", folder / "movie_tags.dat", problems, reason="bad movie id", integer=True)
        w, wok = parse_numbers(mt, "tagWeight", folder / "movie_tags.dat", problems, reason="bad tag weight")
        lookup = dict(zip(names["id"].str.strip(), names["value"].str.strip(), strict=True))
        tag = mt["tagID"].str.strip().map(lookup)
        ok = mok & wok & tag.notna().to_numpy()
        tags = pd.DataFrame({"item": m[ok].astype(np.int64), "tag": tag.to_numpy()[ok], "weight": w[ok]})
    return Metadata("movielens", directors=directors, tags=tags)


#: Release dates outside these years are taken for typos and dropped.
RELEASE_YEARS = (1870, 2100)


def parse_release_date(value: object) -> date | None:
    """A TMDB ``release_date`` (``YYYY-MM-DD``) as a date; ``None`` for a missing, malformed or implausible one.

    A bad date only loses that film's date: it never fails an import.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        d = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return d if RELEASE_YEARS[0] <= d.year <= RELEASE_YEARS[1] else None


def _json_names(cell: str, path: Path, line: int, field: str) -> list[str]:
    if not cell.strip():
        return []
    try:
        data = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON ({exc.msg} at character {exc.pos})", path=path, line=line, field=field) from None
    if not isinstance(data, list) or not all(isinstance(x, dict) and isinstance(x.get("name"), str) for x in data):
        raise DataFormatError('expected a JSON list of {"id", "name"} objects', path=path, line=line, field=field)
    return [x["name"] for x in data]


def read_tmdb_csv(path: Path | str) -> Metadata:
    """Read a TMDB-style movies CSV (``id``, ``overview``, ``keywords`` as JSON, ``tagline``, ``runtime``, ``release_date``).

    A malformed ``release_date`` (or one outside :data:`RELEASE_YEARS`) is
    left out for that film, like a non-numeric ``runtime``.

    Raises:
        DataFormatError: a missing column, a ragged row, or broken JSON in a
            JSON column (file, line and field named).
    """
    path = Path(path)
    df = read_table(path, columns=["id", "overview"], optional=["keywords", "tagline", "runtime", "genres", "title",
                                                                            "release_date"])
    problems = Problems()
    ids, ok = parse_numbers(df, "id", path, problems, reason="bad tmdb id", integer=True)
    if not ok.all():
        k = int(np.argmin(ok))
        raise DataFormatError("bad tmdb id", path=path, line=int(df["_line"].iloc[k]), field="id")
    lines = df["_line"].tolist()
    keywords = ([_json_names(c, path, ln, "keywords") for c, ln in zip(df["keywords"].tolist(), lines, strict=True)]
                if "keywords" in df else [[] for _ in lines])
    runtime = pd.to_numeric(df["runtime"], errors="coerce") if "runtime" in df else pd.Series(np.nan, index=df.index)
    texts = pd.DataFrame({
        "item": ids.astype(np.int64), "overview": df["overview"].str.strip().to_numpy(), "keywords": keywords,
        "tagline": df["tagline"].str.strip().to_numpy() if "tagline" in df else "",
        "runtime": runtime.to_numpy(),
        "release_date": pd.Series([parse_release_date(v) for v in df["release_date"]] if "release_date" in df
                                  else [None] * len(df), dtype=object).to_numpy(),
    }).drop_duplicates("item")
    return Metadata("tmdb", texts=texts)


def read_metadata(path: Path | str) -> Metadata:
    """A HetRec folder (``movie_directors.dat``) or a TMDB-style CSV file.

    Raises:
        DataFormatError: neither.
    """
    p = Path(path)
    if p.is_dir() and (p / "movie_directors.dat").is_file():
        return read_hetrec(p)
    if p.is_dir() and (p / "tmdb_5000_movies.csv").is_file():
        return read_tmdb_csv(p / "tmdb_5000_movies.csv")
    if p.is_file():
        return read_tmdb_csv(p)
    raise DataFormatError("not movie metadata: expected a HetRec folder (movie_directors.dat) or a TMDB-style CSV", path=p)
