"""The JSON API under ``/api/v1``."""

from typing import Any

from fastapi import APIRouter

from cinerec.web.api import (
    admin,
    auth,
    experiments,
    explore,
    health,
    lists,
    me,
    members,
    models,
    movies,
    social,
    users,
)
from cinerec.web.deps import SessionRoute
from cinerec.web.schemas import ErrorOut

#: Errors any operation may answer: a body that is not valid JSON (400), a body over the size limit (413),
#: the database busy or unreachable (503, with ``Retry-After``).
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed request body"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    503: {"model": ErrorOut, "description": "Database busy or unavailable; retry after Retry-After seconds"},
}

router = APIRouter(route_class=SessionRoute, prefix="/api/v1", responses=COMMON_ERRORS)
# FastAPI matches a path against the routes in this order, one by one (about 60 checks for the last router's
# routes): the busiest come first. No two routers share a method and path, so the order changes nothing else.
for sub in (health, me, members, movies, explore, social, lists, users, auth, models, admin, experiments):
    router.include_router(sub.router)

__all__ = ["router"]
