"""Movie queries: search/browse, details with rating aggregates, batch lookup.

Rating counts, means and histograms come from ``movie_stats`` (kept up to
date on every rating write, see :mod:`cinerec.store.repos.aggregates`), never
from aggregating ``ratings`` per request. ``sort="rating"`` orders by the
damped mean ``(v * R + m * C) / (v + m)`` with ``m`` =
:data:`~cinerec.store.repos.aggregates.PRIOR_WEIGHT` and ``C`` the global mean.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from cinerec.errors import NotFound
from cinerec.store.models import Credit, Genre, Movie, MovieGenre, MovieStats, Person, Tag
from cinerec.store.repos import aggregates

SortKey = Literal["popular", "title", "year", "-year", "rating"]
SORT_KEYS: tuple[str, ...] = ("popular", "title", "year", "-year", "rating")
MAX_LIMIT = 100
#: How long an unfiltered catalogue page is served from memory. A rating write in this process
#: invalidates at once (:func:`~cinerec.store.repos.aggregates.generation`); other worker
#: processes catch up within this many seconds.
PAGE_CACHE_SECONDS = 5.0
_PAGES: dict[tuple[object, ...], tuple[float, list[MovieRow], int]] = {}
#: The most film rows :func:`rows_by_ids` keeps in memory (about a few kB each).
ROW_CACHE_SIZE = 20_000
#: Seconds :func:`rows_by_ids` keeps a film's facts (its figures: :data:`PAGE_CACHE_SECONDS`).
FACTS_SECONDS = 300.0
#: (database url, film id) -> (figures' expiry, aggregates generation, row, facts' expiry), oldest first.
_ROWS: dict[tuple[str, int], tuple[float, int, MovieRow, float]] = {}
_ROWS_LOCK = threading.Lock()


@dataclass(frozen=True)
class MovieRow:
    """A movie with its rating aggregates.

    Attributes:
        movie: the film.
        n_ratings: how many ratings it has.
        mean_rating: their plain mean (``None`` without ratings).
        histogram: counts per half star, 0.5★ first (ten numbers; filled by :func:`get`).
    """

    movie: Movie
    n_ratings: int
    mean_rating: float | None
    histogram: tuple[int, ...] = ()


def _row(movie: Movie, n: int | None, total: float | None, stats: MovieStats | None = None) -> MovieRow:
    count = int(n or 0)
    mean = float(total) / count if count and total is not None else None
    return MovieRow(movie, count, mean, tuple(aggregates.histogram(stats)) if stats is not None else ())


def escape_like(text: str) -> str:
    """Escape ``%``, ``_`` and the escape character for a LIKE pattern (escape char ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _stats_complete(session: Session) -> bool:
    """Whether every film has a ``movie_stats`` row (films created outside imports may not yet)."""
    n_movies = select(func.count()).select_from(Movie).scalar_subquery()
    n_stats = select(func.count()).select_from(MovieStats).scalar_subquery()
    return bool(session.scalar(select(n_movies == n_stats)))


def search(
    session: Session,
    *,
    q: str | None = None,
    genre: str | None = None,
    year: int | None = None,
    person: str | None = None,
    sort: SortKey = "popular",
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[MovieRow], int]:
    """Movies matching the filters, with the total count.

    Args:
        q: case-insensitive substring of the title (matched literally).
        genre: exact genre name.
        year: release year.
        person: substring of a director's or cast member's name.
        sort: one of :data:`SORT_KEYS`.
        limit: page size, clamped to ``1..MAX_LIMIT``.
        offset: rows to skip (>= 0).

    Unfiltered pages are kept in memory for :data:`PAGE_CACHE_SECONDS` (their
    ``Movie`` objects detached from ``session``).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    filtered = bool(q or genre or year is not None or person)
    if filtered:
        return _search(session, q, genre, year, person, sort, limit, offset)
    # unfiltered pages (home sections, browse) are the same for every visitor: served from memory
    key = (str(session.get_bind().engine.url), sort, limit, offset, aggregates.generation())
    hit = _PAGES.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    rows, total = _search(session, q, genre, year, person, sort, limit, offset)
    for r in rows:  # detached, so that no later commit of this session expires what other requests read
        session.expunge(r.movie)
    if len(_PAGES) > 256:
        _PAGES.clear()
    _PAGES[key] = (time.monotonic() + PAGE_CACHE_SECONDS, rows, total)
    return rows, total


def _search(session: Session, q: str | None, genre: str | None, year: int | None, person: str | None,
            sort: SortKey, limit: int, offset: int) -> tuple[list[MovieRow], int]:
    base = select(Movie.id)
    if q:
        base = base.where(func.lower(Movie.title).like(f"%{escape_like(q.lower())}%", escape="\\"))
    if genre:
        base = base.where(Movie.id.in_(select(MovieGenre.movie_id).join(Genre).where(Genre.name == genre)))
    if year is not None:
        base = base.where(Movie.year == year)
    if person:
        pat = f"%{escape_like(person.lower())}%"
        base = base.where(Movie.id.in_(select(Credit.movie_id).join(Person).where(func.lower(Person.name).like(pat, escape="\\"))))
    filtered = q or genre or year is not None or person
    total = int(session.scalar(select(func.count()).select_from(base.subquery() if filtered else Movie)) or 0)
    n = func.coalesce(MovieStats.n_ratings, 0)
    if sort == "rating":
        c, m = aggregates.global_mean(session), aggregates.PRIOR_WEIGHT
        damped = (func.coalesce(MovieStats.rating_sum, 0.0) + m * c) / (n + m)
        order: tuple[Any, ...] = (damped.desc(), n.desc(), Movie.id)
    else:
        order = {
            "popular": (n.desc(), Movie.id),
            "title": (Movie.title, Movie.id),
            "year": (Movie.year.asc().nulls_last(), Movie.id),
            "-year": (Movie.year.desc().nulls_last(), Movie.id),
        }[sort]
    if sort == "popular" and _stats_complete(session):
        # every film has its stats row: walk ix_movie_stats_n_ratings instead of sorting the catalogue
        order = (MovieStats.n_ratings.desc(), MovieStats.movie_id)
        stmt = select(Movie, MovieStats.n_ratings, MovieStats.rating_sum).join(MovieStats, MovieStats.movie_id == Movie.id)
    else:
        stmt = select(Movie, MovieStats.n_ratings, MovieStats.rating_sum).outerjoin(MovieStats, MovieStats.movie_id == Movie.id)
    stmt = (
        stmt
        .options(selectinload(Movie.genres))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    if filtered:
        stmt = stmt.where(Movie.id.in_(base))
    return [_row(mv, cnt, tot) for mv, cnt, tot in session.execute(stmt)], total


def get(session: Session, movie_id: int) -> MovieRow:
    """One movie with its aggregates and rating histogram.

    Raises:
        NotFound: unknown id.
    """
    movie = session.get(Movie, movie_id, options=[selectinload(Movie.genres)])
    if movie is None:
        raise NotFound(f"movie {movie_id} does not exist")
    stats = session.get(MovieStats, movie_id)
    if stats is None:
        return _row(movie, 0, None, None)
    return _row(movie, stats.n_ratings, stats.rating_sum, stats)


def rows_by_ids(session: Session, ids: list[int]) -> dict[int, MovieRow]:
    """Movies with their aggregates by id: films and figures from memory where they are fresh, else from the database.

    A film's facts (title, year, genres, poster: they change only with imports
    and enrichment) are kept for :data:`FACTS_SECONDS`; its audience count and
    mean for :data:`PAGE_CACHE_SECONDS`, and only while this process has not
    written aggregates since (:func:`~cinerec.store.repos.aggregates.generation`).
    When only the figures are stale, one light query reads them again for
    those films (a rating write elsewhere no longer reloads every film). At
    most :data:`ROW_CACHE_SIZE` films are kept (the oldest go first). The
    ``Movie`` objects of kept rows are detached from ``session``; films the
    session had already loaded are returned as they are and not kept.
    """
    if not ids:
        return {}
    url, gen, now = str(session.get_bind().engine.url), aggregates.generation(), time.monotonic()
    out: dict[int, MovieRow] = {}
    missing: list[int] = []
    stale: dict[int, tuple[float, Movie]] = {}
    for i in set(ids):
        hit = _ROWS.get((url, i))
        if hit is None or hit[3] <= now:
            missing.append(i)
        elif hit[0] > now and hit[1] == gen:
            out[i] = hit[2]
        else:
            stale[i] = (hit[3], hit[2].movie)
    if stale:
        figures = {m: (c, t) for m, c, t in session.execute(
            select(MovieStats.movie_id, MovieStats.n_ratings, MovieStats.rating_sum)
            .where(MovieStats.movie_id.in_(list(stale))))}
        with _ROWS_LOCK:
            for i, (facts_until, movie) in stale.items():
                row = out[i] = _row(movie, *figures.get(i, (0, None)))
                _ROWS[(url, i)] = (now + PAGE_CACHE_SECONDS, gen, row, facts_until)
    if not missing:
        return out
    loaded = {i for i in missing if identity_key(Movie, i) in session.identity_map}
    stmt = (select(Movie, MovieStats.n_ratings, MovieStats.rating_sum)
            .outerjoin(MovieStats, MovieStats.movie_id == Movie.id)
            .where(Movie.id.in_(missing)).options(selectinload(Movie.genres)))
    for mv, cnt, tot in session.execute(stmt):
        row = out[mv.id] = _row(mv, cnt, tot)
        if mv.id not in loaded:  # the caller's own objects stay attached; ours are detached and shared
            session.expunge(mv)
            with _ROWS_LOCK:
                _ROWS.pop((url, mv.id), None)
                _ROWS[(url, mv.id)] = (now + PAGE_CACHE_SECONDS, gen, row, now + FACTS_SECONDS)
    with _ROWS_LOCK:
        while len(_ROWS) > ROW_CACHE_SIZE:
            del _ROWS[next(iter(_ROWS))]
    return out


def forget_rows() -> None:
    """Drop every film :func:`rows_by_ids` keeps: films' facts changed in this process (a metadata import)."""
    with _ROWS_LOCK:
        _ROWS.clear()


def by_ids(session: Session, ids: list[int]) -> dict[int, Movie]:
    """Movies by id (missing ids are absent from the result)."""
    if not ids:
        return {}
    rows = session.scalars(select(Movie).where(Movie.id.in_(ids)).options(selectinload(Movie.genres)))
    return {m.id: m for m in rows}


def top_tags(session: Session, movie_id: int, n: int = 10) -> list[tuple[str, int]]:
    """The most frequent tags on a movie."""
    stmt = (select(func.lower(Tag.tag), func.count()).where(Tag.movie_id == movie_id)
            .group_by(func.lower(Tag.tag)).order_by(func.count().desc(), func.lower(Tag.tag)).limit(n))
    return [(t, int(c)) for t, c in session.execute(stmt)]


def genres(session: Session) -> list[str]:
    """All genre names, sorted."""
    return list(session.scalars(select(Genre.name).order_by(Genre.name)))


def tmdb_ids_by_popularity(session: Session, limit: int | None = None) -> list[int]:
    """TMDB ids of the films that have one, most rated first."""
    n = func.coalesce(MovieStats.n_ratings, 0)
    stmt = (select(Movie.tmdb_id).outerjoin(MovieStats, MovieStats.movie_id == Movie.id).where(Movie.tmdb_id.is_not(None))
            .order_by(n.desc(), Movie.id))
    return [int(i) for i in session.scalars(stmt.limit(limit) if limit else stmt) if i is not None]


@dataclass(frozen=True)
class CatalogueRows:
    """Every film's id (ascending), title, rating count and genres, for catalogue-wide views."""

    ids: list[int]
    titles: dict[int, str]
    counts: dict[int, int]
    genres: dict[int, list[str]]


def catalogue(session: Session) -> CatalogueRows:
    """All films with their rating counts and genres (four queries, no per-film round trips)."""
    ids = [int(i) for i in session.scalars(select(Movie.id).order_by(Movie.id))]
    titles = {int(i): str(t) for i, t in session.execute(select(Movie.id, Movie.title))}
    counts = {int(i): int(n) for i, n in session.execute(select(MovieStats.movie_id, MovieStats.n_ratings))}
    genres: dict[int, list[str]] = {}
    for mid, g in session.execute(select(MovieGenre.movie_id, Genre.name).join(Genre)):
        genres.setdefault(int(mid), []).append(str(g))
    return CatalogueRows(ids, titles, counts, genres)
