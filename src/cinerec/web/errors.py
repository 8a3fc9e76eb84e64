"""One place that maps exceptions to HTTP responses.

Every JSON error body carries the request's id in ``details.request_id``
(the id :class:`~cinerec.web.middleware.RequestId` gave the request and
echoes in ``X-Request-ID``). Server-side failures (5xx) are logged with that
id so an operator can find the log line; the answer itself never holds a
traceback, SQL or a path. A database that is locked past ``busy_timeout`` or cannot be reached is
a 503 with ``Retry-After`` (the client may retry); any other database error
is a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from cinerec.errors import (
    AuthenticationFailed,
    CinerecError,
    Conflict,
    DataFormatError,
    Gone,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from cinerec.web.middleware import current_request_id, new_request_id

log = logging.getLogger("cinerec.web")

STATUS: dict[type[CinerecError], int] = {
    Gone: 410, NotFound: 404, Conflict: 409, PermissionDenied: 403, DataFormatError: 422, InvalidParameter: 422,
    AuthenticationFailed: 401, RateLimited: 429,
}


def _body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error envelope, with the current request's id added to ``details``."""
    details = dict(details or {})
    request_id = current_request_id()
    if request_id is not None:
        details["request_id"] = request_id
    return {"error": {"code": code, "message": message, "details": details}}


#: SQLite / PostgreSQL messages of an OperationalError that mean "busy or unreachable: retry later".
_UNAVAILABLE = ("database is locked", "database table is locked", "database is busy", "unable to open database file",
                "could not connect", "connection refused", "server closed the connection", "timeout expired")
#: Seconds a client should wait before retrying a 503.
RETRY_AFTER_S = 2


def is_unavailable(exc: OperationalError) -> bool:
    """Whether a database error means busy/unreachable (503, retry) rather than a bug (500)."""
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return any(marker in text for marker in _UNAVAILABLE)


def _server_error(request: Request, exc: BaseException, status: int, code: str, message: str,
                  headers: dict[str, str] | None = None) -> Any:
    """Log ``exc`` with the request's id (traceback in the log only) and answer without internals."""
    request_id = current_request_id() or new_request_id()
    log.error("%s %s -> %d [request_id=%s]: %s", request.method, request.url.path, status, request_id,
              type(exc).__name__, exc_info=exc)
    return _respond(request, status, code, message, {"request_id": request_id},
                    {**(headers or {}), "X-Request-ID": request_id})


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _respond(request: Request, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> Any:
    if _wants_html(request):
        templates = request.app.state.templates
        return templates.TemplateResponse(request, "error.html", {"status": status, "message": message}, status_code=status, headers=headers)
    return error_response(status, code, message, details, headers)


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON answer in the API's error envelope; ``details`` gains the request's id."""
    return JSONResponse(_body(code, message, details), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(CinerecError)
    async def _cinerec(request: Request, exc: CinerecError) -> Any:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, AuthenticationFailed):
            headers = {"WWW-Authenticate": "Bearer"}
        return _respond(request, status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Any:
        details = {"fields": [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]}
        first = details["fields"][0] if details["fields"] else {"loc": [], "msg": "invalid request"}
        return _respond(request, 422, "validation_error", f"{'.'.join(first['loc'])}: {first['msg']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "bad_request",
                415: "unsupported_media_type"}.get(exc.status_code, "http_error")
        return _respond(request, exc.status_code, code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_operational(request: Request, exc: OperationalError) -> Any:
        if is_unavailable(exc):
            return _server_error(request, exc, 503, "unavailable", "the database is busy or unavailable; retry shortly",
                                 {"Retry-After": str(RETRY_AFTER_S)})
        return _server_error(request, exc, 500, "internal", "internal error")

    @app.exception_handler(SQLAlchemyError)
    async def _db(request: Request, exc: SQLAlchemyError) -> Any:
        if isinstance(exc, PoolTimeout):  # every pooled connection in use for pool_timeout seconds
            return _server_error(request, exc, 503, "unavailable", "the database is busy or unavailable; retry shortly",
                                 {"Retry-After": str(RETRY_AFTER_S)})
        return _server_error(request, exc, 500, "internal", "internal error")

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> Any:
        return _server_error(request, exc, 500, "internal", "internal error")
