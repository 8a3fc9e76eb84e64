"""The sharing pages over real SQLite + ML-100K: feed, notifications, follows, lists, shares and their public
links, likes; both languages, CSRF on every form (TESTPLAN S6), escaping (S7), other members' private lists
and shares (S9), OpenGraph tags on the public share page, 410 for a withdrawn link."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.store.db import transaction
from cinerec.store.models import (
    Block,
    Follow,
    ListItem,
    ListLike,
    MovieList,
    Review,
    ReviewLike,
    Share,
)
from tests.web.test_pages import LANGS, XSS, _count, browser, form_token, page_signup

TOKEN_LINK = re.compile(r"/s/([A-Za-z0-9_-]{40,})")


def _location(r: object) -> str:
    assert r.status_code == 303, (r.status_code, r.text[:500])  # type: ignore[attr-defined]
    return str(r.headers["location"])  # type: ignore[attr-defined]


def make_list(b: TestClient, title: str = "Rainy Sunday films", public: bool = True,
              films: tuple[int, ...] = (), description: str = "") -> int:
    """Create a list through the form (with films added in order); returns its id."""
    t = form_token(b, "/lists/new")
    loc = _location(b.post("/lists", data={"title": title, "description": description,
                                           "visibility": "public" if public else "private", "csrf_token": t}))
    list_id = int(loc.rsplit("/", 1)[1])
    for m in films:
        _location(b.post(f"/lists/{list_id}/items", data={"movie_id": str(m), "csrf_token": t}))
    return list_id


def share_film(b: TestClient, movie_id: int, note: str, audience: str = "public") -> tuple[int, str | None]:
    """Share a film through its page's form; returns the share id and the public token (if any)."""
    t = form_token(b, f"/movies/{movie_id}")
    loc = _location(b.post(f"/movies/{movie_id}/share", data={"note": note, "audience": audience, "csrf_token": t}))
    m = re.search(r"\?shared=(\d+)#share$", loc)
    assert m and loc.startswith(f"/movies/{movie_id}?"), loc
    page = b.get(loc.split("#")[0]).text
    token = TOKEN_LINK.search(page)
    return int(m.group(1)), token.group(1) if token else None


def follow(b: TestClient, username: str, on: bool = True) -> None:
    t = form_token(b, f"/u/{username}")
    _location(b.post(f"/u/{username}/follow", data={"on": "1" if on else "0", "csrf_token": t}))


class _TagLister(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag of a page with its attributes, as a browser's parser sees them."""
    parser = _TagLister()
    parser.feed(html)
    return parser.tags


def _meta(html: str, key: str) -> str:
    m = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)">', html)
    assert m, f"no {key} meta tag"
    return unescape(m.group(1))


# --------------------------------------------------------------------------- both languages


@pytest.mark.parametrize("lang", list(LANGS))
def test_every_social_page_renders_in_both_languages(site: TestClient, lang: str) -> None:
    html_lang, marker = LANGS[lang]
    a, name_a = page_signup(site, lang)
    list_id = make_list(a, films=(1, 2, 3))
    _, token = share_film(a, 50, "Watch it on a big screen")
    b, name_b = page_signup(site, lang)
    follow(b, name_a)
    follow(a, name_b)
    pages = ["/feed", "/notifications", "/lists", "/lists?q=Rainy", "/lists/new", f"/lists/{list_id}", "/me/lists",
             "/me/shares", f"/u/{name_a}", f"/u/{name_a}/lists", f"/u/{name_a}/followers", f"/u/{name_a}/following",
             f"/s/{token}", "/movies/50", "/movies/1"]
    for who in (a, b):
        for url in pages:
            r = who.get(url)
            assert r.status_code == 200, url
            assert f'<html lang="{html_lang}">' in r.text and marker in r.text, url
            assert r.headers["cache-control"] == "no-store", url
    visitor = browser(site, lang)
    for url in ["/lists", f"/lists/{list_id}", f"/u/{name_a}", f"/u/{name_a}/followers", f"/s/{token}"]:
        r = visitor.get(url)
        assert r.status_code == 200 and f'<html lang="{html_lang}">' in r.text, url
    if html_lang == "zh-Hans":
        feed = b.get("/feed").text
        assert "动态" in feed and "Feed" not in feed and "分享了" in feed
        assert "片单" in b.get(f"/lists/{list_id}").text
        assert "关注" in b.get(f"/u/{name_a}").text
    else:
        assert f"{name_a}</a> shared" in b.get("/feed").text


def test_visitors_are_sent_to_login(site: TestClient) -> None:
    visitor = browser(site)
    for url in ["/feed", "/notifications", "/me/lists", "/me/shares", "/lists/new"]:
        r = visitor.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url
    t = form_token(visitor, "/login")
    for url, data in [("/movies/5/share", {"note": "x", "audience": "public"}), ("/lists", {"title": "x"}),
                      ("/u/nobody/follow", {"on": "1"}), ("/lists/1/like", {"on": "1"})]:
        r = visitor.post(url, data={**data, "csrf_token": t})
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), url


# --------------------------------------------------------------------------- feed and notifications


def test_feed_shows_what_followed_members_do_and_pages_by_cursor(site: TestClient) -> None:
    a, name_a = page_signup(site)
    b, _ = page_signup(site)
    follow(b, name_a)
    list_id = make_list(a, "Cursor test list", films=(10,))
    share_film(a, 11, "A note for my followers", audience="followers")
    t = form_token(a, "/movies/1")
    for m in range(20, 44):  # 24 ratings: with the list and share events, more than one page of 20
        _location(a.post(f"/movies/{m}/rating", data={"rating": "4", "csrf_token": t}))
    first = b.get("/feed").text
    assert len(re.findall(r'<li class="feed-item"', first)) == 20
    older = re.search(r'href="/feed\?cursor=(\d+)"', first)
    assert older, "no link to older items"
    second = b.get(f"/feed?cursor={older.group(1)}").text
    ids_1 = re.findall(r'id="event-(\d+)"', first)
    ids_2 = re.findall(r'id="event-(\d+)"', second)
    assert not set(ids_1) & set(ids_2) and min(map(int, ids_1)) > max(map(int, ids_2))
    both = first + second
    assert "A note for my followers" in both and "Cursor test list" in both and f'href="/lists/{list_id}"' in both
    assert both.count(f'<a class="member" href="/u/{name_a}">') == len(ids_1) + len(ids_2)
    # somebody who does not follow A sees none of it
    c, _ = page_signup(site)
    assert "A note for my followers" not in c.get("/feed").text and "Cursor test list" not in c.get("/feed").text


def test_notifications_are_listed_and_marked_read_by_the_form(site: TestClient) -> None:
    a, name_a = page_signup(site)
    b, name_b = page_signup(site)
    assert 'class="count"' not in a.get("/").text
    follow(b, name_a)
    home = a.get("/").text
    assert re.search(r'<span class="count">1</span>', home) and "1 unread notification" in home
    page = a.get("/notifications").text
    assert f'<a class="member" href="/u/{name_b}">' in page and "started following you" in page and "New</span>" in page
    assert re.search(r'<span class="count">1</span>', a.get("/").text), "viewing the page marks nothing read"
    up_to = re.search(r'name="up_to" value="(\d+)"', page)
    assert up_to
    t = form_token(a, "/notifications")
    assert a.post("/notifications/read", data={"up_to": up_to.group(1)}).status_code == 403  # no token
    assert re.search(r'<span class="count">1</span>', a.get("/").text)
    _location(a.post("/notifications/read", data={"up_to": up_to.group(1), "csrf_token": t}))
    assert 'class="count"' not in a.get("/").text
    page = a.get("/notifications").text
    assert "New</span>" not in page and 'name="up_to"' not in page


# --------------------------------------------------------------------------- S6: every form needs its token


def _write_forms(site: TestClient, a: TestClient, name_a: str, b: TestClient,
                 name_b: str) -> list[tuple[TestClient, str, dict[str, str], Callable[[], object]]]:
    """(browser, url, form data, a probe of what the post would change) for each social write form."""
    list_id = make_list(a, "CSRF list", films=(1, 2))
    share_id, _ = share_film(a, 3, "csrf share")
    t = form_token(a, "/movies/4")
    a.post("/movies/4/reviews", data={"text": "csrf review to like", "csrf_token": t})
    with transaction(site.app.state.engine, write=False) as s:
        review_id = s.scalar(select(Review.id).where(Review.text == "csrf review to like"))

    def items() -> object:
        with transaction(site.app.state.engine, write=False) as s:
            return [(i.movie_id, i.position, i.note) for i in s.scalars(
                select(ListItem).where(ListItem.list_id == list_id).order_by(ListItem.position))]

    def the_list() -> object:
        with transaction(site.app.state.engine, write=False) as s:
            row = s.get(MovieList, list_id)
            return None if row is None else (row.title, row.is_public)

    def revoked() -> object:
        with transaction(site.app.state.engine, write=False) as s:
            row = s.get(Share, share_id)
            return None if row is None else row.revoked_at

    return [
        (a, "/movies/5/share", {"note": "probe", "audience": "public"}, lambda: _count(site, Share)),
        (a, "/lists", {"title": "probe", "visibility": "public"}, lambda: _count(site, MovieList)),
        (a, f"/lists/{list_id}", {"title": "probe", "visibility": "public"}, the_list),
        (a, f"/lists/{list_id}/items", {"movie_id": "7"}, items),
        (a, "/lists/add", {"list_id": str(list_id), "movie_id": "8"}, items),
        (a, f"/lists/{list_id}/items/1/note", {"note": "probe"}, items),
        (a, f"/lists/{list_id}/items/2/move", {"position": "0"}, items),
        (a, f"/lists/{list_id}/items/1/delete", {}, items),
        (a, f"/lists/{list_id}/share", {"note": "probe", "audience": "public"}, lambda: _count(site, Share)),
        (a, f"/shares/{share_id}/revoke", {}, revoked),
        (b, f"/lists/{list_id}/like", {"on": "1"}, lambda: _count(site, ListLike, list_id=list_id)),
        (b, f"/reviews/{review_id}/like", {"on": "1"}, lambda: _count(site, ReviewLike, review_id=review_id)),
        (b, f"/u/{name_a}/follow", {"on": "1"}, lambda: _count(site, Follow, followee_id=_uid(site, name_a))),
        (b, f"/u/{name_a}/block", {"on": "1"}, lambda: _count(site, Block, blocked_id=_uid(site, name_a))),
        (a, f"/lists/{list_id}/delete", {}, the_list),
    ]


def _uid(site: TestClient, username: str) -> int:
    from cinerec.store.models import User

    with transaction(site.app.state.engine, write=False) as s:
        return int(s.scalar(select(User.id).where(User.username == username)) or 0)


def test_social_forms_without_a_valid_csrf_token_are_refused(site: TestClient) -> None:
    a, name_a = page_signup(site)
    b, name_b = page_signup(site)
    other, _ = page_signup(site)
    other_token = form_token(other)
    for who, url, data, probe in _write_forms(site, a, name_a, b, name_b):
        before = probe()
        for bad in ({}, {"csrf_token": "x" * 64}, {"csrf_token": other_token}):
            r = who.post(url, data={**data, **bad})
            assert r.status_code == 403, (url, bad, r.status_code)
        r = who.post(url, data={**data, "csrf_token": form_token(who)}, headers={"origin": "https://evil.example"})
        assert r.status_code == 403, url
        assert probe() == before, url
        # the same post with its token goes through (so the probe can see a change)
        r = who.post(url, data={**data, "csrf_token": form_token(who)})
        assert r.status_code == 303, (url, r.status_code, r.text[:300])
        assert probe() != before, url


# --------------------------------------------------------------------------- S9: other members' things


def test_another_members_private_list_is_not_found(site: TestClient) -> None:
    a, name_a = page_signup(site)
    private = make_list(a, "Secret picks zq", public=False, films=(12,), description="only mine")
    b, _ = page_signup(site)
    t = form_token(b, "/lists")
    r = b.get(f"/lists/{private}")
    assert r.status_code == 404 and "Secret picks zq" not in r.text and "only mine" not in r.text
    assert browser(site).get(f"/lists/{private}").status_code == 404
    for url, data in [(f"/lists/{private}", {"title": "pwned", "visibility": "public"}),
                      (f"/lists/{private}/items", {"movie_id": "5"}), (f"/lists/{private}/items/12/delete", {}),
                      (f"/lists/{private}/delete", {}), (f"/lists/{private}/like", {"on": "1"}),
                      (f"/lists/{private}/share", {"audience": "public"}),
                      ("/lists/add", {"list_id": str(private), "movie_id": "5"})]:
        r = b.post(url, data={**data, "csrf_token": t})
        assert r.status_code == 404 and "Secret picks zq" not in r.text, url
    for url in ("/lists?q=Secret", f"/u/{name_a}/lists", f"/u/{name_a}", "/movies/12"):
        assert "Secret picks zq" not in b.get(url).text, url
    owner_view = a.get(f"/lists/{private}")
    assert owner_view.status_code == 200 and "Secret picks zq" in owner_view.text
    assert "Secret picks zq" in a.get("/me/lists").text and "Secret picks zq" in a.get(f"/u/{name_a}/lists").text
    with transaction(site.app.state.engine, write=False) as s:
        row = s.get(MovieList, private)
        assert row is not None and row.title == "Secret picks zq" and not row.is_public and row.item_count == 1


def test_another_members_share_cannot_be_seen_or_withdrawn(site: TestClient) -> None:
    a, _ = page_signup(site)
    share_id, token = share_film(a, 14, "my own note")
    assert token is not None
    b, _ = page_signup(site)
    page = b.get(f"/movies/14?shared={share_id}").text
    assert token not in page and "my own note" not in page
    r = b.post(f"/shares/{share_id}/revoke", data={"csrf_token": form_token(b)})
    assert r.status_code == 404
    assert browser(site).get(f"/s/{token}").status_code == 200


# --------------------------------------------------------------------------- public links


def test_public_share_page_has_opengraph_tags_and_withdrawn_links_are_gone(site: TestClient) -> None:
    a, name_a = page_signup(site)
    share_id, token = share_film(a, 50, "The best space opera: watch it loud.")
    assert token is not None
    visitor = browser(site)
    r = visitor.get(f"/s/{token}")
    assert r.status_code == 200
    html = r.text
    assert "The best space opera: watch it loud." in html and f">{name_a}</a>" in html and 'href="/signup"' in html
    assert _meta(html, "og:title").startswith("Star Wars")
    assert _meta(html, "og:description") == "The best space opera: watch it loud."
    assert _meta(html, "og:url") == f"http://testserver/s/{token}"
    image = _meta(html, "og:image")
    assert image == "http://testserver/static/share-card.png" or image.startswith("https://image.tmdb.org/")
    assert visitor.get(image.removeprefix("http://testserver")).status_code == 200
    assert _meta(html, "og:type") == "video.movie" and _meta(html, "twitter:card") == "summary_large_image"
    assert _meta(html, "twitter:image") == image
    # a followers-only share has no link
    _, none = share_film(a, 51, "followers only", audience="followers")
    assert none is None
    # withdrawn: 410 with its own page, in the visitor's language too
    _location(a.post(f"/shares/{share_id}/revoke", data={"csrf_token": form_token(a, "/me/shares")}))
    gone = visitor.get(f"/s/{token}")
    assert gone.status_code == 410 and "This link was withdrawn" in gone.text
    assert "The best space opera" not in gone.text and "og:title" not in gone.text
    zh = browser(site, "zh-CN").get(f"/s/{token}")
    assert zh.status_code == 410 and "撤回" in zh.text
    unknown = visitor.get("/s/" + "A" * 43)
    assert unknown.status_code == 404 and "<h1>404</h1>" in unknown.text
    assert "Withdrawn" in a.get("/me/shares").text


def test_list_share_page(site: TestClient) -> None:
    a, _ = page_signup(site)
    list_id = make_list(a, "Shared list title", films=(1, 2))
    t = form_token(a, f"/lists/{list_id}")
    loc = _location(a.post(f"/lists/{list_id}/share", data={"note": "list note", "audience": "public",
                                                             "csrf_token": t}))
    assert loc.startswith(f"/lists/{list_id}?shared=")
    token = TOKEN_LINK.search(a.get(loc.split("#")[0]).text)
    assert token
    html = browser(site).get(f"/s/{token.group(1)}").text
    assert _meta(html, "og:title") == "Shared list title" and _meta(html, "og:type") == "website"
    assert "list note" in html and f'href="/lists/{list_id}"' in html


# --------------------------------------------------------------------------- lists


def _order(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<li class="list-row entry" id="item-(\d+)"', html)]


def test_owner_edits_a_list(site: TestClient) -> None:
    a, _ = page_signup(site)
    list_id = make_list(a, "Edit me", films=(1, 2, 3))
    t = form_token(a, f"/lists/{list_id}")
    assert _order(a.get(f"/lists/{list_id}").text) == [1, 2, 3]
    # up and down buttons send the neighbour's position
    page = a.get(f"/lists/{list_id}").text
    up = re.search(rf'action="/lists/{list_id}/items/3/move">.*?name="position" value="(\d+)"', page)
    assert up
    _location(a.post(f"/lists/{list_id}/items/3/move", data={"position": up.group(1), "csrf_token": t}))
    assert _order(a.get(f"/lists/{list_id}").text) == [1, 3, 2]
    _location(a.post(f"/lists/{list_id}/items/1/move", data={"position": "1", "csrf_token": t}))
    assert _order(a.get(f"/lists/{list_id}").text) == [3, 1, 2]
    _location(a.post(f"/lists/{list_id}/items/1/note", data={"note": "Watch this one first", "csrf_token": t}))
    assert "Watch this one first" in a.get(f"/lists/{list_id}").text
    _location(a.post(f"/lists/{list_id}/items/2/delete", data={"csrf_token": t}))
    assert _order(a.get(f"/lists/{list_id}").text) == [3, 1]
    # from a film's page, into a chosen list
    film = a.get("/movies/9").text
    assert f'<option value="{list_id}">Edit me</option>' in film
    loc = _location(a.post("/lists/add", data={"list_id": str(list_id), "movie_id": "9", "note": "from the film page",
                                               "next": "/movies/9#add-to-list", "csrf_token": t}))
    assert loc == "/movies/9#add-to-list"
    assert _order(a.get(f"/lists/{list_id}").text) == [3, 1, 9]
    assert a.post(f"/lists/{list_id}/items", data={"movie_id": "999999", "csrf_token": t}).status_code == 404
    _location(a.post(f"/lists/{list_id}", data={"title": "Renamed", "description": "Now private",
                                                 "visibility": "private", "csrf_token": t}))
    page = a.get(f"/lists/{list_id}").text
    assert "<h1>Renamed <span" in page and "Now private" in page and "Private" in page
    assert a.post(f"/lists/{list_id}", data={"title": "  ", "visibility": "public", "csrf_token": t}).status_code == 422
    assert _location(a.post(f"/lists/{list_id}/delete", data={"csrf_token": t})) == "/me/lists"
    assert a.get(f"/lists/{list_id}").status_code == 404


def test_others_see_a_public_list_read_only_and_can_like_it(site: TestClient) -> None:
    a, _ = page_signup(site)
    list_id = make_list(a, "Likeable list", films=(1, 2))
    b, _ = page_signup(site)
    page = b.get(f"/lists/{list_id}").text
    assert "/items/" not in page and f"/lists/{list_id}/delete" not in page and 'name="title"' not in page
    assert f'action="/lists/{list_id}/like"' in page and 'aria-pressed="false"' in page
    _location(b.post(f"/lists/{list_id}/like", data={"on": "1", "csrf_token": form_token(b, f"/lists/{list_id}")}))
    page = b.get(f"/lists/{list_id}").text
    assert 'aria-pressed="true"' in page and '<span class="like-count">1</span>' in page
    assert "liked your list" in a.get("/notifications").text
    assert "Likeable list" in b.get("/lists?q=likeable").text and "Likeable list" in b.get("/movies/2").text
    assert "Likeable list" not in b.get("/lists?q=nothing-like-it").text


# --------------------------------------------------------------------------- follows, blocks, likes, friends


def test_follow_block_and_friends_ratings(site: TestClient) -> None:
    a, name_a = page_signup(site)
    b, name_b = page_signup(site)
    profile = b.get(f"/u/{name_a}").text
    assert "+ Follow" in profile and "0 followers" in profile
    follow(b, name_a)
    profile = b.get(f"/u/{name_a}").text
    assert "✓ Following" in profile and "1 follower" in profile
    assert f'href="/u/{name_b}"' in b.get(f"/u/{name_a}/followers").text
    assert f'href="/u/{name_a}"' in b.get(f"/u/{name_b}/following").text
    t = form_token(a, "/movies/17")
    _location(a.post("/movies/17/rating", data={"rating": "4.5", "csrf_token": t}))
    film = b.get("/movies/17").text
    assert "People you follow who rated it" in film and f'href="/u/{name_a}"' in film and "★★★★½" in film
    # blocking ends the follow; a blocked member cannot follow back
    t_a = form_token(a, f"/u/{name_b}")
    _location(a.post(f"/u/{name_b}/block", data={"on": "1", "csrf_token": t_a}))
    assert "Unblock" in a.get(f"/u/{name_b}").text
    assert "People you follow who rated it" not in b.get("/movies/17").text
    assert "0 followers" in b.get(f"/u/{name_a}").text
    r = b.post(f"/u/{name_a}/follow", data={"on": "1", "csrf_token": form_token(b)})
    assert r.status_code == 403
    assert b.post("/u/nobody-zz/follow", data={"on": "1", "csrf_token": form_token(b)}).status_code == 404
    _location(a.post(f"/u/{name_b}/block", data={"on": "0", "csrf_token": t_a}))
    assert "+ Follow" in a.get(f"/u/{name_b}").text


def test_review_likes(site: TestClient) -> None:
    a, _ = page_signup(site)
    t = form_token(a, "/movies/21")
    a.post("/movies/21/reviews", data={"text": "A review worth a like", "csrf_token": t})
    with transaction(site.app.state.engine, write=False) as s:
        rid = s.scalar(select(Review.id).where(Review.text == "A review worth a like"))
    assert f'action="/reviews/{rid}/like"' not in a.get("/movies/21").text  # not on one's own review
    b, _ = page_signup(site)
    page = b.get("/movies/21").text
    assert f'action="/reviews/{rid}/like"' in page
    loc = _location(b.post(f"/reviews/{rid}/like", data={"on": "1", "next": f"/movies/21#review-{rid}",
                                                          "csrf_token": form_token(b, "/movies/21")}))
    assert loc == f"/movies/21#review-{rid}"
    page = b.get("/movies/21").text
    section = page[page.index(f'id="review-{rid}"'):]
    assert 'aria-pressed="true"' in section[:2000] and '<span class="like-count">1</span>' in section[:2000]
    assert "liked your review of" in a.get("/notifications").text
    with transaction(site.app.state.engine, write=False) as s:
        assert s.scalar(select(func.count()).select_from(ReviewLike).where(ReviewLike.review_id == rid)) == 1


# --------------------------------------------------------------------------- S7: escaping


def test_list_titles_notes_and_share_notes_are_escaped(site: TestClient) -> None:
    a, name_a = page_signup(site)
    b, _ = page_signup(site)
    follow(b, name_a)
    script, img = XSS[0], XSS[1]
    list_id = make_list(a, script, films=(30,), description=img)
    t = form_token(a, f"/lists/{list_id}")
    _location(a.post(f"/lists/{list_id}/items/30/note", data={"note": img + " " + script, "csrf_token": t}))
    _, token = share_film(a, 30, img + script + " {{7*7}}")
    _location(a.post(f"/lists/{list_id}/like", data={"on": "1", "csrf_token": t}))
    pages = [(a, f"/lists/{list_id}"), (b, f"/lists/{list_id}"), (b, "/lists"), (a, "/me/lists"), (b, "/feed"),
             (b, f"/u/{name_a}"), (b, f"/u/{name_a}/lists"), (b, "/movies/30"),
             (a, "/me/shares"), (browser(site), f"/s/{token}")]
    for who, url in pages:
        html = who.get(url).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
        assert "<script>alert" not in html and "<img src=x" not in html, url
        tags = _tags(html)
        assert not [t for t, attrs in tags for k, _ in attrs if k.startswith("on")], url
        assert not [t for t, attrs in tags if t == "img" and ("src", "x") in attrs], url
    share_page = browser(site).get(f"/s/{token}").text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in share_page and "{{7*7}}" in share_page
    assert _meta(share_page, "og:description") == img + script + " {{7*7}}"


def test_a_run_of_list_changes_is_one_feed_row(site: TestClient) -> None:
    a, name_a = page_signup(site)
    b, _ = page_signup(site)
    follow(b, name_a)
    list_id = make_list(a, "Folded list", films=(41, 42, 43))
    feed = b.get("/feed").text
    assert feed.count(f'href="/lists/{list_id}"') == 1 and "updated the list" in feed
    films = feed[feed.index('<ul class="feed-films">'):]
    films = films[:films.index("</ul>")]
    assert re.findall(r'href="/movies/(\d+)"', films) == ["43", "42", "41"]


def test_owner_finds_films_by_title_and_adds_them(site: TestClient) -> None:
    """The owner's "add a film" box searches titles (or a film number); each result posts the film with CSRF."""
    from cinerec.store.models import Movie

    a, _ = page_signup(site)
    list_id = make_list(a, "Finder", films=(1,))
    with transaction(site.app.state.engine, write=False) as s:
        title = s.scalar(select(Movie.title).where(Movie.id == 1))
        star = s.scalars(select(Movie.id).where(Movie.title.like("%Star Wars%")).order_by(Movie.id)).all()
    assert title and star
    page = a.get(f"/lists/{list_id}", params={"find": "Star Wars"}).text
    offered = [int(x) for x in re.findall(r'name="movie_id" value="(\d+)"><input type="hidden" name="next"', page)]
    assert offered and set(offered) <= set(star)
    # a film already on the list is not offered again; a number finds that film
    assert 'name="movie_id" value="1">' not in a.get(f"/lists/{list_id}", params={"find": "1"}).text
    assert f'name="movie_id" value="{star[0]}">' in a.get(f"/lists/{list_id}", params={"find": str(star[0])}).text
    t = form_token(a, f"/lists/{list_id}")
    assert a.post(f"/lists/{list_id}/items", data={"movie_id": str(offered[0]), "next": f"/lists/{list_id}#add"}
                  ).status_code == 403
    assert _location(a.post(f"/lists/{list_id}/items", data={"movie_id": str(offered[0]), "next": f"/lists/{list_id}#add",
                                                             "csrf_token": t})) == f"/lists/{list_id}#add"
    assert _order(a.get(f"/lists/{list_id}").text) == [1, offered[0]]
    # the query is escaped, nobody else gets a finder, and no match says so
    page = a.get(f"/lists/{list_id}", params={"find": "<script>alert(1)</script>"}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    b, _ = page_signup(site)
    assert 'name="find"' not in b.get(f"/lists/{list_id}", params={"find": "Star Wars"}).text
    assert "name=\"movie_id\" value=" not in b.get(f"/lists/{list_id}", params={"find": "Star Wars"}).text


def test_error_pages_of_a_member_hand_every_connection_back(site: TestClient) -> None:
    """An error page rendered after the route ended (its nav shows the unread count) must not keep a connection.

    Before the fix each such page revived the request's closed session: 15 of them used up the pool and the next
    page waited 30 s for a 503.
    """
    a, _ = page_signup(site)
    pool = site.app.state.engine.pool
    for _ in range(25):
        assert a.get("/lists/2147483000").status_code == 404  # NotFound raised in the route: the error page
        assert a.post("/lists/2147483000/share", data={"note": "x"}).status_code == 403  # no CSRF token
    assert pool.checkedout() == 0
    assert a.get("/feed").status_code == 200
