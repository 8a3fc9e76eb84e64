"""The activity feed: events of the members a viewer follows, filtered for privacy in SQL.

Only events that may be shown pass the query, so a page of ``limit`` rows is
a page of ``limit`` items: ratings of films the member still rates (not
removals), public reviews that still
exist, live shares (not revoked; a shared list still public), public lists,
and likes of public reviews and lists; never from or about a member in a
block with the viewer, nor a list whose owner's account is disabled. Pages go backwards by event id (the cursor): events
written while a reader pages have larger ids, so they neither repeat nor
push rows out of later pages.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, or_, select, tuple_
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from cinerec.store.models import Event, Follow, MovieList, Rating, Review, Share, User
from cinerec.store.repos.blocks import between

#: Event kinds the feed shows.
FEED_KINDS = ("rate", "review", "share", "list", "like_review", "like_list")


def _public_review(viewer_id: Any) -> ColumnElement[bool]:
    """A ``review`` event whose review is still there and public.

    Review events name the review in ``object_id``; events written without it
    match the author's public review of the same film.
    """
    by_id = select(Review.id).where(Review.id == Event.object_id, Review.visibility == "public").exists()
    by_film = select(Review.id).where(Review.user_id == Event.user_id, Review.movie_id == Event.movie_id,
                                      Review.visibility == "public").exists()
    return and_(Event.kind == "review", Event.value.is_not(None),
                or_(and_(Event.object_id.is_not(None), by_id), and_(Event.object_id.is_(None), by_film)))


def _list_open_to(viewer_id: Any) -> ColumnElement[bool]:
    """``MovieList`` (of the enclosing query) is one the viewer may open by id: public, its owner active, no block."""
    owner = aliased(User)
    active = select(owner.id).where(owner.id == MovieList.user_id, owner.is_active.is_(True)).exists()
    return and_(MovieList.is_public.is_(True), active, ~between(MovieList.user_id, viewer_id))


def _visible(viewer_id: Any) -> ColumnElement[bool]:
    rated = select(Rating.id).where(Rating.user_id == Event.user_id, Rating.movie_id == Event.movie_id).exists()
    live_share = (select(Share.id).outerjoin(MovieList, MovieList.id == Share.list_id)
                  .where(Share.id == Event.object_id, Share.revoked_at.is_(None),
                         or_(Share.list_id.is_(None), _list_open_to(viewer_id))).exists())
    public_list = select(MovieList.id).where(MovieList.id == Event.object_id, MovieList.is_public.is_(True)).exists()
    liked_review = select(Review.id).where(Review.id == Event.object_id, Review.visibility == "public",
                                           ~between(Review.user_id, viewer_id)).exists()
    liked_list = select(MovieList.id).where(MovieList.id == Event.object_id, _list_open_to(viewer_id)).exists()
    return or_(
        and_(Event.kind == "rate", Event.value.is_not(None), rated),
        _public_review(viewer_id),
        and_(Event.kind == "share", Event.value > 0, live_share),
        and_(Event.kind == "list", Event.value > 0, public_list),
        and_(Event.kind == "like_review", Event.value > 0, liked_review),
        and_(Event.kind == "like_list", Event.value > 0, liked_list),
    )


@cache
def _page_query(paged: bool) -> Select[Event, User]:
    """The feed's query with the parameters ``viewer``, ``limit`` (and ``before`` when ``paged``), built once.

    Building this statement (a dozen correlated ``EXISTS``) costs more Python
    time than SQLite takes to run it, so each process builds it once and
    SQLAlchemy's compiled cache serves every later request. On SQLite the plan
    walks the viewer's follows, each followee's events newest first
    (``ix_events_user_id_id``) and stops a followee's walk as soon as its
    events are older than the ``limit`` newest kept so far: a page reads about
    ``limit`` events per followee, however many events they have.
    """
    viewer = bindparam("viewer", type_=Integer)
    stmt = (select(Event, User)
            .join(Follow, and_(Follow.followee_id == Event.user_id, Follow.follower_id == viewer))
            .join(User, User.id == Event.user_id)
            .where(Event.kind.in_(FEED_KINDS), User.is_active.is_(True), ~between(Event.user_id, viewer),
                   _visible(viewer)))
    if paged:
        stmt = stmt.where(Event.id < bindparam("before", type_=Integer))
    return stmt.order_by(Event.id.desc()).limit(bindparam("limit", type_=Integer))


def page(session: Session, viewer_id: int, *, before: int | None, limit: int) -> list[tuple[Event, User]]:
    """One page of the viewer's feed, newest first: events with ids below ``before`` and their actors."""
    params: dict[str, int] = {"viewer": viewer_id, "limit": limit}
    if before is not None:
        params["before"] = before
    return [(e, u) for e, u in session.execute(_page_query(before is not None), params)]


def reviews_by_author_film(session: Session, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Review]:
    """The newest public review of each ``(author id, film id)`` pair (for review events without a review id)."""
    if not pairs:
        return {}
    out: dict[tuple[int, int], Review] = {}
    rows = session.scalars(select(Review).where(tuple_(Review.user_id, Review.movie_id).in_(pairs),
                                                Review.visibility == "public").order_by(Review.id))
    for r in rows:
        out[(r.user_id, r.movie_id)] = r
    return out


def reviews_by_ids(session: Session, ids: list[int]) -> dict[int, Review]:
    """Reviews by id (missing ids are absent)."""
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(Review).where(Review.id.in_(ids)))}


def users_by_ids(session: Session, ids: list[int]) -> dict[int, User]:
    """Accounts by id (missing ids are absent)."""
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}
