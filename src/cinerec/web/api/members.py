"""Member actions on films: star ratings, reviews, and similar films."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from cinerec.service import members
from cinerec.service.recommender import MAX_K
from cinerec.web import security
from cinerec.web.deps import (
    AnalyzerDep,
    CurrentUser,
    EngineDep,
    ServiceDep,
    SessionDep,
    SessionRoute,
)
from cinerec.web.present import recommendations_out, review_out
from cinerec.web.schemas import (
    ErrorOut,
    RatingIn,
    RatingOut,
    RecommendationsOut,
    ReviewIn,
    ReviewOut,
    ReviewPatchIn,
)

router = APIRouter(route_class=SessionRoute, tags=["members"], dependencies=[Depends(security.require_json)])
#: 403: a cookie-authenticated write sent from another site.
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
                                           415: {"model": ErrorOut}, 422: {"model": ErrorOut}}
MovieId = Annotated[int, Path(ge=1, le=2**31 - 1, description="movie id")]
ReviewId = Annotated[int, Path(ge=1, le=2**31 - 1, description="review id")]


@router.put("/movies/{movie_id}/rating", response_model=RatingOut, responses=_ERRORS)
def put_rating(movie_id: MovieId, body: RatingIn, me: CurrentUser, engine: EngineDep) -> RatingOut:
    """Rate a film 0.5 to 5 stars in halves (a second PUT changes the rating)."""
    row = members.rate(engine, me.user_id, movie_id, body.rating)
    return RatingOut(movie_id=row.movie_id, rating=row.value, updated_at=row.updated_at)


@router.delete("/movies/{movie_id}/rating", status_code=204, responses=_ERRORS)
def delete_rating(movie_id: MovieId, me: CurrentUser, engine: EngineDep) -> Response:
    """Remove the caller's rating of a film (idempotent)."""
    members.unrate(engine, me.user_id, movie_id)
    return Response(status_code=204)


@router.post("/movies/{movie_id}/reviews", status_code=201, response_model=ReviewOut, responses=_ERRORS)
def post_review(movie_id: MovieId, body: ReviewIn, me: CurrentUser, engine: EngineDep,
                analyzer: AnalyzerDep) -> ReviewOut:
    """Write a review (English or Chinese); the answer has its id, detected language and sentiment (-1..1)."""
    review = members.write_review(engine, analyzer, me.user_id, movie_id, body.text, body.rating)
    return review_out(review, me.username)


@router.patch("/reviews/{review_id}", response_model=ReviewOut, responses=_ERRORS)
def patch_review(review_id: ReviewId, body: ReviewPatchIn, me: CurrentUser, engine: EngineDep,
                 analyzer: AnalyzerDep) -> ReviewOut:
    """Change a review's text (its author or an admin; anybody else gets 404)."""
    review, author = members.edit_review(engine, analyzer, me, review_id, body.text)
    return review_out(review, author)


@router.delete("/reviews/{review_id}", status_code=204, responses=_ERRORS)
def delete_review(review_id: ReviewId, me: CurrentUser, engine: EngineDep) -> Response:
    """Delete a review (its author or an admin; anybody else gets 404)."""
    members.delete_review(engine, me, review_id)
    return Response(status_code=204)


@router.get("/movies/{movie_id}/similar", response_model=RecommendationsOut, responses=_ERRORS)
def similar(movie_id: MovieId, session: SessionDep, service: ServiceDep,
            k: Annotated[int, Query(ge=1, le=MAX_K)] = 10) -> RecommendationsOut:
    """Films liked by the people who liked this one (the active model scores a one-film history)."""
    return recommendations_out(session, members.similar(session, service, movie_id, k))
