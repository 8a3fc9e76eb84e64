"""Sharing between members: follows, blocks, shares of films and lists, lists, likes and notifications.

Rules, in one place:

- Writes are one transaction each, with their ``events`` row (the feed's
  source) and their notifications; kept counters (a list's ``item_count``,
  ``like_count`` of reviews and lists) change in that same transaction.
- Follow, unfollow, block, unblock, like and unlike are idempotent: doing one
  twice changes nothing the second time (and writes no second event).
  Following or liking again after taking it back notifies only once (no
  flood of notices by follow/unfollow or like/unlike cycles).
- A block (either way) ends the follows between two members, stops new
  follows (:class:`~cinerec.errors.PermissionDenied`) and likes, and hides
  each one's lists and activity from the other.
- A private list exists only for its owner: for anybody else it is
  :class:`~cinerec.errors.NotFound`, exactly like a list id that does not
  exist; so is another member's list for every change (no probing of ids).
- A public share has an unguessable token (``secrets.token_urlsafe(32)``, 256
  bits) for ``/s/{token}``; once revoked the link is
  :class:`~cinerec.errors.Gone` (HTTP 410).
- Share, follow, like and list writes are counted by the throttle
  (:meth:`~cinerec.service.throttle.Throttle.social`): over the window,
  :class:`~cinerec.errors.RateLimited` (HTTP 429 with ``Retry-After``).

This module is the one to import: the list functions (private ``_lists``)
and the views, limits and checks (private ``_social_common``) are
re-exported here.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.errors import Gone, NotFound, PermissionDenied
from cinerec.service._lists import (
    create_list,
    delete_list,
    get_list,
    like_list,
    lists_of,
    lists_with_movie,
    public_lists,
    put_list_item,
    remove_list_item,
    update_list,
)
from cinerec.service._social_common import (
    AUDIENCES,
    MAX_LIST_DESCRIPTION,
    MAX_LIST_ITEMS,
    MAX_LIST_TITLE,
    MAX_NOTE,
    Audience,
    FriendRating,
    ListEntry,
    ListRef,
    ListSummary,
    ListView,
    MemberCard,
    NotificationPage,
    NotificationView,
    Relation,
    ShareView,
    bad_field,
    card,
    check_page,
    clean_text,
    count_write,
    member_named,
    summaries,
    visible_list,
)
from cinerec.service.accounts import Principal
from cinerec.service.members import Page
from cinerec.service.throttle import Throttle
from cinerec.store.db import transaction
from cinerec.store.models import Movie, Review, Share, User, utcnow
from cinerec.store.repos import blocks as block_repo
from cinerec.store.repos import events as event_repo
from cinerec.store.repos import feed as feed_repo
from cinerec.store.repos import follows as follow_repo
from cinerec.store.repos import likes as like_repo
from cinerec.store.repos import lists as list_repo
from cinerec.store.repos import movies as movie_repo
from cinerec.store.repos import notifications as notification_repo
from cinerec.store.repos import shares as share_repo

__all__ = [
    "AUDIENCES", "MAX_LIST_DESCRIPTION", "MAX_LIST_ITEMS", "MAX_LIST_TITLE", "MAX_NOTE", "Audience", "FriendRating",
    "ListEntry", "ListRef", "ListSummary", "ListView", "MemberCard", "NotificationPage", "NotificationView",
    "Relation", "ShareView", "block", "blocked", "clean_text", "create_list", "delete_list", "follow", "followers",
    "following", "friends_ratings", "get_list", "get_share", "is_following", "like_list", "like_review", "lists_of",
    "lists_with_movie", "mark_notifications_read", "notifications", "public_lists", "public_share",
    "put_list_item", "relationship", "remove_list_item", "review_likes_of", "revoke_share", "share", "shares_of",
    "unblock", "unfollow", "unread_count", "update_list",
]


# --- follows and blocks ----------------------------------------------------------------------------


def follow(engine: Engine, throttle: Throttle, actor: Principal, username: str) -> bool:
    """Follow a member; the followee gets a ``follow`` notification.

    Returns:
        Whether the follow is new (``False``: already following, nothing written).

    Raises:
        RateLimited: too many follow changes in the window.
        NotFound: no active member with that username.
        InvalidParameter: following oneself.
        PermissionDenied: either member blocked the other.
    """
    count_write(throttle, "follow", actor)
    now = utcnow()
    with transaction(engine) as session:
        target = member_named(session, username)
        if target.id == actor.user_id:
            raise bad_field("username", "you cannot follow yourself", loc="path")
        if block_repo.either(session, actor.user_id, target.id):
            raise PermissionDenied("you cannot follow this member")
        added = follow_repo.add(session, actor.user_id, target.id, now)
        if added:
            notification_repo.add(session, target.id, actor.user_id, "follow", now=now, once=True)
            event_repo.record(session, actor.user_id, "follow", object_id=target.id, value=1.0, when=now)
    return added


def unfollow(engine: Engine, actor: Principal, username: str, *, throttle: Throttle | None = None) -> bool:
    """Stop following a member.

    Returns:
        Whether there was a follow to end.

    Raises:
        RateLimited: too many follow changes in the window (with ``throttle``).
        NotFound: no active member with that username.
    """
    count_write(throttle, "follow", actor)
    now = utcnow()
    with transaction(engine) as session:
        target = member_named(session, username)
        removed = follow_repo.remove(session, actor.user_id, target.id)
        if removed:
            event_repo.record(session, actor.user_id, "follow", object_id=target.id, value=0.0, when=now)
    return removed


def block(engine: Engine, actor: Principal, username: str) -> bool:
    """Block a member: the follows between the two end, both ways.

    Returns:
        Whether the block is new.

    Raises:
        NotFound: no active member with that username.
        InvalidParameter: blocking oneself.
    """
    now = utcnow()
    with transaction(engine) as session:
        target = member_named(session, username)
        if target.id == actor.user_id:
            raise bad_field("username", "you cannot block yourself", loc="path")
        added = block_repo.add(session, actor.user_id, target.id, now)
        follow_repo.remove_both(session, actor.user_id, target.id)
    return added


def unblock(engine: Engine, actor: Principal, username: str) -> bool:
    """Lift a block (follows ended by it do not come back).

    Returns:
        Whether there was a block.

    Raises:
        NotFound: no active member with that username.
    """
    with transaction(engine) as session:
        target = member_named(session, username)
        return block_repo.remove(session, actor.user_id, target.id)


def is_following(session: Session, follower_id: int, followee_id: int) -> bool:
    """Whether ``follower_id`` follows ``followee_id``."""
    return follow_repo.exists(session, follower_id, followee_id)


def relationship(session: Session, viewer_id: int, user_id: int) -> Relation:
    """How the viewer and another member relate: follows and blocks, each way."""
    return Relation(follow_repo.exists(session, viewer_id, user_id), follow_repo.exists(session, user_id, viewer_id),
                    block_repo.blocks(session, viewer_id, user_id), block_repo.blocks(session, user_id, viewer_id))


def followers(session: Session, username: str, *, limit: int = 20, offset: int = 0) -> Page[MemberCard]:
    """The active members following ``username``, newest follow first.

    Raises:
        NotFound: no active member with that username.
        InvalidParameter: ``limit`` outside 1..:data:`~cinerec.service.members.MAX_PAGE` or negative ``offset``.
    """
    check_page(limit, offset)
    user = member_named(session, username)
    rows, total = follow_repo.followers(session, user.id, limit=limit, offset=offset)
    return Page([card(u) for u in rows], total)


def following(session: Session, username: str, *, limit: int = 20, offset: int = 0) -> Page[MemberCard]:
    """The active members ``username`` follows, newest follow first.

    Raises:
        NotFound: no active member with that username.
        InvalidParameter: bad ``limit``/``offset``.
    """
    check_page(limit, offset)
    user = member_named(session, username)
    rows, total = follow_repo.following(session, user.id, limit=limit, offset=offset)
    return Page([card(u) for u in rows], total)


def blocked(session: Session, user_id: int, *, limit: int = 20, offset: int = 0) -> Page[MemberCard]:
    """The members ``user_id`` blocked, newest first.

    Raises:
        InvalidParameter: bad ``limit``/``offset``.
    """
    check_page(limit, offset)
    rows, total = block_repo.blocked(session, user_id, limit=limit, offset=offset)
    return Page([card(u) for u in rows], total)


def friends_ratings(session: Session, viewer_id: int, movie_id: int, *, limit: int = 20) -> list[FriendRating]:
    """Ratings of a film by the people the viewer follows, newest first.

    Raises:
        NotFound: unknown film.
        InvalidParameter: ``limit`` outside 1..MAX_PAGE.
    """
    check_page(limit)
    if session.get(Movie, movie_id) is None:
        raise NotFound(f"movie {movie_id} does not exist")
    rows = follow_repo.followed_ratings(session, viewer_id, movie_id, limit=limit)
    return [FriendRating(card(u), v, t) for u, v, t in rows]


# --- shares ----------------------------------------------------------------------------------------


def _share_views(session: Session, shares: list[Share]) -> list[ShareView]:
    movies = movie_repo.by_ids(session, sorted({s.movie_id for s in shares if s.movie_id is not None}))
    lists = list_repo.by_ids(session, sorted({s.list_id for s in shares if s.list_id is not None}))
    by_id = {x.id: x for x in summaries(session, list(lists.values()))}
    sharers = feed_repo.users_by_ids(session, sorted({s.user_id for s in shares}))
    return [ShareView(s.id, s.token, s.audience, s.note, s.created_at, s.revoked_at, card(sharers[s.user_id]),
                      movies.get(s.movie_id) if s.movie_id is not None else None,
                      by_id.get(s.list_id) if s.list_id is not None else None) for s in shares]


def share(engine: Engine, throttle: Throttle, actor: Principal, *, movie_id: int | None = None,
          list_id: int | None = None, note: str | None, audience: Audience) -> ShareView:
    """Share a film or a public list with a note, to the actor's followers or through a public link.

    Every follower gets a ``share`` notification (one INSERT ... SELECT in the
    same transaction) and the share enters their feeds. A public share gets
    an unguessable token; its link is :attr:`ShareView.url`.

    Raises:
        InvalidParameter: not exactly one of ``movie_id`` and ``list_id``, an unknown audience, a bad or
            oversized note, or a private list (make it public first).
        RateLimited: too many shares in the window.
        NotFound: unknown film, or a list the actor may not see.
    """
    if (movie_id is None) == (list_id is None):
        raise bad_field("movie_id", "give exactly one of movie_id and list_id")
    if audience not in AUDIENCES:
        raise bad_field("audience", "followers or public")
    clean = clean_text(note, "note", MAX_NOTE)
    count_write(throttle, "share", actor)
    now = utcnow()
    with transaction(engine) as session:
        if movie_id is not None and session.get(Movie, movie_id) is None:
            raise NotFound(f"movie {movie_id} does not exist")
        if list_id is not None and not visible_list(session, actor.user_id, list_id).is_public:
            raise bad_field("list_id", "a private list cannot be shared: make it public first")
        token = secrets.token_urlsafe(32) if audience == "public" else None
        row = share_repo.create(session, actor.user_id, movie_id=movie_id, list_id=list_id, note=clean,
                                audience=audience, token=token, now=now)
        event_repo.record(session, actor.user_id, "share", movie_id=movie_id, object_id=row.id, value=1.0, when=now)
        notification_repo.fan_out_share(session, actor.user_id, row.id, now)
        return _share_views(session, [row])[0]


def revoke_share(engine: Engine, actor: Principal, share_id: int) -> None:
    """Withdraw a share: its link answers 410 from now on and it leaves feeds and notifications (idempotent).

    Raises:
        NotFound: no such share, or not the actor's and the actor is no admin.
    """
    now = utcnow()
    with transaction(engine) as session:
        row = share_repo.get(session, share_id)
        if row is None or (row.user_id != actor.user_id and not actor.is_admin):
            raise NotFound(f"share {share_id} does not exist")
        if share_repo.revoke(session, share_id, now):
            event_repo.record(session, row.user_id, "share", movie_id=row.movie_id, object_id=row.id, value=0.0,
                              when=now)


def public_share(session: Session, token: str) -> ShareView:
    """The share behind a public link, for anybody (no login).

    Raises:
        NotFound: unknown token, the sharer's account is gone or disabled, or the shared list is one a visitor
            may not see now (private, or its owner's account disabled).
        Gone: the sharer revoked the link.
    """
    row = share_repo.by_token(session, token) if isinstance(token, str) and 0 < len(token) <= 64 else None
    sharer = session.get(User, row.user_id) if row is not None else None
    if row is None or sharer is None or not sharer.is_active:
        raise NotFound("no such link")
    if row.revoked_at is not None:
        raise Gone("this link was withdrawn by the member who shared it")
    if row.list_id is not None:
        try:
            visible_list(session, None, row.list_id)  # the rules of a list by id, as for a visitor
        except NotFound:
            raise NotFound("no such link") from None
    return _share_views(session, [row])[0]


def get_share(session: Session, viewer: Principal, share_id: int) -> ShareView:
    """One of the viewer's own shares (an admin may read any).

    Raises:
        NotFound: no such share, or another member's.
    """
    row = share_repo.get(session, share_id)
    if row is None or (row.user_id != viewer.user_id and not viewer.is_admin):
        raise NotFound(f"share {share_id} does not exist")
    return _share_views(session, [row])[0]


def shares_of(session: Session, user_id: int, *, limit: int = 20, offset: int = 0) -> Page[ShareView]:
    """The member's own shares, revoked ones included, newest first.

    Raises:
        InvalidParameter: bad ``limit``/``offset``.
    """
    check_page(limit, offset)
    rows, total = share_repo.of_user(session, user_id, limit=limit, offset=offset)
    return Page(_share_views(session, rows), total)


# --- likes -----------------------------------------------------------------------------------------


def like_review(engine: Engine, throttle: Throttle, actor: Principal, review_id: int, on: bool) -> int:
    """Like (``on``) or unlike a public review; the author gets a ``like_review`` notification (not for their own).

    Returns:
        The review's like count after the change.

    Raises:
        RateLimited: too many likes in the window.
        NotFound: no such review, not public, or a block between the actor and the author.
    """
    count_write(throttle, "like", actor)
    now = utcnow()
    with transaction(engine) as session:
        review: Review | None = session.get(Review, review_id)
        if (review is None or review.visibility != "public"
                or block_repo.either(session, actor.user_id, review.user_id)):
            raise NotFound(f"review {review_id} does not exist")
        changed, count = like_repo.set_review_like(session, actor.user_id, review_id, bool(on), now)
        if changed:
            event_repo.record(session, actor.user_id, "like_review", movie_id=review.movie_id, object_id=review_id,
                              value=1.0 if on else 0.0, when=now)
            if on and review.user_id != actor.user_id:
                notification_repo.add(session, review.user_id, actor.user_id, "like_review", now=now,
                                       review_id=review_id, once=True)
    return count


def review_likes_of(session: Session, viewer_id: int, review_ids: list[int]) -> set[int]:
    """Which of ``review_ids`` the viewer liked."""
    return like_repo.liked_reviews(session, viewer_id, list(review_ids))


# --- notifications ---------------------------------------------------------------------------------


def notifications(session: Session, user_id: int, *, limit: int = 20, before: int | None = None) -> NotificationPage:
    """The member's notices, newest first; ``before`` is the previous page's ``next_cursor``.

    Notices from a member in a block with this one, and about revoked shares or
    lists made private, are left out.

    Raises:
        InvalidParameter: ``limit`` outside 1..MAX_PAGE.
    """
    check_page(limit)
    rows = notification_repo.page(session, user_id, limit=limit, before=before)
    film_ids = {r.movie_id for _, _, r, _, _ in rows if r is not None}
    film_ids |= {s.movie_id for _, _, _, _, s in rows if s is not None and s.movie_id is not None}
    films = movie_repo.by_ids(session, sorted(film_ids))
    items = []
    for n, actor, review, lst, shared in rows:
        movie_id = review.movie_id if review is not None else shared.movie_id if shared is not None else None
        ref = ListRef(lst.id, lst.title) if lst is not None and (lst.is_public or lst.user_id == user_id) else None
        token = shared.token if shared is not None and shared.revoked_at is None else None
        items.append(NotificationView(n.id, n.kind, card(actor), n.created_at, n.read_at is not None,
                                      films.get(movie_id) if movie_id is not None else None, n.review_id, ref,
                                      n.share_id, token))
    cursor = items[-1].id if len(items) == limit else None
    return NotificationPage(items, notification_repo.unread_count(session, user_id), cursor)


def unread_count(session: Session, user_id: int) -> int:
    """How many notices the member has not read (at most :data:`~cinerec.store.repos.notifications.UNREAD_CAP`)."""
    return notification_repo.unread_count(session, user_id)


def mark_notifications_read(engine: Engine, user_id: int, up_to_id: int | None = None) -> int:
    """Mark the member's notices read: all of them, or those with id up to ``up_to_id``.

    Returns:
        How many notices changed.
    """
    with transaction(engine) as session:
        return notification_repo.mark_read(session, user_id, up_to_id, utcnow())
