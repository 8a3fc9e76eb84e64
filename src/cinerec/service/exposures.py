"""The exposure log of experiments: batched, off the request path, one row per member per experiment.

A request under an experiment calls :meth:`ExposureLog.log`, which only
appends to an in-memory buffer (under a lock, no I/O), so serving latency
does not depend on the database. Besides the member's exposure it buffers
one ``impression`` event per film of the list (with the experiment's name,
the variant, the model version and the film's position) whenever the list
differs from the last one logged for that member in this process: those
events say which films the experiment recommended to whom, the set an
outcome (a click, a rating, a watchlisting, a share) must fall in to be
attributed to it. A background thread writes the buffer every
``interval`` seconds, or as soon as ``batch_size`` rows wait, in ONE
transaction through :func:`cinerec.store.repos.experiments.record_exposures`,
whose ``INSERT ... ON CONFLICT DO NOTHING`` on ``(experiment_id, user_id)``
keeps each member's first exposure even across server processes. An
in-process set of the ``(experiment, member)`` pairs already logged means a
member's repeat visits do not even enqueue.

A failed write is logged and retried on the next tick, never raised into a
request; after :data:`MAX_BATCH_FAILURES` failures in a row the batch is
written row by row (one transaction each) so one bad row — a member deleted
meanwhile — cannot hold the others back forever; the rows that still fail are
dropped with a warning. The buffer holds at most ``max_buffer`` rows: beyond
that the newest are dropped (and counted in :attr:`ExposureLog.dropped`), so
a database outage cannot exhaust memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from cinerec.store.db import transaction
from cinerec.store.models import Event, utcnow
from cinerec.store.repos import experiments as repo
from cinerec.store.repos.experiments import ExposureRow

log = logging.getLogger(__name__)

#: Whole-batch failures in a row before the batch is written row by row.
MAX_BATCH_FAILURES = 3


class ExposureLog:
    """Batches exposures in memory and writes them from a background thread.

    Args:
        engine: the database to write to.
        interval: seconds between background writes (0.5).
        batch_size: write at once when this many rows wait (500).
        max_buffer: the most rows held while the database is unavailable.
        start: run the background thread (started by the first :meth:`log`); ``False``: tests call :meth:`flush`.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.5, batch_size: int = 500,
                 max_buffer: int = 100_000, start: bool = True) -> None:
        self._engine = engine
        self.interval = interval
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._flush_lock = threading.Lock()  # one writer at a time: the thread or an explicit flush()
        self._buffer: list[ExposureRow] = []
        self._impressions: list[dict[str, object]] = []
        self._seen: set[tuple[int, int]] = set()
        self._last_list: dict[tuple[int, int], int] = {}
        self._failures = 0
        self._closed = False
        #: Rows written, rows found already stored, rows dropped (buffer full or failing alone).
        self.written = 0
        self.duplicates = 0
        self.dropped = 0
        #: Impression events written, and dropped after a failed write.
        self.impressions = 0
        self.dropped_impressions = 0
        self._thread: threading.Thread | None = None
        self._autostart = start

    def log(self, experiment_id: int, user_id: int, variant: str, model_version: str,
            items: Sequence[int], *, experiment: str | None = None, at: datetime | None = None) -> bool:
        """Enqueue a member's exposure; returns whether it was enqueued (``False`` on a repeat visit).

        With ``experiment`` (its name) the list's films are also enqueued as
        ``impression`` events, unless this process logged the same list for
        the member last time. ``at`` is when the list was served (default:
        now; a replay of recorded sessions passes theirs). Never touches the
        database and never raises for a database problem.
        """
        key = (experiment_id, user_id)
        films = tuple(int(i) for i in items)
        now = at or utcnow()
        with self._lock:
            if experiment is not None and self._last_list.get(key) != hash(films) \
                    and len(self._impressions) + len(films) <= self.max_buffer:
                self._last_list[key] = hash(films)
                self._impressions.extend(
                    {"user_id": user_id, "movie_id": m, "kind": "impression", "experiment": experiment,
                     "variant": variant, "model_version": model_version, "position": pos, "created_at": now}
                    for pos, m in enumerate(films))
            if key in self._seen:
                return False
            if len(self._buffer) >= self.max_buffer:
                self.dropped += 1
                return False
            self._seen.add(key)
            self._buffer.append(ExposureRow(experiment_id, user_id, variant, model_version, films, now))
            if len(self._buffer) >= self.batch_size:
                self._wake.notify()
            if self._thread is None and self._autostart and not self._closed:
                self._thread = threading.Thread(target=self._run, name="exposure-log", daemon=True)
                self._thread.start()
        return True

    def pending(self) -> int:
        """Exposure rows waiting to be written."""
        with self._lock:
            return len(self._buffer)

    def forget(self, experiment_id: int) -> None:
        """Drop the in-process memory of an experiment's members (after it stops)."""
        with self._lock:
            self._seen = {k for k in self._seen if k[0] != experiment_id}
            self._last_list = {k: h for k, h in self._last_list.items() if k[0] != experiment_id}

    def flush(self) -> bool:
        """Write every buffered row now; returns whether the buffer was written (failures are logged)."""
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
                shown, self._impressions = self._impressions, []
            if shown:
                self._write_impressions(shown)
            if not batch:
                return True
            try:
                with transaction(self._engine) as s:
                    n = repo.record_exposures(s, batch)
            except Exception:
                self._failures += 1
                if self._failures < MAX_BATCH_FAILURES:
                    log.exception("writing %d exposures failed (attempt %d); retrying", len(batch), self._failures)
                    with self._lock:  # back in front, so the first exposure stays first
                        self._buffer[:0] = batch
                    return False
                log.exception("writing %d exposures failed %d times; writing them one by one",
                              len(batch), self._failures)
                return self._write_one_by_one(batch)
            self._failures = 0
            self.written += n
            self.duplicates += len(batch) - n
            return True

    def _write_impressions(self, rows: list[dict[str, object]]) -> None:
        """Insert impression events (one transaction); on failure they are dropped with a warning.

        Impressions are not retried: a member's next list logs them again,
        and an exposure row (which is retried) is what counts the member.
        """
        try:
            with transaction(self._engine) as s:
                s.execute(insert(Event), rows)
        except Exception as exc:
            self.dropped_impressions += len(rows)
            log.warning("dropping %d impression events: %s", len(rows), exc)
        else:
            self.impressions += len(rows)

    def _write_one_by_one(self, batch: list[ExposureRow]) -> bool:
        self._failures = 0
        ok = True
        for row in batch:
            try:
                with transaction(self._engine) as s:
                    n = repo.record_exposures(s, [row])
            except Exception as exc:
                ok = False
                self.dropped += 1
                log.warning("dropping the exposure of member %d to experiment %d: %s",
                            row.user_id, row.experiment_id, exc)
                continue
            self.written += n
            self.duplicates += 1 - n
        return ok

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._closed and len(self._buffer) < self.batch_size:
                    self._wake.wait(self.interval)
                closed = self._closed
            try:
                self.flush()
            except Exception:  # never let the writer thread die
                log.exception("the exposure writer failed")
            if closed:
                return

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background thread after a last write (shutdown)."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self.flush()
