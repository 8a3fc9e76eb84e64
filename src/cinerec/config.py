"""Validated settings, read from ``CINEREC_*`` environment variables.

Nothing is read at import time: call :func:`get_settings`, which caches one
instance per process (tests clear it with ``get_settings.cache_clear()``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str | int) -> int:
    """A memory size in bytes: ``17179869184``, ``16G``, ``512M``, ``1.5g``, ``64KiB`` (binary units).

    Raises:
        ValueError: not a positive size, with what to write instead.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        if match is None:
            raise ValueError(f"{text!r} is not a memory size: give bytes or a number with K, M, G or T (e.g. 16G, 512M)")
        value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value <= 0:
        raise ValueError(f"{text!r} is not a memory size: it must be more than 0 bytes")
    return value


def _default_home() -> Path:
    return Path.home() / ".cinerec"


class Settings(BaseSettings):
    """cinerec's configuration.

    Attributes:
        home: folder for the SQLite database, model artifacts and reports.
        database_url: SQLAlchemy URL; defaults to SQLite under ``home``.
        data_dir: folder holding datasets (``ml-latest-small/`` ...), searched
            before downloading; tests point it at ``../shared/data``.
        cache_dir: download cache; defaults to ``home/datasets``.
        sqlite_busy_timeout_ms: how long SQLite waits for a lock.
        host, port: where ``cinerec serve`` listens.
        redis_url: Redis for the login/signup rate limits shared by several
            worker processes (``redis://127.0.0.1:6379/0``); in-memory when unset.
        worker_threads: threads per server process running the (synchronous)
            routes; few threads on few cores wait less on each other for the GIL.
        reload_templates: re-read changed templates without a restart (development).
        ann_min_items: catalogue size from which latent models get an approximate
            top-k index when trained and rank through it when served (exact below).
        metrics_token: when set, ``/metrics`` answers only requests with
            ``Authorization: Bearer <token>``; unset, it is public (serve it on
            an internal port or behind the proxy's allow-list).
        public_url: the site's public origin (``https://films.example``); links
            that leave the site (a share's public link, OpenGraph ``og:url`` and
            ``og:image``) are built from it instead of the request's ``Host``
            header, which a client can forge. Unset, the request's origin is used
            (fine on 127.0.0.1; set it in production).
        retrain_every: ``cinerec worker`` retrains when the active version is
            this old (``30m``, ``6h``, ``1d``; unset: no schedule).
        retrain_after: ``cinerec worker`` retrains once this many ratings and
            reviews were written since the data of the active version or of the
            last rejected candidate, whichever is newer (unset: never for that reason).
        retrain_margin: a candidate is activated unless its holdout NDCG@10 falls
            below the active model's by more than this fraction (0.02 = 2 %).
        retrain_algo: what the worker trains (``hybrid`` = the demo's hybrid);
            unset, the active version's algorithm and parameters again.
        mmap_artifacts: load model arrays as copy-on-write memory maps, so
            several server processes share one copy in the page cache.
        model_poll_seconds: how often each server process looks for a newly
            activated model version (a background thread; requests never load).
        db_pool_size: PostgreSQL connections each process keeps open; unset,
            ``worker_threads + 1`` (one per route thread, one for the
            background work). Size it so that ``workers x (db_pool_size +
            db_max_overflow)`` of ``cinerec serve --workers N``, plus the
            background worker and CLI commands, stays below the server's
            ``max_connections`` (100 by default, 3 of them reserved). SQLite
            ignores the pool settings.
        db_max_overflow: connections a process may open beyond the pool
            under a burst (closed again when returned).
        db_pool_timeout: seconds a request waits for a free connection
            before failing.
        db_pool_recycle: reopen connections older than this many seconds
            (-1: never), ahead of server or proxy idle timeouts.
        db_pool_pre_ping: test each connection on checkout, so one dropped
            while idle (a database restart, a failover) is replaced instead
            of failing a request.
        train_memory_limit: the most memory an in-process training may need,
            in bytes or with a unit (``16G``, ``512M``); a model whose estimate
            (:meth:`~cinerec.algorithms.base.RecommenderBase.estimate_fit_bytes`)
            is larger is refused before the data is loaded. Unset, 80 % of the
            memory available when training starts (``MemAvailable``, or the
            cgroup's limit when that is lower).
    """

    model_config = SettingsConfigDict(env_prefix="CINEREC_", extra="forbid")

    home: Path = Field(default_factory=_default_home)
    database_url: str | None = None
    data_dir: Path | None = None
    cache_dir: Path | None = None
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    text_encoder: Literal["minilm", "use-m"] | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    redis_url: str | None = None
    worker_threads: int = Field(default=4, ge=1, le=256)
    reload_templates: bool = False
    ann_min_items: int = Field(default=50_000, ge=0)
    metrics_token: str | None = Field(default=None, min_length=16)
    public_url: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
    retrain_every: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?[smhd]$")
    retrain_after: int | None = Field(default=None, ge=1)
    retrain_margin: float = Field(default=0.02, ge=0.0, le=1.0)
    retrain_algo: str | None = None
    mmap_artifacts: bool = True
    model_poll_seconds: float = Field(default=1.0, gt=0.0, le=60.0)
    db_pool_size: int | None = Field(default=None, ge=1, le=1000)
    db_max_overflow: int = Field(default=2, ge=0, le=1000)
    db_pool_timeout: float = Field(default=30.0, gt=0.0)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_pool_pre_ping: bool = True
    train_memory_limit: int | None = None

    @field_validator("train_memory_limit", mode="before")
    @classmethod
    def _memory_size(cls, value: object) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str | int):
            raise ValueError(f"{value!r} is not a memory size: give bytes or a number with K, M, G or T (e.g. 16G)")
        return parse_size(value)

    @property
    def retrain_every_seconds(self) -> float | None:
        """:attr:`retrain_every` in seconds (``None`` when unset)."""
        if self.retrain_every is None:
            return None
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[self.retrain_every[-1]]
        return float(self.retrain_every[:-1]) * unit

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<home>/cinerec.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'cinerec.db'}"

    @property
    def resolved_db_pool_size(self) -> int:
        """:attr:`db_pool_size`, defaulting to ``worker_threads + 1``."""
        return self.db_pool_size if self.db_pool_size is not None else self.worker_threads + 1

    @property
    def resolved_cache_dir(self) -> Path:
        """The dataset download cache folder."""
        return self.cache_dir or self.home / "datasets"

    @property
    def map_dir(self) -> Path:
        """Where the catalogue map (PNG + JSON) is written."""
        return self.home / "map"

    @property
    def nlp_dir(self) -> Path:
        """Where trained NLP models (sentiment) are kept."""
        return self.home / "nlp"

    @property
    def models_dir(self) -> Path:
        """Where versioned model artifacts are written."""
        return self.home / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment.

    Raises:
        pydantic.ValidationError: a ``CINEREC_*`` variable has an invalid value
            (:func:`describe_invalid` words it for people).
    """
    return Settings()


def describe_invalid(exc: ValidationError) -> str:
    """One line naming each invalid ``CINEREC_*`` variable and what is wrong with it."""
    return "invalid setting: " + "; ".join(
        f"CINEREC_{'.'.join(str(p) for p in e['loc']).upper()}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors())
