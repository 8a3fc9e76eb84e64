"""Recommendations for public dataset profiles (the research data imported from MovieLens).

Site accounts are never reachable here: their recommendations are private.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from cinerec.service import filters as rec_filters
from cinerec.service.recommender import MAX_K
from cinerec.store.repos import users as user_repo
from cinerec.web.api._filters import RecFilterDep
from cinerec.web.deps import ServiceDep, SessionDep, SessionRoute
from cinerec.web.present import recommendations_out
from cinerec.web.schemas import ErrorOut, RecommendationsOut

router = APIRouter(route_class=SessionRoute, tags=["explore"])


@router.get(
    "/explore/profiles/{user_id}/recommendations",
    response_model=RecommendationsOut,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def profile_recommendations(
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    service: ServiceDep,
    filters: RecFilterDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
) -> RecommendationsOut:
    """Top-k movies for a dataset profile, with the model version and reasons.

    The profile's current ratings are read from the database, so ratings
    added since the model was trained count at once (``strategy`` ends in
    ``:history`` then). ``genre``, ``year_min``, ``year_max`` and ``released``
    restrict the films ranked (released ones only by default); the list is
    shorter than ``k`` only when fewer films are left.
    """
    user_repo.get_dataset_profile(session, user_id)
    return recommendations_out(session, service.recommend(user_id, k, history=user_repo.history(session, user_id),
                                                          candidates=rec_filters.candidates(session, filters)))


@router.get("/recommendations/onboarding", response_model=RecommendationsOut, responses={422: {"model": ErrorOut}})
def onboarding(session: SessionDep, service: ServiceDep,
               k: Annotated[int, Query(ge=1, le=MAX_K)] = 20) -> RecommendationsOut:
    """The list a newcomer with no ratings starts from: popular films, diversified."""
    return recommendations_out(session, service.recommend(None, k))
