"""Review queries and writes: per-film reviews, sentiment summaries, keywords, bulk import."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from cinerec.errors import NotFound
from cinerec.store.models import Movie, MovieKeyword, Review, User
from cinerec.store.repos import aggregates as aggregate_repo

#: Sentiment at or beyond these counts as positive / negative in summaries.
POSITIVE, NEGATIVE = 0.05, -0.05


@dataclass(frozen=True)
class SentimentSummary:
    """How a film's public reviews feel.

    Attributes:
        n_reviews: public reviews.
        n_scored: of which scored.
        mean: mean sentiment in [-1, 1] (``None`` when none scored).
        positive: share of scored reviews that are positive.
        negative: share that are negative.
    """

    n_reviews: int
    n_scored: int
    mean: float | None
    positive: float
    negative: float


def add(session: Session, user_id: int, movie_id: int, text: str, *, language: str | None, sentiment: float | None,
        visibility: str = "public", when: datetime | None = None) -> Review:
    """Write one review (text already validated) and return it.

    Raises:
        NotFound: unknown user or movie.
    """
    if session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} does not exist")
    if session.get(Movie, movie_id) is None:
        raise NotFound(f"movie {movie_id} does not exist")
    when = when or datetime.now(UTC)
    review = Review(user_id=user_id, movie_id=movie_id, text=text, language=language, sentiment=sentiment,
                    visibility=visibility, created_at=when, updated_at=when)
    session.add(review)
    aggregate_repo.touch()
    session.flush()
    return review


def insert_many(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert reviews not already present (same user, movie and text); returns how many were new."""
    if not rows:
        return 0
    users = {r["user_id"] for r in rows}
    existing = {tuple(r) for r in session.execute(select(Review.user_id, Review.movie_id, Review.text)
                                                  .where(Review.user_id.in_(users)))}
    new, seen = [], set()
    for r in rows:
        key = (r["user_id"], r["movie_id"], r["text"])
        if key not in existing and key not in seen:
            seen.add(key)
            new.append(r)
    for i in range(0, len(new), 5000):
        session.execute(insert(Review), new[i:i + 5000])
    aggregate_repo.touch()
    return len(new)


def unscored(session: Session, limit: int = 1000, after_id: int = 0) -> list[tuple[int, str]]:
    """``(id, text)`` of reviews without a sentiment score, by id."""
    return list(session.execute(select(Review.id, Review.text).where(Review.sentiment.is_(None), Review.id > after_id)
                                .order_by(Review.id).limit(limit)).all())


def all_texts(session: Session, limit: int = 1000, after_id: int = 0) -> list[tuple[int, str]]:
    """``(id, text)`` of all reviews, by id (for re-scoring with a new model)."""
    return list(session.execute(select(Review.id, Review.text).where(Review.id > after_id)
                                .order_by(Review.id).limit(limit)).all())


def set_sentiments(session: Session, scores: Iterable[tuple[int, str, float]]) -> None:
    """Store ``(review id, language, sentiment)`` triples."""
    params = [{"rid": rid, "language": lang, "sentiment": s} for rid, lang, s in scores]
    if params:
        from sqlalchemy import bindparam

        stmt = (update(Review).where(Review.id == bindparam("rid"))
                .values(language=bindparam("language"), sentiment=bindparam("sentiment")))
        session.connection().execute(stmt, params)
        aggregate_repo.touch()


def public_texts(session: Session) -> list[tuple[int, str, float | None]]:
    """``(movie id, text, sentiment)`` of every public review."""
    return list(session.execute(select(Review.movie_id, Review.text, Review.sentiment)
                                .where(Review.visibility == "public")).all())


def replace_keywords(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Replace every stored film keyword with ``rows`` (movie_id, polarity, term, weight)."""
    session.execute(delete(MovieKeyword))
    for i in range(0, len(rows), 5000):
        session.execute(insert(MovieKeyword), list(rows[i:i + 5000]))
    aggregate_repo.touch()


def keywords(session: Session, movie_id: int) -> dict[str, list[tuple[str, float]]]:
    """A film's keywords by polarity (``all``, ``positive``, ``negative``), best first."""
    out: dict[str, list[tuple[str, float]]] = {"all": [], "positive": [], "negative": []}
    rows = session.execute(select(MovieKeyword.polarity, MovieKeyword.term, MovieKeyword.weight)
                           .where(MovieKeyword.movie_id == movie_id)
                           .order_by(MovieKeyword.polarity, MovieKeyword.weight.desc(), MovieKeyword.term))
    for pol, term, w in rows:
        out[pol].append((term, w))
    return out


def summary(session: Session, movie_id: int) -> SentimentSummary:
    """Sentiment summary of a film's public reviews."""
    pos = func.sum(case((Review.sentiment >= POSITIVE, 1), else_=0))
    neg = func.sum(case((Review.sentiment <= NEGATIVE, 1), else_=0))
    n, scored, mean, p, q = session.execute(
        select(func.count(), func.count(Review.sentiment), func.avg(Review.sentiment), pos, neg)
        .where(Review.movie_id == movie_id, Review.visibility == "public")).one()
    scored = int(scored or 0)
    return SentimentSummary(int(n or 0), scored, None if mean is None else round(float(mean), 3),
                            round((p or 0) / scored, 3) if scored else 0.0, round((q or 0) / scored, 3) if scored else 0.0)


def for_movie(session: Session, movie_id: int, limit: int = 20, offset: int = 0) -> list[tuple[Review, str]]:
    """A film's public reviews with the author's display name, newest first.

    Raises:
        NotFound: unknown movie.
    """
    if session.get(Movie, movie_id) is None:
        raise NotFound(f"movie {movie_id} does not exist")
    rows = session.execute(select(Review, User.username).join(User, User.id == Review.user_id)
                           .where(Review.movie_id == movie_id, Review.visibility == "public")
                           .order_by(Review.created_at.desc(), Review.id.desc()).limit(limit).offset(offset))
    return [(r, name) for r, name in rows.all()]


def get(session: Session, review_id: int) -> Review | None:
    """One review by id (any visibility), if it exists."""
    return session.get(Review, review_id)


def update_text(session: Session, review_id: int, text: str, *, language: str | None, sentiment: float | None,
                when: datetime) -> None:
    """Replace a review's text with its new language and sentiment."""
    aggregate_repo.touch()
    session.execute(update(Review).where(Review.id == review_id)
                    .values(text=text, language=language, sentiment=sentiment, updated_at=when))


def remove(session: Session, review_id: int) -> None:
    """Delete one review."""
    session.execute(delete(Review).where(Review.id == review_id))
    aggregate_repo.touch()


def for_user(session: Session, user_id: int, *, public_only: bool, limit: int,
             offset: int) -> tuple[list[tuple[Review, Movie]], int]:
    """One page of a user's reviews with their films, newest first (ties by id), and the total."""
    cond = [Review.user_id == user_id]
    if public_only:
        cond.append(Review.visibility == "public")
    total = int(session.scalar(select(func.count()).select_from(Review).where(*cond)) or 0)
    rows = session.execute(select(Review, Movie).join(Movie, Movie.id == Review.movie_id).where(*cond)
                           .order_by(Review.created_at.desc(), Review.id.desc()).limit(limit).offset(offset))
    return [(r, m) for r, m in rows.all()], total
