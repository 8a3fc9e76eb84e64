"""Sharing between members: shares and public links, follows, blocks, review likes, the feed, notifications.

Every write needs a logged-in caller; another member's share answers 404 like
a missing one. ``GET /shares/{token}`` is public (no login). Pages take
``limit`` 1-100 (``offset`` from 0, or a ``cursor``/``before`` id where the
list grows at the top). Share, follow and like writes are rate-limited per
member (429 with ``Retry-After``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from cinerec.service import feed, members, social
from cinerec.web import security
from cinerec.web.deps import CurrentUser, EngineDep, SessionDep, SessionRoute, ThrottleDep
from cinerec.web.present import (
    feed_out,
    friend_rating_out,
    member_out,
    notifications_out,
    share_out,
)
from cinerec.web.schemas import (
    BlockOut,
    ErrorOut,
    FeedOut,
    FollowOut,
    FriendRatingOut,
    LikeOut,
    ListOut,
    MemberOut,
    NotificationsOut,
    NotificationsReadIn,
    NotificationsReadOut,
    ShareIn,
    ShareOut,
)

router = APIRouter(route_class=SessionRoute, tags=["sharing"], dependencies=[Depends(security.require_json)])
#: 403: a cookie-authenticated write sent from another site (or a follow across a block).
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
                                          415: {"model": ErrorOut}, 422: {"model": ErrorOut},
                                          429: {"model": ErrorOut}}
#: Errors of the public reads (no login).
PUBLIC_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}, 422: {"model": ErrorOut}}
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Username = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Limit = Annotated[int, Query(ge=1, le=members.MAX_PAGE, description=f"page size, at most {members.MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Cursor = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="the previous page's next_cursor")]


# --- shares ----------------------------------------------------------------------------------------


@router.post("/shares", status_code=201, response_model=ShareOut, responses=ERRORS)
def post_share(body: ShareIn, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> ShareOut:
    """Share a film (``movie_id``) or a public list (``list_id``) with a note.

    ``audience`` ``followers`` puts it in the caller's followers' feeds and
    notifications; ``public`` also makes an unguessable link, returned as
    ``url`` (``/s/{token}``), that anybody can open. At most 30 shares an hour.
    """
    return share_out(social.share(engine, throttle, me, movie_id=body.movie_id, list_id=body.list_id, note=body.note,
                                  audience=body.audience))


@router.delete("/shares/{share_id}", status_code=204, responses=ERRORS)
def delete_share(share_id: Id, me: CurrentUser, engine: EngineDep) -> Response:
    """Revoke one of the caller's shares (idempotent): its link answers 410 and it leaves feeds."""
    social.revoke_share(engine, me, share_id)
    return Response(status_code=204)


@router.get("/shares/{token}", response_model=ShareOut, responses={**PUBLIC_ERRORS, 410: {"model": ErrorOut}})
def get_public_share(token: Annotated[str, Path(min_length=20, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
                     session: SessionDep) -> ShareOut:
    """The share behind a public link, for anybody (no login); 410 once revoked."""
    return share_out(social.public_share(session, token))


@router.get("/me/shares", response_model=ListOut[ShareOut], responses=ERRORS)
def my_shares(me: CurrentUser, session: SessionDep, limit: Limit = 20, offset: Offset = 0) -> ListOut[ShareOut]:
    """The caller's shares, revoked ones included, newest first."""
    page = social.shares_of(session, me.user_id, limit=limit, offset=offset)
    return ListOut[ShareOut](data=[share_out(s) for s in page.items], count=page.total)


# --- follows and blocks ----------------------------------------------------------------------------


@router.put("/users/{username}/follow", response_model=FollowOut, responses=ERRORS)
def put_follow(username: Username, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> FollowOut:
    """Follow a member (idempotent); 403 when either blocked the other. At most 100 follow changes an hour."""
    changed = social.follow(engine, throttle, me, username)
    return FollowOut(username=username, following=True, changed=changed)


@router.delete("/users/{username}/follow", status_code=204, responses=ERRORS)
def delete_follow(username: Username, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> Response:
    """Stop following a member (idempotent)."""
    social.unfollow(engine, me, username, throttle=throttle)
    return Response(status_code=204)


@router.get("/users/{username}/followers", response_model=ListOut[MemberOut], responses=PUBLIC_ERRORS)
def get_followers(username: Username, session: SessionDep, limit: Limit = 20,
                  offset: Offset = 0) -> ListOut[MemberOut]:
    """The members following ``username``, newest first (public)."""
    page = social.followers(session, username, limit=limit, offset=offset)
    return ListOut[MemberOut](data=[member_out(m) for m in page.items], count=page.total)


@router.get("/users/{username}/following", response_model=ListOut[MemberOut], responses=PUBLIC_ERRORS)
def get_following(username: Username, session: SessionDep, limit: Limit = 20,
                  offset: Offset = 0) -> ListOut[MemberOut]:
    """The members ``username`` follows, newest first (public)."""
    page = social.following(session, username, limit=limit, offset=offset)
    return ListOut[MemberOut](data=[member_out(m) for m in page.items], count=page.total)


@router.put("/users/{username}/block", response_model=BlockOut, responses=ERRORS)
def put_block(username: Username, me: CurrentUser, engine: EngineDep) -> BlockOut:
    """Block a member (idempotent): follows between you end both ways; they cannot follow you, like your
    reviews or lists, or see your lists, and their activity leaves your feed."""
    changed = social.block(engine, me, username)
    return BlockOut(username=username, blocked=True, changed=changed)


@router.delete("/users/{username}/block", status_code=204, responses=ERRORS)
def delete_block(username: Username, me: CurrentUser, engine: EngineDep) -> Response:
    """Lift a block (idempotent)."""
    social.unblock(engine, me, username)
    return Response(status_code=204)


@router.get("/me/blocked", response_model=ListOut[MemberOut], responses=ERRORS)
def my_blocked(me: CurrentUser, session: SessionDep, limit: Limit = 20, offset: Offset = 0) -> ListOut[MemberOut]:
    """The members the caller blocked, newest first."""
    page = social.blocked(session, me.user_id, limit=limit, offset=offset)
    return ListOut[MemberOut](data=[member_out(m) for m in page.items], count=page.total)


# --- review likes, friends' ratings ----------------------------------------------------------------


@router.put("/reviews/{review_id}/like", response_model=LikeOut, responses=ERRORS)
def like_review(review_id: Id, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> LikeOut:
    """Like a public review (idempotent); the author is notified. At most 300 likes an hour."""
    return LikeOut(liked=True, like_count=social.like_review(engine, throttle, me, review_id, True))


@router.delete("/reviews/{review_id}/like", response_model=LikeOut, responses=ERRORS)
def unlike_review(review_id: Id, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> LikeOut:
    """Take back a like of a review (idempotent)."""
    return LikeOut(liked=False, like_count=social.like_review(engine, throttle, me, review_id, False))


@router.get("/movies/{movie_id}/friends", response_model=ListOut[FriendRatingOut], responses=ERRORS)
def friends_ratings(movie_id: Id, me: CurrentUser, session: SessionDep, limit: Limit = 20) -> ListOut[FriendRatingOut]:
    """Ratings of the film by the people the caller follows, newest first."""
    rows = social.friends_ratings(session, me.user_id, movie_id, limit=limit)
    return ListOut[FriendRatingOut](data=[friend_rating_out(r) for r in rows], count=len(rows))


# --- feed and notifications ------------------------------------------------------------------------


@router.get("/me/feed", response_model=FeedOut, responses=ERRORS)
def my_feed(me: CurrentUser, session: SessionDep, cursor: Cursor = None, limit: Limit = 20) -> FeedOut:
    """What the people the caller follows rated, reviewed, shared, listed and liked, newest first.

    Pass ``next_cursor`` back as ``cursor`` for the next page: pages stay exact
    while new activity arrives (nothing repeats, nothing is skipped).
    """
    return feed_out(feed.feed(session, me.user_id, cursor=cursor, limit=limit))


@router.get("/me/notifications", response_model=NotificationsOut, responses=ERRORS)
def my_notifications(me: CurrentUser, session: SessionDep, before: Cursor = None,
                     limit: Limit = 20) -> NotificationsOut:
    """The caller's notices (follows, likes of their reviews and lists, shares), newest first, with the unread
    count; pass ``next_cursor`` back as ``before`` for the next page."""
    return notifications_out(social.notifications(session, me.user_id, limit=limit, before=before))


@router.post("/me/notifications/read", response_model=NotificationsReadOut, responses=ERRORS)
def read_notifications(me: CurrentUser, engine: EngineDep, session: SessionDep,
                       body: NotificationsReadIn | None = None) -> NotificationsReadOut:
    """Mark the caller's notices read: up to ``up_to_id``, or all without a body."""
    marked = social.mark_notifications_read(engine, me.user_id, body.up_to_id if body is not None else None)
    return NotificationsReadOut(marked=marked, unread=social.unread_count(session, me.user_id))
