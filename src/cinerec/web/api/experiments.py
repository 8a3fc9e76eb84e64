"""A/B experiments between recommenders (admins only: 401 anonymous, 403 members).

Create a draft, start it, ramp its traffic, stop it, and read its report:
members, impressions and the metrics per variant, lifts with intervals, the
sample ratio mismatch check, the always-valid p-values and the decision.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cinerec.service import experiments as exps
from cinerec.service.experiments import ExperimentService, VariantSpec
from cinerec.service.registry import ModelRegistry
from cinerec.web import security
from cinerec.web.deps import AdminUser, EngineDep, ExperimentsDep, SessionRoute
from cinerec.web.present import experiment_out, report_out
from cinerec.web.schemas import (
    ErrorOut,
    ExperimentIn,
    ExperimentOut,
    ExperimentReportOut,
    ListOut,
    RampIn,
)

router = APIRouter(route_class=SessionRoute, prefix="/admin/experiments", tags=["experiments"])
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                           404: {"model": ErrorOut}, 409: {"model": ErrorOut},
                                           415: {"model": ErrorOut}, 422: {"model": ErrorOut}}
Name = Annotated[str, Path(min_length=1, max_length=64, pattern=exps.NAME_PATTERN)]
_WRITE = [Depends(security.require_json)]


def _registry(request: Request) -> ModelRegistry:
    reg: ModelRegistry = request.app.state.service.registry
    return reg


def _out(info: exps.ExperimentInfo, experiments: ExperimentService) -> ExperimentOut:
    return experiment_out(info, any(r.id == info.id for r in experiments.running))


def _changed(info: exps.ExperimentInfo, experiments: ExperimentService) -> ExperimentOut:
    """After a change: this process serves the new state at once (the others within their poll interval)."""
    experiments.refresh()
    return _out(info, experiments)


@router.get("", response_model=ListOut[ExperimentOut], responses=_ERRORS)
def list_experiments(_admin: AdminUser, engine: EngineDep, experiments: ExperimentsDep) -> ListOut[ExperimentOut]:
    """Every experiment, newest first."""
    data = [_out(i, experiments) for i in exps.list_experiments(engine)]
    return ListOut[ExperimentOut](data=data, count=len(data))


@router.post("", status_code=201, response_model=ExperimentOut, responses=_ERRORS, dependencies=_WRITE)
def create_experiment(body: ExperimentIn, _admin: AdminUser, request: Request, engine: EngineDep,
                      experiments: ExperimentsDep, response: Response) -> ExperimentOut:
    """Define a draft experiment between registered model versions (404 for an unknown version, 409 for a taken name).

    Weights are relative; the first variant is the control. A variant's
    ``diversity`` re-ranks its model's lists by MMR, so one version with and
    without re-ranking can be tested against each other.
    """
    info = exps.create(engine, _registry(request), body.name,
                       [VariantSpec(v.name, v.model_version, v.weight, v.diversity) for v in body.variants],
                       metric=body.metric,
                       traffic=body.traffic, guardrails=body.guardrails, min_sample=body.min_sample,
                       window_days=body.window_days)
    response.headers["Location"] = f"/api/v1/admin/experiments/{info.name}"
    return _out(info, experiments)


@router.get("/{name}", response_model=ExperimentOut, responses=_ERRORS)
def get_experiment(name: Name, _admin: AdminUser, engine: EngineDep, experiments: ExperimentsDep) -> ExperimentOut:
    """One experiment."""
    return _out(exps.get(engine, name), experiments)


@router.post("/{name}/start", response_model=ExperimentOut, responses=_ERRORS, dependencies=_WRITE)
def start_experiment(name: Name, _admin: AdminUser, request: Request, engine: EngineDep,
                     experiments: ExperimentsDep) -> ExperimentOut:
    """Open the experiment to members (409 once stopped)."""
    return _changed(exps.start(engine, _registry(request), name), experiments)


@router.post("/{name}/stop", response_model=ExperimentOut, responses=_ERRORS, dependencies=_WRITE)
def stop_experiment(name: Name, _admin: AdminUser, request: Request, engine: EngineDep,
                    experiments: ExperimentsDep) -> ExperimentOut:
    """Close the experiment: members get the active model again. A stopped experiment never restarts."""
    return _changed(exps.stop(engine, _registry(request), name), experiments)


@router.post("/{name}/ramp", response_model=ExperimentOut, responses=_ERRORS, dependencies=_WRITE)
def ramp_experiment(name: Name, body: RampIn, _admin: AdminUser, engine: EngineDep,
                    experiments: ExperimentsDep) -> ExperimentOut:
    """Change the fraction of members in it; raising it never moves a member already in."""
    return _changed(exps.ramp(engine, name, body.traffic), experiments)


@router.get("/{name}/report", response_model=ExperimentReportOut, responses=_ERRORS)
def experiment_report(
    name: Name, _admin: AdminUser, engine: EngineDep,
    cuped: Annotated[bool, Query(description="adjust the primary metric with pre-experiment activity")] = False,
    mde: Annotated[float, Query(gt=0, le=1, description="relative effect for the sample-size recommendation")] = 0.1,
    alpha: Annotated[float, Query(gt=0, le=0.2, description="significance level")] = 0.05,
) -> ExperimentReportOut:
    """The report: per variant members, impressions and metrics; lifts with intervals; SRM; always-valid p-values."""
    return report_out(exps.report(engine, name, cuped=cuped, mde=mde, alpha=alpha))
