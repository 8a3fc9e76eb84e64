"""One place that maps exceptions to HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cinerec.errors import (
    AuthenticationFailed,
    CinerecError,
    Conflict,
    DataFormatError,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RateLimited,
)

log = logging.getLogger("cinerec.web")

STATUS: dict[type[CinerecError], int] = {
    NotFound: 404, Conflict: 409, PermissionDenied: 403, DataFormatError: 422, InvalidParameter: 422,
    AuthenticationFailed: 401, RateLimited: 429,
}


def _body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _respond(request: Request, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> Any:
    if _wants_html(request):
        templates = request.app.state.templates
        return templates.TemplateResponse(request, "error.html", {"status": status, "message": message}, status_code=status, headers=headers)
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
    async def _db_busy(request: Request, exc: OperationalError) -> Any:
        log.error("database unavailable: %s", exc.orig)
        return _respond(request, 503, "unavailable", "the database is busy or unavailable; retry shortly", None, {"Retry-After": "2"})

    @app.exception_handler(SQLAlchemyError)
    async def _db(request: Request, exc: SQLAlchemyError) -> Any:
        log.exception("database error")
        return _respond(request, 500, "internal", "internal error")

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> Any:
        log.exception("unhandled error")
        return _respond(request, 500, "internal", "internal error")
