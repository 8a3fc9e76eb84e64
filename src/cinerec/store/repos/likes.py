"""Likes of reviews and lists, with the liked object's ``like_count`` kept in the same transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cinerec.store.models import ListLike, MovieList, Review, ReviewLike
from cinerec.store.repos import aggregates
from cinerec.store.repos._insert import insert_ignore


def set_review_like(session: Session, user_id: int, review_id: int, on: bool, now: datetime) -> tuple[bool, int]:
    """Like (``on``) or unlike a review and keep its ``like_count``.

    Returns:
        ``(changed, like_count)``: whether the like was added/removed now, and the count after it.
    """
    if on:
        changed = insert_ignore(session, ReviewLike, user_id=user_id, review_id=review_id, created_at=now)
    else:
        result = session.execute(delete(ReviewLike).where(ReviewLike.user_id == user_id,
                                                          ReviewLike.review_id == review_id))
        changed = bool(getattr(result, "rowcount", 0))
    if changed:
        session.execute(update(Review).where(Review.id == review_id)
                        .values(like_count=Review.like_count + (1 if on else -1)))
        aggregates.touch()  # the film page's cached reviews show the count
    return changed, int(session.scalar(select(Review.like_count).where(Review.id == review_id)) or 0)


def set_list_like(session: Session, user_id: int, list_id: int, on: bool, now: datetime) -> tuple[bool, int]:
    """Like (``on``) or unlike a list and keep its ``like_count``.

    Returns:
        ``(changed, like_count)``: whether the like was added/removed now, and the count after it.
    """
    if on:
        changed = insert_ignore(session, ListLike, user_id=user_id, list_id=list_id, created_at=now)
    else:
        result = session.execute(delete(ListLike).where(ListLike.user_id == user_id, ListLike.list_id == list_id))
        changed = bool(getattr(result, "rowcount", 0))
    if changed:
        session.execute(update(MovieList).where(MovieList.id == list_id)
                        .values(like_count=MovieList.like_count + (1 if on else -1)))
    return changed, int(session.scalar(select(MovieList.like_count).where(MovieList.id == list_id)) or 0)


def liked_reviews(session: Session, user_id: int, review_ids: list[int]) -> set[int]:
    """Which of ``review_ids`` the member liked (primary-key lookups)."""
    if not review_ids:
        return set()
    return set(session.scalars(select(ReviewLike.review_id).where(ReviewLike.user_id == user_id,
                                                                  ReviewLike.review_id.in_(review_ids))))


def likes_list(session: Session, user_id: int, list_id: int) -> bool:
    """Whether the member likes the list."""
    return session.get(ListLike, (user_id, list_id)) is not None


def release_user(session: Session, user_id: int) -> None:
    """Take a member's likes back from the kept counts (before the account is deleted).

    The likes themselves go with the account (``ON DELETE CASCADE``); this
    keeps each liked review's and list's ``like_count`` equal to its likes.
    """
    reviews = select(ReviewLike.review_id).where(ReviewLike.user_id == user_id)
    session.execute(update(Review).where(Review.id.in_(reviews)).values(like_count=Review.like_count - 1))
    lists = select(ListLike.list_id).where(ListLike.user_id == user_id)
    session.execute(update(MovieList).where(MovieList.id.in_(lists)).values(like_count=MovieList.like_count - 1))
    session.execute(delete(ReviewLike).where(ReviewLike.user_id == user_id))
    session.execute(delete(ListLike).where(ListLike.user_id == user_id))
