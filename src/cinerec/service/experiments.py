"""A/B experiments between recommenders: define them, serve members their variant, log, and report.

Life of an experiment (``draft`` → ``running`` → ``stopped``, never back):
:func:`create` checks the variants' model versions exist in the registry and
holds them out of its pruning; :func:`start` opens it to members;
:func:`ramp` changes the fraction of members in it (ramping up never moves a
member already in: see :class:`cinerec.experiments.assignment.Experiment`);
:func:`stop` closes it and releases the versions. Any process may change
the state: it lives in the database.

Serving (:class:`ExperimentService`): every server process keeps a snapshot
of the running experiments, re-read every ``poll_seconds`` by a background
thread that also loads the variants' model versions beside the active one
(:meth:`RecommenderService.pin`), so a request never loads a model and an
assignment is one hash per running experiment, no I/O. A member in the
traffic fraction of a running experiment gets the list of their variant's
model version; the first running experiment (oldest start) that takes the
member decides, so two experiments over the same list never mix — each
still sees a random sample of members, because assignments hash with
independent seeds. An experiment one of whose versions cannot be loaded is
not served at all (serving only some variants would break its split).
Every list served under an experiment is logged by the
:class:`~cinerec.service.exposures.ExposureLog`: the member's first exposure
and the films shown (``impression`` events), batched off the request path.

Reports (:func:`report`) read the exposures, the impressions and the
members' outcome events on recommended films, and hand one row per member to
:func:`cinerec.experiments.report.build`, the analysis the simulator uses too.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cinerec.errors import Conflict, InvalidParameter, NotFound
from cinerec.experiments import report as rep
from cinerec.experiments.assignment import Experiment as Rule
from cinerec.experiments.assignment import Variant
from cinerec.service import members
from cinerec.service.exposures import ExposureLog
from cinerec.service.filters import RecFilter
from cinerec.service.recommender import LiveModel, RecommendationList, RecommenderService
from cinerec.service.registry import ModelRegistry
from cinerec.store.db import transaction
from cinerec.store.models import Experiment as ExperimentRow
from cinerec.store.repos import events as event_repo
from cinerec.store.repos import experiments as repo
from cinerec.store.repos import ratings as rating_repo

if TYPE_CHECKING:
    from cinerec.experiments.simulate import Simulation

log = logging.getLogger(__name__)

#: Metrics an experiment decides on or guards.
METRICS = rep.METRICS
#: What an experiment's (and a variant's) name may look like.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
#: At most this many variants per experiment.
MAX_VARIANTS = 8
#: Days of activity before the start that make the CUPED covariate.
PRE_PERIOD_DAYS = 28


@dataclass(frozen=True)
class VariantSpec:
    """A variant: its name, the model version it serves, its share of the members, and a re-ranking setting.

    ``diversity`` (``None``: the model's order) re-ranks the model's top
    films by maximal marginal relevance with that relevance weight in
    ``[0, 1]``, so one model version with and without re-ranking can be
    tested against each other.
    """

    name: str
    model_version: str
    weight: float
    diversity: float | None = None

    @property
    def label(self) -> str:
        """The version, with its re-ranking setting when it has one."""
        return self.model_version if self.diversity is None else f"{self.model_version} + MMR {self.diversity:g}"


@dataclass(frozen=True)
class ExperimentInfo:
    """An experiment as stored."""

    id: int
    name: str
    status: str
    metric: str
    traffic: float
    variants: tuple[VariantSpec, ...]
    guardrails: tuple[str, ...]
    min_sample: int | None
    window_days: float
    seed: str
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None

    @property
    def rule(self) -> Rule:
        """The assignment rule (GrowthBook hashing with this experiment's seed, weights and traffic)."""
        return Rule(self.name, self.seed, [Variant(v.name, v.weight) for v in self.variants], self.traffic)

    @property
    def config(self) -> rep.ExperimentConfig:
        """What the report needs of it."""
        return rep.ExperimentConfig(
            self.name, self.metric, self.traffic,
            tuple(rep.VariantConfig(v.name, v.label, v.weight) for v in self.variants), self.status,
            self.started_at, self.stopped_at, timedelta(days=self.window_days), self.guardrails, self.min_sample)


def _info(row: ExperimentRow) -> ExperimentInfo:
    variants = tuple(VariantSpec(str(v["name"]), str(v["model_version"]), float(str(v["weight"])),
                                 None if v.get("diversity") is None else float(str(v["diversity"])))
                     for v in row.variants)
    return ExperimentInfo(row.id, row.name, row.status, row.metric, row.traffic, variants,
                          tuple(row.guardrails or ()), row.min_sample, float(row.window_days), row.seed,
                          row.created_at, row.started_at, row.stopped_at)


def _holder(name: str) -> str:
    return f"experiment:{name}"


def _check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameter(f"{what} {name!r} is not a valid name: use 1-64 letters, digits, '_', '.' or '-', "
                               "starting with a letter or digit", details={"field": what, "value": str(name)[:80]})
    return name


def create(engine: Engine, registry: ModelRegistry, name: str, variants: Sequence[VariantSpec], *,
           metric: str = "ctr", traffic: float = 1.0, guardrails: Sequence[str] = (), min_sample: int | None = None,
           window_days: float = 7.0) -> ExperimentInfo:
    """Define a ``draft`` experiment; its model versions are held out of the registry's pruning.

    Weights are relative (normalised to sum to 1). The first variant is the
    control every other one is compared with.

    Raises:
        InvalidParameter: a bad name, metric, weight, traffic, window or
            minimum sample; fewer than 2 or more than :data:`MAX_VARIANTS`
            variants; two variants with one name.
        NotFound: a model version the registry does not have.
        Conflict: the name is taken.
    """
    _check_name("experiment", name)
    if metric not in METRICS:
        raise InvalidParameter(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    bad = [g for g in guardrails if g not in METRICS]
    if bad:
        raise InvalidParameter(f"unknown guardrail metric {bad[0]!r}: use one of {', '.join(METRICS)}")
    if not 2 <= len(variants) <= MAX_VARIANTS:
        raise InvalidParameter(f"an experiment needs 2 to {MAX_VARIANTS} variants, got {len(variants)}")
    names = [_check_name("variant", v.name) for v in variants]
    if len(set(names)) != len(names):
        raise InvalidParameter(f"variant names must differ, got {', '.join(names)}")
    weights = [float(v.weight) for v in variants]
    if not all(np.isfinite(w) and w > 0 for w in weights):
        raise InvalidParameter("every variant needs a positive weight")
    if any(v.diversity is not None and not 0.0 <= float(v.diversity) <= 1.0 for v in variants):
        raise InvalidParameter("a variant's diversity (MMR relevance weight) must be between 0 and 1")
    if not 0.0 <= float(traffic) <= 1.0:
        raise InvalidParameter(f"traffic must be between 0 and 1, got {traffic}")
    if not 0 < float(window_days) <= 90:
        raise InvalidParameter(f"the attribution window must be 0-90 days, got {window_days}")
    if min_sample is not None and not 1 <= int(min_sample) <= 100_000_000:
        raise InvalidParameter(f"the minimum sample must be a positive number of members, got {min_sample}")
    for v in variants:
        registry.info(v.model_version)  # NotFound for an unknown version
    total = sum(weights)
    with transaction(engine) as s:
        row = repo.create(s, name, seed=f"{name}-{secrets.token_hex(4)}", metric=metric, traffic=float(traffic),
                          variants=[{"name": v.name, "model_version": v.model_version, "weight": w / total,
                                     **({} if v.diversity is None else {"diversity": float(v.diversity)})}
                                    for v, w in zip(variants, weights, strict=True)],
                          guardrails=list(dict.fromkeys(g for g in guardrails if g != metric)),
                          min_sample=None if min_sample is None else int(min_sample), window_days=float(window_days))
        info = _info(row)
    for v in variants:
        registry.hold(v.model_version, _holder(name))
    return info


def get(engine: Engine, name: str) -> ExperimentInfo:
    """The experiment called ``name``.

    Raises:
        NotFound: no such experiment.
    """
    with transaction(engine, write=False) as s:
        row = repo.get_by_name(s, name)
        if row is None:
            raise NotFound(f"no experiment {name!r}")
        return _info(row)


def list_experiments(engine: Engine) -> list[ExperimentInfo]:
    """Every experiment, newest first."""
    with transaction(engine, write=False) as s:
        return [_info(r) for r in repo.list_all(s)]


def start(engine: Engine, registry: ModelRegistry, name: str) -> ExperimentInfo:
    """Open a draft experiment to members (idempotent while running).

    Raises:
        NotFound: no such experiment, or one of its model versions is gone.
        Conflict: it was stopped (a stopped experiment never runs again).
    """
    info = get(engine, name)
    for v in info.variants:
        registry.info(v.model_version)
    with transaction(engine) as s:
        return _info(repo.set_status(s, name, "running"))


def stop(engine: Engine, registry: ModelRegistry, name: str) -> ExperimentInfo:
    """Close an experiment: members get the active model again; its versions may be pruned (idempotent)."""
    with transaction(engine) as s:
        info = _info(repo.set_status(s, name, "stopped"))
    registry.release(_holder(name))
    return info


def ramp(engine: Engine, name: str, traffic: float) -> ExperimentInfo:
    """Change the fraction of members in the experiment (up never reassigns anyone already in).

    Raises:
        InvalidParameter: traffic outside [0, 1].
        NotFound: no such experiment.
        Conflict: it is stopped.
    """
    with transaction(engine) as s:
        row = repo.get_by_name(s, name)
        if row is not None and row.status == "stopped":
            raise Conflict(f"experiment {name!r} is stopped; ramping it changes nothing")
        return _info(repo.set_status(s, name, traffic=traffic))


# ------------------------------------------------------------------ serving
@dataclass(frozen=True)
class Assignment:
    """A member's place in a running experiment, with the loaded model of their variant."""

    experiment_id: int
    experiment: str
    variant: str
    model: LiveModel
    diversity: float | None = None

    @property
    def key(self) -> tuple[str, str, str, float | None]:
        """What a cached response under this assignment depends on."""
        return self.experiment, self.variant, self.model.version, self.diversity


@dataclass(frozen=True)
class _Running:
    info: ExperimentInfo
    rule: Rule
    models: dict[str, LiveModel]
    diversity: dict[str, float | None]


class ExperimentService:
    """Assigns members to running experiments and logs what they were shown.

    Args:
        engine: the database.
        recommender: the process's recommender (holds the variants' versions).
        exposures: where exposures and impressions go (``None``: a log of its own on ``engine``).
        poll_seconds: how often :meth:`watch` re-reads the running experiments.
    """

    def __init__(self, engine: Engine, recommender: RecommenderService, *, exposures: ExposureLog | None = None,
                 poll_seconds: float = 5.0) -> None:
        self.engine = engine
        self.recommender = recommender
        self.exposures = exposures if exposures is not None else ExposureLog(engine)
        self.poll_seconds = poll_seconds
        self._running: tuple[_Running, ...] = ()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: versions that failed to load, with the reason (shown on the admin page)
        self.errors: dict[str, str] = {}

    def refresh(self) -> None:
        """Re-read the running experiments and load their versions (off the request path)."""
        with self._lock:
            with transaction(self.engine, write=False) as s:
                infos = sorted((_info(r) for r in repo.list_all(s, "running")),
                               key=lambda i: (i.started_at or i.created_at, i.id))
            self.errors = self.recommender.pin({v.model_version for i in infos for v in i.variants})
            running = []
            for info in infos:
                models = {v.name: self.recommender.pinned(v.model_version) for v in info.variants}
                if any(m is None for m in models.values()):
                    log.error("experiment %s is not served: a variant's model version could not be loaded", info.name)
                    continue
                running.append(_Running(info, info.rule, {k: m for k, m in models.items() if m is not None},
                                        {v.name: v.diversity for v in info.variants}))
            stopped = {r.info.id for r in self._running} - {r.info.id for r in running}
            self._running = tuple(running)
        for eid in stopped:
            self.exposures.forget(eid)

    def watch(self) -> None:
        """Start the background thread that keeps the snapshot current (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cinerec-experiments", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # keep the last snapshot; try again next time
                log.exception("could not refresh the running experiments")

    def close(self) -> None:
        """Stop the thread and write what the exposure log holds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.exposures.close()

    @property
    def running(self) -> list[ExperimentInfo]:
        """The experiments this process serves now."""
        return [r.info for r in self._running]

    def assign(self, user_id: int | None) -> Assignment | None:
        """The member's variant in the first running experiment that takes them (``None``: the default model)."""
        if user_id is None:
            return None
        for r in self._running:
            variant = r.rule.assign(user_id)
            if variant is not None:
                return Assignment(r.info.id, r.info.name, variant, r.models[variant], r.diversity[variant])
        return None

    def recommendations(self, session: Session, user_id: int, k: int = 10, filters: RecFilter | None = None, *,
                        assignment: Assignment | None = None) -> RecommendationList:
        """The member's list from their variant's model (or the active one), logged when under an experiment.

        ``assignment`` is :meth:`assign`'s answer when the caller already has it.
        """
        a = assignment if assignment is not None else self.assign(user_id)
        recs = members.recommendations(session, self.recommender, user_id, k, filters,
                                       model=a.model if a is not None else None,
                                       diversity=a.diversity if a is not None else None)
        if a is None:
            return recs
        self.exposures.log(a.experiment_id, user_id, a.variant, a.model.version, [r.movie_id for r in recs.items],
                           experiment=a.experiment)
        return RecommendationList(recs.model_version, recs.algo, recs.strategy, recs.items,
                                  experiment=(a.experiment, a.variant))

    def click(self, engine: Engine, user_id: int, movie_id: int, position: int | None = None) -> None:
        """Record that the member opened a film from a recommendation list (an outcome event).

        The event carries the member's current experiment and variant, if any.

        Raises:
            NotFound: no such film.
        """
        a = self.assign(user_id)
        with transaction(engine) as s:
            if rating_repo.movie_title(s, movie_id) is None:
                raise NotFound(f"movie {movie_id} does not exist")
            event_repo.record(s, user_id, "click", movie_id=movie_id, value=1.0, position=position,
                              experiment=a.experiment if a else None, variant=a.variant if a else None,
                              model_version=a.model.version if a else None)


# ------------------------------------------------------------------ reports
def report(engine: Engine, name: str, *, now: datetime | None = None, cuped: bool = False, mde: float = rep.DEFAULT_MDE,
           alpha: float = 0.05) -> rep.ExperimentReport:
    """The experiment's report from the database (see :mod:`cinerec.experiments.report`).

    Raises:
        NotFound: no such experiment.
        InvalidParameter: ``alpha`` or ``mde`` out of range.
    """
    with transaction(engine, write=False) as s:
        row = repo.get_by_name(s, name)
        if row is None:
            raise NotFound(f"no experiment {name!r}")
        info = _info(row)
        exposed = repo.exposures(s, info.id)
        outcomes = repo.attributed_outcomes(s, row)
        shown = repo.impression_counts(s, info.name)
        pre = repo.pre_activity(s, info.id, info.started_at, PRE_PERIOD_DAYS) if cuped and info.started_at else None
    return rep.build(info.config, member_outcomes(info, exposed, outcomes, shown, pre), now=now, alpha=alpha,
                     mde=mde, cuped=cuped)


def member_outcomes(info: ExperimentInfo, exposed: Sequence[tuple[int, str, datetime]],
                    outcomes: Sequence[repo.Attributed], impressions: dict[str, int],
                    pre: dict[int, int] | None = None) -> rep.MemberOutcomes:
    """One row per exposed member for :func:`cinerec.experiments.report.build`.

    Exposures in a variant the experiment no longer names are left out.
    """
    index = {v.name: i for i, v in enumerate(info.variants)}
    rows = [(u, index[v], t) for u, v, t in exposed if v in index]
    pos = {u: j for j, (u, _, _) in enumerate(rows)}
    n = len(rows)
    first = {k: np.full(n, np.nan) for k in rep.OUTCOMES}
    clicks = np.zeros(n, dtype=np.int64)
    rating_sum, rating_n = np.zeros(n), np.zeros(n, dtype=np.int64)
    last_rating: dict[tuple[int, int], float] = {}
    for o in outcomes:  # oldest first
        j = pos.get(o.user_id)
        if j is None:
            continue
        at = rep.posix(o.at)
        if np.isnan(first[o.kind][j]):
            first[o.kind][j] = at
        if o.kind == "click":
            clicks[j] += 1
        elif o.kind == "rate" and o.value is not None:
            last_rating[(j, o.movie_id)] = o.value  # a re-rating replaces the earlier one
    for (j, _), value in last_rating.items():
        rating_sum[j] += value
        rating_n[j] += 1
    return rep.MemberOutcomes(
        np.array([v for _, v, _ in rows], dtype=np.int64), np.array([rep.posix(t) for _, _, t in rows]), first,
        clicks, rating_sum, rating_n, np.array([impressions.get(v.name, 0) for v in info.variants], dtype=np.int64),
        None if pre is None else np.array([pre.get(u, 0) for u, _, _ in rows], dtype=np.float64))


# ------------------------------------------------------------------ simulator replay
def replay(engine: Engine, sim: Simulation) -> rep.ExperimentReport:
    """Push a simulated experiment through the product's storage and logging, and report it from the database.

    ``engine`` must be an empty, migrated scratch database (never a site's):
    the simulation's members become users ``1..n`` (so the stored
    experiment's assignment rule, with the simulation's seed, puts each in the
    variant the simulation drew — checked here), its films become bare film
    rows, every exposure goes through :class:`ExposureLog` (the first list and
    its impression events, at the simulated time) and every click is an
    event. The result is :func:`report` of the stored experiment at the
    simulation's end: the database path's answer to compare with the
    simulation's own.

    Raises:
        Conflict: the database already holds the experiment or the members.
        InvalidParameter: an exposure's variant is not the one the stored rule assigns.
    """
    from sqlalchemy import insert

    from cinerec.store.models import Event, Movie, User

    cfg = sim.config
    members = sorted({m for m, _, _, _ in sim.exposures})
    films = sorted({f for _, _, _, items in sim.exposures for f in items} | {f for _, f, _ in sim.clicks})
    with transaction(engine) as s:
        if s.get(User, 1) is not None or repo.get_by_name(s, cfg.name) is not None:
            raise Conflict("replay needs an empty database: it already holds members or the experiment")
        row = repo.create(s, cfg.name, seed=sim.seed, metric=cfg.metric, traffic=cfg.traffic,
                          variants=[{"name": v.name, "model_version": v.model_version[:64], "weight": v.weight}
                                    for v in cfg.variants],
                          window_days=cfg.window.total_seconds() / 86400)
        row.status, row.started_at, row.stopped_at = "stopped", sim.start, sim.end
        for chunk in range(0, len(members), 5000):
            s.execute(insert(User), [{"id": m, "username": f"sim{m:07d}"} for m in members[chunk:chunk + 5000]])
        for chunk in range(0, len(films), 5000):
            s.execute(insert(Movie), [{"id": f, "title": f"film {f}"} for f in films[chunk:chunk + 5000]])
        info = _info(row)
    rule = info.rule
    xlog = ExposureLog(engine, start=False, max_buffer=len(sim.exposures) * 1000 + 1000)
    for member, vi, at, items in sim.exposures:
        variant = info.variants[vi]
        if rule.assign(member) != variant.name:
            raise InvalidParameter(f"member {member}: simulated in {variant.name}, assigned {rule.assign(member)}")
        xlog.log(info.id, member, variant.name, variant.model_version, items, experiment=info.name, at=at)
    xlog.close()
    if xlog.dropped or xlog.dropped_impressions:
        raise InvalidParameter(f"replay lost {xlog.dropped} exposures and {xlog.dropped_impressions} impressions")
    with transaction(engine) as s:
        rows = [{"user_id": m, "movie_id": f, "kind": "click", "value": 1.0, "created_at": at}
                for m, f, at in sim.clicks]
        for chunk in range(0, len(rows), 5000):
            s.execute(insert(Event), rows[chunk:chunk + 5000])
    return report(engine, cfg.name, now=sim.end, alpha=sim.report.alpha, mde=sim.report.mde)
