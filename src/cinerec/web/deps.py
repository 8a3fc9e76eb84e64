"""Dependency-injection aliases for routers: session, service, engine, throttle and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.errors import AuthenticationFailed, PermissionDenied
from cinerec.nlp.sentiment import SentimentAnalyzer
from cinerec.service.accounts import Principal, authenticate
from cinerec.service.jobs import JobRunner
from cinerec.service.recommender import RecommenderService
from cinerec.service.throttle import Throttle
from cinerec.web import security


# Dependencies that do no I/O are ``async def``: FastAPI runs those in the event loop instead of
# handing each to the thread pool (a thread switch per dependency per request). A session only
# connects when first used (in the route's thread); closing it hands the connection back. The
# session closes when the route function returns (``scope="function"``), before the response is
# serialised and sent: under load a finished request waiting for a thread to validate its
# response must not hold a pooled connection that the next route needs (that deadlock ended in
# 503s at 400 requests/s). Routes build their ``*Out`` models and pages render inside the route.
async def _session(request: Request) -> AsyncIterator[Session]:
    with request.app.state.sessionmaker() as session:
        # remembered while the route runs (templates read the nav's unread count through it); forgotten
        # when it closes, so an error page rendered afterwards opens its own short session instead of
        # reviving this one, whose new connection nobody would hand back to the pool
        request.state.db = session
        try:
            yield session
        finally:
            request.state.db = None


async def _service(request: Request) -> RecommenderService:
    svc: RecommenderService = request.app.state.service
    return svc


SessionDep = Annotated[Session, Depends(_session, scope="function")]
ServiceDep = Annotated[RecommenderService, Depends(_service)]


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
