"""Members' film lists: create, change, order, delete, read, search and like.

Private: import these names from :mod:`cinerec.service.social`, whose
docstring states the rules (a private list exists only for its owner; list
writes are rate-limited; counters kept in the writing transaction).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.errors import InvalidParameter, NotFound
from cinerec.service._social_common import (
    MAX_LIST_DESCRIPTION,
    MAX_LIST_ITEMS,
    MAX_LIST_TITLE,
    MAX_NOTE,
    ListEntry,
    ListSummary,
    ListView,
    bad_field,
    check_page,
    clean_text,
    count_write,
    member_named,
    own_list,
    summaries,
    summary,
    visible_list,
)
from cinerec.service.accounts import Principal
from cinerec.service.members import Page
from cinerec.service.throttle import Throttle
from cinerec.store.db import transaction
from cinerec.store.models import Movie, utcnow
from cinerec.store.repos import blocks as block_repo
from cinerec.store.repos import events as event_repo
from cinerec.store.repos import likes as like_repo
from cinerec.store.repos import lists as list_repo
from cinerec.store.repos import notifications as notification_repo


def _title(title: str | None) -> str:
    clean = clean_text(title, "title", MAX_LIST_TITLE, multiline=False)
    if clean is None:
        raise bad_field("title", "a list needs a title")
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
    count_write(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = list_repo.create(session, actor.user_id, title=clean_title, description=clean_description,
                               public=bool(public), now=now)
        event_repo.record(session, actor.user_id, "list", object_id=row.id, value=1.0, when=now)
        return summary(session, row)


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
    count_write(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = own_list(session, actor, list_id)
        list_repo.update_fields(session, list_id, now, **fields)
        event_repo.record(session, actor.user_id, "list", object_id=list_id, value=1.0, when=now)
        return summary(session, row)


def delete_list(engine: Engine, actor: Principal, list_id: int, *, throttle: Throttle | None = None) -> None:
    """Delete a list with its items, likes, shares and their notifications.

    Raises:
        NotFound: no such list, or another member's.
        RateLimited: too many list writes in the window (with ``throttle``).
    """
    count_write(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        own_list(session, actor, list_id)
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
        raise bad_field("position", "a whole number from 0")
    clean = clean_text(note, "note", MAX_NOTE)
    count_write(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = own_list(session, actor, list_id)
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
        return summary(session, row)


def remove_list_item(engine: Engine, actor: Principal, list_id: int, movie_id: int, *,
                     throttle: Throttle | None = None) -> ListSummary:
    """Take a film off a list (idempotent); the films after it move up one place.

    Raises:
        NotFound: unknown film, no such list, or another member's list.
        RateLimited: too many list writes in the window (with ``throttle``).
    """
    count_write(throttle, "list", actor)
    now = utcnow()
    with transaction(engine) as session:
        row = own_list(session, actor, list_id)
        if session.get(Movie, movie_id) is None:
            raise NotFound(f"movie {movie_id} does not exist")
        if list_repo.remove_item(session, list_id, movie_id, now):
            event_repo.record(session, actor.user_id, "list", movie_id=movie_id, object_id=list_id, value=1.0,
                              when=now)
        return summary(session, row)


def get_list(session: Session, viewer: Principal | None, list_id: int) -> ListView:
    """A list with its films in order, for its owner or (when public) anybody not in a block with the owner.

    Raises:
        NotFound: no such list, a private list of somebody else, or a block between viewer and owner.
    """
    viewer_id = viewer.user_id if viewer is not None else None
    lst = visible_list(session, viewer_id, list_id)
    entries = [ListEntry(m, i.position, i.note, i.added_at)
               for i, m in list_repo.items(session, list_id, limit=MAX_LIST_ITEMS)]
    liked = viewer_id is not None and like_repo.likes_list(session, viewer_id, list_id)
    return ListView(summaries(session, [lst])[0], entries, liked)


def lists_of(session: Session, viewer: Principal | None, username: str, *, limit: int = 20,
             offset: int = 0) -> Page[ListSummary]:
    """A member's lists, most recently changed first: all for the owner, public ones for others.

    A member in a block with the viewer shows no lists.

    Raises:
        NotFound: no active member with that username.
        InvalidParameter: bad ``limit``/``offset``.
    """
    check_page(limit, offset)
    owner = member_named(session, username)
    own = viewer is not None and viewer.user_id == owner.id
    if viewer is not None and not own and block_repo.either(session, viewer.user_id, owner.id):
        return Page([], 0)
    rows, total = list_repo.of_user(session, owner.id, public_only=not own, limit=limit, offset=offset)
    return Page(summaries(session, rows), total)


def public_lists(session: Session, *, q: str | None = None, limit: int = 20, offset: int = 0,
                 viewer: Principal | None = None) -> Page[ListSummary]:
    """Public lists of active members, most recently changed first; ``q`` searches titles literally.

    None of a member in a block with the ``viewer`` (as :func:`get_list` answers 404 for them). The total
    counts at most :data:`cinerec.store.repos.lists.COUNT_CAP` lists.

    Raises:
        InvalidParameter: bad ``limit``/``offset``.
    """
    check_page(limit, offset)
    rows, total = list_repo.public(session, q=q.strip() if q else None, limit=limit, offset=offset,
                                   viewer_id=viewer.user_id if viewer is not None else None)
    return Page(summaries(session, rows), total)


def lists_with_movie(session: Session, viewer: Principal | None, movie_id: int, limit: int = 10) -> list[ListSummary]:
    """Public lists holding a film, most liked first (none of a member in a block with the viewer).

    Raises:
        InvalidParameter: ``limit`` outside 1..MAX_PAGE.
    """
    check_page(limit)
    rows = list_repo.public_with_movie(session, movie_id, viewer_id=viewer.user_id if viewer else None, limit=limit)
    return summaries(session, rows)


def like_list(engine: Engine, throttle: Throttle, actor: Principal, list_id: int, on: bool) -> int:
    """Like (``on``) or unlike a list the actor may see; the owner gets a ``like_list`` notification.

    Returns:
        The list's like count after the change.

    Raises:
        RateLimited: too many likes in the window.
        NotFound: no such list, a private list of somebody else, or a block between the actor and the owner.
    """
    count_write(throttle, "like", actor)
    now = utcnow()
    with transaction(engine) as session:
        lst = visible_list(session, actor.user_id, list_id)
        changed, count = like_repo.set_list_like(session, actor.user_id, list_id, bool(on), now)
        if changed:
            event_repo.record(session, actor.user_id, "like_list", object_id=list_id, value=1.0 if on else 0.0,
                              when=now)
            if on and lst.user_id != actor.user_id:
                notification_repo.add(session, lst.user_id, actor.user_id, "like_list", now=now, list_id=list_id,
                                      once=True)
    return count
