"""The caller's account and public member profiles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from cinerec.service import accounts, members
from cinerec.web import security
from cinerec.web.deps import CurrentUser, EngineDep, SessionDep, SessionRoute, ThrottleDep
from cinerec.web.present import account_out, public_profile_out
from cinerec.web.schemas import (
    AccountOut,
    AccountPatchIn,
    ErrorOut,
    PasswordConfirmIn,
    PublicProfileOut,
)

router = APIRouter(route_class=SessionRoute, prefix="/users", tags=["users"], dependencies=[Depends(security.require_json)])
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 415: {"model": ErrorOut},
           422: {"model": ErrorOut}, 429: {"model": ErrorOut}}
Username = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


@router.get("/me", response_model=AccountOut, responses=_ERRORS)
def get_me(me: CurrentUser, session: SessionDep) -> AccountOut:
    """The caller's account (with email; never the password hash)."""
    return account_out(accounts.get_account(session, me.user_id))


@router.patch("/me", response_model=AccountOut, responses=_ERRORS)
def patch_me(body: AccountPatchIn, me: CurrentUser, request: Request, engine: EngineDep,
             throttle: ThrottleDep) -> AccountOut:
    """Change display name, language and/or password.

    A password change needs ``current_password`` and ends every session of the
    account, this one included: log in again with the new password.
    """
    user = accounts.update_me(engine, throttle, me.user_id, ip=security.client_ip(request),
                              display_name=body.display_name, locale=body.locale,
                              clear_display_name="display_name" in body.model_fields_set,
                              current_password=body.current_password, new_password=body.new_password)
    return account_out(user)


@router.delete("/me", status_code=204, responses=_ERRORS)
def delete_me(body: PasswordConfirmIn, me: CurrentUser, request: Request, engine: EngineDep,
              throttle: ThrottleDep) -> Response:
    """Delete the caller's account with their ratings, reviews, lists and sessions (password required)."""
    accounts.delete_account(engine, throttle, me.user_id, body.password, ip=security.client_ip(request))
    response = Response(status_code=204)
    security.clear_session_cookie(response, request)
    return response


@router.get("/{username}", response_model=PublicProfileOut, responses=_ERRORS)
def get_profile(username: Username, session: SessionDep) -> PublicProfileOut:
    """A member's public profile: name, join date, counts, latest ratings and public reviews."""
    return public_profile_out(members.public_profile(session, username))
