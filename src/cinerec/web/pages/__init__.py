"""Server-rendered HTML pages (Jinja2, autoescaped)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from cinerec.errors import NotFound
from cinerec.service.catalogue import JSON, PNG, read_catalogue_map
from cinerec.service.reviews import audience_insights
from cinerec.store.repos import movies as movie_repo
from cinerec.store.repos import reviews as review_repo
from cinerec.store.repos import users as user_repo
from cinerec.web.deps import ServiceDep, SessionDep
from cinerec.web.present import recommendations_out

router = APIRouter(include_in_schema=False)
PAGE = 24


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    resp: HTMLResponse = request.app.state.templates.TemplateResponse(request, name, ctx, status_code=status)
    return resp


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, service: ServiceDep) -> HTMLResponse:
    """A newcomer's starting list (popular and diverse), genres and sample profiles to explore."""
    rows, total = movie_repo.search(session, sort="popular", limit=12)
    try:
        active = service.live.version
        start = recommendations_out(session, service.recommend(None, 12))
    except NotFound:
        active, start = None, None
    return _render(request, "home.html", {
        "movies": rows, "start": start, "total": total, "profiles": user_repo.sample_dataset_profiles(session, 12),
        "genres": movie_repo.genres(session), "active": active,
    })


@router.get("/movies", response_class=HTMLResponse)
def browse(
    request: Request,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    genre: Annotated[str | None, Query(max_length=64)] = None,
    year: Annotated[int | None, Query(ge=1870, le=2100)] = None,
    sort: Literal["popular", "title", "year", "-year", "rating"] = "popular",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Browse and search the catalogue."""
    rows, total = movie_repo.search(session, q=q, genre=genre or None, year=year, sort=sort, limit=PAGE, offset=(page - 1) * PAGE)
    return _render(request, "movies.html", {
        "movies": rows, "total": total, "q": q or "", "genre": genre or "", "year": year, "sort": sort,
        "page": page, "pages": max(1, -(-total // PAGE)), "genres": movie_repo.genres(session),
    })


@router.get("/movies/{movie_id}", response_class=HTMLResponse)
def movie_page(request: Request, movie_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep) -> HTMLResponse:
    """One film: facts, audience rating, tags, what reviewers say and the latest reviews."""
    row = movie_repo.get(session, movie_id)
    return _render(request, "movie.html", {
        "m": row.movie, "row": row, "tags": movie_repo.top_tags(session, movie_id),
        "insights": audience_insights(session, movie_id), "reviews": review_repo.for_movie(session, movie_id, 10),
    })


@router.get("/map", response_class=HTMLResponse)
def catalogue_map(request: Request) -> HTMLResponse:
    """The 2-D content map of the catalogue (built by ``cinerec map``)."""
    return _render(request, "map.html", {"info": read_catalogue_map(request.app.state.settings.map_dir)})


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
def profile_page(
    request: Request, user_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, service: ServiceDep
) -> HTMLResponse:
    """A dataset profile's favourite films and its recommendations, with reasons."""
    user = user_repo.get_dataset_profile(session, user_id)
    try:
        recs = recommendations_out(session, service.recommend(user_id, 12, history=user_repo.history(session, user_id)))
    except NotFound:
        recs = None
    return _render(request, "profile.html", {"user": user, "liked": user_repo.top_rated(session, user_id, 10), "recs": recs})
