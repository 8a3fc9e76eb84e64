"""Finished JSON responses kept per member, so a repeated request does no database or model work.

A member's recommendation list is a function of the model version, their
history, the filter and ``k`` — plus slowly changing decorations (the films'
audience counts, who among the people they follow shared a film). The key
holds the first group exactly: the model version, the member's
``history_version`` (raised in the same transaction as each of their ratings
and marks, and read with their session on every request, so a write in any
server process changes the key everywhere at once), the filter and ``k``.
The decorations may be up to :data:`TTL` seconds old.

Entries are the response's JSON bytes: a hit sends them as they are. Each
process keeps its own bounded LRU; with ``CINEREC_REDIS_URL`` a second level
in Redis lets one process answer with a list another one built.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from fastapi.responses import Response
from pydantic import BaseModel

from cinerec.service.cache import LRUCache, RedisCache

#: Seconds a cached response may be served (its audience counts and sharer reasons may be this old).
TTL = 30
#: Responses kept per process.
SIZE = 8192


def _same(raw: bytes) -> bytes:
    return raw


class ResponseCache:
    """JSON response bodies by key: this process's LRU first, then Redis when configured.

    Args:
        redis_url: share entries through this Redis (``None``: per process only).
        name: the ``cache`` label of the hit and miss counters (``<name>_shared`` for Redis).
    """

    def __init__(self, redis_url: str | None, *, name: str = "member_recommendations", ttl: int = TTL,
                 size: int = SIZE) -> None:
        self.local: LRUCache[bytes] = LRUCache(size, ttl=ttl, name=name)
        self.shared: RedisCache[bytes] | None = None
        if redis_url:
            self.shared = RedisCache(redis_url, prefix="cinerec:resp:", ttl=ttl, encode=_same, decode=_same,
                                     name=f"{name}_shared")

    def json(self, key: Hashable, build: Callable[[], BaseModel]) -> Response:
        """The response cached under ``key``, else ``build()``'s model serialised, cached and sent."""
        def render() -> bytes:
            return build().model_dump_json().encode()

        shared = self.shared
        body = self.local.get_or_compute(key, render if shared is None else lambda: shared.get_or_compute(key, render))
        return Response(body, media_type="application/json")
