"""A member's star ratings: set, remove, list, and the history the recommender scores."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cinerec.store.models import Movie, Rating
from cinerec.store.repos.users import touch_history


def movie_exists(session: Session, movie_id: int) -> bool:
    """Whether a film with this id exists (members rate, mark and review only existing films)."""
    return session.scalar(select(Movie.id).where(Movie.id == movie_id)) is not None


def movie_title(session: Session, movie_id: int) -> str | None:
    """A film's title, or ``None`` when the id is unknown."""
    return session.scalar(select(Movie.title).where(Movie.id == movie_id))


def current(session: Session, user_id: int, movie_id: int, *, lock: bool = False) -> Rating | None:
    """The user's rating of a film, if any (``lock``: ``SELECT ... FOR UPDATE`` where supported)."""
    stmt = select(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def upsert(session: Session, user_id: int, movie_id: int, value: float, now: datetime) -> tuple[Rating, float | None]:
    """Set the user's rating of a film; returns the rating row and the previous value (``None`` if it is new).

    Call inside a write transaction (``BEGIN IMMEDIATE`` on SQLite) so the
    read and the write see the same row. Raises the member's history version.
    """
    row = current(session, user_id, movie_id, lock=True)
    touch_history(session, user_id)
    if row is None:
        row = Rating(user_id=user_id, movie_id=movie_id, value=value, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        return row, None
    old = float(row.value)
    row.value = value
    row.updated_at = now
    session.flush()
    return row, old


def remove(session: Session, user_id: int, movie_id: int) -> float | None:
    """Delete the user's rating of a film; returns the removed value (``None`` if there was none).

    Raises the member's history version when a rating went.
    """
    row = current(session, user_id, movie_id, lock=True)
    if row is None:
        return None
    old = float(row.value)
    session.execute(delete(Rating).where(Rating.id == row.id))
    touch_history(session, user_id)
    return old


def for_user(session: Session, user_id: int, *, limit: int, offset: int) -> tuple[list[tuple[Rating, Movie]], int]:
    """One page of a user's ratings with their films, newest change first (ties by id), and the total."""
    total = int(session.scalar(select(func.count()).select_from(Rating).where(Rating.user_id == user_id)) or 0)
    rows = session.execute(select(Rating, Movie).join(Movie, Movie.id == Rating.movie_id)
                           .where(Rating.user_id == user_id)
                           .order_by(Rating.updated_at.desc(), Rating.id.desc()).limit(limit).offset(offset))
    return [(r, m) for r, m in rows.all()], total
