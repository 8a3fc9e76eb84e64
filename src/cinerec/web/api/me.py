"""The caller's own lists: ratings, reviews, watchlist, watched films and recommendations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cinerec.service import members, social_signals
from cinerec.service.recommender import MAX_K
from cinerec.web import security
from cinerec.web.api._filters import RecFilterDep
from cinerec.web.deps import (
    CurrentUser,
    EngineDep,
    ExperimentsDep,
    ServiceDep,
    SessionDep,
    SessionRoute,
)
from cinerec.web.present import (
    member_review_out,
    movie_out,
    rated_out,
    recommendations_out,
    suggestion_out,
)
from cinerec.web.response_cache import ResponseCache
from cinerec.web.schemas import (
    ErrorOut,
    EventIn,
    ListedMovieOut,
    ListMarkOut,
    ListOut,
    MemberReviewOut,
    RatedMovieOut,
    RecommendationOut,
    RecommendationsOut,
    SuggestedMemberOut,
)

router = APIRouter(route_class=SessionRoute, prefix="/me", tags=["me"], dependencies=[Depends(security.require_json)])
#: 403: a cookie-authenticated write sent from another site.
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
                                           415: {"model": ErrorOut}, 422: {"model": ErrorOut}}
MovieId = Annotated[int, Path(ge=1, le=2**31 - 1, description="movie id")]
Limit = Annotated[int, Query(ge=1, le=members.MAX_PAGE, description=f"page size, at most {members.MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
ListName = Literal["watchlist", "watched"]


@router.get("/ratings", response_model=ListOut[RatedMovieOut], responses=_ERRORS)
def my_ratings(me: CurrentUser, session: SessionDep, limit: Limit = 20, offset: Offset = 0) -> ListOut[RatedMovieOut]:
    """The caller's ratings, most recently changed first (ties by id: stable pages); ``limit`` at most 100."""
    page = members.my_ratings(session, me.user_id, limit=limit, offset=offset)
    return ListOut[RatedMovieOut](data=[rated_out(r, m) for r, m in page.items], count=page.total)


@router.get("/reviews", response_model=ListOut[MemberReviewOut], responses=_ERRORS)
def my_reviews(me: CurrentUser, session: SessionDep, limit: Limit = 20,
               offset: Offset = 0) -> ListOut[MemberReviewOut]:
    """The caller's reviews, newest first; ``limit`` at most 100."""
    page = members.my_reviews(session, me.user_id, limit=limit, offset=offset)
    return ListOut[MemberReviewOut](data=[member_review_out(r, m, me.username) for r, m in page.items],
                                    count=page.total)


def _list(kind: ListName, me: CurrentUser, session: SessionDep, limit: int, offset: int) -> ListOut[ListedMovieOut]:
    page = members.my_list(session, kind, me.user_id, limit=limit, offset=offset)
    return ListOut[ListedMovieOut](data=[ListedMovieOut(movie=movie_out(m), added_at=t) for m, t in page.items],
                                   count=page.total)


@router.get("/watchlist", response_model=ListOut[ListedMovieOut], responses=_ERRORS)
def my_watchlist(me: CurrentUser, session: SessionDep, limit: Limit = 20,
                 offset: Offset = 0) -> ListOut[ListedMovieOut]:
    """Films the caller wants to watch, newest first; ``limit`` at most 100."""
    return _list("watchlist", me, session, limit, offset)


@router.get("/watched", response_model=ListOut[ListedMovieOut], responses=_ERRORS)
def my_watched(me: CurrentUser, session: SessionDep, limit: Limit = 20,
               offset: Offset = 0) -> ListOut[ListedMovieOut]:
    """Films the caller marked watched, newest first; ``limit`` at most 100."""
    return _list("watched", me, session, limit, offset)


@router.put("/watchlist/{movie_id}", response_model=ListMarkOut, responses=_ERRORS)
def add_watchlist(movie_id: MovieId, me: CurrentUser, engine: EngineDep) -> ListMarkOut:
    """Put a film on the watchlist (idempotent)."""
    changed = members.mark(engine, "watchlist", me.user_id, movie_id)
    return ListMarkOut(movie_id=movie_id, list="watchlist", on_list=True, changed=changed)


@router.delete("/watchlist/{movie_id}", status_code=204, responses=_ERRORS)
def remove_watchlist(movie_id: MovieId, me: CurrentUser, engine: EngineDep) -> Response:
    """Take a film off the watchlist (idempotent)."""
    members.unmark(engine, "watchlist", me.user_id, movie_id)
    return Response(status_code=204)


@router.put("/watched/{movie_id}", response_model=ListMarkOut, responses=_ERRORS)
def add_watched(movie_id: MovieId, me: CurrentUser, engine: EngineDep) -> ListMarkOut:
    """Mark a film watched (idempotent); it leaves the watchlist and never comes back in recommendations."""
    changed = members.mark(engine, "watched", me.user_id, movie_id)
    return ListMarkOut(movie_id=movie_id, list="watched", on_list=True, changed=changed)


@router.delete("/watched/{movie_id}", status_code=204, responses=_ERRORS)
def remove_watched(movie_id: MovieId, me: CurrentUser, engine: EngineDep) -> Response:
    """Remove a film's watched mark (idempotent)."""
    members.unmark(engine, "watched", me.user_id, movie_id)
    return Response(status_code=204)


@router.get("/recommendations", response_model=RecommendationsOut, responses=_ERRORS)
def my_recommendations(me: CurrentUser, request: Request, session: SessionDep, service: ServiceDep,
                       experiments: ExperimentsDep, filters: RecFilterDep,
                       k: Annotated[int, Query(ge=1, le=MAX_K)] = 10) -> Response:
    """Top-k films for the caller from their current ratings and marks (no retraining needed).

    Never a film the caller rated or marked watched; ``model_version`` and
    ``strategy`` say what produced the list. ``genre``, ``year_min``,
    ``year_max`` and ``released`` restrict the films ranked (released ones
    only by default); the list is shorter than ``k`` only when fewer films
    are left. A repeated request is answered from the cache until the
    caller's history or the model changes (audience counts and "shared by"
    reasons may be up to 30 s old).

    While the caller is in a running A/B experiment the list comes from their
    variant's model version, ``experiment`` names the experiment and the
    variant, and the list is logged as their exposure.
    """
    a = experiments.assign(me.user_id)
    key = ("me/recommendations", a.key if a else service.live.version, me.user_id, me.history_version,
           filters.key, k)
    cache: ResponseCache = request.app.state.responses
    return cache.json(key, lambda: recommendations_out(session, experiments.recommendations(
        session, me.user_id, k, filters, assignment=a)))


@router.post("/events", status_code=204, responses=_ERRORS | {429: {"model": ErrorOut}},
             dependencies=[Depends(security.require_json)])
def record_event(body: EventIn, me: CurrentUser, request: Request, engine: EngineDep,
                 experiments: ExperimentsDep) -> Response:
    """Record that the caller opened a recommended film: ``{"kind": "click", "movie_id": 1, "position": 0}``.

    Clicks are the outcome of the ``ctr`` metric of A/B experiments (the
    site sends them from its recommendation lists; API clients should too).
    ``position`` is the film's 0-based place in the list, if known. 404 for
    an unknown film; 429 past the hourly limit.
    """
    request.app.state.throttle.social("click", me.user_id)
    experiments.click(engine, me.user_id, body.movie_id, body.position)
    return Response(status_code=204)


@router.get("/recommendations/social", response_model=ListOut[RecommendationOut], responses=_ERRORS)
def my_social_recommendations(
    me: CurrentUser, session: SessionDep,
    k: Annotated[int, Query(ge=1, le=social_signals.MAX_K, description=f"how many, at most {social_signals.MAX_K}")] = 12,
) -> ListOut[RecommendationOut]:
    """Films popular with the people the caller follows: rated 4★ or more, shared or put on public lists lately.

    Scored by distinct followees, each counting once with their strongest
    signal discounted by age (see ``cinerec.service.social_signals``); never a
    film the caller rated or marked watched; empty when the caller follows
    nobody. Reasons: ``shared_by`` and ``following``, each with ``username``.
    """
    out = recommendations_out(session, social_signals.social_recommendations(session, me.user_id, k=k))
    return ListOut[RecommendationOut](data=out.data, count=out.count)


@router.get("/suggested-members", response_model=ListOut[SuggestedMemberOut], responses=_ERRORS)
def my_suggested_members(
    me: CurrentUser, session: SessionDep,
    k: Annotated[int, Query(ge=1, le=social_signals.MAX_SUGGESTIONS,
                            description=f"how many, at most {social_signals.MAX_SUGGESTIONS}")] = 12,
) -> ListOut[SuggestedMemberOut]:
    """Members with the caller's taste to follow: most films both rated 4★ or more, damped.

    ``score = shared / sqrt(their 4★ count + 30)`` (see
    ``cinerec.service.social_signals``); without 4★ ratings, the most-followed
    members. Never the caller, people they follow, inactive accounts or
    members in a block relation with them. ``count`` is the number returned.
    """
    data = [suggestion_out(x) for x in social_signals.suggested_members(session, me.user_id, k=k)]
    return ListOut[SuggestedMemberOut](data=data, count=len(data))
