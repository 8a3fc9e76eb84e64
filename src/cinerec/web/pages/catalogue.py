"""Catalogue pages: home, browse and search, a film's page, the content map, dataset profiles."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from cinerec.errors import NotFound
from cinerec.service import views
from cinerec.service.catalogue import JSON, PNG, read_catalogue_map
from cinerec.store.repos import movies as movie_repo
from cinerec.store.repos import users as user_repo
from cinerec.web.deps import ServiceDep, SessionDep, SessionRoute
from cinerec.web.pages._render import PAGE_SIZE, ObjectId, Viewer, pages_of, render
from cinerec.web.present import recommendations_out
from cinerec.web.schemas import CleanStr

router = APIRouter(route_class=SessionRoute, include_in_schema=False)
SORTS = ("popular", "rating", "title", "-year", "year")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, viewer: Viewer, session: SessionDep, service: ServiceDep) -> HTMLResponse:
    """Visitors: a start list, trending and top rated. Members: "For you", "Because you liked X", trending."""
    view = views.home(session, service, viewer.user_id if viewer else None, experiments=request.app.state.experiments)
    return render(request, "home.html", {
        "view": view,
        "for_you": recommendations_out(session, view.for_you) if view.for_you else None,
        "because": recommendations_out(session, view.because) if view.because else None,
        "start": recommendations_out(session, view.start) if view.start else None,
    })


@router.get("/movies", response_class=HTMLResponse)
def browse(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    q: Annotated[CleanStr | None, Query(max_length=200)] = None,
    genre: Annotated[CleanStr | None, Query(max_length=64)] = None,
    year: Annotated[int | None, Query(ge=1870, le=2100)] = None,
    sort: Literal["popular", "title", "year", "-year", "rating"] = "popular",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Browse and search the catalogue."""
    rows, total = movie_repo.search(session, q=q, genre=genre or None, year=year, sort=sort, limit=PAGE_SIZE,
                                    offset=(page - 1) * PAGE_SIZE)
    return render(request, "movies.html", {
        "movies": rows, "total": total, "q": q or "", "genre": genre or "", "year": year, "sort": sort, "sorts": SORTS,
        "page": page, "pages": pages_of(total), "genres": movie_repo.genres(session),
    })


@router.get("/movies/{movie_id}", response_class=HTMLResponse)
def movie_page(request: Request, movie_id: ObjectId, viewer: Viewer, session: SessionDep, service: ServiceDep,
               shared: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> HTMLResponse:
    """One film: poster, facts, people, audience rating and histogram, my rating and marks, reviews, similar films;
    the share form (and, after sharing, the link), adding it to a list, ratings by people I follow, review likes
    and the public lists holding it."""
    view = views.film_page(session, service, movie_id, viewer, shared_id=shared)
    return render(request, "movie.html", {
        "view": view, "m": view.row.movie, "row": view.row,
        "similar": recommendations_out(session, view.similar) if view.similar else None,
    })


@router.get("/map", response_class=HTMLResponse)
def catalogue_map(request: Request, viewer: Viewer) -> HTMLResponse:
    """The 2-D content map of the catalogue (built by ``cinerec map``)."""
    return render(request, "map.html", {"info": read_catalogue_map(request.app.state.settings.map_dir)})


@router.get("/map.png")
def catalogue_map_png(request: Request) -> FileResponse:
    """The map image."""
    return _map_file(request, PNG, "image/png")


@router.get("/map.json")
def catalogue_map_json(request: Request) -> FileResponse:
    """The map's coordinates and explained variance."""
    return _map_file(request, JSON, "application/json")


def _map_file(request: Request, name: str, media_type: str) -> FileResponse:
    path = request.app.state.settings.map_dir / name
    if not path.is_file():
        raise NotFound("no catalogue map yet: run `cinerec map`")
    return FileResponse(path, media_type=media_type)


@router.get("/explore/profiles/{user_id}", response_class=HTMLResponse)
def profile_page(request: Request, user_id: ObjectId, viewer: Viewer, session: SessionDep,
                 service: ServiceDep) -> HTMLResponse:
    """A dataset profile's favourite films and its recommendations, with reasons."""
    user = user_repo.get_dataset_profile(session, user_id)
    try:
        recs = recommendations_out(session, service.recommend(user_id, 12, history=user_repo.history(session, user_id)))
    except NotFound:
        recs = None
    return render(request, "profile.html", {"user": user, "liked": user_repo.top_rated(session, user_id, 10),
                                            "recs": recs})
