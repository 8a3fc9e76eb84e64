"""Sharing through the API on real SQLite + ML-100K: shares and public links, follows, blocks, lists, likes,
the feed and notifications; TESTPLAN S7, S9, S10, B1 and B2 for every new write, and the social rate limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.service.throttle import Throttle
from cinerec.store.db import transaction
from cinerec.store.models import (
    Follow,
    ListItem,
    ListLike,
    MovieList,
    Notification,
    Review,
    ReviewLike,
    Share,
)
from tests.web.conftest import PASSWORD, member

API = "/api/v1"
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "{{7*7}}"]


def _count(site: TestClient, model: type, **where: object) -> int:
    with transaction(site.app.state.engine, write=False) as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(s.scalar(stmt) or 0)


def _id(site: TestClient, h: dict[str, str]) -> int:
    return int(site.get(f"{API}/users/me", headers=h).json()["id"])


def _fields(r: object) -> set[str]:
    body = r.json()  # type: ignore[attr-defined]
    return {str(f["loc"][-1]) for f in body["error"]["details"]["fields"]}


def test_share_a_film_publicly_then_revoke(site: TestClient) -> None:
    a_name, a = member(site, "a")
    _, b = member(site, "b")
    assert site.put(f"{API}/users/{a_name}/follow", headers=b).json() == {"username": a_name, "following": True,
                                                                            "changed": True}
    r = site.post(f"{API}/shares", json={"movie_id": 50, "note": "Watch it tonight", "audience": "public"}, headers=a)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["url"].startswith("/s/") and len(body["url"]) >= 3 + 43 and body["movie"]["id"] == 50
    assert body["sharer"]["username"] == a_name and "email" not in r.text
    token = body["url"].removeprefix("/s/")
    anon = site.get(f"{API}/shares/{token}")  # no login
    assert anon.status_code == 200 and anon.json()["note"] == "Watch it tonight" and anon.json()["movie"]["id"] == 50
    notes = site.get(f"{API}/me/notifications", headers=b).json()
    assert notes["unread"] == 1 and notes["data"][0]["kind"] == "share" and notes["data"][0]["share_url"] == body["url"]
    feed = site.get(f"{API}/me/feed", headers=b).json()["data"]
    assert feed[0]["kind"] == "share" and feed[0]["share"]["note"] == "Watch it tonight"
    mine = site.get(f"{API}/me/shares", headers=a).json()
    assert mine["count"] == 1 and mine["data"][0]["id"] == body["id"]
    # followers-only shares have no link
    r = site.post(f"{API}/shares", json={"movie_id": 51, "note": None, "audience": "followers"}, headers=a)
    assert r.status_code == 201 and r.json()["url"] is None
    assert site.delete(f"{API}/shares/{body['id']}", headers=a).status_code == 204
    assert site.delete(f"{API}/shares/{body['id']}", headers=a).status_code == 204  # idempotent
    gone = site.get(f"{API}/shares/{token}")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "gone"
    assert site.get(f"{API}/shares/{'x' * 43}").status_code == 404
    assert [i["kind"] for i in site.get(f"{API}/me/feed", headers=b).json()["data"]] == ["share"]  # only the live one


def test_follow_block_and_member_lists(site: TestClient) -> None:
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    c_name, c = member(site, "c")
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    assert site.put(f"{API}/users/{a_name}/follow", headers=b).json()["changed"] is False
    site.put(f"{API}/users/{a_name}/follow", headers=c)
    r = site.get(f"{API}/users/{a_name}/followers")
    assert r.json() == {"count": 2, "data": [{"username": c_name, "display_name": None},
                                             {"username": b_name, "display_name": None}]}
    assert site.get(f"{API}/users/{b_name}/following").json()["data"][0]["username"] == a_name
    assert site.get(f"{API}/users/{a_name}/followers?limit=101").status_code == 422
    assert site.put(f"{API}/users/{a_name}/follow", headers=a).status_code == 422  # oneself
    assert site.put(f"{API}/users/nobody-here/follow", headers=a).status_code == 404
    assert site.put(f"{API}/users/{b_name}/block", headers=a).json() == {"username": b_name, "blocked": True,
                                                                          "changed": True}
    assert site.get(f"{API}/users/{a_name}/followers").json()["count"] == 1  # bob's follow ended
    r = site.put(f"{API}/users/{a_name}/follow", headers=b)
    assert r.status_code == 403 and _count(site, Follow, follower_id=_id(site, b)) == 0
    assert site.get(f"{API}/me/blocked", headers=a).json()["data"][0]["username"] == b_name
    assert site.delete(f"{API}/users/{b_name}/block", headers=a).status_code == 204
    assert site.delete(f"{API}/users/{b_name}/block", headers=a).status_code == 204
    assert site.put(f"{API}/users/{a_name}/follow", headers=b).json()["changed"] is True
    assert site.delete(f"{API}/users/{a_name}/follow", headers=b).status_code == 204
    assert site.delete(f"{API}/users/{a_name}/follow", headers=b).status_code == 204
    assert site.put(f"{API}/users/{a_name}/follow").status_code == 401


def test_lists_items_likes_and_privacy(site: TestClient) -> None:
    a_name, a = member(site, "a")
    _, b = member(site, "b")
    r = site.post(f"{API}/lists", json={"title": "Space operas", "description": "Big ships"}, headers=a)
    assert r.status_code == 201 and r.json()["public"] is True and r.json()["item_count"] == 0
    lid = r.json()["id"]
    for mid in (50, 172, 181):
        assert site.put(f"{API}/lists/{lid}/items/{mid}", headers=a).status_code == 200
    r = site.put(f"{API}/lists/{lid}/items/181", json={"position": 0, "note": "the best one"}, headers=a)
    assert r.status_code == 200 and r.json()["item_count"] == 3
    got = site.get(f"{API}/lists/{lid}").json()  # anybody may read a public list
    assert [(i["movie"]["id"], i["position"]) for i in got["items"]] == [(181, 0), (50, 1), (172, 2)]
    assert got["items"][0]["note"] == "the best one" and got["liked"] is False
    assert site.delete(f"{API}/lists/{lid}/items/50", headers=a).status_code == 204
    assert [i["position"] for i in site.get(f"{API}/lists/{lid}").json()["items"]] == [0, 1]
    assert site.put(f"{API}/lists/{lid}/like", headers=b).json() == {"liked": True, "like_count": 1}
    assert site.put(f"{API}/lists/{lid}/like", headers=b).json() == {"liked": True, "like_count": 1}
    assert site.get(f"{API}/lists/{lid}", headers=b).json()["liked"] is True
    assert site.delete(f"{API}/lists/{lid}/like", headers=b).json() == {"liked": False, "like_count": 0}
    assert any(x["id"] == lid for x in site.get(f"{API}/lists?q=space%20opera").json()["data"])
    assert any(x["id"] == lid for x in site.get(f"{API}/movies/181/lists").json()["data"])
    # made private: 404 for everybody else, absent from search, the member's lists and the film's lists
    r = site.patch(f"{API}/lists/{lid}", json={"public": False, "description": ""}, headers=a)
    assert r.status_code == 200 and r.json()["public"] is False and r.json()["description"] is None
    for h in (b, {}):
        r = site.get(f"{API}/lists/{lid}", headers=h)
        assert r.status_code == 404 and "Space" not in r.text
        assert site.get(f"{API}/users/{a_name}/lists", headers=h).json() == {"data": [], "count": 0}
    assert not any(x["id"] == lid for x in site.get(f"{API}/lists?q=space%20opera").json()["data"])
    assert not any(x["id"] == lid for x in site.get(f"{API}/movies/181/lists").json()["data"])
    assert site.put(f"{API}/lists/{lid}/like", headers=b).status_code == 404
    assert site.get(f"{API}/users/{a_name}/lists", headers=a).json()["count"] == 1  # the owner sees it
    assert site.get(f"{API}/lists/{lid}", headers=a).status_code == 200
    assert site.delete(f"{API}/lists/{lid}", headers=a).status_code == 204
    assert site.get(f"{API}/lists/{lid}", headers=a).status_code == 404


def test_review_likes_feed_notifications_and_friends(site: TestClient) -> None:
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    rid = site.post(f"{API}/movies/7/reviews", json={"text": "A wonderful film", "rating": 4.5}, headers=a).json()["id"]
    assert site.put(f"{API}/reviews/{rid}/like", headers=b).json() == {"liked": True, "like_count": 1}
    assert site.get(f"{API}/me/reviews", headers=a).json()["data"][0]["review"]["like_count"] == 1
    assert site.put(f"{API}/reviews/999999/like", headers=b).status_code == 404
    notes = site.get(f"{API}/me/notifications", headers=a).json()
    assert [n["kind"] for n in notes["data"]] == ["like_review", "follow"] and notes["unread"] == 2
    assert notes["data"][0]["review_id"] == rid and notes["data"][0]["actor"]["username"] == b_name
    assert notes["data"][0]["movie"]["id"] == 7
    r = site.post(f"{API}/me/notifications/read", json={"up_to_id": notes["data"][1]["id"]}, headers=a)
    assert r.json() == {"marked": 1, "unread": 1}
    assert site.post(f"{API}/me/notifications/read", headers=a).json() == {"marked": 1, "unread": 0}
    for i in range(3):
        site.put(f"{API}/movies/{20 + i}/rating", json={"rating": 3}, headers=a)
    first = site.get(f"{API}/me/feed?limit=2", headers=b).json()
    assert [i["kind"] for i in first["data"]] == ["rate", "rate"] and first["next_cursor"] == first["data"][1]["id"]
    rest = site.get(f"{API}/me/feed?limit=100&cursor={first['next_cursor']}", headers=b).json()
    kinds = [i["kind"] for i in rest["data"]]
    assert kinds[:2] == ["rate", "rate"] and "review" in kinds and rest["next_cursor"] is None
    assert site.get(f"{API}/me/feed?limit=0", headers=b).status_code == 422
    assert site.get(f"{API}/me/feed?cursor=-1", headers=b).status_code == 422
    assert site.get(f"{API}/me/feed").status_code == 401
    friends = site.get(f"{API}/movies/7/friends", headers=b).json()
    assert friends["data"] == [{"member": {"username": a_name, "display_name": None}, "rating": 4.5,
                                "rated_at": friends["data"][0]["rated_at"]}]
    assert site.get(f"{API}/movies/999999/friends", headers=b).status_code == 404


def test_s7_notes_and_titles_come_back_verbatim(site: TestClient) -> None:
    a_name, a = member(site, "a")
    for payload in XSS:
        r = site.post(f"{API}/shares", json={"movie_id": 3, "note": payload, "audience": "public"}, headers=a)
        assert r.status_code == 201 and r.json()["note"] == payload
        assert site.get(f"{API}/shares/{r.json()['url'][3:]}").json()["note"] == payload
        r = site.post(f"{API}/lists", json={"title": payload, "description": payload}, headers=a)
        assert r.status_code == 201 and r.json()["title"] == payload and r.json()["description"] == payload
        lid = r.json()["id"]
        r = site.put(f"{API}/lists/{lid}/items/3", json={"note": payload}, headers=a)
        got = site.get(f"{API}/lists/{lid}")
        assert got.headers["content-type"].startswith("application/json")
        assert got.json()["title"] == payload and got.json()["items"][0]["note"] == payload
    titles = {x["title"] for x in site.get(f"{API}/users/{a_name}/lists?limit=10").json()["data"]}
    assert titles == set(XSS)


def test_s9_bola_sweep_over_shares_lists_likes_and_notifications(site: TestClient) -> None:
    a_name, a = member(site, "a")
    _, b = member(site, "b")
    share = site.post(f"{API}/shares", json={"movie_id": 9, "note": "A's secret note", "audience": "followers"},
                      headers=a).json()
    private = site.post(f"{API}/lists", json={"title": "A's secret list", "public": False}, headers=a).json()["id"]
    public = site.post(f"{API}/lists", json={"title": "A's public list"}, headers=a).json()["id"]
    for lid in (private, public):
        site.put(f"{API}/lists/{lid}/items/9", json={"note": "A's note"}, headers=a)
    calls = [("delete", f"/shares/{share['id']}", None),
             ("get", f"/lists/{private}", None),
             ("patch", f"/lists/{private}", {"title": "B was here"}),
             ("patch", f"/lists/{public}", {"title": "B was here"}),
             ("delete", f"/lists/{private}", None), ("delete", f"/lists/{public}", None),
             ("put", f"/lists/{private}/items/10", {"note": "B"}), ("put", f"/lists/{public}/items/10", {"note": "B"}),
             ("put", f"/lists/{public}/items/9", {"position": 0, "note": "B"}),
             ("delete", f"/lists/{private}/items/9", None), ("delete", f"/lists/{public}/items/9", None),
             ("put", f"/lists/{private}/like", None), ("delete", f"/lists/{private}/like", None)]
    for method, url, body in calls:
        kw = {"json": body} if body is not None else {}
        r = site.request(method.upper(), API + url, headers=b, **kw)
        assert r.status_code == 404, (method, url, r.status_code)
        assert "secret" not in r.text and "A's" not in r.text
    # A's objects are unchanged
    with transaction(site.app.state.engine, write=False) as s:
        assert s.get(Share, share["id"]).revoked_at is None  # type: ignore[union-attr]
        lists = {x.id: x for x in s.scalars(select(MovieList).where(MovieList.id.in_([private, public])))}
        assert lists[private].title == "A's secret list" and lists[public].title == "A's public list"
        assert all(x.item_count == 1 for x in lists.values())
        notes = set(s.scalars(select(ListItem.note).where(ListItem.list_id.in_([private, public]))))
        assert notes == {"A's note"}
    # enumerating ids: every list B may not see answers 404 alike (only public lists open)
    for i in range(1, private + 2):
        r = site.get(f"{API}/lists/{i}", headers=b)
        assert r.status_code == 404 or r.json()["public"] is True, i
    # B's own feed, notifications and shares hold none of A's things
    for url in ("/me/shares", "/me/blocked"):
        assert site.get(API + url, headers=b).json() == {"data": [], "count": 0}
    assert site.get(f"{API}/me/feed", headers=b).json() == {"data": [], "next_cursor": None}
    assert site.get(f"{API}/me/notifications", headers=b).json() == {"data": [], "unread": 0, "next_cursor": None}
    assert site.get(f"{API}/users/{a_name}/lists", headers=b).json()["count"] == 1
    # B cannot mark A's notifications read
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    site.post(f"{API}/me/notifications/read", headers=b)
    assert site.get(f"{API}/me/notifications", headers=a).json()["unread"] == 1


def test_s10_mass_assignment(site: TestClient) -> None:
    _, a = member(site, "a")
    _, b = member(site, "b")
    b_id = _id(site, b)
    r = site.post(f"{API}/lists", json={"title": "Mine", "user_id": b_id, "like_count": 99, "item_count": 5},
                  headers=a)
    assert r.status_code == 422 and _fields(r) == {"user_id", "like_count", "item_count"}
    r = site.post(f"{API}/shares", json={"movie_id": 1, "user_id": b_id, "token": "chosen-token-123456789"},
                  headers=a)
    assert r.status_code == 422 and _fields(r) == {"user_id", "token"}
    lid = site.post(f"{API}/lists", json={"title": "Mine"}, headers=a).json()["id"]
    r = site.patch(f"{API}/lists/{lid}", json={"user_id": b_id, "is_public": False}, headers=a)
    assert r.status_code == 422 and _fields(r) == {"user_id", "is_public"}
    assert _count(site, MovieList, user_id=b_id) == 0 and _count(site, Share, user_id=b_id) == 0


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/shares", {"movie_id": "x", "audience": "public"}, "movie_id"),
    ("/shares", {"movie_id": -5, "audience": "public"}, "movie_id"),
    ("/shares", {"movie_id": True, "audience": "public"}, "movie_id"),
    ("/shares", {"movie_id": 1, "audience": "everyone"}, "audience"),
    ("/shares", {"movie_id": 1, "note": "x" * 1001}, "note"),
    ("/shares", {"movie_id": 1, "note": "nul\x00byte"}, "note"),
    ("/shares", {"movie_id": 1, "list_id": 1}, "movie_id"),
    ("/shares", {"note": "nothing shared"}, "movie_id"),
    ("/shares", {"movie_id": 1, "colour": "red"}, "colour"),
    ("/lists", {"title": "x" * 201}, "title"),
    ("/lists", {"title": ""}, "title"),
    ("/lists", {"title": "   "}, "title"),
    ("/lists", {"title": 5}, "title"),
    ("/lists", {"title": "ok", "public": "yes"}, "public"),
    ("/lists", {"title": "ok", "description": "d" * 5001}, "description"),
])
def test_b1_b2_bad_share_and_list_bodies(site: TestClient, url: str, body: dict[str, object], field: str) -> None:
    _, a = member(site, "a")
    uid = _id(site, a)
    r = site.post(API + url, json=body, headers=a)
    assert r.status_code == 422, r.text
    assert field in _fields(r)
    assert _count(site, Share, user_id=uid) == 0 and _count(site, MovieList, user_id=uid) == 0


def test_b1_b2_bad_item_like_and_paging_input(site: TestClient) -> None:
    a_name, a = member(site, "a")
    lid = site.post(f"{API}/lists", json={"title": "Checked"}, headers=a).json()["id"]
    bad = [(f"/lists/{lid}/items/1", {"position": -1}, "position"), (f"/lists/{lid}/items/1", {"position": "0"},
                                                                      "position"),
           (f"/lists/{lid}/items/1", {"note": "n" * 1001}, "note"), (f"/lists/{lid}/items/1", {"extra": 1}, "extra"),
           (f"/lists/{lid}/items/x", None, "movie_id"), (f"/lists/{lid}/items/-5", None, "movie_id"),
           ("/lists/x/items/1", None, "list_id")]
    for url, body, field in bad:
        r = site.put(API + url, json=body, headers=a) if body is not None else site.put(API + url, headers=a)
        assert r.status_code == 422 and field in _fields(r), (url, r.text)
    r = site.patch(f"{API}/lists/{lid}", json={"title": "t" * 201}, headers=a)
    assert r.status_code == 422 and _fields(r) == {"title"}
    r = site.post(f"{API}/me/notifications/read", json={"up_to_id": "all"}, headers=a)
    assert r.status_code == 422 and _fields(r) == {"up_to_id"}
    for url in (f"/lists/{lid}/items/999999", "/lists/999999/items/1", "/reviews/999999/like", "/lists/999999/like",
                "/users/nobody-at-all/follow", "/users/nobody-at-all/block"):
        assert site.put(API + url, headers=a).status_code == 404, url
    for url in ("/shares/999999", "/lists/999999"):
        assert site.delete(API + url, headers=a).status_code == 404, url
    with transaction(site.app.state.engine, write=False) as s:
        row = s.get(MovieList, lid)
        assert row is not None and row.item_count == 0 and row.title == "Checked"
    for url in ("/me/feed?limit=1000000", "/me/notifications?limit=101", "/me/shares?offset=-1",
                f"/users/{a_name}/lists?limit=0", "/lists?limit=101", "/movies/1/friends?limit=1000"):
        assert site.get(API + url, headers=a).status_code == 422, url
    assert site.get(f"{API}/lists?limit=100", headers=a).status_code == 200


def test_rate_limits_answer_429_with_retry_after(site: TestClient, low_limits: Throttle) -> None:
    _, a = member(site, "a")
    b_name, b = member(site, "b")
    low_limits.reset()
    for mid in (1, 2):
        assert site.post(f"{API}/shares", json={"movie_id": mid}, headers=a).status_code == 201
    r = site.post(f"{API}/shares", json={"movie_id": 3}, headers=a)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert _count(site, Share, user_id=_id(site, a)) == 2
    site.put(f"{API}/users/{b_name}/follow", headers=a)
    site.delete(f"{API}/users/{b_name}/follow", headers=a)
    assert site.put(f"{API}/users/{b_name}/follow", headers=a).status_code == 429
    lid = site.post(f"{API}/lists", json={"title": "One"}, headers=b).json()["id"]
    site.put(f"{API}/lists/{lid}/items/1", headers=b)
    r = site.put(f"{API}/lists/{lid}/items/2", headers=b)
    assert r.status_code == 429 and "Retry-After" in r.headers
    site.put(f"{API}/lists/{lid}/like", headers=a)
    site.delete(f"{API}/lists/{lid}/like", headers=a)
    assert site.put(f"{API}/lists/{lid}/like", headers=a).status_code == 429
    assert _count(site, ListLike, list_id=lid) == 0


def test_deleting_an_account_with_social_data(site: TestClient) -> None:
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    rid = site.post(f"{API}/movies/4/reviews", json={"text": "fine"}, headers=a).json()["id"]
    lid = site.post(f"{API}/lists", json={"title": "A's"}, headers=a).json()["id"]
    site.put(f"{API}/reviews/{rid}/like", headers=b)
    site.put(f"{API}/lists/{lid}/like", headers=b)
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    site.put(f"{API}/users/{b_name}/follow", headers=a)
    site.post(f"{API}/shares", json={"movie_id": 4, "audience": "public"}, headers=b)
    own = site.post(f"{API}/lists", json={"title": "B's"}, headers=b).json()["id"]
    site.put(f"{API}/lists/{own}/items/4", headers=b)
    b_id = _id(site, b)
    assert site.request("DELETE", f"{API}/users/me", json={"password": PASSWORD}, headers=b).status_code == 204
    for model, where in ((Share, {"user_id": b_id}), (MovieList, {"user_id": b_id}), (ReviewLike, {"user_id": b_id}),
                         (ListLike, {"user_id": b_id}), (Follow, {"follower_id": b_id}), (Follow, {"followee_id": b_id}),
                         (Notification, {"actor_id": b_id}), (ListItem, {"list_id": own})):
        assert _count(site, model, **where) == 0, model
    with transaction(site.app.state.engine, write=False) as s:
        assert s.get(Review, rid).like_count == 0  # type: ignore[union-attr]
        assert s.get(MovieList, lid).like_count == 0  # type: ignore[union-attr]
    assert site.get(f"{API}/users/{a_name}/followers").json()["count"] == 0
    assert site.get(f"{API}/me/notifications", headers=a).json()["data"] == []


def test_s9_b1_likes_shares_follows_and_blocks_with_foreign_or_bad_ids(site: TestClient) -> None:
    _, a = member(site, "a")
    _, b = member(site, "b")
    rid = site.post(f"{API}/movies/12/reviews", json={"text": "A's draft thoughts"}, headers=a).json()["id"]
    private = site.post(f"{API}/lists", json={"title": "A's hidden", "public": False}, headers=a).json()["id"]
    with transaction(site.app.state.engine) as s:
        review = s.get(Review, rid)
        assert review is not None
        review.visibility = "draft"
    # B acting on A's hidden things: 404 alike, nothing changes
    for method, url, body in (("put", f"/reviews/{rid}/like", None), ("delete", f"/reviews/{rid}/like", None),
                              ("post", "/shares", {"list_id": private, "audience": "public"})):
        kw = {"json": body} if body is not None else {}
        r = site.request(method.upper(), API + url, headers=b, **kw)
        assert r.status_code == 404 and "A's" not in r.text, url
    assert _count(site, ReviewLike, review_id=rid) == 0 and _count(site, Share, list_id=private) == 0
    with transaction(site.app.state.engine, write=False) as s:
        assert s.get(Review, rid).like_count == 0  # type: ignore[union-attr]
    # malformed ids and names: 422 naming the field, nothing written
    b_id = _id(site, b)
    for method, url, field in (("delete", "/shares/x", "share_id"), ("delete", "/shares/0", "share_id"),
                               ("put", "/reviews/x/like", "review_id"), ("delete", "/reviews/-1/like", "review_id"),
                               ("put", "/lists/x/like", "list_id"), ("patch", "/lists/x", "list_id"),
                               ("put", "/users/-bad name-/follow", "username"),
                               ("put", "/users/-bad name-/block", "username")):
        kw = {"json": {"title": "t"}} if method == "patch" else {}
        r = site.request(method.upper(), API + url, headers=b, **kw)
        assert r.status_code == 422 and field in _fields(r), (url, r.text)
    r = site.post(f"{API}/me/notifications/read", json={"everything": True}, headers=b)
    assert r.status_code == 422 and _fields(r) == {"everything"}
    assert _count(site, Follow, follower_id=b_id) == 0 and _count(site, ReviewLike, user_id=b_id) == 0


def test_s7_list_patch_and_display_names_verbatim(site: TestClient) -> None:
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    lid = site.post(f"{API}/lists", json={"title": "plain"}, headers=a).json()["id"]
    for payload in XSS:
        r = site.patch(f"{API}/lists/{lid}", json={"title": payload, "description": payload}, headers=a)
        assert r.status_code == 200 and r.json()["title"] == payload and r.json()["description"] == payload
        site.patch(f"{API}/users/me", json={"display_name": payload}, headers=a)
        site.put(f"{API}/users/{a_name}/follow", headers=b)
        followed = site.get(f"{API}/users/{b_name}/following").json()["data"]
        assert followed == [{"username": a_name, "display_name": payload}]
        assert site.get(f"{API}/lists/{lid}").json()["owner"]["display_name"] == payload


def test_review_written_edited_and_deleted_through_the_api_reaches_followers_feed_by_its_id(site: TestClient) -> None:
    from cinerec.store.models import Event

    a_name, a = member(site, "a")
    _, b = member(site, "b")
    assert site.put(f"{API}/users/{a_name}/follow", headers=b).status_code == 200
    rid = site.post(f"{API}/movies/7/reviews", json={"text": "A quiet, lovely film."}, headers=a).json()["id"]
    with transaction(site.app.state.engine, write=False) as s:
        assert s.scalar(select(Event.object_id).where(Event.kind == "review", Event.movie_id == 7)
                        .order_by(Event.id.desc())) == rid
    item = site.get(f"{API}/me/feed", headers=b).json()["data"][0]
    assert item["kind"] == "review" and item["review"]["id"] == rid
    assert site.patch(f"{API}/reviews/{rid}", json={"text": "Still lovely."}, headers=a).status_code == 200
    assert site.get(f"{API}/me/feed", headers=b).json()["data"][0]["review"]["excerpt"] == "Still lovely."
    assert site.delete(f"{API}/reviews/{rid}", headers=a).status_code == 204
    assert all(i["kind"] != "review" for i in site.get(f"{API}/me/feed", headers=b).json()["data"])
