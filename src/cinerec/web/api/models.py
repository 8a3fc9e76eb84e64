"""Read-only model registry endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cinerec.errors import NotFound
from cinerec.service.registry import ModelRegistry
from cinerec.web.deps import SessionRoute
from cinerec.web.schemas import ErrorOut, ListOut, ModelOut

router = APIRouter(route_class=SessionRoute, tags=["models"])


def _registry(request: Request) -> ModelRegistry:
    reg: ModelRegistry = request.app.state.service.registry
    return reg


@router.get("/models", response_model=ListOut[ModelOut])
def list_models(request: Request) -> ListOut[ModelOut]:
    """Published model versions, newest first."""
    reg = _registry(request)
    active = reg.active_version()
    data = [ModelOut(version=v.version, algo=v.algo, created_at=v.created_at, active=v.version == active) for v in reg.versions()]
    return ListOut[ModelOut](data=data, count=len(data))


@router.get("/models/active", response_model=ModelOut, responses={404: {"model": ErrorOut}})
def active_model(request: Request) -> ModelOut:
    """The version currently serving recommendations."""
    reg = _registry(request)
    version = reg.active_version()
    if version is None:
        raise NotFound("no model is active yet: run `cinerec train`")
    v = reg.info(version)
    return ModelOut(version=v.version, algo=v.algo, created_at=v.created_at, active=True)
