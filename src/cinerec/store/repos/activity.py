"""What members are doing lately: the films with the most recent member activity ("trending")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cinerec.store.models import Event
from cinerec.store.repos.events import MEMBER_KINDS


def trending(session: Session, since: datetime, limit: int = 12) -> list[tuple[int, int]]:
    """Films with the most member actions (ratings, reviews, marks) since ``since``.

    Returns:
        ``(movie id, number of actions)`` pairs, busiest first (ties by film id).
    """
    n = func.count(Event.id)
    stmt = (select(Event.movie_id, n).where(Event.created_at >= since, Event.movie_id.is_not(None),
                                            Event.kind.in_(MEMBER_KINDS))
            .group_by(Event.movie_id).order_by(n.desc(), Event.movie_id).limit(limit))
    return [(int(m), int(c)) for m, c in session.execute(stmt) if m is not None]
