"""Request-side security: session cookies and bearer tokens, CSRF, origin and content-type checks.

- Pages hold the session in a cookie: ``__Host-cinerec_session`` under https
  (``Secure``, ``Path=/``, no ``Domain``), ``cinerec_session`` on plain http
  (development), always ``HttpOnly`` and ``SameSite=Lax``.
- API clients send ``Authorization: Bearer <token>``. Both are server-side
  sessions (:mod:`cinerec.service.accounts`), revocable at any time.
- Form posts carry a CSRF token (:func:`csrf_token` / :func:`verify_csrf`):
  bound to the session (an HMAC of the session token, which the page script
  cannot read) when logged in, a double-submit cookie before login. Every
  unsafe request authenticated by cookie must also come from this origin
  (``Sec-Fetch-Site``/``Origin``: :func:`check_same_origin`).
- JSON endpoints refuse other body types with 415 (:func:`require_json`), so a
  cross-site ``text/plain`` form cannot reach them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from email.message import Message

from fastapi import HTTPException, Request, Response

from cinerec.errors import PermissionDenied

#: Methods that change nothing (no CSRF or origin check).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The CSRF form field and header names.
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"


def is_https(request: Request) -> bool:
    """Whether the request came over https (as seen by the app, after a trusted proxy's headers)."""
    return request.url.scheme == "https"


def session_cookie_name(request: Request) -> str:
    """``__Host-cinerec_session`` under https, ``cinerec_session`` on plain http."""
    return "__Host-cinerec_session" if is_https(request) else "cinerec_session"


def csrf_cookie_name(request: Request) -> str:
    """The double-submit CSRF cookie used before login."""
    return "__Host-cinerec_csrf" if is_https(request) else "cinerec_csrf"


def set_session_cookie(response: Response, request: Request, token: str, expires_at: datetime) -> None:
    """Send the session cookie (HttpOnly, SameSite=Lax, Path=/, Secure under https)."""
    max_age = max(0, int((expires_at - datetime.now(expires_at.tzinfo)).total_seconds()))
    response.set_cookie(session_cookie_name(request), token, max_age=max_age, path="/", secure=is_https(request),
                        httponly=True, samesite="lax")


def clear_session_cookie(response: Response, request: Request) -> None:
    """Delete the session cookie in the browser."""
    response.delete_cookie(session_cookie_name(request), path="/", secure=is_https(request), httponly=True,
                           samesite="lax")


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def cookie_token(request: Request) -> str | None:
    """The session token of the session cookie, if any."""
    return request.cookies.get(session_cookie_name(request)) or None


def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request a browser sent from another site.

    ``Sec-Fetch-Site`` must be ``same-origin`` or ``none`` (typed or bookmarked)
    when present; an ``Origin`` header, when present, must equal this site's.

    Raises:
        PermissionDenied: cross-site request.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise PermissionDenied("cross-site request refused", details={"reason": "sec-fetch-site"})
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin != own:
            raise PermissionDenied("cross-origin request refused", details={"reason": "origin"})


def csrf_token_for(session_token: str) -> str:
    """The CSRF token bound to one session token (an HMAC the page script cannot forge without the cookie)."""
    return hmac.new(session_token.encode(), b"cinerec-csrf", hashlib.sha256).hexdigest()


def csrf_token(request: Request, response: Response | None = None) -> str:
    """The CSRF token to put in a form (field ``csrf_token``) or header (``X-CSRF-Token``).

    Logged in: an HMAC of the session token (changes with the session). Before
    login: the value of a random double-submit cookie, set on ``response`` when
    the browser has none yet.
    """
    session = cookie_token(request)
    if session:
        return csrf_token_for(session)
    current = request.cookies.get(csrf_cookie_name(request))
    if current:
        return current
    fresh = secrets.token_urlsafe(32)
    if response is not None:
        response.set_cookie(csrf_cookie_name(request), fresh, path="/", secure=is_https(request), httponly=True,
                            samesite="lax")
    return fresh


def verify_csrf(request: Request, submitted: str | None) -> None:
    """Check a form post's CSRF token and origin (call before any write a form triggers).

    Raises:
        PermissionDenied: missing or wrong token, a token of another session, or a cross-site post.
    """
    check_same_origin(request)
    if request.method in SAFE_METHODS:
        return
    session = cookie_token(request)
    if session:
        expected: str | None = csrf_token_for(session)
    else:
        expected = request.cookies.get(csrf_cookie_name(request))
    if not submitted or not expected or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise PermissionDenied("the form's security token is missing or wrong; reload the page and try again",
                               details={"reason": "csrf"})


def _media_type(request: Request) -> str | None:
    value = request.headers.get("content-type")
    if not value:
        return None
    msg = Message()
    msg["content-type"] = value
    return msg.get_content_type()


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


def require_json(request: Request) -> None:
    """Dependency: a request with a body must send ``application/json`` (or ``+json``); else 415."""
    if request.method in SAFE_METHODS or not _has_body(request):
        return
    kind = _media_type(request)
    if kind is None or not (kind == "application/json" or kind.endswith("+json")):
        raise HTTPException(415, "send the body as application/json")


def require_json_or_form(request: Request) -> None:
    """Dependency: JSON or an urlencoded form (the OAuth2 password flow); else 415."""
    if request.method in SAFE_METHODS or not _has_body(request):
        return
    kind = _media_type(request)
    if kind == "application/x-www-form-urlencoded":
        return
    require_json(request)


def client_ip(request: Request) -> str:
    """The client address as the app sees it (the proxy's, unless run with trusted proxy headers)."""
    return request.client.host if request.client else "unknown"
