"""Account pages: sign up, log in, log out, settings, the language switch and onboarding.

Every form posts a CSRF token (checked before anything else) and every
successful post answers 303 with a relative ``Location`` to a GET page.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from cinerec.errors import (
    AuthenticationFailed,
    CinerecError,
    Conflict,
    InvalidParameter,
    RateLimited,
)
from cinerec.service import accounts, members, social_signals, views
from cinerec.web import i18n, security
from cinerec.web.deps import EngineDep, ServiceDep, SessionDep, SessionRoute, ThrottleDep
from cinerec.web.pages._labels import error_message
from cinerec.web.pages._render import (
    Viewer,
    check_form,
    gettext,
    locale_of,
    login_redirect,
    redirect,
    render,
    safe_next,
)
from cinerec.web.schemas import CleanStr

router = APIRouter(route_class=SessionRoute, include_in_schema=False)

Token = Annotated[str, Form(max_length=200)]
Password = Annotated[str, Form(max_length=1024)]
Next = Annotated[str, Form(max_length=500)]
LocaleField = Annotated[Literal["en", "zh_CN"], Form()]
#: Onboarding form fields: ``r<movie id>`` = stars.
_RATING_FIELD = re.compile(r"^r([1-9][0-9]{0,9})$")
_STARS = {f"{v / 2:g}": v / 2 for v in range(1, 11)}
#: People with the member's taste onboarding's last step suggests.
ONBOARDING_PEOPLE = 12


def _form_error(request: Request, template: str, exc: CinerecError, ctx: dict[str, object],
                status: int = 422) -> HTMLResponse:
    """Re-render a form with the error in the viewer's language (429 keeps its ``Retry-After``)."""
    resp = render(request, template, {**ctx, "error": error_message(exc, gettext(request))},
                  429 if isinstance(exc, RateLimited) else status)
    if isinstance(exc, RateLimited):
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


def _set_lang_cookie(response: Response, request: Request, locale: str) -> None:
    response.set_cookie(i18n.COOKIE, locale, max_age=365 * 24 * 3600, path="/", secure=security.is_https(request),
                        httponly=True, samesite="lax")


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request, viewer: Viewer) -> Response:
    """The sign-up form (members go to their home page)."""
    if viewer is not None:
        return redirect("/")
    return render(request, "signup.html", {"form": {}})


@router.post("/signup", response_class=HTMLResponse)
def signup(request: Request, engine: EngineDep, throttle: ThrottleDep, viewer: Viewer,
           username: Annotated[CleanStr, Form(max_length=64)] = "", email: Annotated[CleanStr, Form(max_length=254)] = "",
           password: Password = "", csrf_token: Token = "") -> Response:
    """Create the account, log it in and go to onboarding; the interface language is the one in use."""
    check_form(request, csrf_token)
    form = {"username": username, "email": email}
    ip = security.client_ip(request)
    try:
        accounts.signup(engine, throttle, username.strip(), email.strip() or None, password, ip=ip,
                        locale=locale_of(request))
        issued = accounts.login(engine, throttle, username.strip(), password, ip=ip, kind="cookie",
                                previous_token=security.cookie_token(request))
    except CinerecError as exc:
        return _form_error(request, "signup.html", exc, {"form": form}, 409 if isinstance(exc, Conflict) else 422)
    resp = redirect("/welcome")
    security.set_session_cookie(resp, request, issued.token, issued.expires_at)
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, viewer: Viewer, next: str = "/", done: str | None = None) -> Response:
    """The login form."""
    if viewer is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next), "form": {}, "done": done})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, engine: EngineDep, throttle: ThrottleDep, viewer: Viewer,
          username: Annotated[str, Form(max_length=254)] = "", password: Password = "", next: Next = "/",
          csrf_token: Token = "") -> Response:
    """Check the credentials, open a new session (the token rotates) and go back to ``next``."""
    check_form(request, csrf_token)
    try:
        issued = accounts.login(engine, throttle, username, password, ip=security.client_ip(request), kind="cookie",
                                previous_token=security.cookie_token(request))
    except CinerecError as exc:
        return _form_error(request, "login.html", exc, {"next": safe_next(next), "form": {"username": username}}, 401)
    resp = redirect(safe_next(next))
    security.set_session_cookie(resp, request, issued.token, issued.expires_at)
    return resp


@router.post("/logout")
def logout(request: Request, engine: EngineDep, viewer: Viewer, csrf_token: Token = "") -> Response:
    """End this session (revoked server-side) and forget the cookie."""
    check_form(request, csrf_token)
    token = security.cookie_token(request)
    if token:
        accounts.logout(engine, token)
    resp = redirect("/")
    security.clear_session_cookie(resp, request)
    return resp


@router.post("/lang")
def switch_language(request: Request, engine: EngineDep, viewer: Viewer, locale: LocaleField,
                    next: Next = "/", csrf_token: Token = "") -> Response:
    """Switch the interface language: a cookie for everybody, and the member's setting when logged in."""
    check_form(request, csrf_token)
    if viewer is not None:
        accounts.update_profile(engine, viewer.user_id, locale=locale)
    resp = redirect(safe_next(next))
    _set_lang_cookie(resp, request, locale)
    return resp


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, viewer: Viewer, session: SessionDep, done: str | None = None) -> Response:
    """Account settings: display name, language, password, deleting the account."""
    if viewer is None:
        return login_redirect(request)
    return render(request, "settings.html", {"account": accounts.get_account(session, viewer.user_id), "done": done})


def _settings_error(request: Request, session: SessionDep, viewer_id: int, exc: CinerecError,
                    section: str) -> HTMLResponse:
    return _form_error(request, "settings.html", exc, {"account": accounts.get_account(session, viewer_id),
                                                       "section": section},
                       401 if isinstance(exc, AuthenticationFailed) else 422)


@router.post("/settings/profile", response_class=HTMLResponse)
def save_profile(request: Request, viewer: Viewer, engine: EngineDep, session: SessionDep, locale: LocaleField,
                 display_name: Annotated[CleanStr, Form(max_length=200)] = "", csrf_token: Token = "") -> Response:
    """Save the display name and the interface language."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    try:
        accounts.update_profile(engine, viewer.user_id, display_name=display_name or None,
                                clear_display_name=not display_name.strip(), locale=locale)
    except CinerecError as exc:
        return _settings_error(request, session, viewer.user_id, exc, "profile")
    resp = redirect("/settings?done=profile")
    _set_lang_cookie(resp, request, locale)
    return resp


@router.post("/settings/password", response_class=HTMLResponse)
def change_password(request: Request, viewer: Viewer, engine: EngineDep, session: SessionDep, throttle: ThrottleDep,
                    current_password: Password = "", new_password: Password = "", csrf_token: Token = "") -> Response:
    """Change the password; every session ends, so the member logs in again with the new one."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    try:
        accounts.change_password(engine, throttle, viewer.user_id, current_password, new_password,
                                 ip=security.client_ip(request))
    except CinerecError as exc:
        return _settings_error(request, session, viewer.user_id, exc, "password")
    resp = redirect("/login?done=password")
    security.clear_session_cookie(resp, request)
    return resp


@router.post("/settings/delete", response_class=HTMLResponse)
def delete_account(request: Request, viewer: Viewer, engine: EngineDep, session: SessionDep, throttle: ThrottleDep,
                   password: Password = "", confirm: Annotated[str, Form(max_length=10)] = "",
                   csrf_token: Token = "") -> Response:
    """Delete the account with its ratings, reviews and lists (password and a ticked confirmation required)."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    try:
        if confirm != "yes":
            raise InvalidParameter("confirm", details={"fields": [{"loc": ["body", "confirm"], "type": "missing"}]})
        accounts.delete_account(engine, throttle, viewer.user_id, password, ip=security.client_ip(request))
    except CinerecError as exc:
        return _settings_error(request, session, viewer.user_id, exc, "delete")
    resp = redirect("/?done=deleted")
    security.clear_session_cookie(resp, request)
    return resp


@router.get("/welcome", response_class=HTMLResponse)
def onboarding_page(request: Request, viewer: Viewer, session: SessionDep, service: ServiceDep) -> Response:
    """After sign-up: rate about ten well-known, varied films (or skip) so "For you" has something to go on."""
    if viewer is None:
        return login_redirect(request)
    return render(request, "onboarding.html", {"step": "rate",
                                               "view": views.onboarding(session, service, viewer.user_id)})


async def _rating_fields(request: Request) -> dict[int, float]:
    """The onboarding form's ``r<movie id>`` star fields (empty ones skipped).

    Raises:
        InvalidParameter: a value that is not 0.5-5 in halves, or too many fields.
    """
    form = await request.form(max_fields=200)
    out: dict[int, float] = {}
    for key, value in form.multi_items():
        m = _RATING_FIELD.match(key)
        if m is None or value == "":
            continue
        if not isinstance(value, str) or value not in _STARS:
            raise InvalidParameter("rating must be 0.5 to 5 in steps of 0.5", details={
                "fields": [{"loc": ["body", key], "msg": "0.5 to 5 in steps of 0.5", "type": "value_error"}]})
        out[int(m.group(1))] = _STARS[value]
    if len(out) > 50:
        raise InvalidParameter("rate at most 50 films at once")
    return out


@router.post("/welcome")
def onboarding_save(request: Request, viewer: Viewer, engine: EngineDep,
                    ratings: Annotated[dict[int, float], Depends(_rating_fields)], csrf_token: Token = "") -> Response:
    """Save the onboarding ratings, then suggest people with the same taste to follow (the last step)."""
    if viewer is None:
        return login_redirect(request)
    check_form(request, csrf_token)
    members.rate_many(engine, viewer.user_id, ratings)
    return redirect("/welcome/people")


@router.get("/welcome/people", response_class=HTMLResponse)
def onboarding_people(request: Request, viewer: Viewer, session: SessionDep) -> Response:
    """Onboarding's last step: follow people with the member's taste, then "For you"."""
    if viewer is None:
        return login_redirect(request)
    return render(request, "onboarding.html", {
        "step": "people", "people": social_signals.suggested_members(session, viewer.user_id, k=ONBOARDING_PEOPLE),
        "n_following": social_signals.following_count(session, viewer.user_id)})
