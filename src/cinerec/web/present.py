"""Turn store rows and service results into response schemas."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cinerec.service.recommender import RecommendationList
from cinerec.store.models import Movie
from cinerec.store.repos import movies as movie_repo
from cinerec.web.schemas import MovieOut, ReasonOut, RecommendationOut, RecommendationsOut


def movie_out(movie: Movie, n_ratings: int = 0, mean: float | None = None) -> MovieOut:
    """A :class:`MovieOut` from a model row and its aggregates."""
    return MovieOut(
        id=movie.id, title=movie.title, year=movie.year, genres=[g.name for g in movie.genres],
        imdb_id=movie.imdb_id, tmdb_id=movie.tmdb_id, n_ratings=n_ratings,
        mean_rating=round(mean, 3) if mean is not None else None,
    )


def recommendations_out(session: Session, recs: RecommendationList) -> RecommendationsOut:
    """Hydrate a service result with movie details (one query for all movies)."""
    ids = [r.movie_id for r in recs.items]
    ids += [x["movie_id"] for r in recs.items for x in r.reasons if x.get("movie_id") is not None]
    movies = movie_repo.by_ids(session, ids)
    data = []
    for r in recs.items:
        m = movies.get(r.movie_id)
        if m is None:  # deleted since the model was trained
            continue
        reasons = [ReasonOut(**x, movie_title=movies[x["movie_id"]].title if x.get("movie_id") in movies else None) for x in r.reasons]
        data.append(RecommendationOut(movie=movie_out(m), score=round(r.score, 5), reasons=reasons))
    return RecommendationsOut(model_version=recs.model_version, algo=recs.algo, strategy=recs.strategy, data=data, count=len(data))
