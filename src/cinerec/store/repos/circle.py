"""A member's circle: what the people they follow rated, shared and listed, and the demo graph's bulk reads.

Reads leave out followees in a block relation with the member (either way)
and inactive accounts; shares count unless revoked (both audiences reach
followers), list entries only on public lists. The "people with your taste"
reads (:func:`co_likers` and its helpers) serve
:func:`cinerec.service.social_signals.suggested_members`. The whole-table reads at the
end serve the demo's social-graph generator (:mod:`cinerec.service.social_seed`),
which writes through the sharing repositories (follows, shares, lists, likes,
notifications).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from cinerec.store.models import (
    Block,
    Follow,
    Genre,
    ListItem,
    Movie,
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
    """``(movie id, username)`` of each followee's not-revoked share of one of ``movie_ids``, newest share first.

    The followees are read first (one indexed lookup): most members follow
    nobody, and then no share is looked at.
    """
    if not movie_ids:
        return []
    who = followee_ids(session, user_id)
    if not who:
        return []
    rows = session.execute(
        select(Share.movie_id, User.username).join(User, User.id == Share.user_id)
        .where(Share.user_id.in_(who), Share.movie_id.in_(sorted(set(movie_ids))), Share.revoked_at.is_(None))
        .order_by(Share.created_at.desc(), Share.id.desc())).all()
    return [(int(m or 0), str(n)) for m, n in rows]  # movie_id IS NOT NULL by the IN filter


# ------------------------------------------------------------------ members with the viewer's taste
@dataclass(frozen=True)
class MemberCount:
    """A member and one count about them (films liked in common, or followers).

    Attributes:
        user_id: the member.
        username: their username.
        display_name: their display name, if any.
        count: the count the query is about.
    """

    user_id: int
    username: str
    display_name: str | None
    count: int


def _suggestable(user_id: int, member_id: Any) -> ColumnElement[bool]:
    """``member_id`` is somebody ``user_id`` may be suggested: not themselves, not followed, no block either way."""
    followed = select(Follow.followee_id).where(Follow.follower_id == user_id, Follow.followee_id == member_id)
    blocked = select(Block.blocker_id).where(or_(
        and_(Block.blocker_id == user_id, Block.blocked_id == member_id),
        and_(Block.blocker_id == member_id, Block.blocked_id == user_id)))
    return and_(member_id != user_id, ~followed.exists(), ~blocked.exists())


def _liked(user_id: int, min_rating: float, max_liked: int) -> Any:
    """The member's newest ``max_liked`` films rated at or above ``min_rating`` (a subquery of ``movie_id``)."""
    return (select(Rating.movie_id).where(Rating.user_id == user_id, Rating.value >= min_rating)
            .order_by(Rating.updated_at.desc(), Rating.id.desc()).limit(max_liked).subquery())


def rating_counts(session: Session, user_id: int, *, min_rating: float) -> tuple[int, int]:
    """How many films the member rated, and how many of them at or above ``min_rating``."""
    n, liked = session.execute(select(func.count(), func.coalesce(func.sum(case((Rating.value >= min_rating, 1),
                                                                              else_=0)), 0))
                               .where(Rating.user_id == user_id)).one()
    return int(n), int(liked)


def block_partner_ids(session: Session, user_id: int) -> list[int]:
    """Ids of the members in a block relation with ``user_id`` (either way), ascending."""
    rows = session.execute(select(Block.blocker_id, Block.blocked_id)
                           .where(or_(Block.blocker_id == user_id, Block.blocked_id == user_id))).all()
    return sorted({int(b if a == user_id else a) for a, b in rows})


def co_likers(session: Session, user_id: int, *, min_rating: float, max_liked: int,
              limit: int) -> list[MemberCount]:
    """Members who rated at or above ``min_rating`` the films the member did, most films in common first.

    One ``GROUP BY`` over the ratings of the member's newest ``max_liked``
    liked films (the ``movie_id`` index), so the work is bounded by what the
    member liked, not by the size of the site. Left out: the member, people
    they follow, inactive accounts and anybody in a block relation with them
    (either way).

    Args:
        user_id: the member.
        min_rating: the lowest rating that counts as "liked", on both sides.
        max_liked: at most this many of the member's liked films (newest first) are compared.
        limit: at most this many members, most films in common first (ties: lower id).

    Returns:
        Members with ``count`` = films both liked (>= 1).
    """
    mine = _liked(user_id, min_rating, max_liked)
    grouped = (select(Rating.user_id.label("uid"), func.count().label("shared"))
               .join(mine, mine.c.movie_id == Rating.movie_id)
               .where(Rating.value >= min_rating, Rating.user_id != user_id)
               .group_by(Rating.user_id).subquery())
    rows = session.execute(
        select(User.id, User.username, User.display_name, grouped.c.shared)
        .join(grouped, grouped.c.uid == User.id)
        .where(User.is_active.is_(True), _suggestable(user_id, User.id))
        .order_by(grouped.c.shared.desc(), User.id).limit(limit)).all()
    return [MemberCount(int(i), str(n), d, int(c)) for i, n, d, c in rows]


def liked_counts(session: Session, user_ids: Sequence[int], *, min_rating: float) -> dict[int, int]:
    """``member id -> films they rated at or above min_rating`` for ``user_ids`` (members with none absent)."""
    if not user_ids:
        return {}
    rows = session.execute(select(Rating.user_id, func.count())
                           .where(Rating.user_id.in_(sorted(set(user_ids))), Rating.value >= min_rating)
                           .group_by(Rating.user_id)).all()
    return {int(u): int(c) for u, c in rows}


def follower_counts(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """``member id -> followers`` for ``user_ids`` (members nobody follows absent)."""
    if not user_ids:
        return {}
    rows = session.execute(select(Follow.followee_id, func.count())
                           .where(Follow.followee_id.in_(sorted(set(user_ids))))
                           .group_by(Follow.followee_id)).all()
    return {int(u): int(c) for u, c in rows}


def liked_in_common(session: Session, user_id: int, other_ids: Sequence[int], *, min_rating: float,
                    max_liked: int) -> list[tuple[int, int, str, int | None]]:
    """Films the member and each of ``other_ids`` both rated at or above ``min_rating``, best-loved first.

    Args:
        user_id: the member (their newest ``max_liked`` liked films are compared).
        other_ids: the other members.

    Returns:
        ``(other id, movie id, title, year)``, for each other member the films
        both rated highest first (sum of the two ratings), then the ones the
        member rated most recently, then lower film id.
    """
    if not other_ids:
        return []
    mine = aliased(Rating)
    theirs = aliased(Rating)
    top = _liked(user_id, min_rating, max_liked)
    rows = session.execute(
        select(theirs.user_id, Movie.id, Movie.title, Movie.year)
        .join(mine, and_(mine.movie_id == theirs.movie_id, mine.user_id == user_id))
        .join(top, top.c.movie_id == mine.movie_id)
        .join(Movie, Movie.id == theirs.movie_id)
        .where(theirs.user_id.in_(sorted(set(other_ids))), theirs.value >= min_rating)
        .order_by(theirs.user_id, (mine.value + theirs.value).desc(), mine.updated_at.desc(), Movie.id)).all()
    return [(int(u), int(m), str(t), int(y) if y is not None else None) for u, m, t, y in rows]


def most_followed(session: Session, user_id: int, *, limit: int) -> list[MemberCount]:
    """The active members with the most followers the member may be suggested (not themselves, not followed,
    no block either way), most followers first (ties: lower id); ``count`` = followers (>= 1)."""
    grouped = (select(Follow.followee_id.label("uid"), func.count().label("n"))
               .group_by(Follow.followee_id).subquery())
    rows = session.execute(
        select(User.id, User.username, User.display_name, grouped.c.n)
        .join(grouped, grouped.c.uid == User.id)
        .where(User.is_active.is_(True), _suggestable(user_id, User.id))
        .order_by(grouped.c.n.desc(), User.id).limit(limit)).all()
    return [MemberCount(int(i), str(n), d, int(c)) for i, n, d, c in rows]


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
