"""A member's circle: what the people they follow rated, shared and listed, and the demo graph's bulk writes.

Reads leave out followees in a block relation with the member (either way)
and inactive accounts; shares count unless revoked (both audiences reach
followers), list entries only on public lists. The bulk writers serve the
demo's social-graph generator (:mod:`cinerec.service.social_seed`): they
insert many rows in the caller's transaction and return what they wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from cinerec.store.models import (
    Block,
    Event,
    Follow,
    Genre,
    ListItem,
    ListLike,
    MovieGenre,
    MovieList,
    Notification,
    Rating,
    Share,
    User,
)


@dataclass(frozen=True)
class CircleSignal:
    """One thing a followee did with a film.

    Attributes:
        movie_id: the film.
        user_id: the followee.
        username: the followee's username.
        kind: ``rate`` (a rating at or above the threshold), ``share`` or ``list``.
        value: the rating for ``rate``, else ``None``.
        when: when it happened (rating changed, share made, film added to the list).
    """

    movie_id: int
    user_id: int
    username: str
    kind: str
    value: float | None
    when: datetime


def _followees(user_id: int) -> Any:
    """Ids of the active members ``user_id`` follows, without anybody in a block relation with them."""
    blocked = select(Block.blocker_id).where(or_(
        and_(Block.blocker_id == user_id, Block.blocked_id == Follow.followee_id),
        and_(Block.blocker_id == Follow.followee_id, Block.blocked_id == user_id)))
    return (select(Follow.followee_id).join(User, User.id == Follow.followee_id)
            .where(Follow.follower_id == user_id, User.is_active.is_(True), ~blocked.exists()))


def followee_ids(session: Session, user_id: int) -> list[int]:
    """Ids of the active members ``user_id`` follows, ascending (block relations left out)."""
    return sorted(int(i) for i in session.scalars(_followees(user_id)).all())


def signals(session: Session, user_id: int, *, min_rating: float, limit: int) -> list[CircleSignal]:
    """The newest ratings at or above ``min_rating``, shares and public-list entries of the member's followees.

    Args:
        user_id: the member whose followees are read.
        min_rating: the lowest rating that counts as "rated highly".
        limit: at most this many of each kind, newest first (bounds the work for
            members who follow very active people).

    Returns:
        Signals of each kind, newest first within a kind.
    """
    who = _followees(user_id).subquery()
    name = select(User.username).where(User.id == who.c.followee_id).scalar_subquery()
    rated = session.execute(
        select(Rating.movie_id, Rating.user_id, name, Rating.value, Rating.updated_at)
        .join(who, who.c.followee_id == Rating.user_id).where(Rating.value >= min_rating)
        .order_by(Rating.updated_at.desc(), Rating.id.desc()).limit(limit)).all()
    shared = session.execute(
        select(Share.movie_id, Share.user_id, name, Share.created_at)
        .join(who, who.c.followee_id == Share.user_id)
        .where(Share.movie_id.is_not(None), Share.revoked_at.is_(None))
        .order_by(Share.created_at.desc(), Share.id.desc()).limit(limit)).all()
    listed = session.execute(
        select(ListItem.movie_id, MovieList.user_id, name, ListItem.added_at)
        .join(MovieList, MovieList.id == ListItem.list_id).join(who, who.c.followee_id == MovieList.user_id)
        .where(MovieList.is_public.is_(True))
        .order_by(ListItem.added_at.desc(), ListItem.list_id.desc()).limit(limit)).all()
    out = [CircleSignal(int(m), int(u), str(n), "rate", float(v), t) for m, u, n, v, t in rated]
    out += [CircleSignal(int(m), int(u), str(n), "share", None, t) for m, u, n, t in shared]
    out += [CircleSignal(int(m), int(u), str(n), "list", None, t) for m, u, n, t in listed]
    return out


def sharers(session: Session, user_id: int, movie_ids: Sequence[int]) -> list[tuple[int, str]]:
    """``(movie id, username)`` of each followee's not-revoked share of one of ``movie_ids``, newest share first."""
    if not movie_ids:
        return []
    who = _followees(user_id).subquery()
    rows = session.execute(
        select(Share.movie_id, User.username).join(who, who.c.followee_id == Share.user_id)
        .join(User, User.id == Share.user_id)
        .where(Share.movie_id.in_(sorted(set(movie_ids))), Share.revoked_at.is_(None))
        .order_by(Share.created_at.desc(), Share.id.desc())).all()
    return [(int(m or 0), str(n)) for m, n in rows]  # movie_id IS NOT NULL by the IN filter


# ------------------------------------------------------------------ the demo graph's reads and bulk writes
def dataset_ratings(session: Session) -> list[tuple[int, int, float]]:
    """``(user id, movie id, stars)`` of every rating by a profile imported from a dataset (``users.source`` set)."""
    rows = session.execute(select(Rating.user_id, Rating.movie_id, Rating.value)
                           .join(User, User.id == Rating.user_id).where(User.source.is_not(None))).all()
    return [(int(u), int(m), float(v)) for u, m, v in rows]


def movie_genres(session: Session) -> dict[int, list[str]]:
    """Every film's genre names (films without genres absent)."""
    out: dict[int, list[str]] = {}
    for mid, name in session.execute(select(MovieGenre.movie_id, Genre.name).join(Genre)).all():
        out.setdefault(int(mid), []).append(str(name))
    return out


def follow_pairs(session: Session, user_ids: Iterable[int]) -> set[tuple[int, int]]:
    """Existing ``(follower, followee)`` pairs whose follower is one of ``user_ids``."""
    ids = sorted(set(user_ids))
    out: set[tuple[int, int]] = set()
    for s in range(0, len(ids), 500):
        rows = session.execute(select(Follow.follower_id, Follow.followee_id)
                               .where(Follow.follower_id.in_(ids[s:s + 500]))).all()
        out.update((int(a), int(b)) for a, b in rows)
    return out


def followers_of(session: Session, user_ids: Iterable[int]) -> dict[int, list[int]]:
    """``followee -> follower ids`` (ascending) for each of ``user_ids`` that has followers."""
    ids = sorted(set(user_ids))
    out: dict[int, list[int]] = {}
    for s in range(0, len(ids), 500):
        rows = session.execute(select(Follow.followee_id, Follow.follower_id)
                               .where(Follow.followee_id.in_(ids[s:s + 500]))
                               .order_by(Follow.followee_id, Follow.follower_id)).all()
        for b, a in rows:
            out.setdefault(int(b), []).append(int(a))
    return out


def blocked_pairs(session: Session) -> set[tuple[int, int]]:
    """Every ``(blocker, blocked)`` pair."""
    return {(int(a), int(b)) for a, b in session.execute(select(Block.blocker_id, Block.blocked_id)).all()}


def shared_movies(session: Session) -> set[tuple[int, int]]:
    """``(user id, movie id)`` of every film share (revoked ones too: a revoked share is not made again)."""
    rows = session.execute(select(Share.user_id, Share.movie_id).where(Share.movie_id.is_not(None))).all()
    return {(int(u), int(m or 0)) for u, m in rows}  # movie_id IS NOT NULL by the filter


def list_titles(session: Session) -> dict[tuple[int, str], int]:
    """``(owner id, title) -> list id`` of every list."""
    return {(int(u), str(t)): int(i) for i, u, t in session.execute(
        select(MovieList.id, MovieList.user_id, MovieList.title)).all()}


def list_like_pairs(session: Session) -> set[tuple[int, int]]:
    """``(user id, list id)`` of every list like."""
    return {(int(u), int(ls)) for u, ls in session.execute(select(ListLike.user_id, ListLike.list_id)).all()}


def add_follows(session: Session, rows: Sequence[tuple[int, int, datetime]]) -> None:
    """Insert ``(follower, followee, when)`` follows (the caller left out existing pairs)."""
    if rows:
        session.execute(insert(Follow), [{"follower_id": a, "followee_id": b, "created_at": t} for a, b, t in rows])


def add_shares(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert film shares (``user_id, movie_id, note, audience, token, created_at`` each); returns their ids in order."""
    objs = [Share(**r) for r in rows]
    session.add_all(objs)
    session.flush()
    return [s.id for s in objs]


def add_list(session: Session, user_id: int, title: str, description: str | None, movie_ids: Sequence[int],
             notes: Sequence[str | None], when: datetime) -> int:
    """Insert a public list with its films at positions 0, 1, ... (``item_count`` kept); returns its id."""
    lst = MovieList(user_id=user_id, title=title, description=description, is_public=True,
                    item_count=len(movie_ids), like_count=0, created_at=when, updated_at=when)
    session.add(lst)
    session.flush()
    if movie_ids:
        session.execute(insert(ListItem), [{"list_id": lst.id, "movie_id": m, "position": p, "note": n,
                                            "added_at": when} for p, (m, n) in enumerate(zip(movie_ids, notes,
                                                                                             strict=True))])
    return lst.id


def add_list_likes(session: Session, rows: Sequence[tuple[int, int, datetime]]) -> None:
    """Insert ``(user id, list id, when)`` list likes and add them to each list's ``like_count``."""
    if not rows:
        return
    session.execute(insert(ListLike), [{"user_id": u, "list_id": ls, "created_at": t} for u, ls, t in rows])
    counts: dict[int, int] = {}
    for _, ls, _t in rows:
        counts[ls] = counts.get(ls, 0) + 1
    for ls, n in counts.items():
        session.execute(update(MovieList).where(MovieList.id == ls).values(like_count=MovieList.like_count + n))


def add_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows (``user_id, kind, movie_id, object_id, value, created_at`` each), in the given order."""
    if rows:
        session.execute(insert(Event), list(rows))


def add_notifications(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert notification rows (``user_id, actor_id, kind`` and the object's id, ``created_at``)."""
    if rows:
        session.execute(insert(Notification), list(rows))
