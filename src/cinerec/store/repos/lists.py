"""Members' film lists and their items: the ``movie_lists`` and ``list_items`` tables.

``item_count`` is kept here with every item write; positions stay dense
(``0 .. item_count - 1``) after every move and removal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from cinerec.store.models import ListItem, Movie, MovieList, User
from cinerec.store.repos.blocks import between
from cinerec.store.repos.movies import escape_like

#: Most rows a total of a search counts (the count stays an index-bounded read).
COUNT_CAP = 10_000


def create(session: Session, user_id: int, *, title: str, description: str | None, public: bool,
           now: datetime) -> MovieList:
    """Insert an empty list and return it with its id."""
    row = MovieList(user_id=user_id, title=title, description=description, is_public=public, item_count=0,
                    like_count=0, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def get(session: Session, list_id: int) -> MovieList | None:
    """One list by id (any visibility), if it exists."""
    return session.get(MovieList, list_id)


def get_for_update(session: Session, list_id: int) -> MovieList | None:
    """One list by id, re-read and locked until the transaction ends (``FOR UPDATE`` on PostgreSQL).

    Item writes read ``item_count`` for the next position: the lock keeps two
    concurrent writers of one list from taking the same place (SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers).
    """
    return session.get(MovieList, list_id, populate_existing=True, with_for_update=True)


def update_fields(session: Session, list_id: int, now: datetime, **fields: object) -> None:
    """Set columns of one list (``title``, ``description``, ``is_public``) and bump ``updated_at``."""
    session.execute(update(MovieList).where(MovieList.id == list_id).values(updated_at=now, **fields))


def remove(session: Session, list_id: int) -> None:
    """Delete a list; its items, likes, shares and notifications go with it (``ON DELETE CASCADE``)."""
    session.execute(delete(ListItem).where(ListItem.list_id == list_id))
    session.execute(delete(MovieList).where(MovieList.id == list_id))


def item(session: Session, list_id: int, movie_id: int) -> ListItem | None:
    """One item of a list, if the film is on it."""
    return session.get(ListItem, (list_id, movie_id), populate_existing=True)


def items(session: Session, list_id: int, *, limit: int) -> list[tuple[ListItem, Movie]]:
    """A list's items with their films, by position."""
    stmt = (select(ListItem, Movie).join(Movie, Movie.id == ListItem.movie_id).where(ListItem.list_id == list_id)
            .options(selectinload(Movie.genres)).order_by(ListItem.position, ListItem.movie_id).limit(limit))
    return [(i, m) for i, m in session.execute(stmt)]


def append(session: Session, list_id: int, movie_id: int, *, note: str | None, now: datetime) -> int:
    """Add a film at the end of a list (the caller checked it is not there); returns its position."""
    n = int(session.scalar(select(MovieList.item_count).where(MovieList.id == list_id)) or 0)
    session.add(ListItem(list_id=list_id, movie_id=movie_id, position=n, note=note, added_at=now))
    session.flush()
    session.execute(update(MovieList).where(MovieList.id == list_id)
                    .values(item_count=MovieList.item_count + 1, updated_at=now))
    return n


def move(session: Session, list_id: int, movie_id: int, old: int, new: int) -> None:
    """Move an item from position ``old`` to ``new``, shifting the ones between (positions stay dense)."""
    if new == old:
        return
    if new < old:
        shift = update(ListItem).where(ListItem.list_id == list_id, ListItem.position >= new,
                                       ListItem.position < old).values(position=ListItem.position + 1)
    else:
        shift = update(ListItem).where(ListItem.list_id == list_id, ListItem.position > old,
                                       ListItem.position <= new).values(position=ListItem.position - 1)
    session.execute(shift)
    session.execute(update(ListItem).where(ListItem.list_id == list_id, ListItem.movie_id == movie_id)
                    .values(position=new))


def set_note(session: Session, list_id: int, movie_id: int, note: str | None) -> None:
    """Replace the note of one item."""
    session.execute(update(ListItem).where(ListItem.list_id == list_id, ListItem.movie_id == movie_id)
                    .values(note=note))


def remove_item(session: Session, list_id: int, movie_id: int, now: datetime) -> bool:
    """Take a film off a list, closing the gap; returns whether it was there."""
    row = item(session, list_id, movie_id)
    if row is None:
        return False
    pos = row.position
    session.execute(delete(ListItem).where(ListItem.list_id == list_id, ListItem.movie_id == movie_id))
    session.execute(update(ListItem).where(ListItem.list_id == list_id, ListItem.position > pos)
                    .values(position=ListItem.position - 1))
    session.execute(update(MovieList).where(MovieList.id == list_id)
                    .values(item_count=MovieList.item_count - 1, updated_at=now))
    return True


def touch(session: Session, list_id: int, now: datetime) -> None:
    """Bump a list's ``updated_at``."""
    session.execute(update(MovieList).where(MovieList.id == list_id).values(updated_at=now))


def of_user(session: Session, user_id: int, *, public_only: bool, limit: int,
            offset: int) -> tuple[list[MovieList], int]:
    """One page of a member's lists, most recently changed first, and their number."""
    cond = [MovieList.user_id == user_id]
    if public_only:
        cond.append(MovieList.is_public.is_(True))
    total = int(session.scalar(select(func.count()).select_from(MovieList).where(*cond)) or 0)
    rows = session.scalars(select(MovieList).where(*cond)
                           .order_by(MovieList.updated_at.desc(), MovieList.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def public(session: Session, *, q: str | None, limit: int, offset: int,
           viewer_id: int | None = None) -> tuple[list[MovieList], int]:
    """One page of public lists of active members, most recently changed first, optionally by title.

    ``q`` is a case-insensitive substring of the title, matched literally
    (``%`` and ``_`` escaped). With ``viewer_id``, lists of members in a block
    with the viewer are left out. The total counts at most :data:`COUNT_CAP` lists.
    """
    cond: list[ColumnElement[bool]] = [MovieList.is_public.is_(True), User.is_active.is_(True)]
    if viewer_id is not None:
        cond.append(~between(MovieList.user_id, viewer_id))
    if q:
        cond.append(func.lower(MovieList.title).like(f"%{escape_like(q.lower())}%", escape="\\"))
    base = select(MovieList).join(User, User.id == MovieList.user_id).where(*cond)
    capped = base.with_only_columns(MovieList.id).limit(COUNT_CAP).subquery()
    total = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    rows = session.scalars(base.order_by(MovieList.updated_at.desc(), MovieList.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def public_with_movie(session: Session, movie_id: int, *, viewer_id: int | None, limit: int) -> list[MovieList]:
    """Public lists of active members holding a film, most liked first, none of a member blocking the viewer."""
    holding = select(ListItem.list_id).where(ListItem.movie_id == movie_id)  # by the film's index, not every list
    stmt = (select(MovieList).join(User, User.id == MovieList.user_id)
            .where(MovieList.id.in_(holding), MovieList.is_public.is_(True), User.is_active.is_(True)))
    if viewer_id is not None:
        stmt = stmt.where(~between(MovieList.user_id, viewer_id))
    stmt = stmt.order_by(MovieList.like_count.desc(), MovieList.updated_at.desc(), MovieList.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def by_ids(session: Session, ids: list[int]) -> dict[int, MovieList]:
    """Lists by id (missing ids are absent)."""
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(MovieList).where(MovieList.id.in_(ids)))}
