"""Turn store rows and service results into response schemas."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cinerec.service.members import PublicProfile
from cinerec.service.recommender import RecommendationList
from cinerec.service.reviews import AudienceInsights
from cinerec.store.models import Movie, Rating, Review, User
from cinerec.store.repos import movies as movie_repo
from cinerec.web.schemas import (
    AccountOut,
    InsightsOut,
    KeywordOut,
    MemberReviewOut,
    MovieOut,
    PublicProfileOut,
    RatedMovieOut,
    ReasonOut,
    RecommendationOut,
    RecommendationsOut,
    ReviewOut,
)


def movie_out(movie: Movie, n_ratings: int = 0, mean: float | None = None) -> MovieOut:
    """A :class:`MovieOut` from a model row and its aggregates."""
    return MovieOut(
        id=movie.id, title=movie.title, year=movie.year, genres=[g.name for g in movie.genres],
        imdb_id=movie.imdb_id, tmdb_id=movie.tmdb_id, poster_url=movie.poster_url, n_ratings=n_ratings,
        mean_rating=round(mean, 3) if mean is not None else None,
    )


def recommendations_out(session: Session, recs: RecommendationList) -> RecommendationsOut:
    """Hydrate a service result with movie details and rating aggregates (one query for all movies)."""
    ids = [r.movie_id for r in recs.items]
    ids += [x["movie_id"] for r in recs.items for x in r.reasons if x.get("movie_id") is not None]
    rows = movie_repo.rows_by_ids(session, ids)
    data = []
    for r in recs.items:
        row = rows.get(r.movie_id)
        if row is None:  # deleted since the model was trained
            continue
        reasons = [ReasonOut(**x, movie_title=rows[x["movie_id"]].movie.title if x.get("movie_id") in rows else None)
                   for x in r.reasons]
        data.append(RecommendationOut(movie=movie_out(row.movie, row.n_ratings, row.mean_rating), score=round(r.score, 5),
                                      reasons=reasons))
    return RecommendationsOut(model_version=recs.model_version, algo=recs.algo, strategy=recs.strategy, data=data, count=len(data))


def review_out(review: Review, author: str) -> ReviewOut:
    """A :class:`ReviewOut` from a review row and its author's name."""
    return ReviewOut(id=review.id, movie_id=review.movie_id, author=author, text=review.text,
                     language=review.language, sentiment=review.sentiment, created_at=review.created_at)


def insights_out(movie_id: int, ins: AudienceInsights) -> InsightsOut:
    """An :class:`InsightsOut` from the service's audience insights."""
    s = ins.summary

    def kws(pol: str) -> list[KeywordOut]:
        return [KeywordOut(term=t, weight=w) for t, w in ins.keywords.get(pol, [])]

    return InsightsOut(movie_id=movie_id, n_reviews=s.n_reviews, n_scored=s.n_scored, mean_sentiment=s.mean,
                       positive_share=s.positive, negative_share=s.negative, keywords=kws("all"),
                       positive_keywords=kws("positive"), negative_keywords=kws("negative"))


def account_out(user: User) -> AccountOut:
    """The caller's own account (never the password hash)."""
    return AccountOut(id=user.id, username=user.username, email=user.email, display_name=user.display_name,
                      locale=user.locale, is_admin=bool(user.is_admin), created_at=user.created_at)


def rated_out(rating: Rating, movie: Movie) -> RatedMovieOut:
    """A film with a member's rating."""
    return RatedMovieOut(movie=movie_out(movie), rating=rating.value, updated_at=rating.updated_at)


def member_review_out(review: Review, movie: Movie, author: str) -> MemberReviewOut:
    """A review with its film."""
    return MemberReviewOut(review=review_out(review, author), movie=movie_out(movie))


def public_profile_out(p: PublicProfile) -> PublicProfileOut:
    """A member's public profile (only public fields exist on :class:`PublicProfile`)."""
    return PublicProfileOut(username=p.username, display_name=p.display_name, joined=p.joined, n_ratings=p.n_ratings,
                            n_reviews=p.n_reviews, ratings=[rated_out(r, m) for r, m in p.recent_ratings],
                            reviews=[member_review_out(r, m, p.username) for r, m in p.recent_reviews])
