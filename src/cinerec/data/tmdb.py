"""Metadata enrichment from the TMDB API (v3): overview, runtime, poster, release date, directors, top-billed cast.

``GET /3/movie/{id}?append_to_response=credits`` per film, with

- a rate limit (a token bucket, default 20 requests per second: TMDB's
  documented ceiling is about 50),
- retries with exponential backoff on 429 (honouring ``Retry-After``), 5xx
  and network errors,
- an on-disk cache, one JSON file per film (``<cache>/tmdb/<id>.json``),
  written atomically; films TMDB does not know are cached as such,
- resumability: cached films are never asked for again, so an interrupted
  run continues where it stopped.

The result is a :class:`~cinerec.data.readers.metadata.Metadata` keyed by
tmdb id, imported like any metadata file.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cinerec.data.readers.metadata import Metadata, parse_release_date
from cinerec.errors import DownloadError, InvalidParameter
from cinerec.fileio import atomic_write

API = "https://api.themoviedb.org/3"
IMAGE_BASE = "https://image.tmdb.org/t/p/w342"
#: Cast members kept per film.
TOP_CAST = 10

Progress = Callable[[int, int], None]


class RateLimiter:
    """A token bucket: at most ``rate`` calls per second on average, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int = 5, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise InvalidParameter("rate must be positive")
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a call is allowed."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self._sleep(wait)
                self._last = self._clock()
                self._tokens = 0.0
            else:
                self._tokens -= 1


@dataclass
class EnrichReport:
    """What an enrichment run did."""

    requested: int = 0
    from_cache: int = 0
    fetched: int = 0
    not_found: int = 0
    retries: int = 0
    failed: dict[int, str] = field(default_factory=dict)


class TmdbClient:
    """Fetch film details from TMDB with a cache, a rate limit and retries.

    Args:
        api_key: a TMDB v3 API key (or a v4 read access token, sent as a bearer token).
        cache_dir: folder for the per-film JSON cache.
        rate: requests per second.
        max_retries: attempts after the first for 429, 5xx and network errors.
        transport: an ``httpx`` transport (tests pass a ``MockTransport``).
        sleep: how to wait (tests pass a fake).
    """

    def __init__(self, api_key: str, cache_dir: Path, *, rate: float = 20.0, max_retries: int = 4,
                 transport: Any = None, sleep: Callable[[float], None] = time.sleep, base_url: str = API) -> None:
        import httpx

        if not api_key or not api_key.strip():
            raise InvalidParameter("a TMDB API key is needed: --tmdb-api-key KEY (https://www.themoviedb.org/settings/api)")
        self.cache = Path(cache_dir) / "tmdb"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.max_retries = max_retries
        self._sleep = sleep
        self._limiter = RateLimiter(rate, sleep=sleep)
        bearer = len(api_key) > 40  # v4 tokens are long JWTs; v3 keys are 32 hex characters
        self._params = {} if bearer else {"api_key": api_key}
        headers = {"Accept": "application/json", **({"Authorization": f"Bearer {api_key}"} if bearer else {})}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=20.0, transport=transport)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _cache_path(self, tmdb_id: int) -> Path:
        return self.cache / f"{int(tmdb_id)}.json"

    def cached(self, tmdb_id: int) -> dict[str, Any] | None:
        """The cached answer for a film (``{"not_found": true}`` for unknown films), or ``None``."""
        try:
            data: dict[str, Any] = json.loads(self._cache_path(tmdb_id).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data

    def _store(self, tmdb_id: int, data: dict[str, Any]) -> None:
        atomic_write(self._cache_path(tmdb_id), json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def movie(self, tmdb_id: int, report: EnrichReport | None = None) -> dict[str, Any] | None:
        """Details and credits of one film (cached); ``None`` when TMDB does not know it.

        Raises:
            DownloadError: a rejected key (401), or still failing after the retries.
        """
        import httpx

        report = report or EnrichReport()
        hit = self.cached(tmdb_id)
        if hit is not None:
            report.from_cache += 1
            return None if hit.get("not_found") else hit
        delay = 1.0
        for attempt in range(self.max_retries + 1):
            self._limiter.acquire()
            try:
                r = self._http.get(f"/movie/{int(tmdb_id)}", params={**self._params, "append_to_response": "credits"})
            except httpx.TransportError as exc:
                problem = f"network error: {exc}"
            else:
                if r.status_code == 200:
                    data = r.json()
                    self._store(tmdb_id, data)
                    report.fetched += 1
                    return dict(data)
                if r.status_code == 404:
                    self._store(tmdb_id, {"not_found": True})
                    report.not_found += 1
                    return None
                if r.status_code == 401:
                    raise DownloadError("TMDB rejected the API key (401): check --tmdb-api-key")
                if r.status_code != 429 and r.status_code < 500:
                    raise DownloadError(f"TMDB answered {r.status_code} for movie {tmdb_id}: {r.text[:200]}")
                problem = f"HTTP {r.status_code}"
                retry_after = r.headers.get("Retry-After")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(retry_after))
            if attempt == self.max_retries:
                raise DownloadError(f"TMDB movie {tmdb_id}: {problem} after {self.max_retries + 1} attempts; "
                                    "run the command again to resume")
            report.retries += 1
            self._sleep(delay)
            delay = min(delay * 2, 60.0)
        return None  # unreachable

    def enrich(self, tmdb_ids: Iterable[int], progress: Progress | None = None) -> tuple[Metadata, EnrichReport]:
        """Fetch every film (cache first) and return their metadata.

        A film that keeps failing is reported in ``failed`` and the run goes
        on; a rejected key stops it at once.
        """
        ids = list(dict.fromkeys(int(i) for i in tmdb_ids))
        report = EnrichReport(requested=len(ids))
        found: list[dict[str, Any]] = []
        for n, tid in enumerate(ids, start=1):
            try:
                data = self.movie(tid, report)
            except DownloadError as exc:
                if "401" in exc.message:
                    raise
                report.failed[tid] = exc.message
                data = None
            if data is not None:
                found.append({**data, "id": tid})
            if progress:
                progress(n, len(ids))
        return to_metadata(found), report


def to_metadata(movies: list[dict[str, Any]]) -> Metadata:
    """TMDB movie details (with ``credits``) as :class:`Metadata` keyed by tmdb id."""
    texts: list[dict[str, Any]] = []
    directors: list[dict[str, Any]] = []
    cast: list[dict[str, Any]] = []
    for m in movies:
        tid = int(m["id"])
        poster = m.get("poster_path")
        runtime = m.get("runtime")
        texts.append({"item": tid, "overview": (m.get("overview") or "").strip(), "tagline": (m.get("tagline") or "").strip(),
                      "keywords": [], "runtime": float(runtime) if isinstance(runtime, (int, float)) and runtime > 0 else np.nan,
                      "poster_url": f"{IMAGE_BASE}{poster}" if isinstance(poster, str) and poster.startswith("/") else None,
                      "release_date": parse_release_date(m.get("release_date"))})
        credits = m.get("credits") or {}
        for c in credits.get("crew") or []:
            if c.get("job") == "Director" and c.get("name"):
                directors.append({"item": tid, "name": str(c["name"]).strip(), "person_tmdb_id": c.get("id")})
        billed = sorted((c for c in credits.get("cast") or [] if c.get("name")), key=lambda c: c.get("order", 999))
        for c in billed[:TOP_CAST]:
            cast.append({"item": tid, "name": str(c["name"]).strip(), "person_tmdb_id": c.get("id"),
                         "character": (c.get("character") or "")[:200] or None, "order": c.get("order")})
    return Metadata("tmdb", directors=pd.DataFrame(directors, columns=["item", "name", "person_tmdb_id"]),
                    texts=pd.DataFrame(texts, columns=["item", "overview", "tagline", "keywords", "runtime", "poster_url",
                                                       "release_date"]),
                    cast=pd.DataFrame(cast, columns=["item", "name", "person_tmdb_id", "character", "order"]))
