"""Members' film lists: create, read, change, order, like; public lists and a member's lists.

A private list exists only for its owner: anybody else gets 404, the same as
for an id that does not exist, and every change of another member's list is
404 too. List writes and likes are rate-limited per member (429 with
``Retry-After``). Pages take ``limit`` 1-100 and ``offset`` from 0.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from cinerec.service import social
from cinerec.web import security
from cinerec.web.api.social import ERRORS, PUBLIC_ERRORS, Id, Limit, Offset, Username
from cinerec.web.deps import (
    CurrentUser,
    EngineDep,
    PublicViewer,
    SessionDep,
    SessionRoute,
    ThrottleDep,
)
from cinerec.web.present import list_detail_out, list_summary_out
from cinerec.web.schemas import (
    LikeOut,
    ListDetailOut,
    ListIn,
    ListItemIn,
    ListOut,
    ListPatchIn,
    ListSummaryOut,
)

router = APIRouter(route_class=SessionRoute, tags=["lists"], dependencies=[Depends(security.require_json)])


@router.post("/lists", status_code=201, response_model=ListSummaryOut, responses=ERRORS)
def post_list(body: ListIn, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> ListSummaryOut:
    """Create an empty list, public unless ``public`` is false."""
    return list_summary_out(social.create_list(engine, throttle, me, title=body.title, description=body.description,
                                               public=body.public))


@router.get("/lists", response_model=ListOut[ListSummaryOut], responses=PUBLIC_ERRORS)
def public_lists(session: SessionDep, viewer: PublicViewer, q: Annotated[str | None, Query(max_length=200)] = None,
                 limit: Limit = 20, offset: Offset = 0) -> ListOut[ListSummaryOut]:
    """Public lists, most recently changed first; ``q`` matches titles literally (``count`` stops at 10,000).

    None of a member in a block with the caller."""
    page = social.public_lists(session, q=q, limit=limit, offset=offset, viewer=viewer)
    return ListOut[ListSummaryOut](data=[list_summary_out(x) for x in page.items], count=page.total)


@router.get("/lists/{list_id}", response_model=ListDetailOut, responses=PUBLIC_ERRORS)
def get_list(list_id: Id, session: SessionDep, viewer: PublicViewer) -> ListDetailOut:
    """A list with its films in order (a private list only for its owner)."""
    return list_detail_out(social.get_list(session, viewer, list_id))


@router.patch("/lists/{list_id}", response_model=ListSummaryOut, responses=ERRORS)
def patch_list(list_id: Id, body: ListPatchIn, me: CurrentUser, engine: EngineDep,
               throttle: ThrottleDep) -> ListSummaryOut:
    """Change the title, description (``""`` clears it) or visibility of one of the caller's lists."""
    return list_summary_out(social.update_list(engine, me, list_id, title=body.title, description=body.description,
                                               public=body.public, throttle=throttle))


@router.delete("/lists/{list_id}", status_code=204, responses=ERRORS)
def delete_list(list_id: Id, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> Response:
    """Delete one of the caller's lists with its films, likes and shares."""
    social.delete_list(engine, me, list_id, throttle=throttle)
    return Response(status_code=204)


@router.put("/lists/{list_id}/items/{movie_id}", response_model=ListSummaryOut, responses=ERRORS)
def put_item(list_id: Id, movie_id: Id, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep,
             body: ListItemIn | None = None) -> ListSummaryOut:
    """Put a film on the list, move it (``position``, 0 first) or change its note (``""`` clears it).

    A new film goes last unless ``position`` says otherwise; at most 500 films a list.
    """
    note, position = (body.note, body.position) if body is not None else (None, None)
    return list_summary_out(social.put_list_item(engine, me, list_id, movie_id, note=note, position=position,
                                                 throttle=throttle))


@router.delete("/lists/{list_id}/items/{movie_id}", status_code=204, responses=ERRORS)
def delete_item(list_id: Id, movie_id: Id, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> Response:
    """Take a film off the list (idempotent); the films after it move up."""
    social.remove_list_item(engine, me, list_id, movie_id, throttle=throttle)
    return Response(status_code=204)


@router.put("/lists/{list_id}/like", response_model=LikeOut, responses=ERRORS)
def like_list(list_id: Id, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> LikeOut:
    """Like a list (idempotent); the owner is notified."""
    return LikeOut(liked=True, like_count=social.like_list(engine, throttle, me, list_id, True))


@router.delete("/lists/{list_id}/like", response_model=LikeOut, responses=ERRORS)
def unlike_list(list_id: Id, me: CurrentUser, engine: EngineDep, throttle: ThrottleDep) -> LikeOut:
    """Take back a like of a list (idempotent)."""
    return LikeOut(liked=False, like_count=social.like_list(engine, throttle, me, list_id, False))


@router.get("/users/{username}/lists", response_model=ListOut[ListSummaryOut], responses=PUBLIC_ERRORS)
def user_lists(username: Username, session: SessionDep, viewer: PublicViewer, limit: Limit = 20,
               offset: Offset = 0) -> ListOut[ListSummaryOut]:
    """A member's lists, most recently changed first: public ones, and private ones too for the member."""
    page = social.lists_of(session, viewer, username, limit=limit, offset=offset)
    return ListOut[ListSummaryOut](data=[list_summary_out(x) for x in page.items], count=page.total)


@router.get("/movies/{movie_id}/lists", response_model=ListOut[ListSummaryOut], responses=PUBLIC_ERRORS)
def movie_lists(movie_id: Id, session: SessionDep, viewer: PublicViewer, limit: Limit = 10) -> ListOut[ListSummaryOut]:
    """Public lists holding the film, most liked first."""
    rows = social.lists_with_movie(session, viewer, movie_id, limit)
    return ListOut[ListSummaryOut](data=[list_summary_out(x) for x in rows], count=len(rows))
