"""User queries needed by the engine-facing pages."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cinerec.errors import NotFound
from cinerec.store.models import Movie, Rating, User


def get_dataset_profile(session: Session, user_id: int) -> User:
    """A user imported from a public dataset (never a site account).

    Raises:
        NotFound: unknown id, or the id belongs to a site account.
    """
    user = session.get(User, user_id)
    if user is None or user.source is None:
        raise NotFound(f"dataset profile {user_id} does not exist")
    return user


def sample_dataset_profiles(session: Session, n: int = 12) -> list[tuple[User, int]]:
    """The dataset profiles with the most ratings, with their counts."""
    cnt = func.count(Rating.id)
    stmt = (select(User, cnt).join(Rating, Rating.user_id == User.id).where(User.source.is_not(None))
            .group_by(User.id).order_by(cnt.desc(), User.id).limit(n))
    return [(u, int(c)) for u, c in session.execute(stmt)]


def top_rated(session: Session, user_id: int, n: int = 10) -> list[tuple[Movie, float]]:
    """A user's highest-rated movies."""
    stmt = (select(Movie, Rating.value).join(Rating, Rating.movie_id == Movie.id)
            .where(Rating.user_id == user_id).order_by(Rating.value.desc(), Rating.updated_at.desc()).limit(n))
    return [(m, float(v)) for m, v in session.execute(stmt)]


def history(session: Session, user_id: int) -> list[tuple[int, float]]:
    """A user's current ratings as ``(movie id, rating)``, for scoring without refitting."""
    rows = session.execute(select(Rating.movie_id, Rating.value).where(Rating.user_id == user_id))
    return [(int(m), float(v)) for m, v in rows]
