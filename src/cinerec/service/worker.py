"""The model lifecycle worker: retrain when due, gate the candidate on a holdout, activate it or set it aside.

``cinerec worker`` runs :meth:`RetrainWorker.run_forever` in its own
(niced) process, so training never competes with request handlers for the
interpreter. Every ``check_every`` seconds it asks :meth:`RetrainWorker.due`
whether a run is needed:

- ``no-active-model``: nothing is served yet (and the database has ratings);
- ``schedule``: ``CINEREC_RETRAIN_EVERY`` has passed since the active
  version was trained and since the worker's last attempt;
- ``new-interactions``: at least ``CINEREC_RETRAIN_AFTER`` ratings and
  reviews were written since the data of the newest gated version
  (:func:`new_interactions`);
- ``forced``: ``cinerec worker --force``.

A run (:meth:`RetrainWorker.run`) holds :func:`training_lock` (so it never
overlaps another run or a ``cinerec train``), fits the candidate on a
snapshot of the whole database, publishes it *without* activating it, then
compares it with the active model on a holdout (:func:`gate`) and activates
it only when it is not worse by more than ``CINEREC_RETRAIN_MARGIN``. A
rejected candidate stays registered (``cinerec models activate`` can still
serve it) until a later activation prunes it. Each run appends a ``started``
and an ``ended`` line to ``<models>/runs.jsonl`` (:func:`read_runs`), is
counted in the ``cinerec_retrain_runs`` metric and logged on the ``cinerec``
logger. A run killed at any point leaves the active version serving (the
registry swaps atomically), its lock released by the kernel and its run log
entry readable as ``interrupted``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, func, or_, select

from cinerec.algorithms.base import RecommenderBase
from cinerec.algorithms.registry import canonical, create
from cinerec.config import Settings
from cinerec.data.interactions import Interactions
from cinerec.data.relevance import ndcg_at_k
from cinerec.data.vocab import Vocabulary
from cinerec.errors import CinerecError, Conflict, InvalidParameter
from cinerec.service import metrics
from cinerec.service.recipes import DEMO_HYBRID
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import (
    as_utc,
    check_memory,
    data_counts,
    fit_model,
    publish_model,
    snapshot,
)
from cinerec.store.models import Rating, Review

log = logging.getLogger(__name__)

#: The lock file under the models folder; its content is the holder's pid.
LOCK_FILE = ".train.lock"
#: The run log under the models folder, one JSON object per line.
RUNS_FILE = "runs.jsonl"
#: Default seconds between two checks of :meth:`RetrainWorker.due`.
CHECK_EVERY = 30.0
#: Longest wait after failed runs before automatic triggers apply again (it doubles per failure up to this).
MAX_BACKOFF = 3600.0
#: Holdout of the gate: sampled users, minimum interactions, held-out share, list length, seed (see :func:`gate`).
GATE_USERS = 500
GATE_MIN_INTERACTIONS = 5
GATE_FRACTION = 0.2
GATE_K = 10
#: Fewest users with interactions the active model never saw for the ``new-data`` gate (else ``recipe``).
GATE_MIN_USERS = 50
GATE_SEED = 0

Outcome = str  # "activated" | "rejected" | "failed" | "skipped" (and "interrupted"/"running" when read back)


# ------------------------------------------------------------------ the lock
@contextmanager
def training_lock(models_dir: Path) -> Iterator[None]:
    """Hold the models folder's training lock for the block: one training run at a time.

    An exclusive ``flock`` on ``<models>/.train.lock``: the kernel drops it
    when the holder's process ends in any way (``kill -9`` included), so no
    run ever leaves it stuck. The holder's pid is written into the file for
    the message others get.

    Args:
        models_dir: the models folder (created when missing).

    Raises:
        Conflict: another process holds the lock.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(models_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise Conflict(f"another training run is in progress (pid {holder}): wait for it to end, "
                           "or stop that process; its lock goes away with it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def lock_holder(models_dir: Path) -> int | None:
    """The pid written in the lock file (that of a live holder, or of the last one): for display only."""
    try:
        text = (Path(models_dir) / LOCK_FILE).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


# ------------------------------------------------------------- freshness
def parse_time(text: str | None) -> datetime | None:
    """An ISO time from a manifest or the run log as aware UTC (``None`` for missing or malformed)."""
    if not text:
        return None
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def new_interactions(engine: Engine, mark: dict[str, Any]) -> int:
    """Ratings and reviews written since a model's data watermark.

    Counts ratings with an id above ``rating_id_max`` (new rows, imported
    ones included) or changed after ``data_as_of`` (re-ratings), and reviews
    with an id above ``review_id_max``: ``COUNT`` queries on the primary keys
    and the ``ix_ratings_updated_at`` index. A watermark from before these
    fields were recorded falls back to the version's ``created_at`` time.

    Args:
        engine: the database.
        mark: ``data_as_of``, ``rating_id_max``, ``review_id_max`` (see
            :func:`cinerec.service.training.data_watermark`); ``created_at`` as fallback.
    """
    since = parse_time(mark.get("data_as_of")) or parse_time(mark.get("created_at")) or datetime.fromtimestamp(0, UTC)
    rating_new: Any = Rating.updated_at > since
    review_new: Any = Review.created_at > since
    if isinstance(mark.get("rating_id_max"), int):
        rating_new = or_(Rating.id > mark["rating_id_max"], rating_new)
    if isinstance(mark.get("review_id_max"), int):
        review_new = Review.id > mark["review_id_max"]
    with engine.connect() as conn:
        ratings = conn.execute(select(func.count()).select_from(Rating).where(rating_new)).scalar_one()
        reviews = conn.execute(select(func.count()).select_from(Review).where(review_new)).scalar_one()
    return int(ratings) + int(reviews)


def _has_ratings(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(Rating.id).limit(1)).first() is not None


# ------------------------------------------------------------------ the gate
@dataclass(frozen=True)
class Holdout:
    """The gate's evaluation users, in raw (database) ids.

    Attributes:
        train: the snapshot without the held-out rows (what the gate candidate is fitted on).
        histories: per user, the remaining items' raw ids and values (ratings, else implicit weights).
        truth: per user, the held-out items' raw ids (every held-out item is relevant).
    """

    train: Interactions
    histories: list[tuple[npt.NDArray[Any], npt.NDArray[np.float64]]]
    truth: list[npt.NDArray[Any]]

    @property
    def n_users(self) -> int:
        """Users evaluated."""
        return len(self.truth)


def make_holdout(data: Interactions, *, eligible: npt.NDArray[np.bool_] | None = None, max_users: int = GATE_USERS,
                 min_interactions: int = GATE_MIN_INTERACTIONS, fraction: float = GATE_FRACTION,
                 seed: int = GATE_SEED) -> Holdout:
    """Hold out each sampled user's most recent interactions.

    Up to ``max_users`` users with at least ``min_interactions`` interactions
    (one of them ``eligible``) are drawn with ``seed``; each one's most
    recent eligible interactions are held out, at most ``fraction`` of the
    user's interactions and at least one.

    Args:
        data: the snapshot.
        eligible: which rows may be held out (``None``: all).
        max_users, min_interactions, fraction, seed: the sample.

    Returns:
        The training part and the users' histories and held-out items.
    """
    ok = np.ones(len(data), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    counts = np.bincount(data.users, minlength=data.n_users)
    has_ok = np.bincount(data.users, weights=ok.astype(np.float64), minlength=data.n_users) > 0
    candidates = np.flatnonzero((counts >= min_interactions) & has_ok)
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(candidates, min(max_users, len(candidates)), replace=False)) if len(candidates) else candidates
    starts = np.searchsorted(data.users, users, side="left")
    ts = data.timestamps if data.timestamps is not None else np.zeros(len(data), dtype=np.int64)
    values = data.ratings if data.ratings is not None else (
        data.weights if data.weights is not None else np.ones(len(data)))
    held = np.zeros(len(data), dtype=bool)
    histories, truth = [], []
    ids = data.item_vocab.ids
    for u, lo in zip(users.tolist(), starts.tolist(), strict=True):
        rows = np.arange(lo, lo + int(counts[u]))
        pool = rows[ok[rows]]
        pool = pool[np.lexsort((data.items[pool], ts[pool]))]  # oldest first, ties by item
        out = pool[-min(len(pool), max(1, int(len(rows) * fraction))):]
        held[out] = True
        keep = rows[~held[rows]]
        histories.append((ids[data.items[keep]], np.asarray(values[keep], dtype=np.float64)))
        truth.append(ids[data.items[out]])
    return Holdout(data.subset(~held), histories, truth)


def unseen_rows(model: RecommenderBase, attachments: dict[str, npt.NDArray[Any]], data: Interactions,
                ) -> npt.NDArray[np.bool_]:
    """Which rows of ``data`` the fitted ``model`` was not trained on (its seen pairs matched by raw ids).

    Args:
        model: a fitted model (its ``seen_`` matrix).
        attachments: its ``user_ids`` and ``item_ids`` (raw id of each index).
        data: the snapshot.
    """
    u = Vocabulary(attachments["user_ids"]).indices(data.user_vocab.ids)[data.users]
    i = Vocabulary(attachments["item_ids"]).indices(data.item_vocab.ids)[data.items]
    seen = model.seen_.tocoo()
    seen_keys = seen.row.astype(np.int64) * model.n_items_ + seen.col.astype(np.int64)
    known = (u >= 0) & (i >= 0)
    keys = np.where(known, u * model.n_items_ + i, -1)
    return ~(known & np.isin(keys, seen_keys))


def holdout_ndcg(model: RecommenderBase, item_ids: npt.NDArray[Any], holdout: Holdout, k: int = GATE_K) -> float:
    """Mean NDCG@``k`` of ``model`` over the holdout's users, each ranked from their remaining history.

    Every model goes through :meth:`~cinerec.algorithms.base.RecommenderBase.recommend_history`
    (what the site serves to a member with new ratings), ranked exactly (no
    ANN), history items excluded. Items are matched by raw id, so models
    trained on different snapshots compare on the same ground; a held-out
    film the model does not know counts as a miss.

    Args:
        model: a fitted model.
        item_ids: the raw id of each of its item indices.
        holdout: the users.
        k: list length.
    """
    if holdout.n_users == 0:
        return 0.0
    model.ann_min_items = 2**62  # exact ranking: the model's own quality, not its index's recall
    vocab = Vocabulary(item_ids)
    recs = np.full((holdout.n_users, k), -1, dtype=np.int64)
    truth = []
    for r, ((hist_ids, hist_values), held_ids) in enumerate(zip(holdout.histories, holdout.truth, strict=True)):
        idx = vocab.indices(hist_ids)
        known = idx >= 0
        items = model.recommend_history(idx[known], hist_values[known], k).items[0]
        recs[r] = np.where(items >= 0, items, -1)
        truth.append(vocab.indices(held_ids))
    return float(ndcg_at_k(recs, [t[t >= 0] for t in truth], k).mean())


@dataclass(frozen=True)
class GateResult:
    """The comparison of a candidate with the active model.

    Attributes:
        candidate, active: mean holdout NDCG@k.
        threshold: the candidate needs at least this (``active * (1 - margin)``).
        users: users evaluated; k: list length; margin: the allowed relative loss.
        active_version: the version compared against.
        mode: ``new-data`` (the active artifact on interactions it never saw) or
            ``recipe`` (the active version's recipe refitted on the candidate's data).
    """

    candidate: float
    active: float
    threshold: float
    users: int
    k: int
    margin: float
    active_version: str
    mode: str

    @property
    def passed(self) -> bool:
        """Whether the candidate may be activated."""
        return self.candidate >= self.threshold

    @property
    def reason(self) -> str:
        """One line saying why the candidate was kept or set aside."""
        verb = ">=" if self.passed else "<"
        return (f"holdout NDCG@{self.k} {self.candidate:.4f} {verb} {self.threshold:.4f} = active "
                f"{self.active:.4f} x (1 - {self.margin:g}) ({self.mode}, {self.users} users, vs {self.active_version})")

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the run log."""
        return {**asdict(self), "passed": self.passed}


def gate(algo: str, params: dict[str, Any], data: Interactions, registry: ModelRegistry, active: str,
         margin: float, *, max_users: int = GATE_USERS, min_users: int = GATE_MIN_USERS,
         seed: int = GATE_SEED) -> GateResult:
    """Compare the candidate recipe with the active model on held-out interactions that neither has seen.

    **Holdout.** Up to ``max_users`` users (seeded sample) with at least 5
    interactions; each one's most recent interactions are held out, at most
    20 % of them and at least one (:func:`make_holdout`). The *gate
    candidate* is ``algo`` fitted on the data without those rows (the
    published candidate, fitted on all data, has seen them). Each model
    ranks each user through ``recommend_history`` on the user's remaining
    history (what the site does for a member with new ratings), so no model
    builds a user's representation from the held-out rows. Relevance is
    binary (every held-out film is relevant, the rule of ``cinerec evaluate``
    without a threshold); the metric is
    :func:`cinerec.data.relevance.ndcg_at_k` (the one NDCG, which ``cinerec evaluate`` reports too).

    **Against what.** Only interactions the active model was *not* trained
    on may be held out (``new-data`` mode): the active artifact itself is
    measured, on what happened after it was trained, and the candidate
    gains only what retraining offers (the other new data). Holding out rows
    the active model was trained on would measure its memory of them: on
    ml-latest-small the same recipe scored 0.206 as the incumbent and 0.120
    as the candidate, rejecting every retrain. When fewer than ``min_users``
    users have such new interactions (a scheduled retrain on quiet data),
    the gate falls back to ``recipe`` mode: any recent interaction may be held
    out and the active version's algorithm and parameters are refitted on
    the same training part, so both recipes are compared on equal terms.

    Args:
        algo, params: the candidate's recipe.
        data: the snapshot the candidate was trained on.
        registry: where the active version is loaded from.
        active: the active version.
        margin: the allowed relative loss of NDCG.
        max_users, min_users, seed: the holdout sample and the smallest ``new-data`` one.

    Raises:
        ModelFitError: a gate model failed to fit.
        InvalidParameter: the active version's recipe cannot be rebuilt (``recipe`` mode).
    """
    model, attachments, info = registry.load(active)
    holdout = make_holdout(data, eligible=unseen_rows(model, attachments, data), max_users=max_users, seed=seed)
    mode, incumbent, incumbent_ids = "new-data", model, attachments["item_ids"]
    if holdout.n_users < min_users:
        del model
        holdout = make_holdout(data, max_users=max_users, seed=seed)
        params_of_active = info.extra.get("params")
        incumbent = create(info.algo, **(params_of_active if isinstance(params_of_active, dict) else {}))
        fit_model(incumbent, holdout.train)
        mode, incumbent_ids = "recipe", data.item_vocab.ids
    act = holdout_ndcg(incumbent, incumbent_ids, holdout)
    del incumbent
    candidate = create(algo, **params)
    fit_model(candidate, holdout.train)
    cand = holdout_ndcg(candidate, data.item_vocab.ids, holdout)
    return GateResult(round(cand, 6), round(act, 6), round(act * (1.0 - margin), 6), holdout.n_users, GATE_K,
                      margin, active, mode)


# --------------------------------------------------------------- the run log
def append_run(models_dir: Path, record: dict[str, Any]) -> None:
    """Append one line to the run log in one ``write``.

    A line cut short by a kill is ended first, so it spoils only itself
    (:func:`read_runs` skips it), never the next record.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(models_dir / RUNS_FILE, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
    finally:
        os.close(fd)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_runs(models_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The runs in the log, newest first, each its ``started`` and ``ended`` lines merged.

    A run that started but never ended shows ``outcome`` ``"running"`` while
    its process holds the training lock, else ``"interrupted"`` (killed, or
    the machine stopped).

    Args:
        models_dir: the models folder.
        limit: at most this many runs (``None``: all).
    """
    path = Path(models_dir) / RUNS_FILE
    if not path.is_file():
        return []
    runs: dict[str, dict[str, Any]] = {}
    for line in path.read_text("utf-8", errors="replace").split("\n"):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("id"), str):
            runs.setdefault(rec["id"], {}).update(rec)
    holder = lock_holder(Path(models_dir))
    out = []
    for rec in runs.values():
        if rec.get("event") != "ended":
            running = _alive(rec.get("pid")) and rec.get("pid") == holder
            rec["outcome"] = "running" if running else "interrupted"
        out.append(rec)
    out.sort(key=lambda r: str(r.get("started_at", "")), reverse=True)
    return out if limit is None else out[:limit]


def describe_run(rec: dict[str, Any]) -> str:
    """One line for a run: when, outcome, trigger, algorithm, version, seconds and reason or error."""
    parts = [str(rec.get("started_at", "?"))[:19], f"{rec.get('outcome', '?'):<11}", f"trigger={rec.get('trigger')}",
             f"algo={rec.get('algo') or '-'}", f"version={rec.get('version') or '-'}"]
    if rec.get("seconds") is not None:
        parts.append(f"{rec['seconds']:.1f}s")
    note = rec.get("error") or rec.get("reason")
    return "  ".join(parts) + (f"  {note}" if note else "")


# ----------------------------------------------------------------- the worker
class RetrainWorker:
    """Decides when to retrain, runs one gated retraining at a time, and loops.

    Args:
        settings: where the database and the models are; the ``retrain_*`` settings.
        engine: the database (default: one on ``settings``).
        registry: the model registry (default: the settings' models folder).
        check_every: seconds between two checks in :meth:`run_forever`.
        gate_users: the holdout's user sample (:func:`make_holdout`).
    """

    def __init__(self, settings: Settings, *, engine: Engine | None = None, registry: ModelRegistry | None = None,
                 check_every: float = CHECK_EVERY, gate_users: int = GATE_USERS) -> None:
        if engine is None:
            from cinerec.store.db import settings_engine

            engine = settings_engine(settings)
        self.settings = settings
        self.engine = engine
        self.registry = registry or ModelRegistry(settings.models_dir)
        self.check_every = float(check_every)
        self.gate_users = gate_users
        self._failures = 0
        self._retry_at = 0.0

    @property
    def models_dir(self) -> Path:
        """The registry's folder (lock and run log live there)."""
        return self.registry.root

    # ------------------------------------------------------------- deciding
    def _reference(self) -> tuple[dict[str, Any], datetime | None]:
        """The newest gated data watermark (active version or a later rejected run) and the last attempt's time."""
        active = self.registry.active_version()
        mark: dict[str, Any] = {}
        if active is not None:
            with suppress(CinerecError):
                info = self.registry.info(active)
                mark = {"created_at": info.created_at, **info.extra}
        last_attempt = parse_time(mark.get("created_at"))
        for rec in read_runs(self.models_dir, limit=50):
            if rec.get("outcome") in ("skipped", "running"):
                continue
            started = parse_time(rec.get("started_at"))
            if started is not None and (last_attempt is None or started > last_attempt):
                last_attempt = started
            data = rec.get("data") if rec.get("outcome") == "rejected" else None
            if isinstance(data, dict) and (parse_time(data.get("data_as_of")) or datetime.min.replace(tzinfo=UTC)) > (
                    parse_time(mark.get("data_as_of")) or datetime.min.replace(tzinfo=UTC)):
                mark = dict(data)
        return mark, last_attempt

    def due(self, *, force: bool = False, now: datetime | None = None) -> str | None:
        """Why a run is due now, or ``None``.

        Args:
            force: always due (``"forced"``).
            now: the current time (tests).

        Returns:
            ``"forced"``, ``"no-active-model"``, ``"schedule"``, ``"new-interactions"`` or ``None``.
        """
        if force:
            return "forced"
        if time.monotonic() < self._retry_at:
            return None
        if self.registry.active_version() is None:
            return "no-active-model" if _has_ratings(self.engine) else None
        mark, last_attempt = self._reference()
        now = now or datetime.now(UTC)
        every = self.settings.retrain_every_seconds
        if every is not None and (last_attempt is None or (now - last_attempt).total_seconds() >= every):
            return "schedule"
        after = self.settings.retrain_after
        if after is not None and new_interactions(self.engine, mark) >= after:
            return "new-interactions"
        return None

    def recipe(self) -> tuple[str, dict[str, Any]]:
        """What to train: ``CINEREC_RETRAIN_ALGO`` (``hybrid`` = the demo's hybrid), else the active
        version's algorithm and parameters, else the demo's hybrid.

        Raises:
            InvalidParameter: the active version came from Spark (``engine="spark"``) and no
                ``CINEREC_RETRAIN_ALGO`` says what to train in-process (the run is recorded as failed with this
                reason; refitting Spark's factors in-process would quietly change the model's kind).
        """
        algo = self.settings.retrain_algo
        if algo:
            name = canonical(algo)
            return name, dict(DEMO_HYBRID) if name == "hybrid" else {}
        active = self.registry.active_version()
        info = None
        if active is not None:
            with suppress(CinerecError):
                info = self.registry.info(active)
        if info is not None:
            if info.extra.get("engine") == "spark":
                raise InvalidParameter(
                    f"the active version {info.version} was trained on Spark: retrain it with `cinerec train "
                    "--engine spark` (on a schedule of your own), or set CINEREC_RETRAIN_ALGO to retrain in-process")
            params = info.extra.get("params")
            return info.algo, dict(params) if isinstance(params, dict) else {}
        return "hybrid", dict(DEMO_HYBRID)

    # -------------------------------------------------------------- running
    def run(self, trigger: str) -> dict[str, Any]:
        """One retraining run under the training lock; never raises for a failed run.

        Args:
            trigger: why it runs (recorded).

        Returns:
            The run's record (as in the run log): ``outcome`` ``activated``,
            ``rejected``, ``failed`` or ``skipped`` (the lock was held).
        """
        rec: dict[str, Any] = {"id": secrets.token_hex(6), "event": "started", "trigger": trigger, "pid": os.getpid(),
                               "started_at": datetime.now(UTC).isoformat()}
        t0 = time.perf_counter()
        try:
            with training_lock(self.models_dir):
                append_run(self.models_dir, rec)
                log.info("retrain %s started (trigger %s)", rec["id"], trigger)
                try:
                    self._run_locked(rec)
                except Exception as exc:  # recorded and logged; the loop goes on
                    rec.update(outcome="failed", error=str(exc.message if isinstance(exc, CinerecError) else exc)
                               or type(exc).__name__)
                    log.error("retrain %s failed: %s", rec["id"], rec["error"],
                              exc_info=not isinstance(exc, CinerecError))
                rec.update(event="ended", ended_at=datetime.now(UTC).isoformat(),
                           seconds=round(time.perf_counter() - t0, 3))
                append_run(self.models_dir, rec)
        except Conflict as exc:
            rec.update(outcome="skipped", reason=exc.message, seconds=round(time.perf_counter() - t0, 3))
            append_run(self.models_dir, rec)
            rec.update(event="ended", ended_at=datetime.now(UTC).isoformat())
            append_run(self.models_dir, rec)
            log.info("retrain skipped: %s", exc.message)
        metrics.record_retrain(rec["outcome"], time.perf_counter() - t0)
        if rec["outcome"] == "failed":
            self._failures += 1
            self._retry_at = time.monotonic() + min(MAX_BACKOFF, self.check_every * 2 ** self._failures)
        elif rec["outcome"] != "skipped":
            self._failures, self._retry_at = 0, 0.0
        if rec["outcome"] in ("activated", "rejected"):
            log.info("retrain %s %s %s in %.1f s: %s", rec["id"], rec["outcome"], rec.get("version"), rec["seconds"],
                     rec.get("reason", ""))
        return rec

    def _run_locked(self, rec: dict[str, Any]) -> None:
        """Snapshot, fit, publish (inactive), gate, activate or reject; fills ``rec``."""
        algo, params = self.recipe()
        rec.update(algo=algo, params=params)
        model = create(algo, **params)
        check_memory(model, *data_counts(self.engine))  # a refusal fails the run before any data is loaded
        # content features also when the active recipe needs them: the gate may refit it (``recipe`` mode)
        features = model.needs_features or self._active_needs_features()
        data, mark = snapshot(self.engine, features=features, text_encoder=self.settings.text_encoder)
        rec["data"] = mark
        fit_s = fit_model(model, data)
        info = publish_model(self.registry, model, data, fit_s, {**mark, "run": rec["id"]}, activate=False,
                             ann_min_items=self.settings.ann_min_items)
        del model
        rec["version"] = info.version
        active = self.registry.active_version()
        if active is None:
            self.registry.activate(info.version)
            rec.update(outcome="activated", reason="no active model: activated without a gate")
            return
        result = gate(algo, params, data, self.registry, active, self.settings.retrain_margin,
                      max_users=self.gate_users)
        rec.update(gate=result.to_dict(), metrics={"candidate": result.candidate, "active": result.active},
                   reason=result.reason)
        if result.passed:
            self.registry.activate(info.version)
            rec["outcome"] = "activated"
        else:
            rec["outcome"] = "rejected"

    def _active_needs_features(self) -> bool:
        """Whether the active version's recipe trains on content features (``False`` when it cannot be rebuilt)."""
        active = self.registry.active_version()
        if active is None:
            return False
        try:
            info = self.registry.info(active)
            params = info.extra.get("params")
            return bool(create(info.algo, **(params if isinstance(params, dict) else {})).needs_features)
        except (CinerecError, TypeError):
            return False

    def tick(self, *, force: bool = False) -> dict[str, Any] | None:
        """Run once if due (see :meth:`due`); returns the run's record or ``None``."""
        trigger = self.due(force=force)
        return self.run(trigger) if trigger is not None else None

    # ----------------------------------------------------------------- loop
    @staticmethod
    def lower_priority(increment: int = 10) -> None:
        """``nice`` this process, so request handlers on the same machine win the CPU (ignored where not allowed)."""
        with suppress(OSError, AttributeError):
            os.nice(increment)

    def run_forever(self, stop: threading.Event, *, force_first: bool = False,
                    on_run: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Check every ``check_every`` seconds and run when due, until ``stop`` is set.

        A failed run is logged and recorded and the loop goes on (automatic
        triggers then wait, doubling per failure up to :data:`MAX_BACKOFF`).
        ``stop`` is looked at between runs, never inside one.

        Args:
            stop: set it (e.g. from a signal handler, :func:`stop_on_signals`) to end the loop.
            force_first: the first check runs whatever :meth:`due` says.
            on_run: called with each run's record.
        """
        self.lower_priority()
        log.info("retraining worker started: checking every %g s (pid %d)", self.check_every, os.getpid())
        force = force_first
        while not stop.is_set():
            try:
                rec = self.tick(force=force)
            except Exception:  # a check that failed (database down...): try again at the next tick
                log.exception("retraining check failed")
                rec = None
            force = False
            if rec is not None and on_run is not None:
                on_run(rec)
            stop.wait(self.check_every)
        log.info("retraining worker stopped")


def stop_on_signals(stop: threading.Event) -> None:
    """Make SIGTERM and SIGINT set ``stop`` (the loop ends after the current run); a second one stops at once.

    Only from the main thread (Python's rule for signal handlers).
    """
    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        log.info("signal %d: stopping after the current run (send it again to stop now)", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
