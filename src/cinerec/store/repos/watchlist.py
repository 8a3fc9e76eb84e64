"""A member's film lists: the watchlist (want to watch, 想看) and watched marks (看过)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cinerec.store.models import Movie, WatchedItem, WatchlistItem
from cinerec.store.repos.users import touch_history

ListKind = Literal["watchlist", "watched"]
_TABLE: dict[str, type[WatchlistItem] | type[WatchedItem]] = {"watchlist": WatchlistItem, "watched": WatchedItem}


def add(session: Session, kind: ListKind, user_id: int, movie_id: int, now: datetime) -> bool:
    """Put a film on the list; returns ``False`` when it was already there (nothing changes).

    Both lists feed the member's scored history: adding raises its version.
    """
    table = _TABLE[kind]
    if session.get(table, (user_id, movie_id)) is not None:
        return False
    session.add(table(user_id=user_id, movie_id=movie_id, created_at=now))
    session.flush()
    touch_history(session, user_id)
    return True


def remove(session: Session, kind: ListKind, user_id: int, movie_id: int) -> bool:
    """Take a film off the list; returns whether it was there (then the member's history version is raised)."""
    table = _TABLE[kind]
    result = session.execute(delete(table).where(table.user_id == user_id, table.movie_id == movie_id))
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        touch_history(session, user_id)
    return removed


def page(session: Session, kind: ListKind, user_id: int, *, limit: int,
         offset: int) -> tuple[list[tuple[Movie, datetime]], int]:
    """One page of the list with when each film was added, newest first (ties by film id), and the total."""
    table = _TABLE[kind]
    total = int(session.scalar(select(func.count()).select_from(table).where(table.user_id == user_id)) or 0)
    rows = session.execute(select(Movie, table.created_at).join(table, table.movie_id == Movie.id)
                           .where(table.user_id == user_id)
                           .order_by(table.created_at.desc(), Movie.id.desc()).limit(limit).offset(offset))
    return [(m, t) for m, t in rows.all()], total


def movie_ids(session: Session, kind: ListKind, user_id: int) -> list[int]:
    """Every film id on the list."""
    table = _TABLE[kind]
    return [int(m) for m in session.scalars(select(table.movie_id).where(table.user_id == user_id))]


def contains(session: Session, kind: ListKind, user_id: int, movie_id: int) -> bool:
    """Whether the film is on the list."""
    return session.get(_TABLE[kind], (user_id, movie_id)) is not None
