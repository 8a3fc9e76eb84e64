"""List pages: public lists and their search, my lists, a member's lists, one list, and the owner's edit forms.

A list is a named, ordered set of films with a note per film, public or
private. Its owner edits it on its own page (title, description, public or
private, adding films by number or from a film's page, notes, moving films
up and down, removing them, deleting the list); everybody else sees a public
list read-only with a like button, and another member's private list is the
404 page, the same as a list that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from cinerec.errors import NotFound
from cinerec.service import social
from cinerec.store.models import Movie
from cinerec.store.repos import movies as movie_repo
from cinerec.web.deps import EngineDep, SessionDep, SessionRoute, ThrottleDep
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
from cinerec.web.pages.social import Username
from cinerec.web.schemas import CleanStr

router = APIRouter(route_class=SessionRoute, include_in_schema=False)

Title = Annotated[CleanStr, Form(max_length=social.MAX_LIST_TITLE)]
Description = Annotated[CleanStr, Form(max_length=social.MAX_LIST_DESCRIPTION)]
ItemNote = Annotated[CleanStr, Form(max_length=social.MAX_NOTE)]
Visibility = Annotated[Literal["public", "private"], Form()]
FilmNo = Annotated[int, Form(ge=1, le=2**31 - 1)]
Shared = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
#: Films the owner's "find a film" box offers at most.
FIND_LIMIT = 8


@router.get("/lists", response_class=HTMLResponse)
def public_lists(request: Request, viewer: Viewer, session: SessionDep,
                 q: Annotated[CleanStr | None, Query(max_length=200)] = None, page: PageNo = 1) -> Response:
    """Every public list, most recently changed first, or those whose title matches ``q``."""
    query = (q or "").strip() or None
    result = social.public_lists(session, q=query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, viewer=viewer)
    return render(request, "lists.html", {"items": result.items, "total": result.total, "q": query or "",
                                          "page": page, "pages": pages_of(result.total), "owner": None})


@router.get("/u/{username}/lists", response_class=HTMLResponse)
def member_lists(request: Request, username: Username, viewer: Viewer, session: SessionDep,
                 page: PageNo = 1) -> Response:
    """A member's public lists (their private ones too when it is the member looking)."""
    result = social.lists_of(session, viewer, username, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(request, "lists.html", {"items": result.items, "total": result.total, "q": "", "page": page,
                                          "pages": pages_of(result.total), "owner": username})


@router.get("/me/lists", response_class=HTMLResponse)
def my_lists(request: Request, viewer: Viewer, session: SessionDep, page: PageNo = 1) -> Response:
    """My lists, public and private, with a way to start a new one."""
    if viewer is None:
        return login_redirect(request)
    result = social.lists_of(session, viewer, viewer.username, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(request, "my_lists.html", {"items": result.items, "total": result.total, "page": page,
                                             "pages": pages_of(result.total)})


@router.get("/lists/new", response_class=HTMLResponse)
def new_list_form(request: Request, viewer: Viewer) -> Response:
    """The form for a new list."""
    if viewer is None:
        return login_redirect(request)
    return render(request, "list_new.html")


@router.post("/lists")
def create_list(request: Request, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep, title: Title,
                visibility: Visibility = "public", description: Description = "", csrf_token: Token = "") -> Response:
    """Create a list and go to it, where films are added."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    made = social.create_list(engine, throttle, viewer, title=title, description=description.strip() or None,
                              public=visibility == "public")
    return redirect(f"/lists/{made.id}")


@router.post("/lists/add")
def add_to_chosen_list(request: Request, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
                       list_id: Annotated[int, Form(ge=1, le=2**31 - 1)], movie_id: FilmNo, note: ItemNote = "", next: Next = "", csrf_token: Token = "") -> Response:
    """Add a film to the list chosen in a form (a film page's "Add to a list"), at the end, with an optional note."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.put_list_item(engine, viewer, list_id, movie_id, note=note.strip() or None, throttle=throttle)
    return redirect(safe_next(next, f"/lists/{list_id}"))


def find_films(session: SessionDep, text: str, exclude: set[int]) -> list[Movie]:
    """Films for the owner's "add a film" box: the film of that number, then titles containing ``text``."""
    found: list[Movie] = []
    if text.isdigit() and int(text) < 2**31:
        found.extend(movie_repo.by_ids(session, [int(text)]).values())
    rows, _ = movie_repo.search(session, q=text, sort="popular", limit=FIND_LIMIT + len(exclude))
    found.extend(r.movie for r in rows)
    unique: dict[int, Movie] = {}
    for m in found:
        if m.id not in exclude:
            unique.setdefault(m.id, m)
    return list(unique.values())[:FIND_LIMIT]


@router.get("/lists/{list_id}", response_class=HTMLResponse)
def list_page(request: Request, list_id: ObjectId, viewer: Viewer, session: SessionDep, shared: Shared = None,
              find: Annotated[CleanStr | None, Query(max_length=200)] = None) -> Response:
    """One list: its films in order with their notes; the owner's edit forms (with a film finder), or a like button."""
    view = social.get_list(session, viewer, list_id)
    owner = viewer is not None and viewer.user_id == view.summary.owner.user_id
    share = None
    if shared is not None and viewer is not None:
        try:
            share = social.get_share(session, viewer, shared)
        except NotFound:
            share = None
    text = (find or "").strip()
    found = find_films(session, text, {e.movie.id for e in view.items}) if owner and text else []
    return render(request, "list.html", {"lv": view, "l": view.summary, "share": share, "owner": owner,
                                         "find": text, "found": found})


@router.post("/lists/{list_id}")
def update_list(request: Request, list_id: ObjectId, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
                title: Title, visibility: Visibility, description: Description = "", csrf_token: Token = "") -> Response:
    """Change my list's title, description and whether it is public (an empty description clears it)."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.update_list(engine, viewer, list_id, title=title, description=description.strip(),
                       public=visibility == "public", throttle=throttle)
    return redirect(f"/lists/{list_id}")


@router.post("/lists/{list_id}/delete")
def delete_list(request: Request, list_id: ObjectId, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
                csrf_token: Token = "") -> Response:
    """Delete my list with its films and notes."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.delete_list(engine, viewer, list_id, throttle=throttle)
    return redirect("/me/lists")


@router.post("/lists/{list_id}/items")
def add_item(request: Request, list_id: ObjectId, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
             movie_id: FilmNo,
             note: ItemNote = "", next: Next = "", csrf_token: Token = "") -> Response:
    """Add a film to my list (at the end), with an optional note; from the list page or a film's page."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.put_list_item(engine, viewer, list_id, movie_id, note=note.strip() or None, throttle=throttle)
    return redirect(safe_next(next, f"/lists/{list_id}"))


@router.post("/lists/{list_id}/items/{movie_id}/note")
def set_item_note(request: Request, list_id: ObjectId, movie_id: ObjectId, viewer: Viewer, engine: EngineDep,
                  throttle: ThrottleDep, note: ItemNote = "", csrf_token: Token = "") -> Response:
    """Write, change or clear (empty) the note of a film on my list."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.put_list_item(engine, viewer, list_id, movie_id, note=note.strip(), throttle=throttle)
    return redirect(f"/lists/{list_id}#item-{movie_id}")


@router.post("/lists/{list_id}/items/{movie_id}/move")
def move_item(request: Request, list_id: ObjectId, movie_id: ObjectId, viewer: Viewer, engine: EngineDep,
              throttle: ThrottleDep, position: Annotated[int, Form(ge=0, le=social.MAX_LIST_ITEMS)], csrf_token: Token = "") -> Response:
    """Move a film of my list to ``position`` (the up and down buttons send the neighbour's place)."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.put_list_item(engine, viewer, list_id, movie_id, position=position, throttle=throttle)
    return redirect(f"/lists/{list_id}#item-{movie_id}")


@router.post("/lists/{list_id}/items/{movie_id}/delete")
def remove_item(request: Request, list_id: ObjectId, movie_id: ObjectId, viewer: Viewer, engine: EngineDep,
                throttle: ThrottleDep, csrf_token: Token = "") -> Response:
    """Take a film off my list."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.remove_list_item(engine, viewer, list_id, movie_id, throttle=throttle)
    return redirect(f"/lists/{list_id}")
