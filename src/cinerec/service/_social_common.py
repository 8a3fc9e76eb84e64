"""What the sharing modules share: limits, the views they return, text checks and visibility of lists.

Private: import these names from :mod:`cinerec.service.social`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from cinerec.errors import InvalidParameter, NotFound
from cinerec.service.accounts import Principal
from cinerec.service.members import MAX_PAGE
from cinerec.service.throttle import Throttle
from cinerec.store.models import Movie, MovieList, User
from cinerec.store.repos import blocks as block_repo
from cinerec.store.repos import feed as feed_repo
from cinerec.store.repos import lists as list_repo
from cinerec.store.repos import users as user_repo

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


# --- checks and shared helpers ----------------------------------------------------------------------------------------


def bad_field(field: str, msg: str, kind: str = "value_error", loc: str = "body") -> InvalidParameter:
    """An :class:`InvalidParameter` naming ``field`` (at ``loc``) in ``details.fields``."""
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
        raise bad_field(field, "must be a string", "type_error")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise bad_field(field, "control characters are not allowed")
    text = text.strip() if multiline else " ".join(text.split())
    if len(text) > limit:
        raise bad_field(field, f"at most {limit} characters", "too_long")
    return text or None


def check_page(limit: int, offset: int = 0) -> None:
    """Refuse a ``limit`` outside 1..MAX_PAGE or a negative ``offset``.

    Raises:
        InvalidParameter: naming ``limit``.
    """
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise bad_field("limit", f"limit must be 1-{MAX_PAGE} and offset >= 0", loc="query")


def card(user: User) -> MemberCard:
    """The public card of an account."""
    return MemberCard(user.id, user.username, user.display_name)


def member_named(session: Session, username: str) -> User:
    """The active member called ``username`` (any case): a site account or an imported dataset profile.

    Raises:
        NotFound: no such active account.
    """
    user = user_repo.by_username(session, username) if isinstance(username, str) else None
    if user is None or not user.is_active:
        raise NotFound(f"member {username!r} does not exist")
    return user


def summaries(session: Session, lists: list[MovieList]) -> list[ListSummary]:
    """Summaries of list rows, their owners loaded in one query."""
    owners = feed_repo.users_by_ids(session, sorted({lst.user_id for lst in lists}))
    return [ListSummary(lst.id, card(owners[lst.user_id]), lst.title, lst.description, bool(lst.is_public),
                        lst.item_count, lst.like_count, lst.created_at, lst.updated_at) for lst in lists]


def summary(session: Session, lst: MovieList) -> ListSummary:
    """The summary of one list row, re-read after the caller's writes."""
    session.refresh(lst)
    return summaries(session, [lst])[0]


def visible_list(session: Session, viewer_id: int | None, list_id: int) -> MovieList:
    """A list the viewer may see: their own, or a public list of an active member with no block between them.

    Raises:
        NotFound: no such list, or one the viewer may not see (the same answer).
    """
    lst = list_repo.get(session, list_id)
    if lst is not None and lst.user_id == viewer_id:
        return lst
    owner = session.get(User, lst.user_id) if lst is not None else None
    if (lst is None or owner is None or not lst.is_public or not owner.is_active
            or (viewer_id is not None and block_repo.either(session, viewer_id, lst.user_id))):
        raise NotFound(f"list {list_id} does not exist")
    return lst


def own_list(session: Session, actor: Principal, list_id: int) -> MovieList:
    """One of the actor's own lists.

    Raises:
        NotFound: no such list, or another member's (the same answer).
    """
    lst = list_repo.get_for_update(session, list_id)
    if lst is None or lst.user_id != actor.user_id:
        raise NotFound(f"list {list_id} does not exist")
    return lst


def count_write(throttle: Throttle | None, kind: Literal["share", "follow", "like", "list"], actor: Principal) -> None:
    """Count one social write against the actor's window (nothing without a throttle).

    Raises:
        RateLimited: the window is used up.
    """
    if throttle is not None:
        throttle.social(kind, actor.user_id)
