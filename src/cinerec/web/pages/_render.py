"""What every page shares: the viewer, the locale, the CSRF token, rendering and redirects.

Every template gets, through :func:`page_context` (a Jinja2 context
processor, so error pages get it too): ``_``/``ngettext`` and the number and
date formatters of the request's locale, ``html_lang``, the logged-in
``viewer`` (or ``None``), the form ``csrf_token``, ``here`` (the current
path, for "come back here" links), ``site_url`` (scheme and host, for links
that leave the site such as a share's public link), ``fill`` (see
:func:`fill`) and ``unread_count()`` (the member's unread notifications for
the navigation bar, read when the template calls it).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cinerec.errors import PermissionDenied
from cinerec.service import social
from cinerec.service.accounts import Principal, authenticate
from cinerec.web import i18n, security
from cinerec.web.deps import OptionalUser
from cinerec.web.pages import _labels as labels

#: Pages per list.
PAGE_SIZE = 24

#: Path ids of films, lists, shares, reviews (database integer range).
ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: A form's CSRF token field.
Token = Annotated[str, Form(max_length=200)]
#: A form's "come back here" path (checked with :func:`safe_next`).
Next = Annotated[str, Form(max_length=500)]
#: A page number of a paged list.
PageNo = Annotated[int, Query(ge=1, le=100_000)]


def pages_of(total: int, size: int = PAGE_SIZE) -> int:
    """How many pages of ``size`` rows ``total`` rows fill (at least one)."""
    return max(1, -(-total // size))


async def _viewer(request: Request, principal: OptionalUser) -> Principal | None:
    """The logged-in member (or ``None``), remembered on the request for the templates.

    The request's database session is remembered by the session dependency
    while the route runs, so the navigation's unread count reads through the
    connection the page already holds rather than a second one from the pool
    (two per page let a burst of page requests use up the pool and wait on
    each other).
    """
    request.state.viewer = principal
    return principal


#: The logged-in member of a page request, or ``None`` for a visitor.
Viewer = Annotated[Principal | None, Depends(_viewer)]


def viewer_of(request: Request) -> Principal | None:
    """The viewer resolved for this request; looked up from the session cookie when no route did it (error pages)."""
    if hasattr(request.state, "viewer"):
        viewer: Principal | None = request.state.viewer
        return viewer
    token = security.cookie_token(request)
    found = None
    if token:
        try:
            with request.app.state.sessionmaker() as session:
                found = authenticate(session, token)
        except Exception:  # an error page must render even when the database is down
            found = None
    request.state.viewer = found
    return found


def locale_of(request: Request) -> str:
    """The request's locale: the member's setting, the ``lang`` cookie, ``Accept-Language``, English."""
    viewer = viewer_of(request)
    return i18n.negotiate(viewer.locale if viewer else None, request.cookies.get(i18n.COOKIE),
                          request.headers.get("accept-language"))


def gettext(request: Request) -> Any:
    """The ``_`` of the request's locale, for messages built in a handler."""
    return i18n.gettext_for(locale_of(request))


def _csrf(request: Request) -> str:
    token = getattr(request.state, "csrf", None)
    if token is None:
        token = request.state.csrf = security.csrf_token(request)
    return str(token)


def here(request: Request) -> str:
    """The current path and query, relative (for ``next=`` parameters)."""
    q = request.url.query
    return request.url.path + (f"?{q}" if q else "")


def page_context(request: Request) -> dict[str, Any]:
    """Context for every template (a Jinja2 context processor)."""
    locale = locale_of(request)
    ctx = i18n.template_globals(locale)
    ctx.update({"viewer": viewer_of(request), "csrf_token": _csrf(request), "here": here(request),
                "stars": stars_text, "reason": labels.reason, "unread_count": lambda: unread_count(request),
                "site_url": site_url(request), "fill": fill})
    return ctx


def site_url(request: Request) -> str:
    """The site's public origin (``https://films.example``), without a trailing slash.

    ``CINEREC_PUBLIC_URL`` when set; otherwise the origin the request reached
    (its ``Host`` header, which a client controls: set the setting in production).
    """
    configured: str | None = request.app.state.settings.public_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


def fill(sentence: str, **fields: Any) -> Markup:
    """A translated sentence whose fields are HTML made by template macros (links to a member or a film).

    The sentence is escaped; each field is escaped too unless it is already
    markup (a macro's output, which escaped its own data), so no user text
    ever reaches the page unescaped: ``fill(_("{name} rated {film}"),
    name=ui.member_link(card), film=ui.film_link(m))``.
    """
    return Markup(escape(sentence)).format(**fields)


def unread_count(request: Request) -> int:
    """The viewer's unread notifications (0 for a visitor, or when the database cannot answer on an error page)."""
    viewer = viewer_of(request)
    if viewer is None:
        return 0
    try:
        page_session: Session | None = getattr(request.state, "db", None)
        if page_session is not None:
            return social.unread_count(page_session, viewer.user_id)
        with request.app.state.sessionmaker() as session:
            return social.unread_count(session, viewer.user_id)
    except SQLAlchemyError:  # the navigation bar of an error page must render even when the database is down
        return 0


def stars_text(value: float | None) -> str:
    """A rating as stars: ``4.5`` -> ``★★★★½``."""
    if value is None:
        return ""
    full = int(value)
    return "★" * full + ("½" if value - full >= 0.5 else "")


def render(request: Request, name: str, ctx: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """Render a template; sends the pre-login CSRF cookie when the browser has none yet."""
    carrier = Response()
    request.state.csrf = security.csrf_token(request, carrier)
    resp: HTMLResponse = request.app.state.templates.TemplateResponse(request, name, ctx or {}, status_code=status)
    for key, value in carrier.raw_headers:
        if key == b"set-cookie":
            resp.raw_headers.append((key, value))
    resp.headers["Cache-Control"] = "no-store" if viewer_of(request) else "no-cache"
    return resp


def safe_next(target: str | None, default: str = "/") -> str:
    """A relative redirect target on this site (``/path``), never another host or scheme."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or any(
            ord(c) < 32 for c in target):
        return default
    return target


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect to a path of this site (relative ``Location``)."""
    return RedirectResponse(safe_next(url), status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    """Send a visitor to the login page, coming back here afterwards."""
    return RedirectResponse(f"/login?next={quote(here(request), safe='/')}", status_code=303)


def check_form(request: Request, token: str | None) -> None:
    """Verify a form post's CSRF token and origin.

    Raises:
        PermissionDenied: missing or wrong token, or a cross-site post (403).
    """
    security.verify_csrf(request, token)


def require_admin(viewer: Principal) -> None:
    """Refuse a member who is not an admin.

    Raises:
        PermissionDenied: not an admin (403).
    """
    if not viewer.is_admin:
        raise PermissionDenied("admins only")
