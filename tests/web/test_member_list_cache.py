"""Members' finished recommendation responses are cached under their history version, which any process's write raises."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from cinerec.config import Settings
from cinerec.store.models import User
from cinerec.web import create_app
from tests.web.conftest import member

ME = "/api/v1/me/recommendations"


def _version(site: TestClient, username: str) -> int:
    with site.app.state.engine.connect() as conn:
        return int(conn.execute(select(User.history_version).where(User.username == username)).scalar_one())


def test_history_version_rises_with_each_own_change(site: TestClient) -> None:
    name, h = member(site)
    friend, _ = member(site)
    steps = [  # (request, whether it changes what the member's list comes from)
        (lambda: site.put("/api/v1/movies/50/rating", json={"rating": 4}, headers=h), True),
        (lambda: site.put("/api/v1/movies/50/rating", json={"rating": 2}, headers=h), True),
        (lambda: site.delete("/api/v1/movies/50/rating", headers=h), True),
        (lambda: site.delete("/api/v1/movies/50/rating", headers=h), False),  # nothing to remove
        (lambda: site.put("/api/v1/me/watched/60", headers=h), True),
        (lambda: site.put("/api/v1/me/watched/60", headers=h), False),  # already marked
        (lambda: site.delete("/api/v1/me/watched/60", headers=h), True),
        (lambda: site.put("/api/v1/me/watchlist/61", headers=h), True),
        (lambda: site.put(f"/api/v1/users/{friend}/follow", headers=h), True),
        (lambda: site.get(ME, headers=h), False),
    ]
    for i, (send, changes) in enumerate(steps):
        before = _version(site, name)
        r = send()
        assert r.status_code < 300, (i, r.status_code, r.text)
        assert _version(site, name) == before + int(changes), i


def test_a_write_in_another_process_reaches_this_ones_cached_list(site: TestClient, member_settings: Settings) -> None:
    _, h = member(site)
    for film in (50, 100, 181, 258, 1):
        site.put(f"/api/v1/movies/{film}/rating", json={"rating": 5}, headers=h)
    cache = site.app.state.responses.local
    first = site.get(ME, headers=h).json()
    hits = cache.hits
    assert site.get(ME, headers=h).json() == first and cache.hits == hits + 1
    top = first["data"][0]["movie"]["id"]
    with TestClient(create_app(member_settings)) as other:  # another server process: its own caches
        assert other.put(f"/api/v1/movies/{top}/rating", json={"rating": 1}, headers=h).status_code == 200
    after = site.get(ME, headers=h).json()
    assert top not in [d["movie"]["id"] for d in after["data"]]
    misses = cache.misses
    site.get(ME, params={"k": 5}, headers=h)  # another k is another entry
    assert cache.misses == misses + 1
