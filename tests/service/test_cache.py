"""The service's LRU cache: bounded, least recently used out first, expiring, thread-safe."""

from __future__ import annotations

import threading
import time

import pytest

from cinerec.service.cache import LRUCache, fingerprint


def test_bounded_and_least_recently_used_goes_first() -> None:
    c: LRUCache[int] = LRUCache(3)
    for k in "abc":
        c.put(k, ord(k))
    assert c.get("a") == ord("a")  # a is now the most recently used
    c.put("d", 4)
    assert len(c) == 3 and c.get("b") is None and c.get("a") == ord("a") and c.get("d") == 4


def test_entries_expire_after_ttl() -> None:
    c: LRUCache[str] = LRUCache(10, ttl=0.05)
    c.put("k", "v")
    assert c.get("k") == "v"
    time.sleep(0.08)
    assert c.get("k") is None and len(c) == 0


def test_get_or_compute_computes_once_per_key() -> None:
    c: LRUCache[list[int]] = LRUCache(10)
    calls: list[int] = []

    def compute() -> list[int]:
        calls.append(1)
        return [1]

    assert c.get_or_compute("k", compute) == c.get_or_compute("k", compute) == [1]
    assert len(calls) == 1 and c.hits == 1 and c.misses == 1


def test_concurrent_writers_keep_the_bound() -> None:
    c: LRUCache[int] = LRUCache(50)

    def work(t: int) -> None:
        for i in range(2000):
            c.put((t, i), i)
            c.get((t, i - 1))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(c) == 50


def test_fingerprint_changes_with_any_pair() -> None:
    base = [(1, 4.0), (2, 3.5)]
    assert fingerprint(base) == fingerprint(list(base))
    assert fingerprint(base) != fingerprint([(1, 4.0), (2, 4.0)])
    assert fingerprint(base) != fingerprint([(1, 4.0)])
    assert fingerprint(base) != fingerprint([(1, 4.0), (3, 3.5)])
    assert fingerprint([]) == fingerprint(())


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LRUCache(0)
