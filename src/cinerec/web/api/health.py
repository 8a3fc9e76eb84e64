"""Probes for orchestrators and load balancers: liveness and readiness.

``/api/v1/health`` answers as long as the process can answer at all: it
touches neither the database nor the model, so a slow database never gets a
healthy process restarted. ``/api/v1/ready`` says whether this process can
serve real traffic now: the database answers a trivial query and a model
version is loaded. A process that is not ready answers 503 with the failed
checks and ``Retry-After``, so a balancer sends its traffic elsewhere.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import Engine, text

from cinerec import __version__
from cinerec.errors import NotFound
from cinerec.service.recommender import RecommenderService
from cinerec.web.deps import SessionRoute
from cinerec.web.errors import RETRY_AFTER_S, error_response
from cinerec.web.schemas import ErrorOut

router = APIRouter(route_class=SessionRoute, tags=["meta"])
log = logging.getLogger("cinerec.web")


class HealthOut(BaseModel):
    """Liveness: the process answers."""

    status: str
    version: str


class ReadyOut(BaseModel):
    """Readiness: every check passed.

    Attributes:
        status: ``"ready"``.
        checks: each check's result (``"ok"``).
        model_version: the loaded model version.
    """

    status: str
    checks: dict[str, str]
    model_version: str


@router.get("/health", response_model=HealthOut)
async def health() -> HealthOut:
    """Liveness: 200 while the process answers; touches neither the database nor the model."""
    return HealthOut(status="ok", version=__version__)


def _check_database(engine: Engine) -> str:
    """``"ok"`` when the database answers ``SELECT 1``, else why not (the error's type)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the log keeps the details
        log.warning("readiness: the database did not answer: %s", exc)
        return f"unavailable ({type(exc).__name__})"
    return "ok"


def _check_model(service: RecommenderService) -> tuple[str, str | None]:
    """``("ok", version)`` when a model version is loaded (loading the active one if none is yet), else why not."""
    try:
        live = service.live
    except NotFound:
        return "no model is active: run `cinerec train`", None
    except Exception as exc:  # a broken artifact: not ready, the log keeps the details
        log.warning("readiness: the active model could not be loaded: %s", exc)
        return f"the active model could not be loaded ({type(exc).__name__})", None
    return "ok", live.version


@router.get("/ready", response_model=ReadyOut,
            responses={503: {"model": ErrorOut, "description": "Not ready: the failed checks, with Retry-After"}})
def ready(request: Request) -> Any:
    """Readiness: 200 when the database answers and a model is loaded; 503 with the failed checks otherwise."""
    database = _check_database(request.app.state.engine)
    model, version = _check_model(request.app.state.service)
    checks = {"database": database, "model": model}
    if database == "ok" and model == "ok" and version is not None:
        return ReadyOut(status="ready", checks=checks, model_version=version)
    failed = ", ".join(f"{name}: {result}" for name, result in checks.items() if result != "ok")
    return error_response(503, "not_ready", f"not ready: {failed}", {"checks": checks},
                          {"Retry-After": str(RETRY_AFTER_S)})
