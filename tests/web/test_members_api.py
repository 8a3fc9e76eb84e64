"""Members through the API on real SQLite + ML-100K: ratings, lists, reviews, recommendations, profiles,
admin; TESTPLAN S7, S9, S10, S11, B1 and B2."""

from __future__ import annotations

import io
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.service import jobs
from cinerec.service.accounts import create_user
from cinerec.store.db import transaction
from cinerec.store.models import Event, Rating, Review, WatchedItem, WatchlistItem
from tests.web.conftest import PASSWORD, login, member, new_name

XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "{{7*7}}"]


def _count(site: TestClient, model: type, **where: object) -> int:
    with transaction(site.app.state.engine, write=False) as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(s.scalar(stmt) or 0)


def _me(site: TestClient, h: dict[str, str]) -> int:
    return int(site.get("/api/v1/users/me", headers=h).json()["id"])


def test_rating_changes_the_next_recommendations_at_once(site: TestClient) -> None:
    _, h = member(site)
    uid = _me(site, h)
    assert site.put("/api/v1/movies/50/rating", json={"rating": 4.5}, headers=h).json()["rating"] == 4.5
    first = site.get("/api/v1/me/recommendations?k=10", headers=h).json()
    assert first["strategy"].endswith(":history") and first["model_version"] and first["count"] == 10
    top = first["data"][0]["movie"]["id"]
    r = site.put(f"/api/v1/movies/{top}/rating", json={"rating": 2}, headers=h)
    assert r.status_code == 200
    second = site.get("/api/v1/me/recommendations?k=10", headers=h).json()
    ids = [d["movie"]["id"] for d in second["data"]]
    assert top not in ids and 50 not in ids and ids != [d["movie"]["id"] for d in first["data"]]
    # a watched film never comes back either; a watchlist film is history too
    nxt = ids[0]
    assert site.put(f"/api/v1/me/watched/{nxt}", headers=h).json() == {"movie_id": nxt, "list": "watched",
                                                                        "on_list": True, "changed": True}
    third = [d["movie"]["id"] for d in site.get("/api/v1/me/recommendations", headers=h).json()["data"]]
    assert nxt not in third
    ratings = site.get("/api/v1/me/ratings", headers=h).json()
    assert ratings["count"] == 2 and [d["movie"]["id"] for d in ratings["data"]] == [top, 50]
    assert _count(site, Event, user_id=uid, kind="rate") == 2 and _count(site, Event, user_id=uid, kind="watched") == 1


def test_rating_update_and_removal_keep_aggregates_and_events(site: TestClient) -> None:
    _, h = member(site)
    uid = _me(site, h)

    def stats() -> tuple[int, float]:
        """The film's rating count and sum, as the catalogue serves them (from the aggregates)."""
        m = site.get("/api/v1/movies/1").json()
        return m["n_ratings"], m["n_ratings"] * (m["mean_rating"] or 0.0)

    def same(got: tuple[int, float], n: int, total: float) -> bool:
        # the API rounds the mean to 3 decimals: each implied sum is exact to n * 0.0005, a difference of two to n * 0.001
        return got[0] == n and abs(got[1] - total) <= n * 0.001 + 1e-9

    n0, sum0 = stats()
    site.put("/api/v1/movies/1/rating", json={"rating": 5}, headers=h)
    assert same(stats(), n0 + 1, sum0 + 5)
    site.put("/api/v1/movies/1/rating", json={"rating": 3.5}, headers=h)
    assert same(stats(), n0 + 1, sum0 + 3.5)
    assert site.delete("/api/v1/movies/1/rating", headers=h).status_code == 204
    assert same(stats(), n0, sum0)
    assert site.delete("/api/v1/movies/1/rating", headers=h).status_code == 204  # idempotent
    assert _count(site, Rating, user_id=uid) == 0
    assert _count(site, Event, user_id=uid, kind="rate") == 3


def test_watchlist_and_watched_lists(site: TestClient) -> None:
    _, h = member(site)
    for mid in (10, 20, 30):
        assert site.put(f"/api/v1/me/watchlist/{mid}", headers=h).status_code == 200
    assert site.put("/api/v1/me/watchlist/10", headers=h).json()["changed"] is False
    page = site.get("/api/v1/me/watchlist?limit=2", headers=h).json()
    assert page["count"] == 3 and len(page["data"]) == 2
    rest = site.get("/api/v1/me/watchlist?limit=2&offset=2", headers=h).json()["data"]
    assert {d["movie"]["id"] for d in page["data"] + rest} == {10, 20, 30}
    site.put("/api/v1/me/watched/20", headers=h)  # watched leaves the watchlist
    assert site.get("/api/v1/me/watchlist", headers=h).json()["count"] == 2
    assert site.get("/api/v1/me/watched", headers=h).json()["data"][0]["movie"]["id"] == 20
    assert site.delete("/api/v1/me/watched/20", headers=h).status_code == 204
    assert site.delete("/api/v1/me/watchlist/10", headers=h).status_code == 204
    assert site.get("/api/v1/me/watched", headers=h).json()["count"] == 0
    assert site.put("/api/v1/me/watchlist/999999", headers=h).status_code == 404


def test_reviews_write_edit_delete_with_language_and_sentiment(site: TestClient) -> None:
    name, h = member(site)
    r = site.post("/api/v1/movies/1/reviews", json={"text": "A wonderful, joyful film. I loved it.", "rating": 5},
                  headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] and body["language"] == "en" and body["sentiment"] > 0 and body["author"] == name
    assert site.get("/api/v1/me/ratings", headers=h).json()["data"][0]["rating"] == 5
    zh = site.post("/api/v1/movies/2/reviews", json={"text": "这部电影太无聊了，浪费时间"}, headers=h).json()
    assert zh["language"] == "zh" and zh["sentiment"] < 0
    r = site.patch(f"/api/v1/reviews/{body['id']}", json={"text": "Dull and boring, a waste of time."}, headers=h)
    assert r.status_code == 200 and r.json()["sentiment"] < 0
    assert site.get("/api/v1/me/reviews", headers=h).json()["count"] == 2
    assert site.delete(f"/api/v1/reviews/{zh['id']}", headers=h).status_code == 204
    assert site.get("/api/v1/me/reviews", headers=h).json()["count"] == 1
    assert site.post("/api/v1/movies/999999/reviews", json={"text": "x"}, headers=h).status_code == 404


def test_public_profile_and_account_settings(site: TestClient) -> None:
    name, h = member(site)
    site.put("/api/v1/movies/7/rating", json={"rating": 4}, headers=h)
    r = site.patch("/api/v1/users/me", json={"display_name": "  Film   Fan ", "locale": "zh_CN"}, headers=h)
    assert r.status_code == 200 and r.json()["display_name"] == "Film Fan" and r.json()["locale"] == "zh_CN"
    prof = site.get(f"/api/v1/users/{name}").json()
    assert prof["display_name"] == "Film Fan" and prof["n_ratings"] == 1 and prof["ratings"][0]["movie"]["id"] == 7
    assert site.get("/api/v1/users/nobody-by-this-name").status_code == 404
    assert site.get("/api/v1/users/1").status_code == 404  # a username, not an id
    # imported dataset profiles are public members of the social graph (followable; they cannot log in)
    profile = site.get("/api/v1/users/ml-100k-1")
    assert profile.status_code == 200 and profile.json()["n_ratings"] > 0 and "email" not in profile.json()
    assert site.put("/api/v1/users/ml-100k-1/follow", headers=h).status_code == 200
    assert site.post("/api/v1/auth/token", json={"username": "ml-100k-1", "password": "anything at all 1"}
                     ).status_code == 401


def test_delete_my_account_with_my_data(site: TestClient) -> None:
    name, h = member(site)
    uid = _me(site, h)
    site.put("/api/v1/movies/3/rating", json={"rating": 4}, headers=h)
    site.put("/api/v1/me/watchlist/4", headers=h)
    site.post("/api/v1/movies/3/reviews", json={"text": "fine"}, headers=h)
    assert site.request("DELETE", "/api/v1/users/me", json={"password": "wrong one!"}, headers=h).status_code == 401
    assert site.request("DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=h).status_code == 204
    assert site.get("/api/v1/users/me", headers=h).status_code == 401
    assert site.get(f"/api/v1/users/{name}").status_code == 404
    for model in (Rating, Review, WatchlistItem, WatchedItem, Event):
        assert _count(site, model, user_id=uid) == 0, model


def test_similar_films(site: TestClient) -> None:
    r = site.get("/api/v1/movies/50/similar?k=5").json()
    ids = [d["movie"]["id"] for d in r["data"]]
    assert len(ids) == 5 and 50 not in ids and 172 in ids  # Star Wars -> The Empire Strikes Back
    assert r["data"][0]["reasons"][0]["movie_id"] == 50
    assert site.get("/api/v1/movies/999999/similar").status_code == 404


def test_s7_xss_text_is_returned_verbatim_as_json(site: TestClient) -> None:
    name, h = member(site)
    for payload in XSS:
        r = site.post("/api/v1/movies/5/reviews", json={"text": payload}, headers=h)
        assert r.status_code == 201 and r.json()["text"] == payload
        assert r.headers["content-type"].startswith("application/json")
        r = site.patch("/api/v1/users/me", json={"display_name": payload}, headers=h)
        assert r.json()["display_name"] == payload
        assert site.get(f"/api/v1/users/{name}").json()["display_name"] == payload
    texts = [d["review"]["text"] for d in site.get("/api/v1/me/reviews?limit=10", headers=h).json()["data"]]
    assert sorted(texts) == sorted(XSS)


def test_s9_bola_sweep(site: TestClient) -> None:
    _, a = member(site, "a")
    _, b = member(site, "b")
    site.put("/api/v1/movies/11/rating", json={"rating": 4}, headers=a)
    site.put("/api/v1/me/watchlist/12", headers=a)
    rid = site.post("/api/v1/movies/11/reviews", json={"text": "secret thoughts of A"}, headers=a).json()["id"]
    r = site.patch(f"/api/v1/reviews/{rid}", json={"text": "B was here"}, headers=b)
    assert r.status_code == 404 and "secret" not in r.text
    assert site.delete(f"/api/v1/reviews/{rid}", headers=b).status_code == 404
    assert site.get("/api/v1/me/reviews", headers=a).json()["data"][0]["review"]["text"] == "secret thoughts of A"
    for url in ("/api/v1/me/ratings", "/api/v1/me/watchlist", "/api/v1/me/reviews"):
        assert site.get(url, headers=b).json() == {"data": [], "count": 0}
    # enumerating ids: every review that is not B's answers 404 alike
    for i in range(1, rid + 2):
        assert site.delete(f"/api/v1/reviews/{i}", headers=b).status_code == 404
    assert site.get("/api/v1/me/ratings", headers=a).json()["count"] == 1
    # an admin may edit any review
    admin = new_name("admin")
    create_user(site.app.state.engine, admin, PASSWORD, is_admin=True)
    r = site.patch(f"/api/v1/reviews/{rid}", json={"text": "moderated"}, headers=login(site, admin))
    assert r.status_code == 200 and r.json()["author"].startswith("a")


def test_s10_mass_assignment(site: TestClient) -> None:
    name, h = member(site)
    _, other = member(site)
    other_id = _me(site, other)
    r = site.patch("/api/v1/users/me", json={"is_admin": True, "id": 2, "password_hash": "x",
                                            "created_at": "2000-01-01"}, headers=h)
    assert r.status_code == 422
    assert {f["loc"][-1] for f in r.json()["error"]["details"]["fields"]} == {"is_admin", "id", "password_hash",
                                                                                "created_at"}
    assert site.get("/api/v1/users/me", headers=h).json()["is_admin"] is False
    r = site.post("/api/v1/movies/1/reviews", json={"text": "mine", "user_id": other_id}, headers=h)
    assert r.status_code == 422
    assert site.get("/api/v1/me/reviews", headers=other).json()["count"] == 0
    r = site.post("/api/v1/auth/signup", json={"username": new_name(), "email": "z@x.org", "password": PASSWORD,
                                               "is_admin": True})
    assert r.status_code == 422
    prof = site.get(f"/api/v1/users/{name}")
    for leak in ("email", "password", "argon2", "is_admin", "admin"):
        assert leak not in prof.text


def test_s11_admin_functions(site: TestClient) -> None:
    _, h = member(site)
    admin = new_name("admin")
    create_user(site.app.state.engine, admin, PASSWORD, is_admin=True)
    ha = login(site, admin)
    version = site.get("/api/v1/models/active").json()["version"]
    calls = [("post", "/api/v1/admin/models/train", {"json": {"algo": "popularity"}}),
             ("post", f"/api/v1/admin/models/{version}/activate", {}),
             ("post", "/api/v1/admin/models/rollback", {}),
             ("post", "/api/v1/admin/imports", {"files": {"file": ("r.csv", io.BytesIO(b"user,item,rating\n"))}}),
             ("post", "/api/v1/admin/users/1/disable", {})]
    for method, url, kw in calls:
        assert getattr(site, method)(url, **kw).status_code == 401, url
        assert getattr(site, method)(url, headers=h, **kw).status_code == 403, url
    r = site.post("/api/v1/admin/models/train", json={"algo": "popularity", "activate": False}, headers=ha)
    assert r.status_code == 202 and r.json()["kind"] == "train"
    job = r.json()["id"]
    for _ in range(240):
        status = site.get(f"/api/v1/admin/jobs/{job}", headers=ha).json()
        if status["status"] != "running":
            break
        time.sleep(0.5)
    assert status["status"] == "succeeded", status
    assert site.post(f"/api/v1/admin/models/{version}/activate", headers=ha).json()["active"] is True
    assert site.post("/api/v1/admin/models/nope-0/activate", headers=ha).status_code == 404
    up = site.post("/api/v1/admin/imports", files={"file": ("ratings.csv", io.BytesIO(b"userId,movieId,rating\n1,1,4\n"))},
                   headers=ha)
    assert up.status_code == 202 and up.json()["kind"] == "import"
    bad = site.post("/api/v1/admin/imports", files={"file": ("evil.sh", io.BytesIO(b"rm -rf /"))}, headers=ha)
    assert bad.status_code == 422


@pytest.mark.parametrize("value", ["five", 7, 0, -1, 4.3, None, 1e308, True, "4.5"])
def test_b1_wrong_types(site: TestClient, value: object) -> None:
    _, h = member(site)
    r = site.put("/api/v1/movies/1/rating", json={"rating": value}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["loc"] == ["body", "rating"]
    assert site.get("/api/v1/me/ratings", headers=h).json()["count"] == 0


def test_b1_wrong_ids_nan_and_unknown_fields(site: TestClient) -> None:
    _, h = member(site)
    r = site.put("/api/v1/movies/1/rating", content=b'{"rating": NaN}',
                 headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422
    for mid, status in (("x", 422), ("-5", 422), ("999999", 404)):
        r = site.put(f"/api/v1/movies/{mid}/rating", json={"rating": 4}, headers=h)
        assert r.status_code == status and r.json()["error"]["code"]
        if status == 422:
            assert r.json()["error"]["details"]["fields"][0]["loc"] == ["path", "movie_id"]
    r = site.put("/api/v1/movies/1/rating", json={"rating": 4, "weight": 2}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["fields"][0]["loc"] == ["body", "weight"]
    assert site.get("/api/v1/me/ratings", headers=h).json()["count"] == 0


def test_b2_oversized(site: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _, h = member(site)
    r = site.put("/api/v1/movies/1/rating", content=b'{"rating": 4, "x": "' + b"a" * (10 * 1024 * 1024) + b'"}',
                 headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413
    r = site.post("/api/v1/movies/1/reviews", json={"text": "a" * 100_000}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["fields"][0]["loc"] == ["body", "text"]
    for url in ("/api/v1/me/ratings?limit=1000000", "/api/v1/me/ratings?offset=-1", "/api/v1/me/watchlist?limit=101",
                "/api/v1/me/recommendations?k=1000000000", "/api/v1/movies/1/similar?k=1000000000"):
        assert site.get(url, headers=h).status_code == 422, url
    assert site.get("/api/v1/me/ratings?limit=100", headers=h).status_code == 200
    admin = new_name("admin")
    create_user(site.app.state.engine, admin, PASSWORD, is_admin=True)
    # uploads have their own, larger limit (jobs.MAX_UPLOAD_BYTES, checked while the file is written); lowered
    # here so that an over-limit upload stays small
    monkeypatch.setattr(jobs, "MAX_UPLOAD_BYTES", 1024 * 1024)
    r = site.post("/api/v1/admin/imports", files={"file": ("big.csv", io.BytesIO(b"0" * (2 * 1024 * 1024)))},
                  headers=login(site, admin))
    assert r.status_code in (413, 422) and r.json()["error"]["details"]["limit"] == 1024 * 1024, r.text
    assert _count(site, Review, text="a" * 100_000) == 0


def test_api_reasons_quote_only_real_ratings(site: TestClient) -> None:
    """Watched and watchlist films are scored at a default value; a reason must never say the member rated them."""
    _, h = member(site)
    ratings = {50: 3.0, 181: 3.0, 172: 2.5}
    for mid, v in ratings.items():
        site.put(f"/api/v1/movies/{mid}/rating", json={"rating": v}, headers=h)
    watched = {1, 100, 121, 127, 174, 98}  # marked, never rated: above this member's mean, so they are reasons
    for mid in watched:
        site.put(f"/api/v1/me/watched/{mid}", headers=h)
    data = site.get("/api/v1/me/recommendations?k=20", headers=h).json()["data"]
    reasons = [x for d in data for x in d["reasons"]]
    assert any(x["movie_id"] in watched for x in reasons)
    assert all(x.get("rating") is None for x in reasons if x["movie_id"] in watched), reasons
    assert all(x.get("rating") in (None, ratings.get(x["movie_id"])) for x in reasons)


def test_review_with_rating_is_one_transaction(site: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review, its event and its rating are written together or not at all."""
    from cinerec.service import members

    _, h = member(site)
    uid = _me(site, h)

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(members, "_rate_in", broken)
    with pytest.raises(RuntimeError):  # the test client re-raises what would be a logged, clean 500
        site.post("/api/v1/movies/33/reviews", json={"text": "Lovely film", "rating": 4}, headers=h)
    assert _count(site, Review, user_id=uid) == 0 and _count(site, Event, user_id=uid) == 0
    monkeypatch.undo()
    r = site.post("/api/v1/movies/33/reviews", json={"text": "Lovely film", "rating": 4}, headers=h)
    assert r.status_code == 201
    assert _count(site, Review, user_id=uid) == 1 and _count(site, Rating, user_id=uid) == 1
    assert _count(site, Event, user_id=uid) == 2
