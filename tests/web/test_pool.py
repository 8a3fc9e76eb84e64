"""Bursts of simultaneous requests never exhaust the connection pool (each route hands its connection back when it ends).

FastAPI validates a sync route's response in the thread pool after the route
returns; a request holding its database connection until then waits for a
thread that routes blocked on the exhausted pool hold: a deadlock broken only
by the pool's 30 s timeout (503s). :class:`cinerec.web.deps.SessionRoute`
closes the session in the route's own thread.
"""

from __future__ import annotations

import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cinerec.web.api import router as api_router
from cinerec.web.deps import SessionRoute
from cinerec.web.pages import router as pages_router


def _routes(router):  # type: ignore[no-untyped-def]
    for route in router.routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner)
        else:
            yield route


def test_every_route_closes_its_session() -> None:
    routes = [r for r in [*_routes(api_router), *_routes(pages_router)] if isinstance(r, APIRoute)]
    assert len(routes) > 100
    assert [r.path for r in routes if not isinstance(r, SessionRoute)] == []
    sync = [r for r in routes if not inspect.iscoroutinefunction(r.endpoint)]
    assert sync and all(getattr(r.endpoint, "__wrapped__", None) is not None for r in sync)


def test_a_burst_of_simultaneous_requests_is_answered(site: TestClient) -> None:
    n = 60  # more than the pool's 15 connections and the 4 route threads together
    start = threading.Barrier(n)

    def one(i: int) -> int:
        start.wait()
        path = f"/api/v1/explore/profiles/{i % 40 + 1}/recommendations" if i % 2 else f"/movies/{i % 40 + 1}"
        return site.get(path, params={"k": 10} if i % 2 else None).status_code

    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(one, range(n), timeout=25))  # the deadlock ended only at the pool's 30 s timeout
    assert statuses == [200] * n
