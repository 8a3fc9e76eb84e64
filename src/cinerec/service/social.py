"""Sharing between members: follows, blocks, shares of films and lists, lists, likes and notifications.

Rules, in one place:

- Writes are one transaction each, with their ``events`` row (the feed's
  source) and their notifications; kept counters (a list's ``item_count``,
  ``like_count`` of reviews and lists) change in that same transaction.
- Follow, unfollow, block, unblock, like and unlike are idempotent: doing one
  twice changes nothing the second time (and writes no second event).
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
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.errors import Gone, InvalidParameter, NotFound, PermissionDenied
from cinerec.service.accounts import Principal
from cinerec.service.members import MAX_PAGE, Page
from cinerec.service.throttle import Throttle
from cinerec.store.db import transaction
from cinerec.store.models import Movie, MovieList, Review, Share, User, utcnow
from cinerec.store.repos import blocks as block_repo
from cinerec.store.repos import events as event_repo
from cinerec.store.repos import feed as feed_repo
from cinerec.store.repos import follows as follow_repo
from cinerec.store.repos import likes as like_repo
from cinerec.store.repos import lists as list_repo
from cinerec.store.repos import movies as movie_repo
from cinerec.store.repos import notifications as notification_repo
from cinerec.store.repos import shares as share_repo
from cinerec.store.repos import users as user_repo

#: Longest note on a share or a list item, in characters.
MAX_NOTE = 1000
#: Longest list title, in characters.
MAX_LIST_TITLE = 200
#: Longest list description, in characters.
MAX_LIST_DESCRIPTION = 5000
#: Most films on one list.
MAX_LIST_ITEMS = 500

Audience = Literal["followers", "public"]
#: Who a share is for: the sharer's followers (their feed), or anybody with the link.
AUDIENCES: tuple[str, ...] = ("followers", "public")


@dataclass(frozen=True)
class MemberCard:
    """What any page may show of a member: id, username and display name."""

    user_id: int
    username: str
    display_name: str | None


@dataclass(frozen=True)
class Relation:
    """How the viewer and another member relate (each flag seen from the viewer)."""

    following: bool
    followed_by: bool
    blocked: bool
    blocked_by: bool


@dataclass(frozen=True)
class ListSummary:
    """A list without its items."""

    id: int
    owner: MemberCard
    title: str
    description: str | None
    is_public: bool
    item_count: int
    like_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ListEntry:
    """A film on a list, at ``position`` (0 first), with the owner's note."""

    movie: Movie
    position: int
    note: str | None
    added_at: datetime


@dataclass(frozen=True)
class ListView:
    """A list with its items in order and whether the viewer likes it."""

    summary: ListSummary
    items: list[ListEntry]
    liked: bool


@dataclass(frozen=True)
class ShareView:
    """A share of a film or a list.

    Attributes:
        token: the public link's token (``None`` for a followers-only share).
        movie: the shared film, or ``None`` for a list share.
        list: the shared list, or ``None`` for a film share.
    """

    id: int
    token: str | None
    audience: str
    note: str | None
    created_at: datetime
    revoked_at: datetime | None
    sharer: MemberCard
    movie: Movie | None
    list: ListSummary | None

    @property
    def url(self) -> str | None:
        """The public link's path (``/s/{token}``), or ``None`` for a followers-only share."""
        return f"/s/{self.token}" if self.token else None


@dataclass(frozen=True)
class ListRef:
    """A list named in a notification."""

    id: int
    title: str


@dataclass(frozen=True)
class NotificationView:
    """One notice: ``actor`` followed the member (``follow``), liked their review (``like_review``) or list
    (``like_list``), or shared a film or list (``share``)."""

    id: int
    kind: str
    actor: MemberCard
    created_at: datetime
    read: bool
    movie: Movie | None
    review_id: int | None
    list: ListRef | None
    share_id: int | None
    share_token: str | None


@dataclass(frozen=True)
class NotificationPage:
    """A page of notices, the member's unread count, and the cursor of the next page (``None``: last page)."""

    items: list[NotificationView]
    unread: int
    next_cursor: int | None


@dataclass(frozen=True)
class FriendRating:
    """A rating of a film by somebody the viewer follows."""

    member: MemberCard
    rating: float
    rated_at: datetime


# --- checks ----------------------------------------------------------------------------------------


def _bad(field: str, msg: str, kind: str = "value_error", loc: str = "body") -> InvalidParameter:
    return InvalidParameter(f"{field}: {msg}", details={"fields": [{"loc": [loc, field], "msg": msg, "type": kind}]})


def clean_text(value: str | None, field: str, limit: int, *, multiline: bool = True) -> str | None:
    """Check and tidy a note, title or description: NFC, no control characters, stripped, within ``limit``.

    Args:
        value: the text (``None`` passes through).
        field: the field name reported in errors.
        limit: the most characters allowed after tidying.
        multiline: keep line breaks (notes, descriptions); else every run of whitespace becomes one space.

    Returns:
        The tidy text, or ``None`` for ``None`` or a text of only whitespace.

    Raises:
        InvalidParameter: not a string, a control character, or too long (``details.fields`` names ``field``).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(field, "must be a string", "type_error")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise _bad(field, "control characters are not allowed")
    text = text.strip() if multiline else " ".join(text.split())
    if len(text) > limit:
        raise _bad(field, f"at most {limit} characters", "too_long")
    return text or None


def _check_page(limit: int, offset: int = 0) -> None:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise _bad("limit", f"limit must be 1-{MAX_PAGE} and offset >= 0", loc="query")


def _card(user: User) -> MemberCard:
    return MemberCard(user.id, user.username, user.display_name)


def _member(session: Session, username: str) -> User:
    user = user_repo.by_username(session, username) if isinstance(username, str) else None
    if user is None or not user.is_active:
        raise NotFound(f"member {username!r} does not exist")
    return user


def _summaries(session: Session, lists: list[MovieList]) -> list[ListSummary]:
    owners = feed_repo.users_by_ids(session, sorted({lst.user_id for lst in lists}))
    return [ListSummary(lst.id, _card(owners[lst.user_id]), lst.title, lst.description, bool(lst.is_public),
                        lst.item_count, lst.like_count, lst.created_at, lst.updated_at) for lst in lists]


def _summary(session: Session, lst: MovieList) -> ListSummary:
    session.refresh(lst)
    return _summaries(session, [lst])[0]


def _visible_list(session: Session, viewer_id: int | None, list_id: int) -> MovieList:
    """A list the viewer may see: their own, or a public list of an active member with no block between them."""
    lst = list_repo.get(session, list_id)
    if lst is not None and lst.user_id == viewer_id:
        return lst
    owner = session.get(User, lst.user_id) if lst is not None else None
    if (lst is None or owner is None or not lst.is_public or not owner.is_active
            or (viewer_id is not None and block_repo.either(session, viewer_id, lst.user_id))):
        raise NotFound(f"list {list_id} does not exist")
    return lst


def _own_list(session: Session, actor: Principal, list_id: int) -> MovieList:
    lst = list_repo.get_for_update(session, list_id)
    if lst is None or lst.user_id != actor.user_id:
        raise NotFound(f"list {list_id} does not exist")
    return lst


def _count(throttle: Throttle | None, kind: Literal["share", "follow", "like", "list"], actor: Principal) -> None:
    if throttle is not None:
        throttle.social(kind, actor.user_id)


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
    _count(throttle, "follow", actor)
    now = utcnow()
    with transaction(engine) as session:
        target = _member(session, username)
        if target.id == actor.user_id:
            raise _bad("username", "you cannot follow yourself", loc="path")
        if block_repo.either(session, actor.user_id, target.id):
            raise PermissionDenied("you cannot follow this member")
        added = follow_repo.add(session, actor.user_id, target.id, now)
        if added:
            notification_repo.add(session, target.id, actor.user_id, "follow", now=now)
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
    _count(throttle, "follow", actor)
    now = utcnow()
    with transaction(engine) as session:
        target = _member(session, username)
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
        target = _member(session, username)
        if target.id == actor.user_id:
            raise _bad("username", "you cannot block yourself", loc="path")
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
        target = _member(session, username)
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
    _check_page(limit, offset)
    user = _member(session, username)
    rows, total = follow_repo.followers(session, user.id, limit=limit, offset=offset)
    return Page([_card(u) for u in rows], total)


def following(session: Session, username: str, *, limit: int = 20, offset: int = 0) -> Page[MemberCard]:
    """The active members ``username`` follows, newest follow first.

    Raises:
        NotFound: no active member with that username.
        InvalidParameter: bad ``limit``/``offset``.
    """
    _check_page(limit, offset)
    user = _member(session, username)
    rows, total = follow_repo.following(session, user.id, limit=limit, offset=offset)
    return Page([_card(u) for u in rows], total)


def blocked(session: Session, user_id: int, *, limit: int = 20, offset: int = 0) -> Page[MemberCard]:
    """The members ``user_id`` blocked, newest first.

    Raises:
        InvalidParameter: bad ``limit``/``offset``.
    """
    _check_page(limit, offset)
    rows, total = block_repo.blocked(session, user_id, limit=limit, offset=offset)
    return Page([_card(u) for u in rows], total)


def friends_ratings(session: Session, viewer_id: int, movie_id: int, *, limit: int = 20) -> list[FriendRating]:
    """Ratings of a film by the people the viewer follows, newest first.

    Raises:
        NotFound: unknown film.
        InvalidParameter: ``limit`` outside 1..MAX_PAGE.
    """
    _check_page(limit)
    if session.get(Movie, movie_id) is None:
        raise NotFound(f"movie {movie_id} does not exist")
    rows = follow_repo.followed_ratings(session, viewer_id, movie_id, limit=limit)
    return [FriendRating(_card(u), v, t) for u, v, t in rows]


# --- shares ----------------------------------------------------------------------------------------


def _share_views(session: Session, shares: list[Share]) -> list[ShareView]:
    movies = movie_repo.by_ids(session, sorted({s.movie_id for s in shares if s.movie_id is not None}))
    lists = list_repo.by_ids(session, sorted({s.list_id for s in shares if s.list_id is not None}))
    summaries = {x.id: x for x in _summaries(session, list(lists.values()))}
    sharers = feed_repo.users_by_ids(session, sorted({s.user_id for s in shares}))
    return [ShareView(s.id, s.token, s.audience, s.note, s.created_at, s.revoked_at, _card(sharers[s.user_id]),
                      movies.get(s.movie_id) if s.movie_id is not None else None,
                      summaries.get(s.list_id) if s.list_id is not None else None) for s in shares]


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
        raise _bad("movie_id", "give exactly one of movie_id and list_id")
    if audience not in AUDIENCES:
        raise _bad("audience", "followers or public")
    clean = clean_text(note, "note", MAX_NOTE)
    _count(throttle, "share", actor)
    now = utcnow()
    with transaction(engine) as session:
        if movie_id is not None and session.get(Movie, movie_id) is None:
            raise NotFound(f"movie {movie_id} does not exist")
        if list_id is not None and not _visible_list(session, actor.user_id, list_id).is_public:
            raise _bad("list_id", "a private list cannot be shared: make it public first")
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
        NotFound: unknown token, the sharer's account is gone or disabled, or the shared list is private now.
        Gone: the sharer revoked the link.
    """
    row = share_repo.by_token(session, token) if isinstance(token, str) and 0 < len(token) <= 64 else None
    sharer = session.get(User, row.user_id) if row is not None else None
    if row is None or sharer is None or not sharer.is_active:
        raise NotFound("no such link")
    if row.revoked_at is not None:
        raise Gone("this link was withdrawn by the member who shared it")
    view = _share_views(session, [row])[0]
    if row.list_id is not None and (view.list is None or not view.list.is_public):
        raise NotFound("no such link")
    return view


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
    _check_page(limit, offset)
    rows, total = share_repo.of_user(session, user_id, limit=limit, offset=offset)
    return Page(_share_views(session, rows), total)


# --- lists -----------------------------------------------------------------------------------------


def _title(title: str | None) -> str:
    clean = clean_text(title, "title", MAX_LIST_TITLE, multiline=False)
    if clean is None:
        raise _bad("title", "a list needs a title")
    return clean


def create_list(engine: Engine, throttle: Throttle, actor: Principal, *, title: str, description: str | None = None,
                public: bool = True) -> ListSummary:
    """Create an empty list (event ``list``).

    Raises:
        InvalidParameter: empty or oversized title, oversized description, control characters.
        RateLimited: too many list writes in the window.
    """
    clean_title = _title(title)
    clean_description = clean_text(description, "description", MAX_LIST_DESCRIPTION)
    _count(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = list_repo.create(session, actor.user_id, title=clean_title, description=clean_description,
                               public=bool(public), now=now)
        event_repo.record(session, actor.user_id, "list", object_id=row.id, value=1.0, when=now)
        return _summary(session, row)


def update_list(engine: Engine, actor: Principal, list_id: int, *, title: str | None = None,
                description: str | None = None, public: bool | None = None,
                throttle: Throttle | None = None) -> ListSummary:
    """Change a list's title, description (``""`` clears it) or visibility; ``None`` leaves a field as it is.

    Raises:
        NotFound: no such list, or another member's.
        InvalidParameter: empty or oversized title, oversized description.
        RateLimited: too many list writes in the window (with ``throttle``).
    """
    fields: dict[str, object] = {}
    if title is not None:
        fields["title"] = _title(title)
    if description is not None:
        fields["description"] = clean_text(description, "description", MAX_LIST_DESCRIPTION)
    if public is not None:
        fields["is_public"] = bool(public)
    _count(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = _own_list(session, actor, list_id)
        list_repo.update_fields(session, list_id, now, **fields)
        event_repo.record(session, actor.user_id, "list", object_id=list_id, value=1.0, when=now)
        return _summary(session, row)


def delete_list(engine: Engine, actor: Principal, list_id: int, *, throttle: Throttle | None = None) -> None:
    """Delete a list with its items, likes, shares and their notifications.

    Raises:
        NotFound: no such list, or another member's.
        RateLimited: too many list writes in the window (with ``throttle``).
    """
    _count(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        _own_list(session, actor, list_id)
        list_repo.remove(session, list_id)
        event_repo.record(session, actor.user_id, "list", object_id=list_id, value=0.0, when=now)


def put_list_item(engine: Engine, actor: Principal, list_id: int, movie_id: int, *, note: str | None = None,
                  position: int | None = None, throttle: Throttle | None = None) -> ListSummary:
    """Put a film on a list, or move it or change its note.

    A new film goes at the end, or at ``position``; a film already there moves
    to ``position`` (if given). Positions past the end mean the end;
    positions stay ``0 .. n-1``. ``note`` replaces the film's note (``""``
    clears it; ``None`` keeps it).

    Raises:
        NotFound: unknown film, no such list, or another member's list.
        InvalidParameter: a negative position, an oversized note, or a full list (:data:`MAX_LIST_ITEMS`).
        RateLimited: too many list writes in the window (with ``throttle``).
    """
    if position is not None and (isinstance(position, bool) or not isinstance(position, int) or position < 0):
        raise _bad("position", "a whole number from 0")
    clean = clean_text(note, "note", MAX_NOTE)
    _count(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = _own_list(session, actor, list_id)
        if session.get(Movie, movie_id) is None:
            raise NotFound(f"movie {movie_id} does not exist")
        current = list_repo.item(session, list_id, movie_id)
        if current is None:
            if row.item_count >= MAX_LIST_ITEMS:
                raise InvalidParameter(f"a list holds at most {MAX_LIST_ITEMS} films",
                                       details={"limit": MAX_LIST_ITEMS, "fields": [
                                           {"loc": ["path", "movie_id"], "msg": "list is full", "type": "too_long"}]})
            old = list_repo.append(session, list_id, movie_id, note=clean, now=now)
            n = row.item_count + 1
        else:
            old, n = current.position, row.item_count
            if note is not None:
                list_repo.set_note(session, list_id, movie_id, clean)
            list_repo.touch(session, list_id, now)
        if position is not None:
            list_repo.move(session, list_id, movie_id, old, min(position, n - 1))
        event_repo.record(session, actor.user_id, "list", movie_id=movie_id, object_id=list_id, value=1.0, when=now)
        return _summary(session, row)


def remove_list_item(engine: Engine, actor: Principal, list_id: int, movie_id: int, *,
                     throttle: Throttle | None = None) -> ListSummary:
    """Take a film off a list (idempotent); the films after it move up one place.

    Raises:
        NotFound: unknown film, no such list, or another member's list.
        RateLimited: too many list writes in the window (with ``throttle``).
    """
    _count(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = _own_list(session, actor, list_id)
        if session.get(Movie, movie_id) is None:
            raise NotFound(f"movie {movie_id} does not exist")
        if list_repo.remove_item(session, list_id, movie_id, now):
            event_repo.record(session, actor.user_id, "list", movie_id=movie_id, object_id=list_id, value=1.0,
                              when=now)
        return _summary(session, row)


def get_list(session: Session, viewer: Principal | None, list_id: int) -> ListView:
    """A list with its films in order, for its owner or (when public) anybody not in a block with the owner.

    Raises:
        NotFound: no such list, a private list of somebody else, or a block between viewer and owner.
    """
    viewer_id = viewer.user_id if viewer is not None else None
    lst = _visible_list(session, viewer_id, list_id)
    entries = [ListEntry(m, i.position, i.note, i.added_at)
               for i, m in list_repo.items(session, list_id, limit=MAX_LIST_ITEMS)]
    liked = viewer_id is not None and like_repo.likes_list(session, viewer_id, list_id)
    return ListView(_summaries(session, [lst])[0], entries, liked)


def lists_of(session: Session, viewer: Principal | None, username: str, *, limit: int = 20,
             offset: int = 0) -> Page[ListSummary]:
    """A member's lists, most recently changed first: all for the owner, public ones for others.

    A member in a block with the viewer shows no lists.

    Raises:
        NotFound: no active member with that username.
        InvalidParameter: bad ``limit``/``offset``.
    """
    _check_page(limit, offset)
    owner = _member(session, username)
    own = viewer is not None and viewer.user_id == owner.id
    if viewer is not None and not own and block_repo.either(session, viewer.user_id, owner.id):
        return Page([], 0)
    rows, total = list_repo.of_user(session, owner.id, public_only=not own, limit=limit, offset=offset)
    return Page(_summaries(session, rows), total)


def public_lists(session: Session, *, q: str | None = None, limit: int = 20, offset: int = 0) -> Page[ListSummary]:
    """Public lists of active members, most recently changed first; ``q`` searches titles literally.

    The total counts at most :data:`cinerec.store.repos.lists.COUNT_CAP` lists.

    Raises:
        InvalidParameter: bad ``limit``/``offset``.
    """
    _check_page(limit, offset)
    rows, total = list_repo.public(session, q=q.strip() if q else None, limit=limit, offset=offset)
    return Page(_summaries(session, rows), total)


def lists_with_movie(session: Session, viewer: Principal | None, movie_id: int, limit: int = 10) -> list[ListSummary]:
    """Public lists holding a film, most liked first (none of a member in a block with the viewer).

    Raises:
        InvalidParameter: ``limit`` outside 1..MAX_PAGE.
    """
    _check_page(limit)
    rows = list_repo.public_with_movie(session, movie_id, viewer_id=viewer.user_id if viewer else None, limit=limit)
    return _summaries(session, rows)


# --- likes -----------------------------------------------------------------------------------------


def like_review(engine: Engine, throttle: Throttle, actor: Principal, review_id: int, on: bool) -> int:
    """Like (``on``) or unlike a public review; the author gets a ``like_review`` notification (not for their own).

    Returns:
        The review's like count after the change.

    Raises:
        RateLimited: too many likes in the window.
        NotFound: no such review, not public, or a block between the actor and the author.
    """
    _count(throttle, "like", actor)
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
                                       review_id=review_id)
    return count


def like_list(engine: Engine, throttle: Throttle, actor: Principal, list_id: int, on: bool) -> int:
    """Like (``on``) or unlike a list the actor may see; the owner gets a ``like_list`` notification.

    Returns:
        The list's like count after the change.

    Raises:
        RateLimited: too many likes in the window.
        NotFound: no such list, a private list of somebody else, or a block between the actor and the owner.
    """
    _count(throttle, "like", actor)
    now = utcnow()
    with transaction(engine) as session:
        lst = _visible_list(session, actor.user_id, list_id)
        changed, count = like_repo.set_list_like(session, actor.user_id, list_id, bool(on), now)
        if changed:
            event_repo.record(session, actor.user_id, "like_list", object_id=list_id, value=1.0 if on else 0.0,
                              when=now)
            if on and lst.user_id != actor.user_id:
                notification_repo.add(session, lst.user_id, actor.user_id, "like_list", now=now, list_id=list_id)
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
    _check_page(limit)
    rows = notification_repo.page(session, user_id, limit=limit, before=before)
    film_ids = {r.movie_id for _, _, r, _, _ in rows if r is not None}
    film_ids |= {s.movie_id for _, _, _, _, s in rows if s is not None and s.movie_id is not None}
    films = movie_repo.by_ids(session, sorted(film_ids))
    items = []
    for n, actor, review, lst, shared in rows:
        movie_id = review.movie_id if review is not None else shared.movie_id if shared is not None else None
        ref = ListRef(lst.id, lst.title) if lst is not None and (lst.is_public or lst.user_id == user_id) else None
        token = shared.token if shared is not None and shared.revoked_at is None else None
        items.append(NotificationView(n.id, n.kind, _card(actor), n.created_at, n.read_at is not None,
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
