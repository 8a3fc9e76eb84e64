"""The in-memory result of reading a dataset, and the cleaning every reader shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.interactions import Interactions
from cinerec.data.readers._table import MAX_TIMESTAMP, Problems, parse_numbers

#: Canonical genre names (MovieLens spellings mapped onto one vocabulary).
GENRE_ALIASES = {
    "children's": "Children",
    "childrens": "Children",
    "children": "Children",
    "sci-fi": "Sci-Fi",
    "science fiction": "Sci-Fi",
    "film-noir": "Film-Noir",
    "film noir": "Film-Noir",
    "imax": "IMAX",
    "tv movie": "TV Movie",
}
_NO_GENRE = {"", "(no genres listed)", "unknown"}
_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
_ARTICLE = re.compile(r"^(?P<head>.+?), (?P<art>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El|Los|Las)$")


def normalise_genre(name: str) -> str | None:
    """Map a genre spelling onto the canonical vocabulary (``None`` for 'no genre')."""
    g = " ".join(name.strip().split())
    if g.lower() in _NO_GENRE:
        return None
    return GENRE_ALIASES.get(g.lower(), g[:1].upper() + g[1:])


def split_title(raw: str) -> tuple[str, int | None]:
    """Split ``'Shawshank Redemption, The (1994)'`` into ``('The Shawshank Redemption', 1994)``.

    Whitespace is collapsed; a trailing year (or year range) in parentheses is
    split off; a trailing English/European article is moved to the front when
    the title has no alternative title in parentheses.
    """
    t = " ".join(str(raw).split())
    year: int | None = None
    m = _YEAR.match(t)
    if m:
        t, year = m.group("title").strip(), int(m.group("year"))
    if "(" not in t:
        a = _ARTICLE.match(t)
        if a:
            art = a.group("art")
            t = f"{art}{'' if art.endswith(chr(39)) else ' '}{a.group('head')}"
    return t, year


@dataclass
class Dataset:
    """Everything read from one dataset, cleaned and validated.

    Frames use raw dataset ids (column ``item`` is the dataset's movie id).

    Attributes:
        name: a short source tag, e.g. ``ml-100k``; imported rows are keyed by it.
        format: the reader used.
        ratings: columns user, item, rating, timestamp (Int64, may be NA), _line.
        movies: columns item, title, year (Int64), genres (list of str), and
            optionally imdb_id, tmdb_id, release_date; ``None`` when the
            dataset has no movie file.
        tags: columns user, item, tag, timestamp; or ``None``.
        users: columns user and optional demographics; or ``None``.
        problems: rejected rows and cleaning counts.
        files: the files read.
    """

    name: str
    format: str
    ratings: pd.DataFrame
    movies: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    problems: Problems = field(default_factory=Problems)
    files: list[Path] = field(default_factory=list)

    def interactions(self) -> Interactions:
        """The ratings as :class:`Interactions` (raw dataset ids in the vocabularies)."""
        df = self.ratings
        ts = df["timestamp"]
        return Interactions.from_frame(
            df.assign(timestamp=ts.fillna(0).astype(np.int64)),
            time_col="timestamp" if ts.notna().any() else None,
        )

    def summary(self) -> dict[str, int]:
        """Counts of users, movies, ratings and tags."""
        return {
            "users": int(self.ratings["user"].nunique()) if len(self.ratings) else 0,
            "movies": len(self.movies) if self.movies is not None else int(self.ratings["item"].nunique()),
            "ratings": len(self.ratings),
            "tags": len(self.tags) if self.tags is not None else 0,
        }


def parse_timestamps(df: pd.DataFrame, col: str, path: Path, problems: Problems) -> tuple[pd.Series, np.ndarray]:
    """Parse unix-second timestamps; malformed or implausible values are rejected."""
    vals, ok = parse_numbers(df, col, path, problems, reason="bad timestamp", integer=True)
    plaus = ok & (vals >= 0) & (vals <= MAX_TIMESTAMP)
    bad = ok & ~plaus
    if bad.any():
        problems.add_many(path, df["_line"].to_numpy()[bad], col, "bad timestamp (out of range)", df[col].to_numpy()[bad])
    return pd.Series(np.where(plaus, vals, 0).astype(np.int64), index=df.index), plaus


def dedupe_ratings(ratings: pd.DataFrame, problems: Problems) -> pd.DataFrame:
    """Drop exact duplicate rows; of conflicting user-movie ratings keep the latest.

    "Latest" is the highest timestamp, ties broken by the later line.
    """
    before = len(ratings)
    key = ["user", "item", "rating", "timestamp"]
    r = ratings.drop_duplicates(key, keep="last")
    problems.count_dropped("duplicate row", before - len(r))
    before = len(r)
    r = r.sort_values(["timestamp", "_line"], kind="stable", na_position="first")
    r = r.drop_duplicates(["user", "item"], keep="last").sort_values("_line", kind="stable")
    problems.count_dropped("superseded by a later rating", before - len(r))
    return r.reset_index(drop=True)


def reject_unknown_items(
    ratings: pd.DataFrame, movies: pd.DataFrame | None, path: Path, problems: Problems, col: str
) -> pd.DataFrame:
    """Reject ratings whose movie is not in the movie file."""
    if movies is None:
        return ratings
    known = ratings["item"].isin(movies["item"]).to_numpy()
    if not known.all():
        bad = ~known
        problems.add_many(path, ratings["_line"].to_numpy()[bad], col, "unknown movie id", ratings["item"].to_numpy()[bad])
        ratings = ratings[known].reset_index(drop=True)
    return ratings
