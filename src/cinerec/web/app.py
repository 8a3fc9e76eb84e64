"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import JSONResponse

from cinerec import __version__
from cinerec.config import Settings, get_settings
from cinerec.nlp.sentiment import SentimentAnalyzer
from cinerec.service.jobs import JobRunner
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from cinerec.service.throttle import Throttle
from cinerec.store.db import make_engine, session_factory
from cinerec.web import errors

HERE = Path(__file__).parent
#: Largest request body accepted, in bytes.
MAX_BODY = 1024 * 1024

CSP = ("default-src 'self'; img-src 'self' data: https://image.tmdb.org; style-src 'self'; "
       "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the site + API bound to ``settings`` (default: from the environment).

    The database must already be migrated (``cinerec db upgrade``); the
    recommender serves the registry's active model and picks up newly
    activated versions on the next request.
    """
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(title="cinerec", version=__version__, lifespan=lifespan, docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    app.state.service = RecommenderService(ModelRegistry(settings.models_dir))
    app.state.throttle = Throttle.from_url(settings.redis_url)
    app.state.analyzer = SentimentAnalyzer(settings.nlp_dir)
    app.state.jobs = JobRunner(settings)
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    errors.install(app)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            resp: Response = JSONResponse(
                {"error": {"code": "payload_too_large", "message": f"request body over {MAX_BODY} bytes", "details": {"limit": MAX_BODY}}},
                status_code=413,
            )
        else:
            resp = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.scheme == "https":
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return resp

    from cinerec.web.api import router as api_router
    from cinerec.web.pages import router as pages_router

    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    logging.getLogger("cinerec").setLevel(logging.INFO)
    return app
