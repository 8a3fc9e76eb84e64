"""Dependency-injection aliases for routers: session, service, engine, throttle and the caller."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.errors import AuthenticationFailed, PermissionDenied
from cinerec.nlp.sentiment import SentimentAnalyzer
from cinerec.service.accounts import Principal, authenticate
from cinerec.service.experiments import ExperimentService
from cinerec.service.jobs import JobRunner
from cinerec.service.recommender import RecommenderService
from cinerec.service.throttle import Throttle
from cinerec.web import security

# Dependencies that do no I/O are ``async def``: FastAPI runs those in the event loop instead of
# handing each to the thread pool (a thread switch per dependency per request). A session only
# connects when first used (in the route's thread) and is closed in that same thread the moment the
# route function returns (:class:`SessionRoute`), before FastAPI validates and sends the response.
# FastAPI's own ``scope="function"`` exit comes only after the response model was validated in the
# thread pool: a finished request would hold its connection while queueing for a thread that routes
# blocked on the exhausted pool were holding (50 simultaneous requests deadlocked for the pool's 30 s
# timeout). Routes build their ``*Out`` models and pages render inside the route.
_request_session: ContextVar[Session | None] = ContextVar("cinerec_request_session", default=None)


async def _session(request: Request) -> AsyncIterator[Session]:
    with request.app.state.sessionmaker() as session:
        # remembered while the route runs (templates read the nav's unread count through it); forgotten
        # when it closes, so an error page rendered afterwards opens its own short session instead of
        # reviving this one, whose new connection nobody would hand back to the pool
        request.state.db = session
        token = _request_session.set(session)  # the route's thread runs in a copy of this context
        try:
            yield session
        finally:
            request.state.db = None
            _request_session.reset(token)


def _closing_session(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` (a sync route function) that closes the request's session, if any, when it returns or raises."""

    @functools.wraps(call)  # FastAPI reads the parameters (and their module's names) through __wrapped__
    def endpoint(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        finally:
            session = _request_session.get()
            if session is not None:
                session.close()  # hands the connection back now, in this thread

    return endpoint


class SessionRoute(APIRoute):
    """The route class of every cinerec router: a sync route function closes the request's session when it ends.

    Use ``APIRouter(route_class=SessionRoute)``; ``tests/web/test_pool.py`` checks every route does.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _closing_session(endpoint)
        super().__init__(path, endpoint, **kwargs)


async def _service(request: Request) -> RecommenderService:
    svc: RecommenderService = request.app.state.service
    return svc


SessionDep = Annotated[Session, Depends(_session, scope="function")]
ServiceDep = Annotated[RecommenderService, Depends(_service)]


async def _experiments(request: Request) -> ExperimentService:
    svc: ExperimentService = request.app.state.experiments
    return svc


#: The process's experiment service (assignment, exposure logging).
ExperimentsDep = Annotated[ExperimentService, Depends(_experiments)]


async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


async def _analyzer(request: Request) -> SentimentAnalyzer:
    analyzer: SentimentAnalyzer = request.app.state.analyzer
    return analyzer


async def _jobs(request: Request) -> JobRunner:
    jobs: JobRunner = request.app.state.jobs
    return jobs


#: Declares the bearer scheme in the OpenAPI schema; the token is read by :func:`security.bearer_token`.
_BEARER = HTTPBearer(auto_error=False, bearerFormat="opaque",
                     description="a session token from POST /api/v1/auth/token (the site's pages use a cookie)")


def _caller(request: Request, session: SessionDep) -> Principal | None:
    """The caller from a bearer token, else from the session cookie; ``None`` for a visitor or a bad token.

    The lookup's read transaction ends here, handing its connection back to the
    pool: write routes open their own transaction, and a request holding two
    connections at once lets concurrent writers exhaust the pool and wait on
    each other (F4).
    """
    token = security.bearer_token(request)
    try:
        return authenticate(session, token if token is not None else security.cookie_token(request))
    finally:
        session.rollback()


async def _optional_user(request: Request, caller: Annotated[Principal | None, Depends(_caller)],
                   _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
                   ) -> Principal | None:
    """:func:`_caller`, with the bearer scheme declared in OpenAPI; cookie writes must be same-origin."""
    if (caller is not None and security.bearer_token(request) is None
            and request.method not in security.SAFE_METHODS):
        security.check_same_origin(request)
    return caller


def _current_user(principal: Annotated[Principal | None, Depends(_optional_user)]) -> Principal:
    if principal is None:
        raise AuthenticationFailed("log in first: send a bearer token or the session cookie")
    return principal


def _admin_user(principal: Annotated[Principal, Depends(_current_user)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("admins only")
    return principal


EngineDep = Annotated[Engine, Depends(_engine)]
ThrottleDep = Annotated[Throttle, Depends(_throttle)]
AnalyzerDep = Annotated[SentimentAnalyzer, Depends(_analyzer)]
JobsDep = Annotated[JobRunner, Depends(_jobs)]
#: The caller if logged in, else ``None``.
OptionalUser = Annotated[Principal | None, Depends(_optional_user)]
#: The caller of a public read (visitors welcome; an invalid token reads as a visitor). Not declared as a
#: security requirement in OpenAPI, since these operations answer without one.
PublicViewer = Annotated[Principal | None, Depends(_caller)]
#: The logged-in caller; 401 otherwise.
CurrentUser = Annotated[Principal, Depends(_current_user)]
#: A logged-in admin; 401 for visitors, 403 for members.
AdminUser = Annotated[Principal, Depends(_admin_user)]
