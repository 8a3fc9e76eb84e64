"""Every Prometheus metric cinerec exports, defined once.

The web server, the recommender service, the caches and the retraining
worker record into these objects; ``/metrics`` renders them with
:func:`exposition`. Labels are bounded: routes are templates
(``/api/v1/movies/{movie_id}``, never a raw path), statuses are classes
(``2xx``), strategies are the few kinds the service knows.

**Several processes.** ``prometheus_client`` decides at import time where
values live: with the environment variable ``PROMETHEUS_MULTIPROC_DIR`` set
(to an empty folder, the same for every process of one deployment, emptied
before the server starts) each process writes its values to memory-mapped
files there, and :func:`exposition` sums the files of all processes, so a
scrape of any worker answers for the whole deployment, worker included.
Without it the values are the scraped process's own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: Environment variable that switches prometheus_client to its multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Request latency buckets in seconds: the API answers in milliseconds, pages in tens of them.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Retraining buckets in seconds: from a small model in seconds to a large one in an hour.
RETRAIN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

HTTP_REQUEST_DURATION = Histogram(
    "cinerec_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template, method and status class.",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS)

RECOMMENDATIONS = Counter(
    "cinerec_recommendations",
    "Recommendation lists served, by strategy (model, history, onboarding) and algorithm.",
    ["strategy", "algo"])

MODEL_ACTIVE = Gauge(
    "cinerec_model_active",
    "1 for the model version a serving process has loaded (the highest over live processes).",
    ["version", "algo"], multiprocess_mode="livemax")

CACHE_REQUESTS = Counter(
    "cinerec_cache_requests",
    "Look-ups in the in-process caches, by cache and result (hit or miss).",
    ["cache", "result"])

RETRAIN_RUNS = Counter(
    "cinerec_retrain_runs",
    "Retraining runs, by outcome (e.g. activated, rejected, failed).",
    ["outcome"])

RETRAIN_DURATION = Histogram(
    "cinerec_retrain_duration_seconds",
    "Wall-clock time of a retraining run, training and evaluation included.",
    buckets=RETRAIN_BUCKETS)


def status_class(status: int) -> str:
    """``"2xx"`` for 200..299 and so on: the status label, five values at most."""
    return f"{status // 100}xx"


def strategy_kind(strategy: str, algo: str) -> str:
    """The label for a recommendation strategy, independent of the algorithm's name.

    ``"<algo>"`` (the model's own ranking of a user it was trained on) is
    ``"model"``; ``"<algo>:history"`` is ``"history"``; anything else (e.g.
    ``"onboarding"``) is kept as it is.
    """
    if strategy == algo:
        return "model"
    prefix = f"{algo}:"
    return strategy[len(prefix):] if strategy.startswith(prefix) else strategy


def record_recommendation(strategy: str, algo: str) -> None:
    """Count one recommendation list served with ``strategy`` by a model of ``algo``."""
    RECOMMENDATIONS.labels(strategy_kind(strategy, algo), algo).inc()


_active: tuple[str, str] | None = None


def set_active_model(version: str, algo: str) -> None:
    """Mark ``version`` as this process's loaded model (the previous one, if any, goes to 0)."""
    global _active
    if _active == (version, algo):
        return
    if _active is not None:
        MODEL_ACTIVE.labels(*_active).set(0)
    MODEL_ACTIVE.labels(version, algo).set(1)
    _active = (version, algo)


def record_retrain(outcome: str, seconds: float) -> None:
    """Count one retraining run that ended with ``outcome`` after ``seconds``."""
    RETRAIN_RUNS.labels(outcome).inc()
    RETRAIN_DURATION.observe(seconds)


@contextmanager
def timed_retrain() -> Iterator[dict[str, str]]:
    """Time a retraining run and count it when the block ends.

    Yields a dict whose ``"outcome"`` the block sets (``"activated"`` by
    default); an exception leaving the block counts as ``"failed"`` and is
    re-raised.
    """
    result = {"outcome": "activated"}
    start = time.perf_counter()
    try:
        yield result
    except BaseException:
        result["outcome"] = "failed"
        raise
    finally:
        record_retrain(result["outcome"], time.perf_counter() - start)


def multiprocess_dir() -> str | None:
    """The multiprocess folder when that mode is on, else ``None``."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The current values in Prometheus' text format, with its content type.

    In multiprocess mode the values of every process sharing the folder are
    aggregated (counters and histograms summed, the model gauge the highest
    over live processes); otherwise this process's registry is rendered.
    """
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a stopped process's live gauges from the multiprocess folder (no-op in single-process mode)."""
    path = multiprocess_dir()
    if path is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid if pid is not None else os.getpid(), path)  # type: ignore[no-untyped-call]
