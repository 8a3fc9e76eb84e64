"""Attacks on the sharing features as a hostile member and a hostile visitor (TESTPLAN S6, S7, S9, S10, B2).

Each test names the TESTPLAN check it extends. Member A owns the objects,
member B (or C) attacks them with A's ids; a visitor has no account.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cinerec.config import Settings
from cinerec.service.throttle import Throttle
from cinerec.store.db import transaction
from cinerec.store.models import Follow, ListItem, MovieList, Share, User
from tests.web.conftest import PASSWORD, login, member
from tests.web.test_pages import LANGS, browser, form_token, page_signup
from tests.web.test_social_api import API, XSS, _count
from tests.web.test_social_pages import _meta, _tags, follow, make_list, share_film

TOKEN_LINK = re.compile(r"/s/([A-Za-z0-9_-]{40,})")


def _deactivate(site: TestClient, username: str) -> None:
    with transaction(site.app.state.engine) as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        user.is_active = False


# --------------------------------------------------------------------------- rate limits on the page forms


def test_s9_page_list_writes_are_rate_limited(site: TestClient, low_limits: Throttle) -> None:
    """Every list write through a page form counts against the list window, as through the API."""
    b, _ = page_signup(site)
    t = form_token(b, "/lists/new")
    low_limits.reset()
    r = b.post("/lists", data={"title": "Mine", "visibility": "public", "csrf_token": t})
    assert r.status_code == 303
    list_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert b.post(f"/lists/{list_id}/items", data={"movie_id": "1", "csrf_token": t}).status_code == 303
    writes = [(f"/lists/{list_id}/items", {"movie_id": "2"}), ("/lists/add", {"list_id": str(list_id), "movie_id": "3"}),
              (f"/lists/{list_id}", {"title": "Renamed", "visibility": "private"}),
              (f"/lists/{list_id}/items/1/note", {"note": "n"}), (f"/lists/{list_id}/items/1/move", {"position": "0"}),
              (f"/lists/{list_id}/items/1/delete", {}), (f"/lists/{list_id}/delete", {})]
    for url, data in writes:
        r = b.post(url, data={**data, "csrf_token": t})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, (url, r.status_code)
    with transaction(site.app.state.engine, write=False) as s:
        lst = s.get(MovieList, list_id)
        assert lst is not None and lst.title == "Mine" and lst.is_public and lst.item_count == 1
    assert _count(site, ListItem, list_id=list_id) == 1


def test_s9_page_unfollow_is_rate_limited(site: TestClient, low_limits: Throttle) -> None:
    """Follow and unfollow through the profile's form share one window (no free follow/unfollow spam)."""
    b, _ = page_signup(site)
    target, _ = member(site, "t")
    t = form_token(b, f"/u/{target}")
    low_limits.reset()
    assert b.post(f"/u/{target}/follow", data={"on": "1", "csrf_token": t}).status_code == 303
    assert b.post(f"/u/{target}/follow", data={"on": "0", "csrf_token": t}).status_code == 303
    r = b.post(f"/u/{target}/follow", data={"on": "0", "csrf_token": t})
    assert r.status_code == 429 and "Retry-After" in r.headers
    r = b.post(f"/u/{target}/follow", data={"on": "1", "csrf_token": t})
    assert r.status_code == 429


# --------------------------------------------------------------------------- blocks reach third-party lists


def test_s9_block_hides_owner_lists_from_search(site: TestClient) -> None:
    """A blocked member finds none of the blocker's lists in the public list search (API and page), as by id."""
    a_name, a = member(site, "a")
    _, b = member(site, "b")
    b_name = site.get(f"{API}/users/me", headers=b).json()["username"]
    title = f"Blockersearch {a_name}"
    lid = site.post(f"{API}/lists", json={"title": title}, headers=a).json()["id"]
    assert site.get(f"{API}/lists", params={"q": title}, headers=b).json()["count"] == 1
    assert site.put(f"{API}/users/{b_name}/block", headers=a).status_code == 200
    assert site.get(f"{API}/lists/{lid}", headers=b).status_code == 404
    r = site.get(f"{API}/lists", params={"q": title}, headers=b)
    assert r.status_code == 200 and r.json() == {"data": [], "count": 0}
    assert site.get(f"{API}/lists", params={"q": title}, headers=a).json()["count"] == 1
    assert site.get(f"{API}/lists", params={"q": title}).json()["count"] == 1  # a visitor: a public list


def test_s9_share_of_a_blockers_list_stays_out_of_feed_and_notifications(site: TestClient) -> None:
    """C re-shares A's public list; B, whom A blocked, follows C: neither B's feed nor notices show A's list."""
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    c_name, c = member(site, "c")
    title = f"Owned by {a_name}"
    lid = site.post(f"{API}/lists", json={"title": title}, headers=a).json()["id"]
    site.put(f"{API}/lists/{lid}/items/1", headers=a)
    assert site.put(f"{API}/users/{b_name}/block", headers=a).status_code == 200
    assert site.put(f"{API}/users/{c_name}/follow", headers=b).status_code == 200
    r = site.post(f"{API}/shares", json={"list_id": lid, "note": "look", "audience": "followers"}, headers=c)
    assert r.status_code == 201
    site.post(f"{API}/shares", json={"movie_id": 7, "note": "film"}, headers=c)
    feed = site.get(f"{API}/me/feed", headers=b).json()
    assert [i["kind"] for i in feed["data"]] == ["share"] and title not in str(feed)
    notes = site.get(f"{API}/me/notifications", headers=b).json()
    assert len(notes["data"]) == 1 and title not in str(notes) and notes["unread"] == 1


def test_s9_public_link_to_a_deactivated_members_list_is_not_found(site: TestClient) -> None:
    """B shares A's public list by link; once A's account is disabled the link shows nothing of A's list."""
    a_name, a = member(site, "a")
    _, b = member(site, "b")
    title = f"Soon gone {a_name}"
    lid = site.post(f"{API}/lists", json={"title": title}, headers=a).json()["id"]
    token = site.post(f"{API}/shares", json={"list_id": lid, "audience": "public"}, headers=b).json()["url"][3:]
    assert site.get(f"{API}/shares/{token}").status_code == 200
    _deactivate(site, a_name)
    assert site.get(f"{API}/lists/{lid}").status_code == 404
    r = site.get(f"{API}/shares/{token}")
    assert r.status_code == 404 and title not in r.text
    page = site.get(f"/s/{token}", headers={"accept": "text/html"})
    assert page.status_code == 404 and title not in page.text


# --------------------------------------------------------------------------- disabled accounts


def test_s9_notifications_from_a_disabled_account_are_hidden(site: TestClient) -> None:
    """A disabled account's follow and likes leave its targets' notices and unread counts (as it leaves feeds)."""
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    rid = site.post(f"{API}/movies/4/reviews", json={"text": "A's words"}, headers=a).json()["id"]
    lid = site.post(f"{API}/lists", json={"title": "A's picks"}, headers=a).json()["id"]
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    site.put(f"{API}/reviews/{rid}/like", headers=b)
    site.put(f"{API}/lists/{lid}/like", headers=b)
    assert site.get(f"{API}/me/notifications", headers=a).json()["unread"] == 3
    _deactivate(site, b_name)
    assert site.get(f"{API}/me/notifications", headers=a).json() == {"data": [], "unread": 0, "next_cursor": None}


def test_s9_feed_leaves_out_lists_of_a_disabled_owner(site: TestClient) -> None:
    """B likes and shares A's public list; once A's account is disabled, B's followers see neither in their feed."""
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    _, c = member(site, "c")
    title = f"Picks of {a_name}"
    lid = site.post(f"{API}/lists", json={"title": title}, headers=a).json()["id"]
    site.put(f"{API}/users/{b_name}/follow", headers=c)
    site.put(f"{API}/lists/{lid}/like", headers=b)
    site.post(f"{API}/shares", json={"list_id": lid, "audience": "followers"}, headers=b)
    site.post(f"{API}/shares", json={"movie_id": 8}, headers=b)
    feed = site.get(f"{API}/me/feed", headers=c).json()
    assert sorted(i["kind"] for i in feed["data"]) == ["like_list", "share", "share"]
    _deactivate(site, a_name)
    feed = site.get(f"{API}/me/feed", headers=c).json()
    assert [i["kind"] for i in feed["data"]] == ["share"] and title not in str(feed)
    assert [n["kind"] for n in site.get(f"{API}/me/notifications", headers=c).json()["data"]] == ["share"]


# --------------------------------------------------------------------------- S7 in attributes, both languages

#: One text carrying every XSS probe: quotes to leave an attribute, a tag, a script URL and a template expression.
PAYLOAD = " ".join([XSS[1], XSS[0], XSS[2], XSS[3], "'single'"])
URL_ATTRS = {"href", "src", "action", "formaction", "content", "value", "data"}


@pytest.mark.parametrize("lang", list(LANGS))
def test_s7_share_notes_list_titles_and_names_stay_text_in_tags_and_attributes(site: TestClient, lang: str) -> None:
    """Display name, list title, description, item note and share notes full of quotes and markup: on every
    sharing page (both languages) no tag or attribute comes from them, and the OpenGraph/Twitter tags carry
    them back verbatim."""
    a, name_a = page_signup(site, lang)
    t = form_token(a, "/settings")
    locale = "zh_CN" if lang.startswith("zh") else "en"
    r = a.post("/settings/profile", data={"display_name": PAYLOAD[:100], "locale": locale, "csrf_token": t})
    assert r.status_code == 303, r.text[:300]
    b, name_b = page_signup(site, lang)
    follow(b, name_a)
    follow(a, name_b)
    list_id = make_list(a, PAYLOAD, films=(30,), description=PAYLOAD)
    t = form_token(a, f"/lists/{list_id}")
    a.post(f"/lists/{list_id}/items/30/note", data={"note": PAYLOAD, "csrf_token": t})
    _, film_token = share_film(a, 30, PAYLOAD)
    _, quiet_token = share_film(a, 31, "")  # no note: the description names the sharer
    r = a.post(f"/lists/{list_id}/share", data={"note": PAYLOAD, "audience": "public", "csrf_token": t})
    list_page = a.get(r.headers["location"].split("#")[0]).text
    m = TOKEN_LINK.search(list_page)
    assert film_token and quiet_token and m
    b.post(f"/lists/{list_id}/like", data={"on": "1", "csrf_token": form_token(b, f"/lists/{list_id}")})
    visitor = browser(site, lang)
    pages = [(b, "/feed"), (a, "/notifications"), (b, "/notifications"), (b, f"/lists/{list_id}"),
             (a, f"/lists/{list_id}"), (b, "/lists"), (a, "/me/lists"), (a, "/me/shares"), (b, f"/u/{name_a}"),
             (b, f"/u/{name_a}/lists"), (b, f"/u/{name_b}/following"), (a, f"/u/{name_b}/followers"),
             (b, "/movies/30"), (visitor, f"/s/{film_token}"), (visitor, f"/s/{quiet_token}"),
             (visitor, f"/s/{m.group(1)}")]
    for who, url in pages:
        r = who.get(url)
        assert r.status_code == 200, url
        html = r.text
        assert "<script>alert" not in html and "<img src=x" not in html and "{{7*7}}" in html, url
        for tag, attrs in _tags(html):
            assert tag not in ("img", "script") or ("src", "x") not in attrs, url
            for k, v in attrs:
                assert not k.startswith("on"), (url, tag, k)
                if k in URL_ATTRS and v:
                    assert not v.strip().lower().startswith("javascript:"), (url, tag, k, v)
    film = visitor.get(f"/s/{film_token}").text
    assert _meta(film, "og:description") == PAYLOAD and _meta(film, "twitter:description") == PAYLOAD
    shared_list = visitor.get(f"/s/{m.group(1)}").text
    assert _meta(shared_list, "og:title") == PAYLOAD and _meta(shared_list, "twitter:title") == PAYLOAD
    assert PAYLOAD[:100].strip() in _meta(visitor.get(f"/s/{quiet_token}").text, "og:description")


# --------------------------------------------------------------------------- deleting and disabling accounts


@pytest.mark.parametrize("how", ["delete", "disable"])
def test_s9_a_gone_member_leaves_no_error_and_no_trace(site: TestClient, how: str) -> None:
    """A member with lists, likes, shares, follows and notices deletes (or loses) the account: every sharing page
    and API read of the others still answers (no 500), without A's things, and the kept like counts are right."""
    pb, b_name = page_signup(site)
    b = login(site, b_name)
    a_name, a = member(site, "a")
    rid = site.post(f"{API}/movies/6/reviews", json={"text": "B's review"}, headers=b).json()["id"]
    b_list = site.post(f"{API}/lists", json={"title": "B's list"}, headers=b).json()["id"]
    a_title = f"Gone soon {a_name}"
    a_list = site.post(f"{API}/lists", json={"title": a_title}, headers=a).json()["id"]
    site.put(f"{API}/lists/{a_list}/items/6", json={"note": "A's note"}, headers=a)
    for who, name in ((a, b_name), (b, a_name)):
        assert site.put(f"{API}/users/{name}/follow", headers=who).status_code == 200
    site.put(f"{API}/reviews/{rid}/like", headers=a)
    site.put(f"{API}/lists/{b_list}/like", headers=a)
    site.put(f"{API}/lists/{a_list}/like", headers=b)
    token = site.post(f"{API}/shares", json={"movie_id": 6, "note": "A's share", "audience": "public"},
                      headers=a).json()["url"][3:]
    list_token = site.post(f"{API}/shares", json={"list_id": a_list, "audience": "public"}, headers=a).json()["url"][3:]
    b_token = site.post(f"{API}/shares", json={"list_id": a_list, "audience": "public"}, headers=b).json()["url"][3:]
    if how == "delete":
        assert site.request("DELETE", f"{API}/users/me", json={"password": PASSWORD}, headers=a).status_code == 204
    else:
        _deactivate(site, a_name)
    for url in ["/feed", "/notifications", "/lists", f"/lists/{b_list}", "/me/lists", "/me/shares", f"/u/{b_name}",
                f"/u/{b_name}/followers", f"/u/{b_name}/following", f"/u/{b_name}/lists", "/movies/6", "/"]:
        r = pb.get(url)
        assert r.status_code == 200, url
        # B's own record of sharing A's list (while A is only disabled) may still name it; nothing else does
        assert (a_name not in r.text and a_title not in r.text) or (how, url) == ("disable", "/me/shares"), url
    for url in [f"/s/{token}", f"/s/{list_token}", f"/s/{b_token}", f"/lists/{a_list}", f"/u/{a_name}"]:
        r = pb.get(url)
        assert r.status_code == 404 and a_title not in r.text and "A's" not in r.text, url
    for url in ["/me/feed", "/me/notifications", "/me/shares", f"/users/{b_name}/followers", "/lists?q=Gone",
                "/movies/6/lists", "/movies/6/friends", f"/lists/{b_list}"]:
        r = site.get(API + url, headers=b)
        assert r.status_code == 200, url
        assert (a_name not in r.text and a_title not in r.text) or (how, url) == ("disable", "/me/shares"), url
    assert site.get(f"{API}/shares/{b_token}").status_code == 404
    if how == "delete":
        assert site.get(f"{API}/lists/{b_list}", headers=b).json()["like_count"] == 0
        assert pb.get("/movies/6").status_code == 200


# --------------------------------------------------------------------------- blocks end to end


def test_s9_block_end_to_end(site: TestClient) -> None:
    """A blocks B: follows end both ways and cannot come back; B cannot like A's things or re-share A's list; A's
    lists are nowhere for B; neither sees the other in feed, notices, friends' ratings or social picks, not even
    through C, whom both follow."""
    a_name, a = member(site, "a")
    b_name, b = member(site, "b")
    c_name, c = member(site, "c")
    a_review = site.post(f"{API}/movies/11/reviews", json={"text": "A's review"}, headers=a).json()["id"]
    b_review = site.post(f"{API}/movies/12/reviews", json={"text": "B's review"}, headers=b).json()["id"]
    title = f"A's list {a_name}"
    a_list = site.post(f"{API}/lists", json={"title": title}, headers=a).json()["id"]
    site.put(f"{API}/lists/{a_list}/items/11", headers=a)
    for who, name in ((a, b_name), (b, a_name), (a, c_name), (b, c_name)):
        assert site.put(f"{API}/users/{name}/follow", headers=who).status_code == 200
    site.put(f"{API}/movies/13/rating", json={"rating": 5}, headers=b)
    assert site.put(f"{API}/users/{b_name}/block", headers=a).json()["changed"] is True
    # C (followed by both) likes and shares each one's things after the block
    site.put(f"{API}/reviews/{a_review}/like", headers=c)
    site.put(f"{API}/lists/{a_list}/like", headers=c)
    site.post(f"{API}/shares", json={"list_id": a_list, "audience": "followers"}, headers=c)
    site.put(f"{API}/reviews/{b_review}/like", headers=c)
    with transaction(site.app.state.engine, write=False) as s:
        ids = {u.username: u.id for u in s.scalars(select(User).where(User.username.in_([a_name, b_name])))}
    assert _count(site, Follow, follower_id=ids[a_name], followee_id=ids[b_name]) == 0
    assert _count(site, Follow, follower_id=ids[b_name], followee_id=ids[a_name]) == 0
    assert site.put(f"{API}/users/{a_name}/follow", headers=b).status_code == 403
    assert site.put(f"{API}/users/{b_name}/follow", headers=a).status_code == 403
    for method, url, body in [("PUT", f"/reviews/{a_review}/like", None), ("PUT", f"/lists/{a_list}/like", None),
                              ("POST", "/shares", {"list_id": a_list, "audience": "public"}),
                              ("GET", f"/lists/{a_list}", None)]:
        r = site.request(method, API + url, json=body, headers=b)
        assert r.status_code == 404 and title not in r.text, (method, url, r.status_code)
    for url in [f"/users/{a_name}/lists", "/lists?q=A's list", "/movies/11/lists", "/me/feed", "/me/notifications",
                "/movies/11/friends", "/movies/13/friends", "/me/recommendations/social"]:
        for who, other in ((b, a_name), (a, b_name)):
            r = site.get(API + url, headers=who)
            assert r.status_code == 200 and other not in r.text, (url, r.text[:300])  # A's list title names A
    assert site.get(f"{API}/me/feed", headers=b).json()["data"][0]["kind"] == "like_review"  # C liking B's review
    assert site.get(f"{API}/lists/{a_list}", headers=a).json()["like_count"] == 1


# --------------------------------------------------------------------------- tokens and notices


def test_s5_s9_public_tokens_are_long_and_followers_shares_have_none(site: TestClient) -> None:
    """A public link's token has 256 bits (43 URL-safe characters) and never repeats; a followers-only share has
    no token at all, so no follower ever sees a link for it (API answer, feed, notices, pages)."""
    a_name, a = member(site, "a")
    pb, b_name = page_signup(site)
    b = login(site, b_name)
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    public = [site.post(f"{API}/shares", json={"movie_id": m, "audience": "public"}, headers=a).json()
              for m in (21, 22, 23)]
    tokens = [p["url"].removeprefix("/s/") for p in public]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens) and len(set(tokens)) == 3
    quiet = site.post(f"{API}/shares", json={"movie_id": 24, "note": "followers only", "audience": "followers"},
                      headers=a).json()
    assert quiet["url"] is None and quiet["audience"] == "followers"
    with transaction(site.app.state.engine, write=False) as s:
        assert s.scalar(select(Share.token).where(Share.id == quiet["id"])) is None
    feed = site.get(f"{API}/me/feed", headers=b).json()["data"]
    urls = {i["share"]["id"]: i["share"]["url"] for i in feed if i["kind"] == "share"}
    assert urls[quiet["id"]] is None and {urls[p["id"]] for p in public} == {p["url"] for p in public}
    notes = site.get(f"{API}/me/notifications", headers=b).json()["data"]
    assert {n["share_id"]: n["share_url"] for n in notes}[quiet["id"]] is None
    html = pb.get("/feed").text + pb.get("/notifications").text
    assert "followers only" in html and set(TOKEN_LINK.findall(html)) == set(tokens)


def test_s6_s9_marking_notices_read_touches_only_mine_and_needs_a_valid_form(site: TestClient) -> None:
    """B marks read 'up to' a huge id (API and form): only B's notices change; the form without a valid token,
    with another session's token, or sent cross-site marks nothing."""
    a_name, a = member(site, "a")
    pb, b_name = page_signup(site)
    other, _ = page_signup(site)
    b = login(site, b_name)
    site.put(f"{API}/users/{b_name}/follow", headers=a)
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    huge = 2**62
    r = site.post(f"{API}/me/notifications/read", json={"up_to_id": huge}, headers=b)
    assert r.status_code == 200 and r.json() == {"marked": 1, "unread": 0}
    assert site.get(f"{API}/me/notifications", headers=a).json()["unread"] == 1
    b_list = site.post(f"{API}/lists", json={"title": "B's"}, headers=b).json()["id"]
    site.put(f"{API}/lists/{b_list}/like", headers=a)  # a new notice for B
    assert site.get(f"{API}/me/notifications", headers=b).json()["unread"] == 1
    good = form_token(pb, "/notifications")
    for data, headers in [({}, {}), ({"csrf_token": "x" * 43}, {}), ({"csrf_token": form_token(other)}, {}),
                          ({"csrf_token": good}, {"sec-fetch-site": "cross-site"}),
                          ({"csrf_token": good}, {"origin": "https://evil.example"})]:
        r = pb.post("/notifications/read", data={"up_to": str(huge), **data}, headers=headers)
        assert r.status_code == 403, (data, headers)
        assert site.get(f"{API}/me/notifications", headers=b).json()["unread"] == 1
    assert pb.post("/notifications/read", data={"up_to": str(huge), "csrf_token": good}).status_code == 303
    assert site.get(f"{API}/me/notifications", headers=b).json()["unread"] == 0
    assert site.get(f"{API}/me/notifications", headers=a).json()["unread"] == 1


def test_s9_b2_page_shares_likes_and_follows_are_rate_limited(site: TestClient, low_limits: Throttle) -> None:
    """Shares, likes and follows through the page forms answer 429 with Retry-After past the window, writing
    nothing (the same windows as the API)."""
    a_name, a = member(site, "a")
    rid = site.post(f"{API}/movies/3/reviews", json={"text": "liked a lot"}, headers=a).json()["id"]
    lid = site.post(f"{API}/lists", json={"title": "Likeable"}, headers=a).json()["id"]
    pb, b_name = page_signup(site)
    t = form_token(pb, "/movies/3")
    low_limits.reset()
    for m in (1, 2):
        assert pb.post(f"/movies/{m}/share", data={"audience": "public", "csrf_token": t}).status_code == 303
    for url, data in [("/movies/3/share", {"audience": "public"}), (f"/lists/{lid}/share", {"audience": "public"})]:
        r = pb.post(url, data={**data, "csrf_token": t})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, url
    with transaction(site.app.state.engine, write=False) as s:
        me = s.scalar(select(User.id).where(User.username == b_name))
    assert _count(site, Share, user_id=me) == 2
    assert pb.post(f"/reviews/{rid}/like", data={"on": "1", "csrf_token": t}).status_code == 303
    assert pb.post(f"/lists/{lid}/like", data={"on": "1", "csrf_token": t}).status_code == 303
    for url in (f"/reviews/{rid}/like", f"/lists/{lid}/like"):
        r = pb.post(url, data={"on": "0", "csrf_token": t})
        assert r.status_code == 429 and "Retry-After" in r.headers, url
    assert pb.post(f"/u/{a_name}/follow", data={"on": "1", "csrf_token": t}).status_code == 303
    assert pb.post(f"/u/{a_name}/follow", data={"on": "0", "csrf_token": t}).status_code == 303
    assert pb.post(f"/u/{a_name}/follow", data={"on": "1", "csrf_token": t}).status_code == 429
    assert _count(site, Follow, follower_id=me) == 0


def test_s9_a_shared_list_made_private_disappears_everywhere(site: TestClient) -> None:
    """A shares a public list by link and to followers, then makes it private: the link (page, OpenGraph, API),
    B's feed and notices and the list searches show nothing of it; B cannot like or re-share it."""
    a_name, a = member(site, "a")
    pb, b_name = page_signup(site)
    b = login(site, b_name)
    site.put(f"{API}/users/{a_name}/follow", headers=b)
    title = f"Hidden later {a_name}"
    lid = site.post(f"{API}/lists", json={"title": title, "description": "desc of A"}, headers=a).json()["id"]
    site.put(f"{API}/lists/{lid}/items/40", json={"note": "A's item note"}, headers=a)
    token = site.post(f"{API}/shares", json={"list_id": lid, "note": "A's share note", "audience": "public"},
                      headers=a).json()["url"][3:]
    assert title in pb.get(f"/s/{token}").text and title in pb.get("/feed").text
    assert site.patch(f"{API}/lists/{lid}", json={"public": False}, headers=a).status_code == 200
    visitor = browser(site)
    for who, url in [(visitor, f"/s/{token}"), (pb, f"/s/{token}"), (pb, f"/lists/{lid}")]:
        r = who.get(url)
        assert r.status_code == 404 and title not in r.text and "og:title" not in r.text, url
    for who, url in [(pb, "/feed"), (pb, "/notifications"), (pb, "/lists"), (pb, f"/u/{a_name}"), (pb, "/movies/40")]:
        r = who.get(url)
        assert r.status_code == 200 and title not in r.text and "A's share note" not in r.text, url
    assert site.get(f"{API}/shares/{token}").status_code == 404
    for url in ["/me/feed", "/me/notifications", f"/users/{a_name}/lists", "/movies/40/lists", "/lists"]:
        r = site.get(API + url, headers=b)
        assert r.status_code == 200 and title not in r.text and "A's share note" not in r.text, url
        assert "A's item note" not in r.text and "desc of A" not in r.text, url
    assert site.put(f"{API}/lists/{lid}/like", headers=b).status_code == 404
    assert site.post(f"{API}/shares", json={"list_id": lid}, headers=b).status_code == 404


def test_b2_follow_and_like_cycles_notify_once(site: TestClient) -> None:
    """B follows/unfollows A and likes/unlikes A's review and list over and over: A gets one notice of each."""
    a_name, a = member(site, "a")
    _, b = member(site, "b")
    rid = site.post(f"{API}/movies/2/reviews", json={"text": "A's review"}, headers=a).json()["id"]
    lid = site.post(f"{API}/lists", json={"title": "A's list"}, headers=a).json()["id"]
    for _ in range(4):
        for url in (f"/users/{a_name}/follow", f"/reviews/{rid}/like", f"/lists/{lid}/like"):
            assert site.put(API + url, headers=b).status_code == 200
            assert site.delete(API + url, headers=b).status_code in (200, 204)
    notes = site.get(f"{API}/me/notifications", headers=a).json()
    assert sorted(n["kind"] for n in notes["data"]) == ["follow", "like_list", "like_review"] and notes["unread"] == 3


def test_public_url_setting_builds_share_links_whatever_the_host_header(member_settings: Settings) -> None:
    """A forged ``Host`` cannot point a share's OpenGraph URL or image at another site once CINEREC_PUBLIC_URL is set."""
    from cinerec.web.app import create_app

    configured = member_settings.model_copy(update={"public_url": "https://films.example"})
    with TestClient(create_app(configured)) as c:
        _, auth = member(c, "og")
        token = c.post("/api/v1/shares", json={"movie_id": 1, "note": "watch", "audience": "public"},
                       headers=auth).json()["url"].rsplit("/", 1)[1]
        page = c.get(f"/s/{token}", headers={"Host": "evil.example"}).text
    assert f'<meta property="og:url" content="https://films.example/s/{token}">' in page
    assert "evil.example" not in page
    with pytest.raises(ValueError):
        Settings(public_url="javascript:alert(1)")
