"""Accounts over HTTP: TESTPLAN S1-S6 (password policy, hashes at rest, generic login, throttle,
session lifecycle, CSRF/origin/content type)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import statistics
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, Form, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from cinerec.config import Settings
from cinerec.errors import PermissionDenied
from cinerec.service.throttle import Limits, Throttle
from cinerec.store.models import Rating
from cinerec.web import create_app, security
from cinerec.web.errors import install
from tests.web.conftest import PASSWORD, login, member, new_name, signup


def _db(settings: Settings):  # type: ignore[no-untyped-def]
    return create_engine(settings.resolved_database_url)


def test_s1_password_policy(site: TestClient) -> None:
    for bad in ("abc1234", "password1234"):
        name = new_name("s1")
        r = site.post("/api/v1/auth/signup", json={"username": name, "email": f"{name}@x.org", "password": bad})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameter", r.text
        assert r.json()["error"]["details"]["fields"][0]["loc"] == ["body", "password"]
    for good in ("ü" * 30 + "密码" * 17, "Ω≈ç√∫˜µ≤≥÷" * 10):  # 64 and 100 unicode characters
        name = signup(site, password=good)
        assert login(site, name, good)
    name = signup(site, password="a" * 72 + "X")
    r = site.post("/api/v1/auth/token", json={"username": name, "password": "a" * 72 + "Y"})
    assert r.status_code == 401


def test_s2_hash_at_rest(site: TestClient, member_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    plain = "unusual-plaintext-" + new_name()
    name = signup(site, password=plain)
    login(site, name, plain)
    eng = _db(member_settings)
    with eng.connect() as c:
        digest = c.execute(text("SELECT password_hash FROM users WHERE username = :u"), {"u": name}).scalar_one()
    eng.dispose()
    m = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=1\$", digest)
    assert m and ((int(m.group(2)) >= 2 and int(m.group(1)) >= 19456) or (int(m.group(2)) >= 3 and int(m.group(1)) >= 12288))
    db_file = Path(member_settings.resolved_database_url.removeprefix("sqlite:///"))
    for f in (db_file, db_file.with_name(db_file.name + "-wal")):
        if f.exists():
            assert plain.encode() not in f.read_bytes()
    assert plain not in caplog.text


def test_s3_login_generic(site: TestClient) -> None:
    name = signup(site)
    unknown = new_name("ghost")
    real_t, ghost_t, bodies = [], [], set()
    for _ in range(50):
        for who, times in ((name, real_t), (unknown, ghost_t)):
            site.app.state.throttle.reset()
            t0 = time.perf_counter()
            r = site.post("/api/v1/auth/token", json={"username": who, "password": "wrong password 123"})
            times.append(time.perf_counter() - t0)
            body = r.json()
            assert body["error"]["details"].pop("request_id")  # each response has its own id; the rest is identical
            bodies.add((r.status_code, json.dumps(body, sort_keys=True)))
    assert len(bodies) == 1 and next(iter(bodies))[0] == 401
    a, b = statistics.median(real_t), statistics.median(ghost_t)
    assert abs(a - b) / max(a, b) < 0.25, (a, b)


def test_s4_brute_force_throttle(site: TestClient) -> None:
    old = site.app.state.throttle
    site.app.state.throttle = Throttle(limits=Limits(login_per_account="10 per 3 seconds", login_per_ip="50/minute"))
    try:
        name, other = signup(site), signup(site)
        for _ in range(10):
            assert site.post("/api/v1/auth/token", json={"username": name, "password": "nope nope nope"}).status_code == 401
        for pw in ("nope nope nope", PASSWORD):  # the 11th attempt, even with the right password
            r = site.post("/api/v1/auth/token", json={"username": name, "password": pw})
            assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(r.headers["retry-after"]) <= 3
        h = login(site, other)  # other members are not affected
        assert site.get("/api/v1/users/me", headers=h).status_code == 200
        time.sleep(3.1)
        assert login(site, name)
    finally:
        site.app.state.throttle = old
    throttle = Throttle(limits=Limits(signup_per_ip="2/hour"))
    site.app.state.throttle = throttle
    try:
        codes = []
        for _ in range(3):
            n = new_name("s4")
            codes.append(site.post("/api/v1/auth/signup", json={"username": n, "email": f"{n}@x.org",
                                                                 "password": PASSWORD}).status_code)
        assert codes == [201, 201, 429]
    finally:
        site.app.state.throttle = old


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_s5_session_lifecycle(member_settings: Settings, scheme: str) -> None:
    with TestClient(create_app(member_settings), base_url=f"{scheme}://testserver") as c:
        name = signup(c)
        cookie = "__Host-cinerec_session" if scheme == "https" else "cinerec_session"
        r1 = c.post("/api/v1/auth/session", json={"username": name, "password": PASSWORD})
        assert r1.status_code == 200, r1.text
        set_cookie = r1.headers["set-cookie"]
        assert set_cookie.startswith(f"{cookie}=") and "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
        assert "Path=/" in set_cookie and "Domain" not in set_cookie
        assert ("Secure" in set_cookie) == (scheme == "https")
        first = c.cookies.get(cookie)
        assert first and len(first) >= 43
        assert c.get("/api/v1/users/me").json()["username"] == name
        r2 = c.post("/api/v1/auth/session", json={"username": name, "password": PASSWORD})
        second = c.cookies.get(cookie)
        assert r2.status_code == 200 and second != first  # rotated at login
        c.cookies.clear()
        assert _with(c, cookie, first).get("/api/v1/users/me").status_code == 401  # the old one is revoked
        assert _with(c, cookie, second).post("/api/v1/auth/logout").status_code == 204
        assert _with(c, cookie, second).get("/api/v1/users/me").status_code == 401  # replay after logout
        # a password change ends every session, bearer and cookie alike
        c.cookies.clear()
        c.post("/api/v1/auth/session", json={"username": name, "password": PASSWORD})
        third = c.cookies.get(cookie)
        h = login(c, name)
        c.cookies.clear()
        r = c.patch("/api/v1/users/me", json={"current_password": PASSWORD, "new_password": "a brand new secret"},
                    headers=h)
        assert r.status_code == 200, r.text
        assert c.get("/api/v1/users/me", headers=h).status_code == 401
        assert _with(c, cookie, third).get("/api/v1/users/me").status_code == 401
        # disabling the account ends its sessions
        h = login(c, name, "a brand new secret")
        admin = _make_admin(c)
        me_id = c.get("/api/v1/users/me", headers=h).json()["id"]
        assert c.post(f"/api/v1/admin/users/{me_id}/disable", headers=admin).status_code == 204
        assert c.get("/api/v1/users/me", headers=h).status_code == 401


def _with(c: TestClient, name: str, value: str) -> TestClient:
    """The client holding only the session cookie ``value``."""
    c.cookies.clear()
    c.cookies.set(name, value)
    return c


def _make_admin(c: TestClient) -> dict[str, str]:
    from cinerec.service.accounts import create_user

    name = new_name("admin")
    create_user(c.app.state.engine, name, PASSWORD, is_admin=True)
    return login(c, name)


def test_s6_json_endpoints_refuse_other_content_types(site: TestClient, member_settings: Settings) -> None:
    _, h = member(site)
    eng = _db(member_settings)

    def n_ratings() -> int:
        with eng.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Rating)).scalar_one())

    before = n_ratings()
    for headers in ({"Content-Type": "text/plain"}, {}):
        r = site.put("/api/v1/movies/1/rating", content=b'{"rating": 4}', headers={**h, **headers})
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    assert site.post("/api/v1/auth/signup", content=b'{"username":"x"}',
                     headers={"Content-Type": "text/plain"}).status_code == 415
    assert n_ratings() == before
    eng.dispose()


def test_s6_cookie_writes_must_be_same_origin(site: TestClient, member_settings: Settings) -> None:
    name = signup(site)
    c = TestClient(site.app)
    c.post("/api/v1/auth/session", json={"username": name, "password": PASSWORD})
    for bad in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = c.put("/api/v1/movies/1/rating", json={"rating": 4}, headers=bad)
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert c.get("/api/v1/me/ratings").json()["count"] == 0
    ok = c.put("/api/v1/movies/1/rating", json={"rating": 4}, headers={"Origin": "http://testserver",
                                                                       "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200
    fan = signup(site)  # an unread notification and a feed item, so those pages have something to (not) mark
    fan_auth = login(site, fan)
    assert site.put(f"/api/v1/users/{name}/follow", headers=fan_auth).status_code in (200, 201, 204)
    assert c.put(f"/api/v1/users/{fan}/follow", headers={"Origin": "http://testserver"}).status_code in (200, 201, 204)
    assert site.put("/api/v1/movies/2/rating", json={"rating": 5}, headers=fan_auth).status_code == 200
    assert c.get("/api/v1/me/notifications").json()["unread"] >= 1
    # GETs never write: the database file is byte-identical before and after
    db_file = Path(member_settings.resolved_database_url.removeprefix("sqlite:///"))
    c.app.state.engine.dispose()

    def digest() -> str:
        return "".join(hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(db_file.parent.glob("cinerec.db*")))

    before = digest()
    for url in ("/api/v1/users/me", "/api/v1/me/ratings", "/api/v1/me/watchlist", "/api/v1/me/recommendations",
                f"/api/v1/users/{name}", "/api/v1/me/feed", "/api/v1/me/notifications", "/api/v1/me/shares",
                "/api/v1/me/recommendations/social", "/api/v1/lists", f"/api/v1/users/{name}/followers",
                "/", "/feed", "/notifications", "/lists", "/me/lists", "/me/shares", "/for-you", f"/u/{name}",
                "/movies/1"):
        assert c.get(url).status_code == 200
        assert c.get(url).status_code == 200
    c.app.state.engine.dispose()
    assert digest() == before


def test_s6_csrf_form_post() -> None:
    app = FastAPI()
    install(app)
    written: list[str] = []

    @app.post("/form")
    def form(request: Request, text: str = Form(...), csrf_token: str = Form("")) -> dict[str, int]:
        security.verify_csrf(request, csrf_token)
        written.append(text)
        return {"n": len(written)}

    with TestClient(app) as c:
        mine, theirs = "session-token-of-mine-" + "x" * 30, "session-token-of-theirs-" + "y" * 30
        c.cookies.set("cinerec_session", mine)
        good = security.csrf_token_for(mine)
        for token in ("", "wrong", security.csrf_token_for(theirs)):
            assert c.post("/form", data={"text": "hi", "csrf_token": token}).status_code == 403
        assert c.post("/form", data={"text": "hi", "csrf_token": good},
                      headers={"Origin": "https://evil.example"}).status_code == 403
        assert c.post("/form", data={"text": "hi", "csrf_token": good},
                      headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert written == []
        assert c.post("/form", data={"text": "hi", "csrf_token": good}).status_code == 200
        assert written == ["hi"]
    with pytest.raises(PermissionDenied):
        security.verify_csrf(_fake_post(), None)


def _fake_post() -> Request:
    return Request({"type": "http", "method": "POST", "scheme": "http", "server": ("testserver", 80), "path": "/",
                    "headers": [], "query_string": b""})
