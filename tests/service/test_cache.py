"""The service's LRU cache: bounded, least recently used out first, expiring, thread-safe."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cinerec.service.cache import LRUCache, RedisCache, fingerprint


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


REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is not reachable on 127.0.0.1:6379")
    client.flushdb()
    return REDIS_URL


def _json_cache(url: str, prefix: str = "t:") -> RedisCache[list[int]]:
    return RedisCache(url, prefix=prefix, ttl=60, encode=lambda v: json.dumps(v).encode(), decode=json.loads)


def test_redis_cache_is_shared_between_instances(redis_url: str) -> None:
    a, b = _json_cache(redis_url), _json_cache(redis_url)
    calls: list[int] = []
    assert a.get_or_compute(("v1", 7, 10), lambda: calls.append(1) or [1, 2, 3]) == [1, 2, 3]
    assert b.get_or_compute(("v1", 7, 10), lambda: calls.append(1) or [9]) == [1, 2, 3]  # the other process's value
    assert calls == [1]
    assert b.get(("v2", 7, 10)) is None  # another version is another key
    assert _json_cache(redis_url, prefix="other:").get(("v1", 7, 10)) is None


def test_redis_cache_down_means_compute_not_fail(caplog: pytest.LogCaptureFixture) -> None:
    down = _json_cache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with caplog.at_level("WARNING", logger="cinerec.service.cache"):
        assert down.get_or_compute("k", lambda: [4]) == [4]
        assert down.get_or_compute("k", lambda: [5]) == [5]  # still computing, Redis left alone for a while
    assert sum("Redis" in r.message for r in caplog.records) == 1


def test_redis_cache_ignores_unreadable_values(redis_url: str) -> None:
    cache = _json_cache(redis_url)
    cache.client.set(cache._key("k"), b"\xff not json")
    assert cache.get_or_compute("k", lambda: [1]) == [1]
    assert cache.get("k") == [1]


def test_two_services_share_lists_through_redis(redis_url: str, tmp_path: Path) -> None:
    from cinerec.algorithms import ItemKNN
    from cinerec.service.recommender import RecommenderService
    from cinerec.service.registry import ModelRegistry
    from tests.algorithms.contract import two_groups

    data, _ = two_groups()
    reg = ModelRegistry(tmp_path)
    reg.publish(ItemKNN().fit(data), user_ids=data.user_vocab.ids + 100, item_ids=data.item_vocab.ids + 1000)
    one = RecommenderService.from_settings(reg, redis_url)
    two = RecommenderService.from_settings(reg, redis_url)
    history = [(1000, 5.0), (1001, 4.0)]
    first = one.recommend(100, 5, history=history)
    computed = []
    real = two._recommend
    two._recommend = lambda *a: computed.append(1) or real(*a)  # type: ignore[method-assign]
    second = two.recommend(100, 5, history=history)
    assert computed == [] and second == first  # equal dataclasses: same ids, scores, reasons
    fresh = two.recommend(100, 5, history=[*history, (1002, 1.0)])  # a new rating: a new key, computed here
    assert len(computed) == 1 and 1002 not in [r.movie_id for r in fresh.items]
