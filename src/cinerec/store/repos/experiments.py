"""Experiments and their exposure log: one exposure per member per experiment, and outcomes joined on events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

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
class Attributed:
    """An outcome event attributed to an experiment: what a member did to which recommended film, and when."""

    user_id: int
    kind: str
    movie_id: int
    value: float | None
    at: datetime


def create(session: Session, name: str, *, seed: str, metric: str, traffic: float,
           variants: Sequence[Mapping[str, Any]], guardrails: Sequence[str] = (), min_sample: int | None = None,
           window_days: float = 7.0) -> Experiment:
    """Add a ``draft`` experiment; :class:`Conflict` when the name is taken.

    ``variants``: ``{"name", "model_version", "weight"[, "diversity"]}`` each, in assignment order.
    """
    if get_by_name(session, name) is not None:
        raise Conflict(f"experiment {name!r} already exists")
    _check_traffic(traffic)
    row = Experiment(name=name, seed=seed, metric=metric, traffic=float(traffic), status="draft",
                     variants=[{"name": str(v["name"]), "model_version": str(v["model_version"]),
                                "weight": float(v["weight"]),
                                **({"diversity": float(v["diversity"])} if v.get("diversity") is not None else {})}
                               for v in variants],
                     guardrails=list(guardrails), min_sample=min_sample, window_days=float(window_days))
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


def exposures(session: Session, experiment_id: int) -> list[tuple[int, str, datetime]]:
    """Every member's first exposure: ``(user_id, variant, created_at)``."""
    x = ExperimentExposure
    stmt = select(x.user_id, x.variant, x.created_at).where(x.experiment_id == experiment_id).order_by(x.id)
    return [(int(u), str(v), t) for u, v, t in session.execute(stmt)]


def impression_counts(session: Session, experiment: str) -> dict[str, int]:
    """Film impressions per variant: ``impression`` events logged under the experiment's name."""
    stmt = (select(Event.variant, func.count()).where(Event.kind == "impression", Event.experiment == experiment)
            .group_by(Event.variant))
    return {str(v): int(n) for v, n in session.execute(stmt)}


def attributed_outcomes(session: Session, experiment: Experiment) -> list[Attributed]:
    """Outcome events attributed to the experiment, oldest first.

    An event counts when it is a click, a rating, a watchlisting or a share
    (:data:`OUTCOME_KINDS`; removals — a rating cleared, a mark set to 0 — do
    not) by an exposed member, on a film the experiment showed them before
    the event (an ``impression`` event under its name), at or after their
    first exposure and within ``window_days`` of it.
    """
    e, i, x = Event, aliased(Event), ExperimentExposure
    shown = (select(i.id).where(i.kind == "impression", i.experiment == experiment.name, i.user_id == e.user_id,
                                i.movie_id == e.movie_id, i.created_at <= e.created_at)
             .correlate(e).exists())
    stmt = (select(e.user_id, e.kind, e.movie_id, e.value, e.created_at, x.created_at)
            .join(x, (x.user_id == e.user_id) & (x.experiment_id == experiment.id))
            .where(e.kind.in_(OUTCOME_KINDS), or_(e.kind == "click", e.value > 0), e.movie_id.is_not(None),
                   e.created_at >= x.created_at, shown)
            .order_by(e.created_at, e.id))
    window = timedelta(days=float(experiment.window_days))
    return [Attributed(int(u or 0), str(k), int(m or 0), None if v is None else float(v), at)
            for u, k, m, v, at, exposed in session.execute(stmt)
            if _as_naive(at) - _as_naive(exposed) < window]


def pre_activity(session: Session, experiment_id: int, start: datetime, days: int = 28) -> dict[int, int]:
    """Per exposed member: their actions (ratings, reviews, marks, shares, clicks) in the ``days`` before ``start``.

    The pre-experiment covariate of CUPED: it cannot depend on the variant.
    """
    x = ExperimentExposure
    stmt = (select(Event.user_id, func.count())
            .join(x, (x.user_id == Event.user_id) & (x.experiment_id == experiment_id))
            .where(Event.created_at >= start - timedelta(days=days), Event.created_at < start,
                   Event.kind.in_(("click", "rate", "review", "watchlist", "watched", "share")))
            .group_by(Event.user_id))
    return {int(u or 0): int(n) for u, n in session.execute(stmt)}


def _as_naive(when: datetime) -> datetime:
    """UTC without tzinfo: SQLite returns naive datetimes, PostgreSQL aware ones."""
    if when.tzinfo is None:
        return when
    return when.replace(tzinfo=None) - (when.utcoffset() or timedelta(0))
