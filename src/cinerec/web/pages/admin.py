"""The admin area: model versions (train, activate, roll back), dataset imports, member accounts.

Visitors are sent to the login page, members who are not admins get 403.
Training and imports run as background jobs; the page shows the job's state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from cinerec.errors import InvalidParameter, NotFound
from cinerec.service import accounts, views
from cinerec.service.jobs import Job
from cinerec.service.registry import ModelRegistry
from cinerec.web.deps import EngineDep, JobsDep, SessionDep, SessionRoute
from cinerec.web.pages._render import (
    PAGE_SIZE,
    Token,
    Viewer,
    check_form,
    login_redirect,
    pages_of,
    redirect,
    render,
    require_admin,
)

router = APIRouter(route_class=SessionRoute, prefix="/admin", include_in_schema=False)

Version = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
JobId = Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.service.registry
    return registry


def _job(jobs: JobsDep, job_id: str | None) -> Job | None:
    if job_id is None:
        return None
    try:
        return jobs.get(job_id)
    except NotFound:
        return None


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, viewer: Viewer) -> Response:
    """The admin area starts at the models."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    return redirect("/admin/models")


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, viewer: Viewer, jobs: JobsDep, job: JobId = None) -> Response:
    """Every published model version: what it learned from, its settings and metrics, which one serves."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    return render(request, "admin_models.html", {"view": views.models(_registry(request)), "job": _job(jobs, job)})


@router.post("/models/train")
def train(request: Request, viewer: Viewer, jobs: JobsDep,
          algo: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")],
          activate: Annotated[str, Form(max_length=3)] = "", csrf_token: Token = "") -> Response:
    """Start training a new version from the database (a background job)."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    check_form(request, csrf_token)
    if algo not in views.models(_registry(request)).algorithms:
        raise InvalidParameter(f"unknown algorithm {algo!r}",
                               details={"fields": [{"loc": ["body", "algo"], "type": "value_error"}]})
    job = jobs.train(algo, {}, activate=activate == "yes")
    return redirect(f"/admin/models?job={job.id}")


@router.post("/models/rollback")
def rollback(request: Request, viewer: Viewer, csrf_token: Token = "") -> Response:
    """Serve the previously active version again."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    check_form(request, csrf_token)
    _registry(request).rollback()
    return redirect("/admin/models")


@router.post("/models/{version}/activate")
def activate(request: Request, version: Version, viewer: Viewer, csrf_token: Token = "") -> Response:
    """Serve this version from the next request on."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    check_form(request, csrf_token)
    _registry(request).activate(version)
    return redirect("/admin/models")


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, viewer: Viewer, jobs: JobsDep, job: JobId = None) -> Response:
    """Upload a dataset to import."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    return render(request, "admin_imports.html", {"job": _job(jobs, job)})


@router.post("/imports")
def start_import(request: Request, viewer: Viewer, jobs: JobsDep, file: UploadFile,
                 csrf_token: Token = "") -> Response:
    """Save the uploaded file and import it in a background job."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    check_form(request, csrf_token)
    job = jobs.import_file(jobs.save_upload(file.filename, file.file))
    return redirect(f"/admin/imports?job={job.id}")


@router.get("/members", response_class=HTMLResponse)
def members_page(request: Request, viewer: Viewer, session: SessionDep,
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """Site accounts, newest first, with a switch to disable or re-enable each."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    rows, total = views.accounts(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(request, "admin_members.html", {"rows": rows, "total": total, "page": page,
                                                  "pages": pages_of(total)})


@router.post("/members/{user_id}/{action}")
def set_active(request: Request, user_id: UserId, action: Annotated[str, Path(pattern="^(disable|enable)$")],
               viewer: Viewer, engine: EngineDep, csrf_token: Token = "") -> Response:
    """Disable an account (its sessions end at once) or enable it again."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    check_form(request, csrf_token)
    accounts.set_active(engine, viewer, user_id, action == "enable")
    return redirect("/admin/members")
