"""A member's circle: what the people they follow rated, shared and listed, and the demo graph's bulk reads.

Reads leave out followees in a block relation with the member (either way)
and inactive accounts; shares count unless revoked (both audiences reach
followers), list entries only on public lists. The whole-table reads at the
end serve the demo's social-graph generator (:mod:`cinerec.service.social_seed`),
which writes through the sharing repositories (follows, shares, lists, likes,
notifications).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from cinerec.store.models import (
    Block,
    Follow,
    Genre,
    ListItem,
    MovieGenre,
    MovieList,
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


# ------------------------------------------------------------------ the demo graph's whole-table reads
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
