"""Business filters on recommendation lists: genres, a year range, and films not released yet.

A :class:`RecFilter` is validated once (:func:`parse_filter`) and turned into
the set of movie ids it allows (:func:`candidates`). That set is never
computed by walking the catalogue per request: one SQL query per filter and
day fills an :class:`~cinerec.service.cache.LRUCache` (``cache=
recommendation_filters`` in the metrics) for :data:`SET_TTL` seconds, so a
film imported or re-dated meanwhile counts within that time. The recommender
maps a set to the live model's item indices once per (model version, set)
and ranks only those (the one ranking path, exact or ANN with over-fetch and
refill; see :meth:`cinerec.service.recommender.RecommenderService.recommend`).

"Released" means a ``release_date`` on or before today (UTC); a film without
a date counts as released unless its year is after the current year (a film
with neither is kept: the catalogue's placeholders and old imports).
Year bounds use the film's year, else its release date's year; a film with
neither is left out when a bound is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import and_, extract, func, or_, select
from sqlalchemy.orm import Session

from cinerec.errors import InvalidParameter
from cinerec.service.cache import LRUCache
from cinerec.service.recommender import Candidates
from cinerec.store.models import Genre, Movie, MovieGenre

#: The years a filter may name (inclusive).
YEAR_RANGE = (1870, 2100)
#: The most genres one filter may list.
MAX_GENRES = 20
#: Seconds an allowed set (and the genre names) are reused before they are read again.
SET_TTL = 60.0

_SETS: LRUCache[Candidates] = LRUCache(512, ttl=SET_TTL, name="recommendation_filters")
_GENRES: LRUCache[dict[str, str]] = LRUCache(16, ttl=SET_TTL, name="genre_names")


class FilterError(InvalidParameter):
    """A filter value the caller gave is not valid.

    Attributes:
        reason: ``genre`` (unknown genre, named in ``value``), ``genres`` (too
            many), ``year`` (outside :data:`YEAR_RANGE`) or ``year_order``
            (``year_min`` after ``year_max``); pages translate by it.
        value: the offending value, as given.
    """

    def __init__(self, message: str, reason: str, value: object = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.value = value


@dataclass(frozen=True)
class RecFilter:
    """What a recommendation list may contain.

    Attributes:
        genres: canonical genre names (any of them), sorted; empty: every genre.
        year_min, year_max: inclusive year bounds (``None``: open).
        released: leave out films not released yet (the default).
    """

    genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    released: bool = True

    @property
    def key(self) -> str:
        """A canonical text form: equal filters have equal keys (cache keys)."""
        return (f"g={','.join(g.lower() for g in self.genres)};y={self.year_min or ''}-{self.year_max or ''};"
                f"r={int(self.released)}")

    @property
    def restricts(self) -> bool:
        """Whether the filter can leave anything out."""
        return bool(self.genres) or self.year_min is not None or self.year_max is not None or self.released


def _engine_key(session: Session) -> str:
    return str(session.get_bind().engine.url)


def genre_names(session: Session) -> dict[str, str]:
    """Every genre name by its lower-case form (read at most once per :data:`SET_TTL` per database)."""
    return _GENRES.get_or_compute(_engine_key(session), lambda: {
        str(n).lower(): str(n) for n in session.scalars(select(Genre.name).order_by(Genre.name))})


def parse_filter(session: Session, genres: Sequence[str] | None = None, year_min: int | None = None,
                 year_max: int | None = None, released: bool = True) -> RecFilter:
    """A validated filter: genre names matched case-insensitively, years checked.

    Raises:
        FilterError: an unknown genre, more than :data:`MAX_GENRES`, a year
            outside :data:`YEAR_RANGE`, or ``year_min`` after ``year_max``.
    """
    lo, hi = YEAR_RANGE
    for name, y in (("year_min", year_min), ("year_max", year_max)):
        if y is not None and not lo <= y <= hi:
            raise FilterError(f"{name} must be a year from {lo} to {hi}, got {y}", "year", y)
    if year_min is not None and year_max is not None and year_min > year_max:
        raise FilterError(f"year_min ({year_min}) is after year_max ({year_max})", "year_order", year_min)
    wanted = [g.strip() for g in genres or () if g and g.strip()]
    if len(set(g.lower() for g in wanted)) > MAX_GENRES:
        raise FilterError(f"at most {MAX_GENRES} genres per filter", "genres", len(wanted))
    known = genre_names(session) if wanted else {}
    names = set()
    for g in wanted:
        canonical = known.get(g.lower())
        if canonical is None:
            choices = ", ".join(sorted(known.values())) or "none: the catalogue has no genres yet"
            raise FilterError(f"unknown genre {g[:64]!r}; genres: {choices}", "genre", g[:64])
        names.add(canonical)
    return RecFilter(tuple(sorted(names)), year_min, year_max, bool(released))


def today() -> date:
    """Today's date in UTC (what "released" is measured against)."""
    return datetime.now(UTC).date()


def candidates(session: Session, f: RecFilter, *, on: date | None = None) -> Candidates | None:
    """The films ``f`` allows, as :class:`Candidates` for the recommender (``None``: ``f`` allows everything).

    Read with one query and kept for :data:`SET_TTL` seconds per (database,
    filter, day); the result's ``key`` carries a digest of the ids, so lists
    cached under an older set are not served once the set changes.

    Args:
        on: the day "released" is measured at (default: today, UTC).
    """
    if not f.restricts:
        return None
    day = on or today()
    return _SETS.get_or_compute((_engine_key(session), f.key, day.isoformat()), lambda: _read(session, f, day))


def _read(session: Session, f: RecFilter, day: date) -> Candidates:
    stmt = select(Movie.id)
    if f.genres:
        stmt = stmt.where(Movie.id.in_(select(MovieGenre.movie_id).join(Genre).where(Genre.name.in_(f.genres))))
    if f.year_min is not None or f.year_max is not None:
        year = func.coalesce(Movie.year, extract("year", Movie.release_date))
        if f.year_min is not None:
            stmt = stmt.where(year >= f.year_min)
        if f.year_max is not None:
            stmt = stmt.where(year <= f.year_max)
    if f.released:
        stmt = stmt.where(or_(Movie.release_date <= day,
                              and_(Movie.release_date.is_(None), or_(Movie.year.is_(None), Movie.year <= day.year))))
    ids = np.fromiter(session.scalars(stmt.order_by(Movie.id)), dtype=np.int64)
    ids.flags.writeable = False
    return Candidates(f"{f.key};{hashlib.blake2b(ids.tobytes(), digest_size=16).hexdigest()}", ids)


def clear() -> None:
    """Forget every cached set and genre list (tests, or after a bulk change that must count at once)."""
    _SETS.clear()
    _GENRES.clear()
