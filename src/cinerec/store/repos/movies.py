"""Movie queries: search/browse, details with rating aggregates, batch lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from cinerec.errors import NotFound
from cinerec.store.models import Credit, Genre, Movie, MovieGenre, Person, Rating, Tag

SortKey = Literal["popular", "title", "year", "-year", "rating"]
SORT_KEYS: tuple[str, ...] = ("popular", "title", "year", "-year", "rating")
MAX_LIMIT = 100


@dataclass(frozen=True)
class MovieRow:
    """A movie with its rating aggregates."""

    movie: Movie
    n_ratings: int
    mean_rating: float | None


def escape_like(text: str) -> str:
    """Escape ``%``, ``_`` and the escape character for a LIKE pattern (escape char ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _stats() -> Select[tuple[int, int, float]]:
    return select(Rating.movie_id, func.count().label("n"), func.avg(Rating.value).label("mean")).group_by(Rating.movie_id)


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
    """
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    stats = _stats().subquery()
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
    ids = base.subquery()
    total = int(session.scalar(select(func.count()).select_from(ids)) or 0)
    n = func.coalesce(stats.c.n, 0)
    order = {
        "popular": (n.desc(), Movie.id),
        "title": (Movie.title, Movie.id),
        "year": (Movie.year.asc().nulls_last(), Movie.id),
        "-year": (Movie.year.desc().nulls_last(), Movie.id),
        "rating": (func.coalesce(stats.c.mean, 0).desc(), n.desc(), Movie.id),
    }[sort]
    stmt = (
        select(Movie, n, stats.c.mean)
        .join(ids, ids.c.id == Movie.id)
        .outerjoin(stats, stats.c.movie_id == Movie.id)
        .options(selectinload(Movie.genres))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    rows = [MovieRow(m, int(c), float(mean) if mean is not None else None) for m, c, mean in session.execute(stmt)]
    return rows, total


def get(session: Session, movie_id: int) -> MovieRow:
    """One movie with its aggregates.

    Raises:
        NotFound: unknown id.
    """
    movie = session.get(Movie, movie_id, options=[selectinload(Movie.genres)])
    if movie is None:
        raise NotFound(f"movie {movie_id} does not exist")
    n, mean = session.execute(select(func.count(), func.avg(Rating.value)).where(Rating.movie_id == movie_id)).one()
    return MovieRow(movie, int(n), float(mean) if mean is not None else None)


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
    n = func.count(Rating.id)
    stmt = (select(Movie.tmdb_id).outerjoin(Rating, Rating.movie_id == Movie.id).where(Movie.tmdb_id.is_not(None))
            .group_by(Movie.id, Movie.tmdb_id).order_by(n.desc(), Movie.id))
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
    counts = {int(i): int(n) for i, n in session.execute(select(Rating.movie_id, func.count()).group_by(Rating.movie_id))}
    genres: dict[int, list[str]] = {}
    for mid, g in session.execute(select(MovieGenre.movie_id, Genre.name).join(Genre)):
        genres.setdefault(int(mid), []).append(str(g))
    return CatalogueRows(ids, titles, counts, genres)
