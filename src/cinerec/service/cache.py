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
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from prometheus_client import Counter

from cinerec.service.metrics import CACHE_REQUESTS

V = TypeVar("V")


class LRUCache(Generic[V]):
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

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value under ``key``, else ``compute()`` stored under it."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def fingerprint(pairs: Iterable[tuple[int, float]]) -> str:
    """A 128-bit digest of ``(id, value)`` pairs in the given order (a compact cache-key part for a history)."""
    h = hashlib.blake2b(digest_size=16)
    for i, v in pairs:
        h.update(f"{int(i)}:{float(v)!r};".encode())
    return h.hexdigest()
