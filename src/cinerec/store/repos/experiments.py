"""Experiments and their exposure log: one exposure per member per experiment, and outcomes joined on events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cinerec.errors import Conflict, InvalidParameter, NotFound
from cinerec.store.models import EXPERIMENT_STATUSES, Event, Experiment, ExperimentExposure, utcnow

#: Event kinds that count as an outcome of an exposure (a click on, rating, watchlisting or sharing a film).
OUTCOME_KINDS: tuple[str, ...] = ("click", "rate", "watchlist", "share")
#: Rows per ``INSERT`` statement (7 columns each: well under SQLite's bound-parameter limit).
_CHUNK = 200


@dataclass(frozen=True, slots=True)
class ExposureRow:
    """One exposure to record: what a member was shown under an experiment, and when."""

    experiment_id: int
    user_id: int
    variant: str
    model_version: str
    items: Sequence[int]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VariantOutcome:
    """Per variant: members exposed, and those with at least one outcome event within the window."""

    members: int
    converted: int


def create(session: Session, name: str, *, seed: str, metric: str, traffic: float,
           variants: Sequence[Mapping[str, Any]]) -> Experiment:
    """Add a ``draft`` experiment; :class:`Conflict` when the name is taken.

    ``variants``: ``{"name", "model_version", "weight"}`` each, in assignment order.
    """
    if get_by_name(session, name) is not None:
        raise Conflict(f"experiment {name!r} already exists")
    _check_traffic(traffic)
    row = Experiment(name=name, seed=seed, metric=metric, traffic=float(traffic), status="draft",
                     variants=[{"name": str(v["name"]), "model_version": str(v["model_version"]),
                                "weight": float(v["weight"])} for v in variants])
    session.add(row)
    session.flush()
    return row


def get_by_name(session: Session, name: str) -> Experiment | None:
    """The experiment called ``name``, or ``None``."""
    return session.scalar(select(Experiment).where(Experiment.name == name))


def get(session: Session, experiment_id: int) -> Experiment | None:
    """The experiment with this id, or ``None``."""
    return session.get(Experiment, experiment_id)


def list_all(session: Session, status: str | None = None) -> list[Experiment]:
    """Every experiment (or those in ``status``), newest first."""
    stmt = select(Experiment).order_by(Experiment.created_at.desc(), Experiment.id.desc())
    if status is not None:
        stmt = stmt.where(Experiment.status == status)
    return list(session.scalars(stmt))


def set_status(session: Session, name: str, status: str | None = None, *, traffic: float | None = None,
               now: datetime | None = None) -> Experiment:
    """Change an experiment's status and/or traffic.

    ``running`` stamps ``started_at`` the first time, ``stopped`` stamps
    ``stopped_at``; a stopped experiment never runs again (its members'
    exposures would mix two periods). :class:`NotFound` for an unknown name.
    """
    row = get_by_name(session, name)
    if row is None:
        raise NotFound(f"no experiment {name!r}")
    when = now or utcnow()
    if status is not None:
        if status not in EXPERIMENT_STATUSES:
            raise InvalidParameter(f"status must be one of {', '.join(EXPERIMENT_STATUSES)}, got {status!r}")
        if row.status == "stopped" and status != "stopped":
            raise Conflict(f"experiment {name!r} is stopped and cannot be restarted")
        if status == "running" and row.started_at is None:
            row.started_at = when
        if status == "stopped" and row.stopped_at is None:
            row.stopped_at = when
        row.status = status
    if traffic is not None:
        _check_traffic(traffic)
        row.traffic = float(traffic)
    session.flush()
    return row


def _check_traffic(traffic: float) -> None:
    if not 0.0 <= float(traffic) <= 1.0:
        raise InvalidParameter(f"traffic must be in [0, 1], got {traffic!r}")


def record_exposures(session: Session, rows: Iterable[ExposureRow]) -> int:
    """Insert exposures in the caller's transaction, keeping each member's FIRST per experiment.

    A row whose ``(experiment_id, user_id)`` is already stored (or appears
    earlier in ``rows``) is ignored, by ``INSERT ... ON CONFLICT DO NOTHING``
    so concurrent writers never store two. Returns the number inserted.
    """
    seen: set[tuple[int, int]] = set()
    values: list[dict[str, Any]] = []
    for r in rows:
        key = (r.experiment_id, r.user_id)
        if key in seen:
            continue
        seen.add(key)
        values.append({"experiment_id": r.experiment_id, "user_id": r.user_id, "variant": r.variant,
                       "model_version": r.model_version, "items": [int(i) for i in r.items],
                       "created_at": r.created_at})
    dialect = session.get_bind().dialect.name
    mod: Any = postgresql if dialect == "postgresql" else sqlite
    core = ExperimentExposure.__table__
    inserted = 0
    for start in range(0, len(values), _CHUNK):
        stmt = (mod.insert(core).values(values[start:start + _CHUNK])
                .on_conflict_do_nothing(index_elements=["experiment_id", "user_id"])
                .returning(core.c.id))
        inserted += len(session.execute(stmt).all())
    return inserted


def exposure_counts(session: Session, experiment_id: int) -> dict[str, int]:
    """Members exposed per variant (each member counted once: one row per member)."""
    stmt = (select(ExperimentExposure.variant, func.count())
            .where(ExperimentExposure.experiment_id == experiment_id)
            .group_by(ExperimentExposure.variant))
    return {variant: int(n) for variant, n in session.execute(stmt)}


def exposures_with_outcomes(session: Session, experiment_id: int, *, window: timedelta = timedelta(days=7),
                            kinds: Sequence[str] = OUTCOME_KINDS) -> dict[str, VariantOutcome]:
    """Per variant: members exposed, and members with an outcome event within ``window`` after their exposure.

    Events join on ``user_id``; an outcome is an event of one of ``kinds``
    at or after the exposure's time and before ``exposure + window``. A
    removal (a rating cleared, a watchlist or share mark set to 0) is not an
    outcome; a click counts whatever its value.
    """
    unknown = sorted(set(kinds) - set(OUTCOME_KINDS) - {"review", "watched", "impression"})
    if unknown:
        raise InvalidParameter(f"unknown outcome kinds: {', '.join(unknown)}")
    if window <= timedelta(0):
        raise InvalidParameter(f"the window must be positive, got {window}")
    x = ExperimentExposure
    first_event = (select(func.min(Event.created_at))
                   .where(Event.user_id == x.user_id, Event.created_at >= x.created_at,
                          Event.kind.in_(list(kinds)),
                          or_(Event.kind == "click", Event.value > 0))
                   .correlate(x).scalar_subquery())
    stmt = select(x.variant, x.created_at, first_event).where(x.experiment_id == experiment_id)
    members: dict[str, int] = {}
    converted: dict[str, int] = {}
    for variant, exposed_at, first in session.execute(stmt):
        members[variant] = members.get(variant, 0) + 1
        # the earliest outcome after the exposure decides: if it is outside the window, every later one is too
        if first is not None and _as_naive(first) - _as_naive(exposed_at) < window:
            converted[variant] = converted.get(variant, 0) + 1
    return {v: VariantOutcome(members=n, converted=converted.get(v, 0)) for v, n in members.items()}


def _as_naive(when: datetime) -> datetime:
    """UTC without tzinfo: SQLite returns naive datetimes, PostgreSQL aware ones."""
    if when.tzinfo is None:
        return when
    return when.replace(tzinfo=None) - (when.utcoffset() or timedelta(0))
