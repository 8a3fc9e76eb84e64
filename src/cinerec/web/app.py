"""The application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from cinerec import __version__
from cinerec.config import Settings, get_settings
from cinerec.nlp.sentiment import SentimentAnalyzer
from cinerec.service import metrics
from cinerec.service.experiments import ExperimentService
from cinerec.service.jobs import JobRunner
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from cinerec.service.throttle import Throttle
from cinerec.store.db import session_factory, settings_engine
from cinerec.web import errors
from cinerec.web.middleware import (
    DOCS_CSP,
    BodyLimit,
    HeadAsGet,
    RelativeSlashRedirect,
    RequestId,
    SecurityHeaders,
)
from cinerec.web.observability import (
    RequestMetrics,
    install_log_record_factory,
    install_metrics_route,
)
from cinerec.web.response_cache import ResponseCache

HERE = Path(__file__).parent
#: Largest request body accepted, in bytes.
MAX_BODY = 1024 * 1024
#: Larger limits for upload routes (path prefix, bytes).
BODY_LIMITS = (("/api/v1/admin/imports", 200 * 1024 * 1024),)
#: Where the packaged Swagger UI files are served (no CDN).
DOCS_ASSETS = "/api/docs/assets"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the site + API bound to ``settings`` (default: from the environment).

    The database must already be migrated (``cinerec db upgrade``); the
    recommender serves the registry's active model and a background thread
    swaps in newly activated versions within ``CINEREC_MODEL_POLL_SECONDS``. Every request gets an id
    (``X-Request-ID``, in error bodies and log records) and is timed into the
    metrics served at ``/metrics``; ``/api/v1/health`` and ``/api/v1/ready``
    are the liveness and readiness probes.
    """
    settings = settings or get_settings()
    engine = settings_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # sync routes run in anyio's pool (40 threads by default): on a few cores, dozens of threads
        # taking turns at the GIL cost more than they overlap (measured by benchmarks/load.py)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        # load the active model and compile the templates before the first request, not during it
        try:
            await anyio.to_thread.run_sync(app.state.service.refresh)
        except Exception:  # a broken artifact must not keep the site down; requests report it
            logging.getLogger("cinerec").exception("could not load the active model at start-up")
        app.state.service.watch()  # later activations are loaded in the background, never by a request
        try:  # the running experiments and their variants' model versions, before the first request
            await anyio.to_thread.run_sync(app.state.experiments.refresh)
        except Exception:
            logging.getLogger("cinerec").exception("could not load the running experiments at start-up")
        app.state.experiments.watch()
        for name in app.state.templates.env.list_templates(extensions=["html"]):
            app.state.templates.env.get_template(name)
        # the model, modules and compiled templates live as long as the process: keep them out of the
        # cyclic collector's full passes, which otherwise stall a request for ~130 ms every few seconds
        gc.collect()
        gc.freeze()
        yield
        app.state.experiments.close()  # writes the exposures still buffered
        app.state.service.stop()
        engine.dispose()
        metrics.mark_process_dead()  # this process's live gauges leave the multiprocess folder

    app = FastAPI(title="cinerec", version=__version__, lifespan=lifespan, docs_url=None,
                  openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    registry = ModelRegistry(settings.models_dir, mmap=settings.mmap_artifacts)
    app.state.service = RecommenderService.from_settings(registry, settings.redis_url)
    app.state.experiments = ExperimentService(engine, app.state.service, poll_seconds=settings.model_poll_seconds)
    app.state.throttle = Throttle.from_url(settings.redis_url)
    app.state.responses = ResponseCache(settings.redis_url)
    app.state.analyzer = SentimentAnalyzer(settings.nlp_dir)
    app.state.jobs = JobRunner(settings)
    from cinerec.web.pages import page_context

    # every template, error pages included, gets the viewer, the locale's _() and the CSRF token
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"), context_processors=[page_context])
    app.state.templates.env.auto_reload = settings.reload_templates  # no stat() of each template per render
    errors.install(app)
    install_log_record_factory()

    # outermost first: the request id and the timing, then headers on every response (500s from
    # ServerErrorMiddleware too), HEAD, body limit
    app.add_middleware(BodyLimit, max_body=MAX_BODY, limits=BODY_LIMITS)
    app.add_middleware(HeadAsGet)
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestId(RequestMetrics(  # type: ignore[method-assign]
        SecurityHeaders(build_stack(), csp_by_prefix=(("/api/docs", DOCS_CSP),))))
    # trailing-slash redirects with a relative Location (Starlette's take the host from the Host header)
    app.router.redirect_slashes = False
    app.router.default = RelativeSlashRedirect(app.router, app.router.not_found)

    from cinerec.web.api import router as api_router
    from cinerec.web.pages import router as pages_router

    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _install_docs(app)
    install_metrics_route(app, settings.metrics_token)

    logging.getLogger("cinerec").setLevel(logging.INFO)
    return app


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/api/docs`` from files shipped in Python packages, under :data:`DOCS_CSP`.

    The bundle and stylesheet come from the ``fastapi-offline`` distribution,
    the start-up script is ``static/swagger-init.js``: no CDN, no inline
    script, so the page works with ``script-src 'self'``.
    """
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request) -> HTMLResponse:
        """The interactive API documentation."""
        resp: HTMLResponse = request.app.state.templates.TemplateResponse(
            request, "api_docs.html", {"assets": DOCS_ASSETS, "openapi_url": app.openapi_url})
        return resp
