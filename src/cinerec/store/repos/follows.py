"""Who follows whom: the ``follows`` table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from cinerec.store.models import Follow, Rating, User
from cinerec.store.repos._insert import insert_ignore
from cinerec.store.repos.users import touch_history


def add(session: Session, follower_id: int, followee_id: int, now: datetime) -> bool:
    """``follower`` follows ``followee``; returns ``False`` when they already did.

    The follower's recommendations change (films their followees shared): their history version is raised.
    """
    added = insert_ignore(session, Follow, follower_id=follower_id, followee_id=followee_id, created_at=now)
    if added:
        touch_history(session, follower_id)
    return added


def remove(session: Session, follower_id: int, followee_id: int) -> bool:
    """``follower`` stops following ``followee``; returns whether they did (then the follower's history version rises)."""
    result = session.execute(delete(Follow).where(Follow.follower_id == follower_id,
                                                  Follow.followee_id == followee_id))
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        touch_history(session, follower_id)
    return removed


def remove_both(session: Session, a: int, b: int) -> None:
    """Remove the follows between two members, both ways (raising both history versions)."""
    session.execute(delete(Follow).where(or_((Follow.follower_id == a) & (Follow.followee_id == b),
                                             (Follow.follower_id == b) & (Follow.followee_id == a))))
    touch_history(session, a)
    touch_history(session, b)


def exists(session: Session, follower_id: int, followee_id: int) -> bool:
    """Whether ``follower`` follows ``followee`` (primary-key lookup)."""
    return session.get(Follow, (follower_id, followee_id)) is not None


def followers(session: Session, user_id: int, *, limit: int, offset: int) -> tuple[list[User], int]:
    """One page of the active members following ``user_id``, newest follow first, and their number."""
    cond = (Follow.followee_id == user_id, User.is_active.is_(True))
    total = int(session.scalar(select(func.count()).select_from(Follow).join(User, User.id == Follow.follower_id)
                               .where(*cond)) or 0)
    rows = session.scalars(select(User).join(Follow, Follow.follower_id == User.id).where(*cond)
                           .order_by(Follow.created_at.desc(), User.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def following(session: Session, user_id: int, *, limit: int, offset: int) -> tuple[list[User], int]:
    """One page of the active members ``user_id`` follows, newest follow first, and their number."""
    cond = (Follow.follower_id == user_id, User.is_active.is_(True))
    total = int(session.scalar(select(func.count()).select_from(Follow).join(User, User.id == Follow.followee_id)
                               .where(*cond)) or 0)
    rows = session.scalars(select(User).join(Follow, Follow.followee_id == User.id).where(*cond)
                           .order_by(Follow.created_at.desc(), User.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def followed_ratings(session: Session, viewer_id: int, movie_id: int, *,
                     limit: int) -> list[tuple[User, float, datetime]]:
    """Ratings of one film by the active members ``viewer_id`` follows, newest first.

    Walks the viewer's follows (primary key) and each followee's rating of the
    film (unique ``(user_id, movie_id)``), so it costs one lookup per followee.
    """
    stmt = (select(User, Rating.value, Rating.updated_at)
            .join(Follow, Follow.followee_id == User.id)
            .join(Rating, (Rating.user_id == User.id) & (Rating.movie_id == movie_id))
            .where(Follow.follower_id == viewer_id, User.is_active.is_(True))
            .order_by(Rating.updated_at.desc(), User.id.desc()).limit(limit))
    return [(u, float(v), t) for u, v, t in session.execute(stmt)]
