"""Social recommendations: GET /api/v1/me/recommendations/social, "shared by @name" reasons, the For-you row."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from cinerec.store.db import transaction
from cinerec.store.models import Block, Movie, Share, User, utcnow
from cinerec.store.repos import follows as follow_repo
from tests.web.conftest import member
from tests.web.test_pages import browser, page_signup

URL = "/api/v1/me/recommendations/social"


def _uid(site: TestClient, username: str) -> int:
    with transaction(site.app.state.engine, write=False) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return int(uid)


def _films(site: TestClient, n: int, offset: int) -> list[int]:
    with transaction(site.app.state.engine, write=False) as s:
        return [int(m) for m in s.scalars(select(Movie.id).order_by(Movie.id).offset(offset).limit(n))]


def _follow(site: TestClient, follower: str, followee: str) -> None:
    with transaction(site.app.state.engine) as s:  # through the repository, as the API does (it raises the version)
        follow_repo.add(s, _uid(site, follower), _uid(site, followee), utcnow())


def _share(site: TestClient, username: str, movie_id: int, *, revoked: bool = False, days_ago: float = 0) -> None:
    when = utcnow() - timedelta(days=days_ago)
    with transaction(site.app.state.engine) as s:
        s.add(Share(user_id=_uid(site, username), movie_id=movie_id, audience="followers", created_at=when,
                    revoked_at=when if revoked else None))


def _rate(site: TestClient, headers: dict[str, str], movie_id: int, stars: float) -> None:
    r = site.put(f"/api/v1/movies/{movie_id}/rating", json={"rating": stars}, headers=headers)
    assert r.status_code == 200, r.text


def test_requires_auth_and_a_valid_k(site: TestClient) -> None:
    assert site.get(URL).status_code == 401
    _, h = member(site, "sr")
    for k in (0, 101, -1):
        r = site.get(URL, params={"k": k}, headers=h)
        assert r.status_code == 422, (k, r.text)
    r = site.get(URL, params={"k": 100}, headers=h)
    assert r.status_code == 200 and r.json() == {"data": [], "count": 0}  # follows nobody


def test_popular_with_following_scores_excludes_and_reflects_the_caller(site: TestClient) -> None:
    a, ha = member(site, "sa")
    b, hb = member(site, "sb")
    c, hc = member(site, "sc")
    other, _ = member(site, "so")
    f = _films(site, 6, offset=300)
    _rate(site, hb, f[0], 5.0)
    _rate(site, hc, f[0], 4.5)
    _rate(site, hb, f[1], 4.0)
    _rate(site, hb, f[2], 3.5)  # below 4 stars: not "rated highly"
    _share(site, c, f[3])
    _share(site, b, f[4], revoked=True)  # revoked: never counts
    _share(site, other, f[5])  # somebody a does not follow
    _follow(site, a, b)
    _follow(site, a, c)
    r = site.get(URL, params={"k": 10}, headers=ha)
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [x["movie"]["id"] for x in body["data"]]
    assert body["count"] == len(ids) == 3
    # f0: two followees (5★ -> 1.0, 4.5★ -> 0.75); f3: one fresh share (1.0); f1: one 4★ (0.5)
    assert ids == [f[0], f[3], f[1]]
    first = body["data"][0]
    assert first["reasons"][0]["kind"] == "following" and first["reasons"][0]["count"] == 2
    assert first["reasons"][0]["username"] == b  # the larger contribution
    shared = body["data"][1]["reasons"]
    assert shared[0] == {**shared[0], "kind": "shared_by", "username": c, "text": f"shared by @{c}"}
    # another caller sees their own (empty) circle, never a's
    assert site.get(URL, headers=hb).json()["count"] == 0
    # a film the caller rates leaves the list at once
    _rate(site, ha, f[0], 2.0)
    assert [x["movie"]["id"] for x in site.get(URL, headers=ha).json()["data"]] == [f[3], f[1]]
    # a block (either way) removes that member's signals at once
    with transaction(site.app.state.engine) as s:
        s.add(Block(blocker_id=_uid(site, c), blocked_id=_uid(site, a)))
    assert [x["movie"]["id"] for x in site.get(URL, headers=ha).json()["data"]] == [f[1]]


def test_recommendations_say_shared_by(site: TestClient) -> None:
    a, ha = member(site, "ra")
    b, _ = member(site, "rb")
    f = _films(site, 5, offset=0)
    for m in f:
        _rate(site, ha, m, 5.0)
    recs = site.get("/api/v1/me/recommendations", params={"k": 5}, headers=ha).json()["data"]
    target = recs[2]["movie"]["id"]
    assert all(x["reasons"] == [] or x["reasons"][0]["kind"] != "shared_by" for x in recs)
    _share(site, b, target)
    recs = site.get("/api/v1/me/recommendations", params={"k": 5}, headers=ha).json()["data"]
    assert all(x["reasons"] == [] or x["reasons"][0]["kind"] != "shared_by" for x in recs)  # a does not follow b
    _follow(site, a, b)
    recs = site.get("/api/v1/me/recommendations", params={"k": 5}, headers=ha).json()["data"]
    by_id = {x["movie"]["id"]: x["reasons"] for x in recs}
    assert by_id[target][0] == {**by_id[target][0], "kind": "shared_by", "username": b}
    assert len(by_id[target]) > 1  # the model's own reasons stay after it
    assert [x for m, rs in by_id.items() if m != target for x in rs if x["kind"] == "shared_by"] == []


def test_for_you_row_in_both_languages(site: TestClient) -> None:
    f = _films(site, 2, offset=500)
    for lang, heading, reason in (("en", "Popular with people you follow", "shared by @"),
                                  ("zh-CN", "你关注的人都在看", "由 @")):
        b, name = page_signup(site, lang)
        page = b.get("/for-you").text
        assert heading in page and 'id="follow-hint"' in page and 'href="/lists"' in page
        friend, _ = member(site, "fy")
        _share(site, friend, f[0], days_ago=1)
        _follow(site, name, friend)
        page = b.get("/for-you").text
        assert heading in page and 'id="popular-with-following"' in page and 'id="follow-hint"' not in page
        assert f'href="/movies/{f[0]}"' in page and f"{reason}{friend}" in page
    assert browser(site).get("/for-you").status_code in (302, 303)
