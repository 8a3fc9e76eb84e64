"""Site hygiene (issue 9): HEAD, relative slash redirects, streamed body limit, control characters,
offline API docs under their own CSP, /map without inline style and re-reads, real aggregates in
recommendation payloads, and S13 headers-and-errors."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.config import Settings
from cinerec.service import catalogue
from cinerec.store.models import Rating
from cinerec.web import create_app
from cinerec.web.middleware import CSP, DOCS_CSP, BodyLimit
from tests.web.conftest import member

PAGES = ("/", "/movies", "/movies?sort=rating", "/movies/1", "/map", "/explore/profiles/1", "/api/docs",
         "/api/v1/movies", "/api/v1/movies/1", "/api/v1/health")


@pytest.mark.parametrize("url", PAGES)
def test_head_is_answered_like_get_without_a_body(site: TestClient, url: str) -> None:
    get = site.get(url)
    head = site.head(url)
    assert get.status_code == 200 and head.status_code == 200, url
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]


def test_head_on_a_missing_page_is_404(site: TestClient) -> None:
    assert site.head("/movies/999999").status_code == 404


@pytest.mark.parametrize(("url", "location"), [
    ("/movies/", "/movies"), ("/movies/?q=star&sort=title", "/movies?q=star&sort=title"),
    ("/api/v1/movies/1/", "/api/v1/movies/1"), ("/map/", "/map"),
])
def test_slash_redirects_are_relative_whatever_the_host_header(site: TestClient, url: str, location: str) -> None:
    r = site.get(url, headers={"host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == location
    assert "evil" not in r.headers["location"]


def test_no_redirect_to_a_scheme_relative_url(site: TestClient) -> None:
    for path in ("//evil.example/", "//evil.example", "//movies/"):
        r = site.get(f"http://testserver{path}", follow_redirects=False)
        assert r.status_code == 404 and "location" not in r.headers, path


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    body = b'{"rating": 4.5, "padding": "' + b"x" * total + b'"}'
    for i in range(0, len(body), size):
        yield body[i : i + size]


def _rating_count(site: TestClient) -> int:
    with site.app.state.sessionmaker() as s:  # type: ignore[attr-defined]
        return int(s.scalar(select(func.count()).select_from(Rating)) or 0)


def test_chunked_body_over_the_limit_is_413_and_writes_nothing(site: TestClient) -> None:
    _, auth = member(site, "big")
    before = _rating_count(site)
    r = site.put("/api/v1/movies/1/rating", content=_chunks(2 * 1024 * 1024),
                 headers={**auth, "content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert _rating_count(site) == before
    assert site.get("/api/v1/me/ratings", headers=auth).json()["count"] == 0
    # a lying small Content-Length is no way around it either; a declared large one is refused at once
    r = site.put("/api/v1/movies/1/rating", content=b"x" * (2 * 1024 * 1024),
                 headers={**auth, "content-type": "application/json"})
    assert r.status_code == 413
    # a chunked body within the limit reaches the route intact
    small = iter([b'{"rating"', b": 4.5}"])
    r = site.put("/api/v1/movies/1/rating", content=small, headers={**auth, "content-type": "application/json"})
    assert r.status_code in (200, 201), r.text
    assert _rating_count(site) == before + 1


def test_body_limit_stops_reading_the_stream_at_the_limit() -> None:
    """The middleware pulls no more chunks than the limit needs and never calls the route."""
    pulled: list[int] = []
    sent: list[dict[str, Any]] = []
    called: list[bool] = []

    async def endless() -> dict[str, Any]:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(BodyLimit(app, max_body=10_000)(scope, endless, send))  # type: ignore[arg-type]
    assert called == [] and len(pulled) == 11
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["error"]["details"] == {"limit": 10_000}


@pytest.mark.parametrize("url", [
    "/api/v1/movies?q=%00", "/api/v1/movies?q=star%00wars", "/api/v1/movies?person=a%00", "/api/v1/movies?genre=%07",
])
def test_control_characters_in_text_inputs_are_422_naming_the_field(site: TestClient, url: str) -> None:
    r = site.get(url)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    field = url.split("?")[1].split("=")[0]
    assert any(f["loc"] == ["query", field] for f in err["details"]["fields"])


def test_control_characters_in_the_search_page_are_refused(site: TestClient) -> None:
    r = site.get("/movies?q=%00", headers={"accept": "text/html"})
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]
    assert site.get("/movies?q=star").status_code == 200


def test_api_docs_load_from_the_package_under_their_own_csp(site: TestClient) -> None:
    r = site.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-security-policy"] == DOCS_CSP
    html = r.text
    assert not re.search(r"https?://", html), "the docs page must not reference another origin"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "no inline script"
    assert "style=" not in html and "<style" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for path in assets:
        a = site.get(path)
        assert a.status_code == 200, path
        assert a.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript", "text/css", "image/png")
    schema = site.get("/api/openapi.json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "cinerec"
    # the rest of the site keeps the strict policy: script-src is not loosened for the docs
    site_csp = site.get("/").headers["content-security-policy"]
    assert site_csp == CSP and "unsafe-inline" not in site_csp and "unsafe-eval" not in site_csp
    assert "https://image.tmdb.org" in re.search(r"img-src[^;]*", site_csp).group(0)  # type: ignore[union-attr]
    assert "tmdb" not in re.sub(r"img-src[^;]*", "", site_csp)


def _write_map(settings: Settings, n_films: int) -> None:
    settings.map_dir.mkdir(parents=True, exist_ok=True)
    doc = {"n_films": n_films, "n_features": 40, "svd_components": 10, "svd_explained_variance": 0.5,
           "pca_explained_variance": 0.4, "points": [{"movie_id": 1, "title": "x", "x": 0.0, "y": 0.0}] * 2000}
    (settings.map_dir / catalogue.JSON).write_text(json.dumps(doc))


def test_map_page_has_no_inline_style_and_is_served_from_memory(
    site: TestClient, member_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_map(member_settings, 1234)
    html = site.get("/map").text
    assert "1234" in html and 'src="/map.png"' in html
    assert not re.search(r"\sstyle\s*=", html) and "<style" not in html
    reads: list[int] = []
    real = json.loads
    monkeypatch.setattr(catalogue.json, "loads", lambda *a, **k: reads.append(1) or real(*a, **k))
    for _ in range(5):
        assert "1234" in site.get("/map").text
    assert reads == []  # unchanged file: parsed once, then served from memory
    _write_map(member_settings, 4321)  # a new map (new size) replaces the cached one at once
    assert "4321" in site.get("/map").text and len(reads) == 1


def test_recommendation_payloads_carry_real_rating_aggregates(site: TestClient) -> None:
    for url in ("/api/v1/recommendations/onboarding?k=10", "/api/v1/explore/profiles/1/recommendations?k=10"):
        doc = site.get(url).json()
        assert doc["count"] == 10, url
        for item in doc["data"]:
            m = item["movie"]
            assert m["n_ratings"] > 0 and m["mean_rating"] is not None, (url, m)
            alone = site.get(f"/api/v1/movies/{m['id']}").json()
            assert (alone["n_ratings"], alone["mean_rating"]) == (m["n_ratings"], m["mean_rating"])


def test_s13_headers_and_errors(member_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """S13: security headers on every kind of response, no echoed CORS origin, a clean 5xx on a database failure."""
    with TestClient(create_app(member_settings), raise_server_exceptions=False) as c:
        for url in ("/", "/api/v1/movies", "/api/v1/movies/999999", "/static/site.css", "/api/docs"):
            r = c.get(url, headers={"origin": "https://evil.example"})
            assert r.headers["x-content-type-options"] == "nosniff", url
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], url
            assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin", url
            assert "charset=utf-8" in r.headers["content-type"], url
            assert "access-control-allow-origin" not in r.headers, url
            assert "strict-transport-security" not in r.headers, url  # plain http here
        https = TestClient(c.app, base_url="https://testserver")
        assert "max-age=" in https.get("/api/v1/health").headers["strict-transport-security"]
        # a forced database failure: the database file cannot be opened
        from sqlalchemy import create_engine

        from cinerec.store.db import session_factory

        broken = create_engine("sqlite:////dev/null/cinerec.db")  # cannot be opened
        c.app.state.sessionmaker = session_factory(broken)  # type: ignore[attr-defined]
        with caplog.at_level(logging.ERROR, logger="cinerec.web"):
            r = c.get("/api/v1/movies")
        assert 500 <= r.status_code < 600
        body = r.json()["error"]
        assert body["code"] and body["message"]
        assert not re.search(r"Traceback|SELECT|sqlite|/dev/null|\.py", r.text)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert any(rec.levelno >= logging.ERROR for rec in caplog.records)
