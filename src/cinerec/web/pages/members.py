"""Member pages: "For you", rating and marking films, reviews, the watchlist and watched films.

Writes are form posts with a CSRF token, answered with a 303 to a GET page.
A member only ever sees or changes their own private lists; somebody else's
review cannot be deleted (404, the same as a review that does not exist).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from cinerec.errors import InvalidParameter
from cinerec.service import filters as rec_filters
from cinerec.service import members, social_signals, views
from cinerec.service.filters import FilterError, RecFilter
from cinerec.web.deps import AnalyzerDep, EngineDep, ServiceDep, SessionDep, SessionRoute
from cinerec.web.pages._render import (
    PAGE_SIZE,
    Next,
    ObjectId,
    PageNo,
    Token,
    Viewer,
    check_form,
    login_redirect,
    pages_of,
    redirect,
    render,
    safe_next,
)
from cinerec.web.present import recommendations_out
from cinerec.web.schemas import CleanStr

router = APIRouter(route_class=SessionRoute, include_in_schema=False)

#: Star values a form may send.
Stars = Literal["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]
#: The longest review the site's form takes (the API takes more).
MAX_REVIEW_CHARS = 10_000
#: People with the member's taste the For-you page suggests to somebody who follows nobody.
FOR_YOU_SUGGESTIONS = 6


@router.get("/for-you", response_class=HTMLResponse)
def for_you(request: Request, viewer: Viewer, session: SessionDep, service: ServiceDep,
            genre: Annotated[list[str] | None, Query()] = None,
            year_min: Annotated[str | None, Query(max_length=16)] = None,
            year_max: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    """The member's recommendations from their ratings and marks as they are now, each with its reason,
    and the films popular with the people they follow (when they follow nobody: people with their taste to follow).

    A GET form narrows the recommendations by genre and years (the API's
    filters; released films only). A bad value is shown on the page (422) and
    the list stays unfiltered.
    """
    if viewer is None:
        return login_redirect(request)
    chosen = [g for g in genre or () if g.strip()]
    lo_text, hi_text = (year_min or "").strip(), (year_max or "").strip()
    form = {"genre": chosen, "year_min": lo_text, "year_max": hi_text}
    problem: dict[str, object] | None = None
    wanted = RecFilter()
    try:
        wanted = rec_filters.parse_filter(session, chosen, _year(lo_text), _year(hi_text))
    except FilterError as exc:
        problem = {"reason": exc.reason, "value": exc.value}
    recs = views.for_you(session, service, viewer.user_id, filters=wanted, experiments=request.app.state.experiments)
    row = social_signals.for_you_row(session, viewer.user_id)
    people = [] if row.following else social_signals.suggested_members(session, viewer.user_id, k=FOR_YOU_SUGGESTIONS)
    return render(request, "for_you.html", {"recs": recommendations_out(session, recs) if recs else None,
                                            "social": recommendations_out(session, row.recs),
                                            "following": row.following, "people": people,
                                            "genres": sorted(rec_filters.genre_names(session).values()),
                                            "form": form, "filtered": wanted != RecFilter(), "problem": problem,
                                            "years": rec_filters.YEAR_RANGE, "max_genres": rec_filters.MAX_GENRES},
                  status=422 if problem else 200)


def _year(text: str) -> int | None:
    """A year typed in the For-you form (blank: none).

    Raises:
        FilterError: not a whole number.
    """
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise FilterError(f"not a year: {text!r}", "year", text)
    return int(text)


@router.post("/movies/{movie_id}/rating")
def rate(request: Request, movie_id: ObjectId, viewer: Viewer, engine: EngineDep, rating: Annotated[Stars, Form()],
         next: Next = "", csrf_token: Token = "") -> Response:
    """Rate a film (0.5-5 stars in halves) or change the rating."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    members.rate(engine, viewer.user_id, movie_id, float(rating))
    return redirect(safe_next(next, f"/movies/{movie_id}"))


@router.post("/movies/{movie_id}/rating/delete")
def unrate(request: Request, movie_id: ObjectId, viewer: Viewer, engine: EngineDep, next: Next = "",
           csrf_token: Token = "") -> Response:
    """Remove my rating of a film."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    members.unrate(engine, viewer.user_id, movie_id)
    return redirect(safe_next(next, f"/movies/{movie_id}"))


@router.post("/movies/{movie_id}/reviews")
def write_review(request: Request, movie_id: ObjectId, viewer: Viewer, engine: EngineDep, analyzer: AnalyzerDep,
                 text: Annotated[CleanStr, Form(max_length=MAX_REVIEW_CHARS)],
                 rating: Annotated[Stars | Literal[""], Form()] = "", csrf_token: Token = "") -> Response:
    """Write a review (language and sentiment detected), optionally with stars."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    if not text.strip():
        raise InvalidParameter("a review needs some text",
                               details={"fields": [{"loc": ["body", "text"], "msg": "empty", "type": "value_error"}]})
    members.write_review(engine, analyzer, viewer.user_id, movie_id, text, float(rating) if rating else None)
    return redirect(f"/movies/{movie_id}#reviews")


@router.post("/movies/{movie_id}/{kind}")
def toggle_mark(request: Request, movie_id: ObjectId, kind: Literal["watchlist", "watched"], viewer: Viewer,
                engine: EngineDep, on: Annotated[Literal["0", "1"], Form()], next: Next = "",
                csrf_token: Token = "") -> Response:
    """Put a film on my watchlist (想看) or mark it watched (看过), or take the mark off."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    if on == "1":
        members.mark(engine, kind, viewer.user_id, movie_id)
    else:
        members.unmark(engine, kind, viewer.user_id, movie_id)
    return redirect(safe_next(next, f"/movies/{movie_id}"))


@router.post("/reviews/{review_id}/delete")
def delete_review(request: Request, review_id: ObjectId, viewer: Viewer, engine: EngineDep, next: Next = "",
                  csrf_token: Token = "") -> Response:
    """Delete a review: its author's or, for admins, anybody's (others get 404)."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    members.delete_review(engine, viewer, review_id)
    return redirect(safe_next(next, "/me/reviews"))


@router.get("/me/ratings", response_class=HTMLResponse)
def my_ratings(request: Request, viewer: Viewer, session: SessionDep, page: PageNo = 1) -> Response:
    """My ratings, most recently changed first."""
    if viewer is None:
        return login_redirect(request)
    result = members.my_ratings(session, viewer.user_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(request, "my_ratings.html", {"items": result.items, "total": result.total, "page": page,
                                               "pages": pages_of(result.total)})


@router.get("/me/reviews", response_class=HTMLResponse)
def my_reviews(request: Request, viewer: Viewer, session: SessionDep, page: PageNo = 1) -> Response:
    """My reviews, newest first."""
    if viewer is None:
        return login_redirect(request)
    result = members.my_reviews(session, viewer.user_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(request, "my_reviews.html", {"items": result.items, "total": result.total, "page": page,
                                               "pages": pages_of(result.total)})


@router.get("/me/{kind}", response_class=HTMLResponse)
def my_list(request: Request, kind: Literal["watchlist", "watched"], viewer: Viewer, session: SessionDep,
            page: PageNo = 1) -> Response:
    """My watchlist (想看) or my watched films (看过), newest first."""
    if viewer is None:
        return login_redirect(request)
    result = members.my_list(session, kind, viewer.user_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(request, "my_list.html", {"kind": kind, "items": result.items, "total": result.total, "page": page,
                                            "pages": pages_of(result.total)})
