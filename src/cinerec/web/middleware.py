"""Pure ASGI middleware: request ids, security headers, HEAD, request-body limit, relative slash redirects.

Written against the raw ASGI interface (no ``BaseHTTPMiddleware``) so that
they cost little per request and can act on the body stream itself.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The site's Content-Security-Policy: nothing inline, nothing from other origins except TMDB posters.
CSP = ("default-src 'self'; img-src 'self' data: https://image.tmdb.org; style-src 'self'; "
       "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
#: The API docs page's policy: its packaged Swagger UI files, the schema fetch, and nothing else.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


#: What an incoming ``X-Request-ID`` must look like to be kept: 1-64 letters, digits, ``.``, ``_``, ``-``.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_request_id: ContextVar[str | None] = ContextVar("cinerec_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this context, ``None`` outside a request."""
    return _request_id.get()


def new_request_id() -> str:
    """A fresh random request id (16 hex digits)."""
    return secrets.token_hex(8)


def accept_request_id(value: str | None) -> str:
    """``value`` when it is a safe token (:data:`SAFE_REQUEST_ID`), else a fresh id."""
    if value is not None and SAFE_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


class RequestId:
    """Outermost middleware: give each HTTP request an id and echo it in ``X-Request-ID``.

    The header is added to every response, the 500s of Starlette's
    ``ServerErrorMiddleware`` included, unless the application set it itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope.get("headers", []) if k.lower() == b"x-request-id"), None)
        request_id = accept_request_id(incoming.decode("latin-1") if incoming is not None else None)
        raw = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if all(k.lower() != b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", raw))
                message = {**message, "headers": headers}
            await send(message)

        token = _request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


async def send_json_error(send: Send, status: int, code: str, message: str, details: dict[str, Any],
                          extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with the API's error envelope ``{"error": {"code", "message", "details"}}``.

    The current request's id is added to ``details`` as ``request_id`` (inside :class:`RequestId`).
    """
    request_id = current_request_id()
    if request_id is not None:
        details = {**details, "request_id": request_id}
    body = json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Add the security headers to every HTTP response (when the route did not set them).

    ``nosniff``, ``Referrer-Policy``, ``X-Frame-Options: DENY``, a
    Content-Security-Policy chosen by path prefix (the first matching entry of
    ``csp_by_prefix``, else ``csp``), HSTS under https, and ``charset=utf-8``
    on JSON and text responses that lack a charset.
    """

    def __init__(self, app: ASGIApp, csp: str = CSP, csp_by_prefix: tuple[tuple[str, str], ...] = ()) -> None:
        self.app = app
        self.csp = csp
        self.csp_by_prefix = csp_by_prefix

    def _policy(self, path: str) -> str:
        return next((p for prefix, p in self.csp_by_prefix if path.startswith(prefix)), self.csp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        policy = self._policy(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                wanted = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"strict-origin-when-cross-origin"),
                          (b"content-security-policy", policy.encode()), (b"x-frame-options", b"DENY")]
                if https:
                    wanted.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                headers += [(k, v) for k, v in wanted if k not in present]
                for i, (k, v) in enumerate(headers):
                    if k.lower() == b"content-type" and b"charset" not in v and (v.startswith(b"text/") or v == b"application/json"):
                        headers[i] = (k, v + b"; charset=utf-8")
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """Answer ``HEAD`` like ``GET`` without the body (uptime and link checkers use HEAD).

    The route runs as for GET, so the status and headers, ``Content-Length``
    included, are the ones GET would give.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_headers_only)
        finally:
            # what routing found (the matched route...) for the request metrics outside this middleware
            scope.update((k, v) for k, v in as_get.items() if k != "method")


class BodyLimit:
    """Refuse request bodies over a size limit with 413, before the application sees them.

    A declared ``Content-Length`` over the limit is refused at once. Any
    other body (a smaller ``Content-Length``, or ``Transfer-Encoding:
    chunked``, which declares no length) is read here first, counting the
    bytes of each ``http.request`` message; the moment the count passes the
    limit the request is answered 413 and nothing more is read. Only a body
    within the limit is handed on (replayed from memory), so no route ever
    starts on an oversized body and nothing is written. Requests without a
    body pass through untouched.

    Args:
        app: the wrapped application.
        max_body: the limit in bytes.
        limits: larger (or smaller) limits for path prefixes, e.g. an upload route.
    """

    def __init__(self, app: ASGIApp, max_body: int, limits: tuple[tuple[str, int], ...] = ()) -> None:
        self.app = app
        self.max_body = max_body
        self.limits = limits

    def limit_for(self, path: str) -> int:
        """The byte limit that applies to ``path``."""
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.max_body)

    async def _too_large(self, send: Send, limit: int) -> None:
        await send_json_error(send, 413, "payload_too_large", f"request body over {limit} bytes", {"limit": limit},
                              [(b"connection", b"close")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length, chunked = headers.get(b"content-length"), b"transfer-encoding" in headers
        if length is None and not chunked:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._too_large(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RelativeSlashRedirect:
    """The router's fallback: redirect ``/path/`` <-> ``/path`` with a relative ``Location``.

    Starlette's own slash redirect builds an absolute URL from the request's
    ``Host`` header, which lets a forged Host header choose where the redirect
    points. This one answers ``307`` with ``Location: /path?query`` (never a
    scheme-relative ``//host`` form), and otherwise defers to ``not_found``.

    Args:
        router: the application's router (its routes are matched against the other spelling).
        not_found: the ASGI app answering when no route matches either spelling.
    """

    def __init__(self, router: Any, not_found: ASGIApp) -> None:
        self.router = router
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path not in ("", "/"):
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if other and not other.startswith("//") and self._matches({**scope, "path": other}):
                query = scope.get("query_string", b"").decode("latin-1")
                location = quote(other, safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
                await send({"type": "http.response.start", "status": 307,
                            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.not_found(scope, receive, send)

    def _matches(self, scope: Scope) -> bool:
        from starlette.routing import Match

        return any(route.matches(scope)[0] != Match.NONE for route in self.router.routes)
