"""Sign-up, bearer tokens and logout."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from cinerec.errors import AuthenticationFailed
from cinerec.service import accounts
from cinerec.web import security
from cinerec.web.deps import EngineDep, SessionRoute, ThrottleDep
from cinerec.web.present import account_out
from cinerec.web.schemas import AccountOut, CsrfOut, ErrorOut, SignupIn, TokenIn, TokenOut

router = APIRouter(route_class=SessionRoute, prefix="/auth", tags=["auth"])
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 415: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}}


@router.post("/signup", status_code=201, response_model=AccountOut, dependencies=[Depends(security.require_json)],
             responses={**_ERRORS, 409: {"model": ErrorOut}})
def signup(body: SignupIn, request: Request, engine: EngineDep, throttle: ThrottleDep) -> AccountOut:
    """Create an account (password: 8+ characters, not a common one). Throttled per client address."""
    user = accounts.signup(engine, throttle, body.username, body.email, body.password, ip=security.client_ip(request),
                           display_name=body.display_name, locale=body.locale)
    return account_out(user)


async def _credentials(request: Request) -> TokenIn:
    """JSON ``{"username","password"}`` or the OAuth2 password form (``grant_type=password``)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            form = await request.form()
            return TokenIn(username=str(form.get("username", "")), password=str(form.get("password", "")))
        return TokenIn.model_validate_json(await request.body())
    except ValidationError as exc:
        from fastapi.exceptions import RequestValidationError

        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


@router.post("/token", response_model=TokenOut, dependencies=[Depends(security.require_json_or_form)],
             responses=_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": TokenIn.model_json_schema()},
                 "application/x-www-form-urlencoded": {"schema": TokenIn.model_json_schema()}}}})
def token(creds: Annotated[TokenIn, Depends(_credentials)], request: Request, engine: EngineDep,
          throttle: ThrottleDep) -> TokenOut:
    """Exchange a username (or email) and password for a bearer token.

    The answer is the same 401 for an unknown account and a wrong password;
    after 10 failures in a minute for one account (or 50 from one address)
    every attempt gets 429 with ``Retry-After``.
    """
    issued = accounts.login(engine, throttle, creds.username, creds.password, ip=security.client_ip(request),
                            kind="bearer")
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.post("/session", response_model=CsrfOut, dependencies=[Depends(security.require_json)], responses=_ERRORS)
def session_login(body: TokenIn, request: Request, response: Response, engine: EngineDep,
                  throttle: ThrottleDep) -> CsrfOut:
    """Log in with the session cookie (for the site's own scripts): a new token at every login.

    The cookie is HttpOnly and SameSite=Lax, ``__Host-`` prefixed and Secure
    under https. The answer carries the CSRF token that form posts and
    script writes of this session must send.
    """
    security.check_same_origin(request)
    issued = accounts.login(engine, throttle, body.username, body.password, ip=security.client_ip(request),
                            kind="cookie", previous_token=security.cookie_token(request))
    security.set_session_cookie(response, request, issued.token, issued.expires_at)
    return CsrfOut(csrf_token=security.csrf_token_for(issued.token))


@router.post("/logout", status_code=204, responses={401: {"model": ErrorOut}})
def logout(request: Request, engine: EngineDep) -> Response:
    """Revoke the bearer token (or the session cookie) of this request; replaying it afterwards gets 401."""
    bearer = security.bearer_token(request)
    token_value = bearer or security.cookie_token(request)
    if bearer is None and token_value is not None:
        security.check_same_origin(request)
    if not token_value or not accounts.logout(engine, token_value):
        raise AuthenticationFailed("not logged in")
    response = Response(status_code=204)
    if bearer is None:
        security.clear_session_cookie(response, request)
    return response
