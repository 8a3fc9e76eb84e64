"""Movie search and details."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from cinerec.service.reviews import audience_insights
from cinerec.store.repos import movies as movie_repo
from cinerec.store.repos import reviews as review_repo
from cinerec.web.deps import SessionDep, SessionRoute
from cinerec.web.present import insights_out, movie_out, review_out
from cinerec.web.schemas import CleanStr, ErrorOut, InsightsOut, ListOut, MovieOut, ReviewOut

router = APIRouter(route_class=SessionRoute, tags=["movies"])
MovieId = Annotated[int, Path(ge=1, le=2**31 - 1, description="movie id")]


@router.get("/movies", response_model=ListOut[MovieOut], responses={422: {"model": ErrorOut}})
def list_movies(
    session: SessionDep,
    q: Annotated[CleanStr | None, Query(max_length=200, description="title contains (literal match)")] = None,
    genre: Annotated[CleanStr | None, Query(max_length=64)] = None,
    year: Annotated[int | None, Query(ge=1870, le=2100)] = None,
    person: Annotated[CleanStr | None, Query(max_length=200, description="director or cast name contains")] = None,
    sort: Literal["popular", "title", "year", "-year", "rating"] = "popular",
    limit: Annotated[int, Query(ge=1, le=movie_repo.MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ListOut[MovieOut]:
    """Browse and search movies by title, genre, year and people."""
    rows, total = movie_repo.search(session, q=q, genre=genre, year=year, person=person, sort=sort, limit=limit, offset=offset)
    return ListOut[MovieOut](data=[movie_out(r.movie, r.n_ratings, r.mean_rating) for r in rows], count=total)


@router.get("/movies/{movie_id}", response_model=MovieOut, responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def get_movie(movie_id: MovieId, session: SessionDep) -> MovieOut:
    """One movie with its rating count and mean."""
    r = movie_repo.get(session, movie_id)
    return movie_out(r.movie, r.n_ratings, r.mean_rating)


@router.get("/movies/{movie_id}/reviews", response_model=ListOut[ReviewOut],
            responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def list_reviews(
    movie_id: MovieId,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ListOut[ReviewOut]:
    """A film's public reviews, newest first, with language and sentiment."""
    rows = review_repo.for_movie(session, movie_id, limit, offset)
    total = review_repo.summary(session, movie_id).n_reviews
    return ListOut[ReviewOut](data=[review_out(r, author) for r, author in rows], count=total)


@router.get("/movies/{movie_id}/insights", response_model=InsightsOut,
            responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def get_insights(movie_id: MovieId, session: SessionDep) -> InsightsOut:
    """Audience insights: sentiment summary and keywords of the film's reviews."""
    movie_repo.get(session, movie_id)
    return insights_out(movie_id, audience_insights(session, movie_id))
