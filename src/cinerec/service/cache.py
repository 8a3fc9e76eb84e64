"""A small thread-safe LRU cache for results that are pure functions of their key.

The service caches what it computes per request (recommendation lists,
similar films, the visitor's home sections) under keys that hold *every*
input of the computation: the model version, the caller's history
fingerprint, ``k`` and the filters. A changed input is a different key, so
nothing needs invalidating for correctness: a new rating changes the
member's history fingerprint and the next request computes a fresh list; a
newly activated model changes the version. Entries that depend on data
other processes may change (aggregates) carry a time-to-live as well.

Memory is bounded by ``maxsize`` entries: the least recently used entry goes
first. A named cache also counts its hits and misses in the Prometheus
counter ``cinerec_cache_requests_total{cache=<name>}``
(:mod:`cinerec.service.metrics`).

An :class:`LRUCache` belongs to one process. :class:`RedisCache` has the same
``get``/``put``/``get_or_compute`` and keeps its values in Redis, so several
server processes share them; because keys hold every input, sharing never
serves a stale value either. Redis being down costs a log line and a
recomputation, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar, cast

from prometheus_client import Counter

from cinerec.service.metrics import CACHE_REQUESTS

V = TypeVar("V")
log = logging.getLogger(__name__)


class _Cache(Generic[V]):
    """What both caches share: ``get``, ``put`` and, built on them, :meth:`get_or_compute`."""

    def get(self, key: Hashable) -> V | None:
        raise NotImplementedError

    def put(self, key: Hashable, value: V) -> None:
        raise NotImplementedError

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value under ``key``, else ``compute()`` stored under it."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value


class LRUCache(_Cache[V]):
    """At most ``maxsize`` values by key, least recently used evicted first, optionally expiring.

    Args:
        maxsize: the most entries kept (>= 1).
        ttl: seconds an entry stays valid (``None``: until evicted).
        name: the ``cache`` label its hits and misses are counted under in the
            metrics (``None``: not exported; see :meth:`count_as`).

    Thread-safe: one lock guards the map; a value is computed outside the lock,
    so two threads missing the same key at once may both compute it (the
    results are equal, the last one stays).
    """

    def __init__(self, maxsize: int, ttl: float | None = None, *, name: str | None = None) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.ttl = ttl
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.name: str | None = None
        self._hit_metric: Counter | None = None
        self._miss_metric: Counter | None = None
        if name is not None:
            self.count_as(name)

    def count_as(self, name: str) -> None:
        """Export this cache's hits and misses from now on under the metrics label ``cache=name``."""
        self.name = name
        self._hit_metric = CACHE_REQUESTS.labels(name, "hit")
        self._miss_metric = CACHE_REQUESTS.labels(name, "miss")

    def get(self, key: Hashable) -> V | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] < now:
                del self._data[key]
                hit = None
            if hit is None:
                self.misses += 1
            else:
                self._data.move_to_end(key)
                self.hits += 1
        counter = self._miss_metric if hit is None else self._hit_metric
        if counter is not None:
            counter.inc()
        return None if hit is None else hit[1]

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key``, evicting the least recently used entries beyond ``maxsize``."""
        expires = time.monotonic() + self.ttl if self.ttl is not None else float("inf")
        with self._lock:
            self._data[key] = (expires, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class RedisCache(_Cache[V]):
    """Values in Redis under a digest of their key, shared by every process using the same URL and prefix.

    Args:
        url: ``redis://host:port/db``.
        prefix: key namespace (``cinerec:recs:``).
        ttl: seconds a value lives in Redis (Redis evicts it then; the keys
            are content-addressed, so this bounds memory, not staleness).
        encode, decode: the value's byte form and back (JSON; never pickle,
            which would let whoever can write to Redis run code here).
        name: the ``cache`` label of its hit and miss counters.

    Keys are hashed from ``repr(key)``: use keys made of str, int, float,
    bool, None and tuples of them, whose repr is the same in every process.
    """

    #: Seconds a Redis call may take before the cache gives up on it (and the value is computed here).
    TIMEOUT = 0.05
    #: Seconds to leave Redis alone after it failed.
    BACKOFF = 5.0

    def __init__(self, url: str, *, prefix: str, ttl: int, encode: Callable[[V], bytes], decode: Callable[[bytes], V],
                 name: str | None = None) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=self.TIMEOUT, socket_connect_timeout=self.TIMEOUT)
        self.prefix = prefix
        self.ttl = ttl
        self.encode = encode
        self.decode = decode
        self._retry_at = 0.0
        self._hit_metric = CACHE_REQUESTS.labels(name, "hit") if name else None
        self._miss_metric = CACHE_REQUESTS.labels(name, "miss") if name else None

    def _key(self, key: Hashable) -> str:
        return self.prefix + hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()

    def _failed(self, what: str, exc: Exception) -> None:
        if time.monotonic() >= self._retry_at:
            log.warning("shared cache: Redis %s failed (%s); computing locally for %.0f s", what, exc, self.BACKOFF)
        self._retry_at = time.monotonic() + self.BACKOFF

    def get(self, key: Hashable) -> V | None:
        """The value under ``key``, or ``None`` when absent, undecodable or Redis is unavailable."""
        value = None
        if time.monotonic() >= self._retry_at:
            try:
                raw = cast(bytes | None, self.client.get(self._key(key)))  # the sync client returns bytes
                value = None if raw is None else self.decode(raw)
            except (ValueError, TypeError) as exc:  # a value this version cannot read counts as a miss
                log.warning("shared cache: unreadable value ignored (%s)", exc)
            except Exception as exc:  # redis.RedisError and socket errors: degrade to computing here
                self._failed("read", exc)
        counter = self._miss_metric if value is None else self._hit_metric
        if counter is not None:
            counter.inc()
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key`` for :attr:`ttl` seconds (skipped while Redis is unavailable)."""
        if time.monotonic() < self._retry_at:
            return
        try:
            self.client.set(self._key(key), self.encode(value), ex=self.ttl)
        except Exception as exc:
            self._failed("write", exc)



def fingerprint(pairs: Iterable[tuple[int, float]]) -> str:
    """A 128-bit digest of ``(id, value)`` pairs in the given order (a compact cache-key part for a history)."""
    h = hashlib.blake2b(digest_size=16)
    for i, v in pairs:
        h.update(f"{int(i)}:{float(v)!r};".encode())
    return h.hexdigest()
