"""Social pages: the activity feed, notifications, follows and blocks, shares and their public links, likes.

Every write is a form post with a CSRF token (checked before anything
else), answered with a 303 to a GET page; a visitor is sent to the login
page. Who may see or change what is decided in :mod:`cinerec.service.social`:
another member's share or private list is a 404, the same as one that does
not exist. The public share page ``/s/{token}`` is for anybody, logged in or
not; a withdrawn link answers 410 with its own page, an unknown one the 404
page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from cinerec.errors import Gone
from cinerec.service import feed, social, social_signals, views
from cinerec.service.feed import FeedItem
from cinerec.store.models import Movie
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
from cinerec.web.schemas import CleanStr

router = APIRouter(route_class=SessionRoute, include_in_schema=False)

Username = Annotated[str, Path(min_length=1, max_length=64)]
On = Annotated[Literal["0", "1"], Form()]
Cursor = Annotated[int | None, Query(ge=1, le=2**62)]
#: A share's note (the service cleans it and enforces the same limit).
Note = Annotated[CleanStr, Form(max_length=social.MAX_NOTE)]
Audience = Annotated[Literal["followers", "public"], Form()]
#: Feed items and notifications per page.
FEED_PAGE = 20
#: Members per page of a followers / following list.
MEMBERS_PAGE = 48
#: People with my taste the feed suggests.
FEED_SUGGESTIONS = 6



# --------------------------------------------------------------------------- feed and notifications


#: Most film thumbnails a folded run of list changes shows.
MAX_RUN_FILMS = 6


@dataclass
class FeedRow:
    """One row of the feed page: an item, or a run of changes one member made to one list, folded into one row.

    Attributes:
        item: the (newest) item of the row.
        films: for a list row, the films the run touched (newest first, at most :data:`MAX_RUN_FILMS`).
    """

    item: FeedItem
    films: list[Movie] = field(default_factory=list)


def feed_rows(items: list[FeedItem]) -> list[FeedRow]:
    """Fold consecutive ``list`` items of the same member and list into one row (adding five films is one row)."""
    rows: list[FeedRow] = []
    for it in items:
        prev = rows[-1].item if rows else None
        if (it.kind == "list" and it.list is not None and prev is not None and prev.kind == "list"
                and prev.list is not None and prev.list.id == it.list.id and prev.actor.user_id == it.actor.user_id):
            films = rows[-1].films
        else:
            rows.append(FeedRow(it))
            films = rows[-1].films
        if (it.kind == "list" and it.movie is not None and len(films) < MAX_RUN_FILMS
                and all(m.id != it.movie.id for m in films)):
            films.append(it.movie)
    return rows



@router.get("/feed", response_class=HTMLResponse)
def feed_page(request: Request, viewer: Viewer, session: SessionDep, cursor: Cursor = None) -> Response:
    """What the members I follow rated, reviewed, shared, listed and liked, newest first; "older" pages by cursor.

    The first page also suggests people with my taste to follow while I follow
    fewer than :data:`cinerec.service.social_signals.FEW_FOLLOWS` people, and
    as the empty state.
    """
    if viewer is None:
        return login_redirect(request)
    page = feed.feed(session, viewer.user_id, cursor=cursor, limit=FEED_PAGE)
    people = [] if cursor else social_signals.feed_suggestions(session, viewer.user_id, feed_empty=not page.items,
                                                               k=FEED_SUGGESTIONS)
    return render(request, "feed.html", {"page": page, "rows": feed_rows(page.items), "cursor": cursor,
                                         "people": people})


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, viewer: Viewer, session: SessionDep, before: Cursor = None) -> Response:
    """My notifications, newest first; unread ones are marked "new" until I mark them read (a GET writes nothing)."""
    if viewer is None:
        return login_redirect(request)
    page = social.notifications(session, viewer.user_id, limit=FEED_PAGE, before=before)
    newest = max((n.id for n in page.items if not n.read), default=None)
    return render(request, "notifications.html", {"page": page, "before": before, "newest_unread": newest})


@router.post("/notifications/read")
def mark_notifications_read(request: Request, viewer: Viewer, engine: EngineDep,
                            up_to: Annotated[int, Form(ge=1, le=2**62)], csrf_token: Token = "") -> Response:
    """Mark my notifications read, up to the newest one the page showed (newer ones stay unread)."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.mark_notifications_read(engine, viewer.user_id, up_to_id=up_to)
    return redirect("/notifications")


# --------------------------------------------------------------------------- shares


@router.post("/movies/{movie_id}/share")
def share_movie(request: Request, movie_id: ObjectId, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
                audience: Audience = "followers", note: Note = "", csrf_token: Token = "") -> Response:
    """Share a film with a note, with my followers or as a public link; the film page then shows the link."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    made = social.share(engine, throttle, viewer, movie_id=movie_id, note=note.strip() or None, audience=audience)
    return redirect(f"/movies/{movie_id}?shared={made.id}#share")


@router.post("/lists/{list_id}/share")
def share_list(request: Request, list_id: ObjectId, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
               audience: Audience = "followers", note: Note = "", csrf_token: Token = "") -> Response:
    """Share a list with a note, with my followers or as a public link; the list page then shows the link."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    made = social.share(engine, throttle, viewer, list_id=list_id, note=note.strip() or None, audience=audience)
    return redirect(f"/lists/{list_id}?shared={made.id}#share")


@router.post("/shares/{share_id}/revoke")
def revoke_share(request: Request, share_id: ObjectId, viewer: Viewer, engine: EngineDep, next: Next = "",
                 csrf_token: Token = "") -> Response:
    """Withdraw one of my shares: its public link stops working (410) and it leaves my followers' feeds."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.revoke_share(engine, viewer, share_id)
    return redirect(safe_next(next, "/me/shares"))


@router.get("/me/shares", response_class=HTMLResponse)
def my_shares(request: Request, viewer: Viewer, session: SessionDep, page: PageNo = 1) -> Response:
    """Everything I shared, newest first, with the public links and a way to withdraw each."""
    if viewer is None:
        return login_redirect(request)
    result = social.shares_of(session, viewer.user_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(request, "my_shares.html", {"items": result.items, "total": result.total, "page": page,
                                              "pages": pages_of(result.total)})


@router.get("/s/{token}", response_class=HTMLResponse)
def public_share(request: Request, session: SessionDep, viewer: Viewer,
                 token: Annotated[str, Path(min_length=1, max_length=100)]) -> Response:
    """A shared film or list for anybody who has the link, with OpenGraph and Twitter card tags for previews.

    A withdrawn link is a 410 page that says so; an unknown one the 404 page.
    """
    try:
        shared = social.public_share(session, token)
    except Gone:
        return render(request, "share_gone.html", {}, status=410)
    return render(request, "share.html", {"s": shared})


# --------------------------------------------------------------------------- follows and blocks


@router.post("/u/{username}/follow")
def follow(request: Request, username: Username, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep, on: On,
           next: Next = "", csrf_token: Token = "") -> Response:
    """Follow a member (``on=1``) or stop following them (``on=0``)."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    if on == "1":
        social.follow(engine, throttle, viewer, username)
    else:
        social.unfollow(engine, viewer, username, throttle=throttle)
    return redirect(safe_next(next, f"/u/{username}"))


@router.post("/u/{username}/block")
def block(request: Request, username: Username, viewer: Viewer, engine: EngineDep, on: On, next: Next = "",
          csrf_token: Token = "") -> Response:
    """Block a member (``on=1``: no follows either way, no private lists, nothing of theirs in my feed) or unblock."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    if on == "1":
        social.block(engine, viewer, username)
    else:
        social.unblock(engine, viewer, username)
    return redirect(safe_next(next, f"/u/{username}"))


@router.get("/u/{username}/followers", response_class=HTMLResponse)
def followers_page(request: Request, username: Username, viewer: Viewer, session: SessionDep,
                   page: PageNo = 1) -> Response:
    """Who follows a member, newest first."""
    result = social.followers(session, username, limit=MEMBERS_PAGE, offset=(page - 1) * MEMBERS_PAGE)
    return render(request, "follows.html", {"username": username, "kind": "followers", "items": result.items,
                                            "total": result.total, "page": page,
                                            "pages": pages_of(result.total, MEMBERS_PAGE)})


@router.get("/u/{username}/following", response_class=HTMLResponse)
def following_page(request: Request, username: Username, viewer: Viewer, session: SessionDep,
                   page: PageNo = 1) -> Response:
    """Whom a member follows, newest first."""
    result = social.following(session, username, limit=MEMBERS_PAGE, offset=(page - 1) * MEMBERS_PAGE)
    return render(request, "follows.html", {"username": username, "kind": "following", "items": result.items,
                                            "total": result.total, "page": page,
                                            "pages": pages_of(result.total, MEMBERS_PAGE)})


@router.get("/u/{username}", response_class=HTMLResponse)
def member_page(request: Request, viewer: Viewer, session: SessionDep, username: Username) -> Response:
    """A member's public page: name, counts, follow and block buttons, latest ratings, reviews and public lists."""
    return render(request, "member.html", {"v": views.member(session, viewer, username)})


# --------------------------------------------------------------------------- likes


@router.post("/reviews/{review_id}/like")
def like_review(request: Request, review_id: ObjectId, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
                on: On, next: Next = "", csrf_token: Token = "") -> Response:
    """Like a review (``on=1``) or take the like back; back to the page it was pressed on."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.like_review(engine, throttle, viewer, review_id, on == "1")
    return redirect(safe_next(next, "/"))


@router.post("/lists/{list_id}/like")
def like_list(request: Request, list_id: ObjectId, viewer: Viewer, engine: EngineDep, throttle: ThrottleDep,
              on: On, csrf_token: Token = "") -> Response:
    """Like a list (``on=1``) or take the like back."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    social.like_list(engine, throttle, viewer, list_id, on == "1")
    return redirect(f"/lists/{list_id}")
