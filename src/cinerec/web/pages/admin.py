"""The admin area: model versions (train, activate, roll back), dataset imports, member accounts, A/B experiments.

Visitors are sent to the login page, members who are not admins get 403.
Training and imports run as background jobs; the page shows the job's state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from cinerec.errors import CinerecError, Conflict, InvalidParameter, NotFound
from cinerec.experiments.plot import render_png
from cinerec.service import accounts, views
from cinerec.service import experiments as exps
from cinerec.service.jobs import Job
from cinerec.service.registry import ModelRegistry
from cinerec.web.deps import EngineDep, ExperimentsDep, JobsDep, SessionDep, SessionRoute
from cinerec.web.pages._render import (
    PAGE_SIZE,
    Token,
    Viewer,
    check_form,
    gettext,
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


# ------------------------------------------------------------------ A/B experiments
ExperimentName = Annotated[str, Path(min_length=1, max_length=64, pattern=exps.NAME_PATTERN)]
#: What a form may send for a model version (anything else is answered as an unknown version).
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FormText = Annotated[str, Form(max_length=200)]


def _experiment_error(exc: CinerecError, _: Callable[..., str], *, action: str = "create",
                      form: dict[str, Any] | None = None) -> tuple[str, int]:
    """A service error from an experiment form as a sentence in the viewer's language, and its status."""
    details = exc.details if isinstance(exc.details, dict) else {}
    if isinstance(exc, Conflict):
        if action == "create":
            return _("An experiment called {name} already exists.", name=(form or {}).get("name", "")), 409
        if action == "ramp":
            return _("This experiment is stopped: its traffic can no longer change."), 409
        return _("This experiment is stopped: a stopped experiment never runs again."), 409
    if isinstance(exc, NotFound):
        if action == "create":
            return _("Model version {version} does not exist.", version=details.get("version", "")), 404
        return _("A model version of this experiment no longer exists."), 404
    if isinstance(exc, InvalidParameter):
        if details.get("field") == "experiment":
            return _("An experiment's name has 1–64 letters, digits, '_', '.' or '-', and starts with a letter "
                     "or digit."), 422
        return _("Check the form and try again."), 422
    return _("Something went wrong. Try again."), 400


def _number(raw: str, field: str, low: float, high: float, _: Callable[..., str], *, integer: bool = False,
            optional: bool = False) -> float | None:
    """A form's number within ``[low, high]``.

    Raises:
        InvalidParameter: not a number or out of range (the message is the viewer's language).
    """
    text = raw.strip().replace(",", "")
    if not text and optional:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high or (integer and value != int(value)):
        lo, hi = format(low, "g"), format(high, "g")
        raise InvalidParameter(_("{field} must be a number from {low} to {high}.", field=field, low=lo, high=hi),
                               details={"field": "number"})
    return value


def _experiments_page(request: Request, experiments: ExperimentsDep, engine: EngineDep,
                      form: dict[str, Any] | None = None, error: str | None = None, status: int = 200) -> Response:
    registry = _registry(request)
    serving = {i.id for i in experiments.running}
    rows = exps.list_experiments(engine)
    versions = registry.versions()
    active = registry.active_version()
    other = next((v.version for v in versions if v.version != active), active or "")
    defaults = {"name": "", "metric": "ctr", "traffic": "100", "control": active or "", "treatment": other,
                "control_weight": "50", "treatment_weight": "50", "treatment_diversity": "", "guardrails": [],
                "min_sample": "",
                "window_days": "7"}
    return render(request, "admin_experiments.html",
                  {"rows": rows, "serving": serving, "versions": versions, "active": active,
                   "metrics": exps.METRICS, "form": {**defaults, **(form or {})}, "error": error}, status)


@router.get("/experiments", response_class=HTMLResponse)
def experiments_page(request: Request, viewer: Viewer, engine: EngineDep, experiments: ExperimentsDep) -> Response:
    """Every A/B experiment with its status, metric, traffic and variants, and a form to define one."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    return _experiments_page(request, experiments, engine)


@router.post("/experiments", response_class=HTMLResponse)
def create_experiment(request: Request, viewer: Viewer, engine: EngineDep, experiments: ExperimentsDep,
                      name: FormText = "", metric: FormText = "ctr", traffic: FormText = "100",
                      control: FormText = "", treatment: FormText = "", control_weight: FormText = "50",
                      treatment_weight: FormText = "50", treatment_diversity: FormText = "",
                      guardrails: Annotated[list[str] | None, Form(max_length=len(exps.METRICS))] = None,
                      min_sample: FormText = "", window_days: FormText = "7", csrf_token: Token = "") -> Response:
    """Define a draft experiment: a control and a treatment model version (re-shows the form on a mistake)."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    check_form(request, csrf_token)
    _ = gettext(request)
    form: dict[str, Any] = {"name": name.strip(), "metric": metric, "traffic": traffic, "control": control,
                            "treatment": treatment, "control_weight": control_weight,
                            "treatment_weight": treatment_weight, "treatment_diversity": treatment_diversity, "guardrails": list(guardrails or []),
                            "min_sample": min_sample, "window_days": window_days}
    try:
        if metric not in exps.METRICS or any(g not in exps.METRICS for g in form["guardrails"]):
            raise InvalidParameter(_("Choose a metric from the list."), details={"field": "metric"})
        for v in (control, treatment):
            if not _VERSION.match(v):
                raise NotFound(f"model version {v!r} does not exist", details={"version": v})
        variants = [exps.VariantSpec("control", control, _number(control_weight, _("Control weight"), 0.001, 1000, _)
                                     or 0.0),
                    exps.VariantSpec("treatment", treatment,
                                     _number(treatment_weight, _("Treatment weight"), 0.001, 1000, _) or 0.0,
                                     _number(treatment_diversity, _("Treatment re-ranking"), 0, 1, _, optional=True))]
        share = _number(traffic, _("Traffic"), 0, 100, _) or 0.0
        least = _number(min_sample, _("Minimum sample"), 1, 100_000_000, _, integer=True, optional=True)
        window = _number(window_days, _("Attribution window"), 0.01, 90, _) or 7.0
        try:
            info = exps.create(engine, _registry(request), form["name"], variants, metric=metric,
                               traffic=share / 100, guardrails=form["guardrails"],
                               min_sample=None if least is None else int(least), window_days=window)
        except NotFound as exc:  # which version: the one the registry does not have
            missing = next((v for v in (control, treatment) if v not in {i.version for i in
                                                                      _registry(request).versions()}), control)
            raise NotFound(exc.message, details={"version": missing}) from exc
    except InvalidParameter as exc:
        if (exc.details or {}).get("field") in ("number", "metric"):
            return _experiments_page(request, experiments, engine, form, exc.message, 422)
        msg, status = _experiment_error(exc, _, form=form)
        return _experiments_page(request, experiments, engine, form, msg, status)
    except (NotFound, Conflict) as exc:
        msg, status = _experiment_error(exc, _, form=form)
        return _experiments_page(request, experiments, engine, form, msg, status)
    return redirect(f"/admin/experiments/{quote(info.name)}")


def _experiment_page(request: Request, name: str, engine: EngineDep, experiments: ExperimentsDep,
                     error: str | None = None, status: int = 200) -> Response:
    info = exps.get(engine, name)
    report = exps.report(engine, name)
    errors = {v.model_version: experiments.errors[v.model_version] for v in info.variants
              if v.model_version in experiments.errors}
    return render(request, "admin_experiment.html",
                  {"info": info, "report": report, "serving": any(i.id == info.id for i in experiments.running),
                   "load_errors": errors, "error": error}, status)


@router.get("/experiments/{name}", response_class=HTMLResponse)
def experiment_page(request: Request, name: ExperimentName, viewer: Viewer, engine: EngineDep,
                    experiments: ExperimentsDep) -> Response:
    """One experiment: its state and actions, and its report (per variant, lifts, SRM, guardrails, the plot)."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    return _experiment_page(request, name, engine, experiments)


@router.post("/experiments/{name}/{action}", response_class=HTMLResponse)
def change_experiment(request: Request, name: ExperimentName,
                      action: Annotated[str, Path(pattern="^(start|stop|ramp)$")], viewer: Viewer, engine: EngineDep,
                      experiments: ExperimentsDep, traffic: FormText = "", csrf_token: Token = "") -> Response:
    """Start, stop or ramp the experiment; this process serves the change at once (the others within seconds)."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    check_form(request, csrf_token)
    _ = gettext(request)
    exps.get(engine, name)  # 404 page for an unknown experiment
    try:
        if action == "start":
            exps.start(engine, _registry(request), name)
        elif action == "stop":
            exps.stop(engine, _registry(request), name)
        else:
            share = _number(traffic, _("Traffic"), 0, 100, _) or 0.0
            exps.ramp(engine, name, share / 100)
    except InvalidParameter as exc:
        msg = exc.message if (exc.details or {}).get("field") == "number" else _("Check the form and try again.")
        return _experiment_page(request, name, engine, experiments, msg, 422)
    except (NotFound, Conflict) as exc:
        msg, status = _experiment_error(exc, _, action=action)
        return _experiment_page(request, name, engine, experiments, msg, status)
    experiments.refresh()
    return redirect(f"/admin/experiments/{quote(name)}")


def plot_labels(_: Callable[..., str], metric: str) -> dict[str, str]:
    """The figure's texts in the viewer's language."""
    value = {"ctr": _("Members who clicked a recommended film"), "watchlist": _("Members who added one to a list"),
             "share_rate": _("Members who shared one"), "rating": _("Mean rating of recommended films")}
    return {"title": _("Primary metric per variant"), "value": value.get(metric, metric),
            "rating": value["rating"], "days": _("Days since start"),
            "p_title": _("p-value against the control at each daily peek"), "p_value": _("p-value (log scale)"),
            "always_valid": _("always-valid"), "naive": _("naive"), "alpha": _("alpha = {alpha}", alpha="{alpha}"),
            "empty": _("No member has been exposed to this experiment yet.")}


@router.get("/experiments/{name}/plot.png")
def experiment_plot(request: Request, name: ExperimentName, viewer: Viewer, engine: EngineDep) -> Response:
    """The report's figure: the primary metric per variant by day, and the p-values at each daily peek."""
    if viewer is None:
        return login_redirect(request)
    require_admin(viewer)
    report = exps.report(engine, name)
    png = render_png(report, labels=plot_labels(gettext(request), report.config.metric))
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
