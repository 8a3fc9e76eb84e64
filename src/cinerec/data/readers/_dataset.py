"""The in-memory result of reading a dataset, and the cleaning every reader shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.interactions import Interactions
from cinerec.data.readers._table import MAX_TIMESTAMP, Problems, parse_numbers
from cinerec.data.readers.trust import TrustNetwork
from cinerec.errors import DataFormatError

#: The star scale the site and the ``ratings`` table use.
STARS_LOW, STARS_HIGH = 0.5, 5.0

#: Default largest share of rating rows a reader may reject before ``evaluate`` or an import refuses.
MAX_REJECTED_SHARE = 0.01

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


@dataclass(frozen=True)
class RatingScale:
    """A dataset's own rating scale and its mapping onto stars (0.5-5).

    The mapping is the identity when the scale lies within 0.5-5 (MovieLens
    1-5 and 0.5-5, FilmTrust 0.5-4 keep their values); any other scale is
    mapped linearly, ``low`` to 0.5 stars and ``high`` to 5 stars
    (MovieTweetings' 0-10: 0 -> 0.5, 5 -> 2.75, 10 -> 5). The linear map keeps
    every model's ranking and scales its RMSE by ``4.5 / (high - low)``.

    Attributes:
        low: the lowest rating the scale allows.
        high: the highest rating.
        step: the grid of valid values (1 for whole numbers), or ``None``.
    """

    low: float
    high: float
    step: float | None = None

    @classmethod
    def parse(cls, spec: str) -> RatingScale:
        """Parse ``LOW:HIGH`` or ``LOW:HIGH:STEP`` (``0:10``, ``0.5:4:0.5``).

        Raises:
            DataFormatError: not two or three numbers, or ``high <= low``.
        """
        parts = [p.strip() for p in spec.split(":")]
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            nums = []
        if len(nums) not in (2, 3) or not all(np.isfinite(nums)):
            raise DataFormatError(f"--scale expects LOW:HIGH or LOW:HIGH:STEP (e.g. 0:10 or 0.5:4:0.5), got {spec!r}")
        if nums[1] <= nums[0] or (len(nums) == 3 and nums[2] <= 0):
            raise DataFormatError(f"--scale {spec!r}: HIGH must be above LOW and STEP above 0")
        return cls(nums[0], nums[1], nums[2] if len(nums) == 3 else None)

    @classmethod
    def infer(cls, values: np.ndarray) -> RatingScale:
        """The scale of observed ratings: their minimum and maximum, and the grid they sit on."""
        v = np.asarray(values, dtype=np.float64)
        if not len(v):
            return cls(STARS_LOW, STARS_HIGH, 0.5)
        step = None
        for s in (1.0, 0.5):
            if np.allclose(np.round(v / s) * s, v):
                step = s
                break
        return cls(float(v.min()), float(v.max()), step)

    @property
    def mapping(self) -> str:
        """``identity`` when the scale lies within 0.5-5 stars, else ``linear``."""
        return "identity" if self.low >= STARS_LOW and self.high <= STARS_HIGH else "linear"

    def to_stars(self, values: np.ndarray) -> np.ndarray:
        """Map ratings on this scale onto 0.5-5 stars (see the class docstring).

        Raises:
            DataFormatError: the scale is a single value outside 0.5-5, so
                there is nothing to map it onto.
        """
        v = np.asarray(values, dtype=np.float64)
        if self.mapping == "identity":
            return v
        if self.high <= self.low:
            raise DataFormatError(
                f"every rating is {self.low:g}, outside 0.5-5 stars: the scale cannot be told from the data; "
                "give it with --scale LOW:HIGH"
            )
        return STARS_LOW + (STARS_HIGH - STARS_LOW) * (v - self.low) / (self.high - self.low)

    def __str__(self) -> str:
        grid = f" in steps of {self.step:g}" if self.step else ""
        return f"{self.low:g}-{self.high:g}{grid}"


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
        files: the files read; the first is the ratings file.
        scale: the dataset's own rating scale (``None``: infer it from the ratings).
        ratings_read: data rows in the ratings file before any was rejected.
        notes: how the files were read (encodings, separator, header, columns).
        trust: the users' directed trust network (FilmTrust's ``trust.txt``),
            or ``None``; its users may include people without ratings.
    """

    name: str
    format: str
    ratings: pd.DataFrame
    movies: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    problems: Problems = field(default_factory=Problems)
    files: list[Path] = field(default_factory=list)
    scale: RatingScale | None = None
    ratings_read: int = 0
    notes: list[str] = field(default_factory=list)
    trust: TrustNetwork | None = None

    @property
    def rating_scale(self) -> RatingScale:
        """The declared scale, or the one inferred from the kept ratings."""
        return self.scale or RatingScale.infer(self.ratings["rating"].to_numpy(dtype=np.float64))

    def rejected_ratings(self) -> int:
        """Distinct rows of the ratings file that were rejected."""
        return self.problems.rejected_lines(self.files[0]) if self.files else len(self.problems)

    def rejected_share(self) -> float:
        """Rejected rating rows over rating rows read (0 when nothing was read)."""
        total = max(self.ratings_read, len(self.ratings) + self.rejected_ratings())
        return self.rejected_ratings() / total if total else 0.0

    def rejection_summary(self, *, limit: int = 5) -> list[str]:
        """What was read and what was rejected: a headline, the first ``limit`` problems, counts by reason."""
        rpath = self.files[0].name if self.files else "ratings"
        total = max(self.ratings_read, len(self.ratings) + self.rejected_ratings())
        bad = self.rejected_ratings()
        head = (f"{self.name} ({self.format}): {len(self.ratings)} ratings kept of {total} rows in {rpath}; "
                f"{bad} rejected ({100 * bad / total if total else 0:.2f}%); rating scale {self.rating_scale}"
                + ("" if self.scale else " (inferred from the ratings; set it with --scale LOW:HIGH)"))
        return [head, *[f"  {n}" for n in self.notes], *self.problems.summary_lines(limit=limit)]

    def check_rejected(self, max_share: float) -> None:
        """Refuse a dataset that lost more than ``max_share`` of its rating rows.

        Raises:
            DataFormatError: naming the share, the main reason and the first
                rejected row, and how to go on.
        """
        share = self.rejected_share()
        if share <= max_share or not self.problems.items:
            return
        first = self.problems.items[0]
        reasons = self.problems.by_reason()
        top = max((r for r in reasons if r in {p.reason for p in self.problems.items}), key=lambda r: reasons[r])
        raise DataFormatError(
            f"{self.rejected_ratings()} of {max(self.ratings_read, 1)} rating rows ({100 * share:.1f}%) were rejected, "
            f"more than the {100 * max_share:g}% allowed (mostly: {top}; first: {first}); check the format "
            "(--format, --sep, --no-header, --columns, --scale) or allow more with --max-rejected",
            path=first.path,
        )

    def interactions(self) -> Interactions:
        """The ratings as :class:`Interactions` (raw dataset ids in the vocabularies).

        With a trust network, ``social`` holds its edges among the users who
        have ratings (the user vocabulary); edges to or from people without
        ratings are left out of the matrix (they are still imported as follows).
        """
        df = self.ratings
        ts = df["timestamp"]
        data = Interactions.from_frame(
            df.assign(timestamp=ts.fillna(0).astype(np.int64)),
            time_col="timestamp" if ts.notna().any() else None,
        )
        if self.trust is not None:
            e = self.trust.edges
            data = data.with_social_edges(e["trustor"].to_numpy(), e["trustee"].to_numpy(), e["value"].to_numpy())
        return data

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
