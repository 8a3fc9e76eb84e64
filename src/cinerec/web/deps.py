"""Dependency-injection aliases for routers: session and service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cinerec.service.recommender import RecommenderService


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def _service(request: Request) -> RecommenderService:
    svc: RecommenderService = request.app.state.service
    svc.refresh()
    return svc


SessionDep = Annotated[Session, Depends(_session)]
ServiceDep = Annotated[RecommenderService, Depends(_service)]
