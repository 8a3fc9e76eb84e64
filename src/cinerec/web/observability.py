"""Request ids, request metrics, log lines that name their request, and ``/metrics``.

- :class:`~cinerec.web.middleware.RequestId` (outermost middleware) gives every request an id: the
  caller's ``X-Request-ID`` when it is a short safe token
  (:data:`~cinerec.web.middleware.SAFE_REQUEST_ID`), else a new random one. The id is echoed in the
  response's ``X-Request-ID``, held in a context variable for the request's
  duration (sync routes run in threads that inherit it), put into every error
  body's ``details.request_id`` (:mod:`cinerec.web.errors`) and into every log
  record as ``record.request_id`` (:func:`install_log_record_factory`; ``-``
  outside a request).
- :class:`RequestMetrics` times each request into
  ``cinerec_http_request_duration_seconds`` labelled with the matched route's
  template, the method and the status class.
- :func:`install_metrics_route` serves ``/metrics`` (not in the OpenAPI
  schema), public unless ``CINEREC_METRICS_TOKEN`` is set.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import Histogram

from cinerec.errors import AuthenticationFailed
from cinerec.service import metrics
from cinerec.web.middleware import ASGIApp, Message, Receive, Scope, Send, current_request_id

#: The route label of requests that matched no route (404s, slash redirects): one value, not one per path.
UNMATCHED = "unmatched"
#: Methods kept as labels; any other method a client invents counts as ``OTHER`` (no series per made-up verb).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Log line format of ``cinerec serve``: every line names its request (``-`` outside one).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def route_template(scope: Scope) -> str:
    """The matched route's full path template (``/api/v1/movies/{movie_id}``), or :data:`UNMATCHED`.

    FastAPI releases that keep included routers nested leave the route's own
    path (without the router's prefix) in ``scope["route"]`` and the full
    template in the effective route context; older ones copy each route with
    its full path into ``scope["route"]``.
    """
    fastapi_scope = scope.get("fastapi")
    context = fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    path = getattr(context, "path_format", None)
    if not isinstance(path, str) or not path:
        path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    """Time every HTTP request into ``cinerec_http_request_duration_seconds``.

    Labels: the route template the router matched (raw paths never become
    labels, so ids cannot multiply the series), the method (:data:`METHODS`,
    else ``OTHER``) and the status class. The time runs until the response's last body message; a request
    whose application raised counts as ``5xx``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # (route, method, status class) -> the histogram's child: skips labels()' lock and checks per request
        self._series: dict[tuple[str, str, str], Histogram] = {}

    def _observe(self, route: str, method: str, status: str, seconds: float) -> None:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = metrics.HTTP_REQUEST_DURATION.labels(route, method, status)
        series.observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        done: list[float] = []

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.append(time.perf_counter())

        try:
            await self.app(scope, receive, send_timed)
        finally:
            end = done[0] if done else time.perf_counter()
            method = scope.get("method", "")
            self._observe(route_template(scope), method if method in METHODS else "OTHER", metrics.status_class(status),
                          end - start)


def install_log_record_factory() -> None:
    """Make every log record carry ``request_id`` (the current request's, ``-`` outside one).

    Wraps the process's record factory once (calling it again changes
    nothing), so the attribute is there for every handler: the server's
    console, a file, a test's capture.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "_cinerec_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        record.request_id = current_request_id() or "-"
        return record

    factory._cinerec_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``cinerec serve``: uvicorn's and cinerec's lines on
    stderr in :data:`LOG_FORMAT`, each naming its request id."""
    handler = {"class": "logging.StreamHandler", "formatter": "cinerec", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cinerec": {"()": "logging.Formatter", "fmt": LOG_FORMAT,
                                   "defaults": {"request_id": "-"}}},
        "handlers": {"default": handler},
        "loggers": {name: {"handlers": ["default"], "level": level, "propagate": False}
                    for name in ("cinerec", "uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def install_metrics_route(app: FastAPI, token: str | None) -> None:
    """Serve ``/metrics`` in Prometheus' text format, outside the OpenAPI schema.

    Args:
        app: the application.
        token: when set, only ``Authorization: Bearer <token>`` is answered
            (401 otherwise, compared in constant time); ``None`` leaves the
            endpoint public, as Prometheus scrapes it on an internal network.
    """
    expected = f"Bearer {token}".encode() if token else None

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        """The process's (or, in multiprocess mode, the deployment's) metrics."""
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, expected):
                raise AuthenticationFailed("a valid metrics token is required")
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)
