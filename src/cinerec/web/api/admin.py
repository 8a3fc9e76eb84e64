"""Admin operations: train, activate and roll back models, import datasets, disable accounts.

Anonymous callers get 401, members 403. Training and imports run as
background jobs (the request handler never fits a model or parses a dataset).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile

from cinerec.service import accounts
from cinerec.service.jobs import Job
from cinerec.service.registry import ModelRegistry
from cinerec.service.worker import read_runs
from cinerec.web import security
from cinerec.web.deps import AdminUser, EngineDep, JobsDep, SessionRoute
from cinerec.web.schemas import ErrorOut, JobOut, ListOut, ModelOut, RetrainRunOut, TrainIn

router = APIRouter(route_class=SessionRoute, prefix="/admin", tags=["admin"])
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 415: {"model": ErrorOut},
           422: {"model": ErrorOut}}
Version = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _job_out(job: Job) -> JobOut:
    return JobOut(id=job.id, kind=job.kind, status=job.status, exit_code=job.process.poll(), error=job.error,
                  started_at=job.started_at)


def _model_out(request: Request, version: str) -> ModelOut:
    reg: ModelRegistry = request.app.state.service.registry
    v = reg.info(version)
    return ModelOut(version=v.version, algo=v.algo, created_at=v.created_at, active=reg.active_version() == version)


@router.post("/models/train", status_code=202, response_model=JobOut, responses=_ERRORS,
             dependencies=[Depends(security.require_json)])
def train(body: TrainIn, _admin: AdminUser, jobs: JobsDep) -> JobOut:
    """Start training a model version from the database (``cinerec train``) as a background job."""
    return _job_out(jobs.train(body.algo, body.params, activate=body.activate))


@router.post("/models/{version}/activate", response_model=ModelOut, responses=_ERRORS,
             dependencies=[Depends(security.require_json)])
def activate(version: Version, _admin: AdminUser, request: Request) -> ModelOut:
    """Serve this published version from the next request on."""
    info = request.app.state.service.registry.activate(version)
    return _model_out(request, info.version)


@router.post("/models/rollback", response_model=ModelOut, responses=_ERRORS,
             dependencies=[Depends(security.require_json)])
def rollback(_admin: AdminUser, request: Request) -> ModelOut:
    """Serve the previously active version again."""
    info = request.app.state.service.registry.rollback()
    return _model_out(request, info.version)


def _run_out(rec: dict[str, Any]) -> RetrainRunOut:
    metrics = rec["metrics"] if isinstance(rec.get("metrics"), dict) else {}
    fields = {k: rec.get(k) for k in ("started_at", "ended_at", "trigger", "algo", "version", "seconds", "reason", "error")}
    return RetrainRunOut(id=rec["id"], outcome=str(rec.get("outcome", "interrupted")), candidate_ndcg=metrics.get("candidate"),
                         active_ndcg=metrics.get("active"), **fields)


@router.get("/retrain-runs", response_model=ListOut[RetrainRunOut], responses=_ERRORS)
def retrain_runs(_admin: AdminUser, request: Request,
                 limit: Annotated[int, Query(ge=1, le=500, description="at most this many runs, newest first")] = 20,
                 ) -> ListOut[RetrainRunOut]:
    """The retraining worker's runs (``cinerec worker``), newest first: trigger, outcome, the gate's figures, errors."""
    reg: ModelRegistry = request.app.state.service.registry
    runs = read_runs(reg.root)
    return ListOut[RetrainRunOut](data=[_run_out(r) for r in runs[:limit]], count=len(runs))


@router.post("/imports", status_code=202, response_model=JobOut, responses=_ERRORS)
def start_import(file: UploadFile, _admin: AdminUser, jobs: JobsDep) -> JobOut:
    """Upload a dataset (a MovieLens .zip or a ratings file) and import it in a background job."""
    path = jobs.save_upload(file.filename, file.file)
    return _job_out(jobs.import_file(path))


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_ERRORS)
def get_job(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], _admin: AdminUser, jobs: JobsDep) -> JobOut:
    """A background job's status."""
    return _job_out(jobs.get(job_id))


@router.post("/users/{user_id}/disable", status_code=204, responses=_ERRORS,
             dependencies=[Depends(security.require_json)])
def disable_user(user_id: UserId, admin: AdminUser, engine: EngineDep) -> None:
    """Disable an account: its sessions end at once and it cannot log in."""
    accounts.set_active(engine, admin, user_id, False)
