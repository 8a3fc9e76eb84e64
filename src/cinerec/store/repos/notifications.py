"""In-site notifications: the ``notifications`` table.

Reads never show a notice whose actor the member blocked or who blocked the
member or whose account is disabled, nor a share that was revoked or whose list
is no longer public, or is owned by a disabled member or one in a block with the reader.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from cinerec.store.models import Follow, MovieList, Notification, Review, Share, User
from cinerec.store.repos.blocks import between

#: The most unread notices :func:`unread_count` counts (a badge shows "99+" long before).
UNREAD_CAP = 1000


def add(session: Session, user_id: int, actor_id: int, kind: str, *, now: datetime, review_id: int | None = None,
        list_id: int | None = None, share_id: int | None = None, once: bool = False) -> None:
    """Write one notice for ``user_id`` about what ``actor_id`` did.

    With ``once``, nothing is written when the member already has that notice (same actor, kind and object):
    following, liking and taking it back again and again makes one notice, not a flood.
    """
    if once:
        same = select(Notification.id).where(
            Notification.user_id == user_id, Notification.actor_id == actor_id, Notification.kind == kind,
            *(col.is_(None) if value is None else col == value for col, value in (
                (Notification.review_id, review_id), (Notification.list_id, list_id),
                (Notification.share_id, share_id))))
        if session.scalar(same.limit(1)) is not None:
            return
    session.add(Notification(user_id=user_id, actor_id=actor_id, kind=kind, review_id=review_id, list_id=list_id,
                             share_id=share_id, created_at=now))


def fan_out_share(session: Session, actor_id: int, share_id: int, now: datetime) -> int:
    """A ``share`` notice to each follower of ``actor_id`` (none across a block), in one INSERT ... SELECT.

    Returns:
        How many notices were written.
    """
    followers = (select(Follow.follower_id, literal(actor_id), literal("share"), literal(share_id),
                        literal(now, Notification.created_at.type))
                 .where(Follow.followee_id == actor_id, ~between(Follow.follower_id, actor_id)))
    stmt = insert(Notification).from_select(["user_id", "actor_id", "kind", "share_id", "created_at"], followers)
    result = session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _visible(user_id: Any) -> ColumnElement[bool]:
    """Notices the member may still see (see the module docstring)."""
    owner, by = aliased(User), aliased(User)
    owner_active = select(owner.id).where(owner.id == MovieList.user_id, owner.is_active.is_(True)).exists()
    share_ok = select(Share.id).outerjoin(MovieList, MovieList.id == Share.list_id).where(
        Share.id == Notification.share_id, Share.revoked_at.is_(None),
        or_(Share.list_id.is_(None), and_(MovieList.is_public.is_(True), owner_active,
                                          ~between(MovieList.user_id, user_id)))).exists()
    actor_active = select(by.id).where(by.id == Notification.actor_id, by.is_active.is_(True)).exists()
    return and_(Notification.user_id == user_id, actor_active, ~between(Notification.actor_id, user_id),
                or_(Notification.kind != "share", share_ok))


@cache
def _page_query(paged: bool) -> Select[Notification, User, Review, MovieList, Share]:
    """The notices query with the parameters ``user``, ``limit`` (and ``before`` when ``paged``), built once.

    Building it costs more Python time than running it, so each process
    builds it once and SQLAlchemy's compiled cache serves later requests.
    """
    user, actor = bindparam("user", type_=Integer), aliased(User)
    stmt = (select(Notification, actor, Review, MovieList, Share)
            .join(actor, actor.id == Notification.actor_id)
            .outerjoin(Review, Review.id == Notification.review_id)
            .outerjoin(Share, Share.id == Notification.share_id)
            .outerjoin(MovieList, MovieList.id == func.coalesce(Notification.list_id, Share.list_id))
            .where(_visible(user)))
    if paged:
        stmt = stmt.where(Notification.id < bindparam("before", type_=Integer))
    return stmt.order_by(Notification.id.desc()).limit(bindparam("limit", type_=Integer))


def page(session: Session, user_id: int, *, limit: int,
         before: int | None) -> list[tuple[Notification, User, Review | None, MovieList | None, Share | None]]:
    """The member's notices newest first (id below ``before``), with the actor and the object acted on.

    Walks ``ix_notifications_user_id_id`` backwards from ``before``.
    """
    params: dict[str, int] = {"user": user_id, "limit": limit}
    if before is not None:
        params["before"] = before
    return [(n, a, r, lst, s) for n, a, r, lst, s in session.execute(_page_query(before is not None), params)]


@cache
def _unread_query() -> Select[int]:
    """The unread count with the parameter ``user``, built once (see :func:`_page_query`).

    Walks ``ix_notifications_user_unread`` (``user_id, read_at, id``) over the
    member's unread notices only: read ones, however many, cost nothing.
    """
    sub = (select(Notification.id).where(_visible(bindparam("user", type_=Integer)), Notification.read_at.is_(None))
           .order_by(Notification.id.desc()).limit(UNREAD_CAP).subquery())
    return select(func.count()).select_from(sub)


def unread_count(session: Session, user_id: int) -> int:
    """How many visible notices the member has not read (at most :data:`UNREAD_CAP`)."""
    return int(session.scalar(_unread_query(), {"user": user_id}) or 0)


def mark_read(session: Session, user_id: int, up_to_id: int | None, now: datetime) -> int:
    """Mark the member's unread notices read (those with id up to ``up_to_id``, or all); returns how many."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if up_to_id is not None:
        stmt = stmt.where(Notification.id <= up_to_id)
    result = session.execute(stmt.values(read_at=now))
    return int(getattr(result, "rowcount", 0) or 0)
