"""Movie search and details."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from cinerec.store.repos import movies as movie_repo
from cinerec.web.deps import SessionDep
from cinerec.web.present import movie_out
from cinerec.web.schemas import ErrorOut, ListOut, MovieOut

router = APIRouter(tags=["movies"])
MovieId = Annotated[int, Path(ge=1, le=2**31 - 1, description="movie id")]


@router.get("/movies", response_model=ListOut[MovieOut], responses={422: {"model": ErrorOut}})
def list_movies(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="title contains (literal match)")] = None,
    genre: Annotated[str | None, Query(max_length=64)] = None,
    year: Annotated[int | None, Query(ge=1870, le=2100)] = None,
    person: Annotated[str | None, Query(max_length=200, description="director or cast name contains")] = None,
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
