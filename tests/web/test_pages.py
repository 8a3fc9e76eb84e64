"""The site's pages over real SQLite + ML-100K + item-kNN: both languages, forms with CSRF, escaping,
who may see and change what (TESTPLAN S6, S7, S9 for pages; B1 for form input)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.service.accounts import create_user
from cinerec.store.db import transaction
from cinerec.store.models import Rating, Review, User, WatchedItem, WatchlistItem
from tests.web.conftest import PASSWORD, new_name

XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "{{7*7}}"]
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(html: str) -> str:
    m = TOKEN_RE.search(html)
    assert m, "the page has no form with a CSRF token"
    return m.group(1)


def _count(site: TestClient, model: type, **where: object) -> int:
    with transaction(site.app.state.engine, write=False) as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(s.scalar(stmt) or 0)


def _user_id(site: TestClient, username: str) -> int:
    with transaction(site.app.state.engine, write=False) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return int(uid)


def browser(site: TestClient, lang: str | None = None) -> TestClient:
    """A fresh client with its own cookie jar (a separate browser) on the shared app."""
    headers = {"accept": "text/html", "accept-language": lang} if lang else {"accept": "text/html"}
    return TestClient(site.app, headers=headers, follow_redirects=False)


def page_signup(site: TestClient, lang: str | None = None, name: str | None = None) -> tuple[TestClient, str]:
    """Sign up through the page (logged in afterwards); returns the browser and the username."""
    b = browser(site, lang)
    name = name or new_name("p")
    token = _token(b.get("/signup").text)
    r = b.post("/signup", data={"username": name, "email": f"{name}@example.org", "password": PASSWORD,
                                "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/welcome", r.text
    site.app.state.throttle.reset()
    return b, name


def form_token(b: TestClient, url: str = "/settings") -> str:
    """The CSRF token a page gives this browser."""
    return _token(b.get(url).text)


def admin_browser(site: TestClient) -> TestClient:
    name = new_name("adm")
    create_user(site.app.state.engine, name, PASSWORD, is_admin=True)
    b = browser(site)
    token = _token(b.get("/login").text)
    r = b.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token, "next": "/admin"})
    assert r.status_code == 303 and r.headers["location"] == "/admin"
    return b


# --------------------------------------------------------------------------- both languages

VISITOR_PAGES = ["/", "/movies", "/movies?genre=Comedy&sort=rating", "/movies/50", "/signup", "/login", "/map",
                 "/explore/profiles/1"]
MEMBER_PAGES = ["/", "/for-you", "/welcome", "/settings", "/me/ratings", "/me/reviews", "/me/watchlist",
                "/me/watched", "/movies/50"]
ADMIN_PAGES = ["/admin/models", "/admin/imports", "/admin/members"]
#: (html lang, a string every page shows in that language: the footer's "Catalogue map" link).
LANGS = {"en": ("en", "Catalogue map"), "zh-CN,zh;q=0.9": ("zh-Hans", "片库地图")}


@pytest.mark.parametrize("lang", list(LANGS))
def test_every_page_renders_in_both_languages(site: TestClient, lang: str) -> None:
    html_lang, marker = LANGS[lang]
    b = browser(site, lang)
    for url in VISITOR_PAGES:
        r = b.get(url)
        assert r.status_code == 200, url
        assert f'<html lang="{html_lang}">' in r.text and marker in r.text, url
    member, name = page_signup(site, lang)
    for url in [*MEMBER_PAGES, f"/u/{name}"]:
        r = member.get(url)
        assert r.status_code == 200, url
        assert f'<html lang="{html_lang}">' in r.text and marker in r.text, url
        assert r.headers["cache-control"] == "no-store"
    admin = admin_browser(site)
    admin.headers["accept-language"] = lang
    # the admin's own setting is English: it wins over the browser's language
    for url in ADMIN_PAGES:
        r = admin.get(url)
        assert r.status_code == 200 and '<html lang="en">' in r.text, url


def test_chinese_pages_are_translated(site: TestClient) -> None:
    b = browser(site, "zh-CN")
    home = b.get("/").text
    assert "高分电影" in home and "登录" in home and "注册" in home and "Log in" not in home
    film = b.get("/movies/50").text
    assert "观众评分" in film and "短评" in film and "Audience rating" not in film
    assert "星际大战" not in film  # titles are data and stay as they are
    member, _ = page_signup(site, "zh-CN")
    assert "想看" in member.get("/movies/50").text and "看过" in member.get("/movies/50").text
    assert "为你推荐" in member.get("/for-you").text
    err = b.get("/movies/999999")
    assert err.status_code == 404 and "<h1>404</h1>" in err.text and "找不到" in err.text


def test_numbers_and_dates_follow_the_locale(site: TestClient) -> None:
    b, _ = page_signup(site, "zh-CN")
    t = form_token(b, "/movies/1")
    b.post("/movies/1/reviews", data={"text": "很好看的电影", "csrf_token": t})
    page = b.get("/me/reviews").text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", page)
    en = browser(site, "en").get("/movies?sort=popular").text
    assert re.search(r"1,\d{3} films", en)


def test_language_switch_sets_cookie_and_member_setting(site: TestClient) -> None:
    b = browser(site)
    t = _token(b.get("/").text)
    r = b.post("/lang", data={"locale": "zh_CN", "next": "/movies?q=star", "csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/movies?q=star"
    assert b.cookies.get("lang") == "zh_CN" and 'lang="zh-Hans"' in b.get("/").text
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = b.post("/lang", data={"locale": "en", "next": evil, "csrf_token": t})
        assert r.status_code == 303 and r.headers["location"] == "/", evil
    assert b.post("/lang", data={"locale": "fr", "csrf_token": t}).status_code == 422
    member, name = page_signup(site)
    t = form_token(member)
    member.post("/lang", data={"locale": "zh_CN", "next": "/", "csrf_token": t})
    with transaction(site.app.state.engine, write=False) as s:
        assert s.scalar(select(User.locale).where(User.username == name)) == "zh_CN"
    member.cookies.delete("lang")
    assert 'lang="zh-Hans"' in member.get("/", headers={"accept-language": "en"}).text  # the setting wins


# --------------------------------------------------------------------------- the member's journey

def test_signup_onboarding_for_you_and_real_time_change(site: TestClient) -> None:
    b, name = page_signup(site)
    welcome = b.get("/welcome")
    ids = list(dict.fromkeys(int(i) for i in re.findall(r'name="r(\d+)"', welcome.text)))
    assert len(ids) >= 10
    token = _token(welcome.text)
    data = {f"r{i}": v for i, v in zip(ids[:5], ["5", "4.5", "4", "0.5", "3"], strict=True)}
    r = b.post("/welcome", data={**data, f"r{ids[5]}": "", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/welcome/people"  # last step: people to follow
    step = b.get("/welcome/people")
    assert step.status_code == 200 and "Follow people with your taste" in step.text and 'href="/for-you"' in step.text
    uid = _user_id(site, name)
    assert _count(site, Rating, user_id=uid) == 5
    first = b.get("/for-you").text
    assert "because you rated" in first
    first_ids = re.findall(r'href="/movies/(\d+)"', first.split('id="for-you"')[1])
    top = int(first_ids[0])
    assert top not in ids[:5]
    r = b.post(f"/movies/{top}/rating", data={"rating": "1", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/movies/{top}"
    second = b.get("/for-you").text
    second_ids = re.findall(r'href="/movies/(\d+)"', second.split('id="for-you"')[1])
    assert str(top) not in second_ids and second_ids != first_ids
    home = b.get("/").text
    assert "For you" in home and "Because you liked" in home
    film = b.get(f"/movies/{top}").text
    assert 'value="1" checked' in film and "Remove my rating" in film


def test_trending_is_recent_member_activity(site: TestClient) -> None:
    from cinerec.service import views

    b, _ = page_signup(site)
    t = form_token(b, "/movies/1")
    for mid in (1373, 1374, 1375):  # films no other test touches, each marked and unmarked many times
        for on in "10" * 7 + "1":
            b.post(f"/movies/{mid}/watchlist", data={"on": on, "csrf_token": t})
    views._trending_cache.clear()
    visitor = browser(site).get("/").text
    trending = visitor.split("Trending</h2>")[1].split("</section>")[0]
    assert all(f'href="/movies/{mid}"' in trending for mid in (1373, 1374, 1375))


def test_marks_reviews_and_lists(site: TestClient) -> None:
    b, name = page_signup(site)
    uid = _user_id(site, name)
    t = form_token(b, "/movies/7")
    assert b.post("/movies/7/watchlist", data={"on": "1", "csrf_token": t}).status_code == 303
    assert _count(site, WatchlistItem, user_id=uid, movie_id=7) == 1
    assert "Twelve Monkeys" in b.get("/me/watchlist").text
    assert b.post("/movies/7/watched", data={"on": "1", "csrf_token": t}).status_code == 303
    assert _count(site, WatchedItem, user_id=uid) == 1 and _count(site, WatchlistItem, user_id=uid) == 0
    assert "Twelve Monkeys" in b.get("/me/watched").text
    assert b.post("/movies/7/watched", data={"on": "0", "csrf_token": t, "next": "/me/watched"}).headers[
        "location"] == "/me/watched"
    r = b.post("/movies/7/reviews", data={"text": "A brilliant, haunting film.", "rating": "4.5", "csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/movies/7#reviews"
    film = b.get("/movies/7").text
    assert "A brilliant, haunting film." in film and "Positive" in film
    assert _count(site, Rating, user_id=uid, movie_id=7) == 1
    mine = b.get("/me/reviews").text
    rid = re.search(r'action="/reviews/(\d+)/delete"', mine)
    assert rid and "Twelve Monkeys" in mine
    assert b.post(f"/reviews/{rid.group(1)}/delete", data={"csrf_token": t}).status_code == 303
    assert _count(site, Review, user_id=uid) == 0
    assert b.post("/movies/7/rating/delete", data={"csrf_token": t}).status_code == 303
    assert _count(site, Rating, user_id=uid) == 0
    profile = browser(site).get(f"/u/{name}")
    assert profile.status_code == 200 and name in profile.text


def test_settings_profile_password_and_delete(site: TestClient) -> None:
    b, name = page_signup(site)
    uid = _user_id(site, name)
    t = form_token(b)
    r = b.post("/settings/profile", data={"display_name": "Ada L.", "locale": "en", "csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/settings?done=profile"
    assert "Ada L." in b.get("/settings").text
    r = b.post("/settings/password", data={"current_password": "wrong password here", "new_password": "x" * 12,
                                           "csrf_token": t})
    assert r.status_code == 401 and "The password is wrong." in r.text
    site.app.state.throttle.reset()
    r = b.post("/settings/password", data={"current_password": PASSWORD, "new_password": "short", "csrf_token": t})
    assert r.status_code == 422 and "at least 8 characters" in r.text
    new = "a brand new passphrase 77"
    r = b.post("/settings/password", data={"current_password": PASSWORD, "new_password": new, "csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/login?done=password"
    assert b.get("/settings").status_code == 303  # every session ended
    t = _token(b.get("/login").text)
    assert b.post("/login", data={"username": name, "password": new, "csrf_token": t}).status_code == 303
    t = form_token(b)
    b.post("/movies/1/rating", data={"rating": "4", "csrf_token": t})
    r = b.post("/settings/delete", data={"password": new, "csrf_token": t})  # the box is not ticked
    assert r.status_code == 422 and _count(site, User, id=uid) == 1
    r = b.post("/settings/delete", data={"password": new, "confirm": "yes", "csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/?done=deleted"
    assert _count(site, User, id=uid) == 0 and _count(site, Rating, user_id=uid) == 0
    assert b.get("/settings").status_code == 303


def test_login_logout_and_private_pages(site: TestClient) -> None:
    b, name = page_signup(site)
    t = form_token(b)
    old = b.cookies.get("cinerec_session")
    assert b.post("/logout", data={"csrf_token": t}).headers["location"] == "/"
    for url in ("/settings", "/for-you", "/welcome", "/me/ratings", "/me/reviews", "/me/watchlist", "/me/watched",
                "/admin/models"):
        r = b.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), url
    replay = browser(site)
    replay.cookies.set("cinerec_session", old or "")
    assert replay.get("/settings").status_code == 303  # the old session is revoked, not only forgotten
    t = _token(b.get("/login?next=/me/ratings").text)
    r = b.post("/login", data={"username": name, "password": "not the password", "csrf_token": t})
    assert r.status_code == 401 and "Wrong username or password." in r.text
    r = b.post("/login", data={"username": name, "password": PASSWORD, "next": "/me/ratings", "csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/me/ratings"
    assert b.cookies.get("cinerec_session") not in (None, old)
    r = b.post("/login", data={"username": name, "password": PASSWORD, "next": "https://evil.example/",
                               "csrf_token": form_token(b)})
    assert r.headers["location"] == "/"


def test_signup_form_errors_are_shown_in_the_viewers_language(site: TestClient) -> None:
    b = browser(site, "zh-CN")
    t = _token(b.get("/signup").text)
    r = b.post("/signup", data={"username": new_name(), "email": "a@example.org", "password": "password1234",
                                "csrf_token": t})
    assert r.status_code == 422 and "太常见" in r.text
    r = b.post("/signup", data={"username": "x", "email": "a@example.org", "password": PASSWORD, "csrf_token": t})
    assert r.status_code == 422 and "用户名" in r.text
    _, taken = page_signup(site)
    r = b.post("/signup", data={"username": taken, "email": "other@example.org", "password": PASSWORD,
                                "csrf_token": t})
    assert r.status_code == 409 and "已被占用" in r.text


# --------------------------------------------------------------------------- S6: CSRF on every form post

def _password_changes(site: TestClient, name: str) -> int:
    """A number that changes when ``name``'s password hash does."""
    with transaction(site.app.state.engine, write=False) as s:
        return hash(s.scalar(select(User.password_hash).where(User.username == name)))


def _write_routes(site: TestClient, name: str) -> list[tuple[str, dict[str, str], Callable[[], int]]]:
    """Every form post of member ``name`` with valid fields, and a counter of what it would write.

    Counters look at that member's own rows: other tests sharing the database (and admin import jobs
    they started) may add accounts meanwhile.
    """
    return [
        ("/movies/5/rating", {"rating": "4"}, lambda: _count(site, Rating, movie_id=5)),
        ("/movies/5/watchlist", {"on": "1"}, lambda: _count(site, WatchlistItem, movie_id=5)),
        ("/movies/5/watched", {"on": "1"}, lambda: _count(site, WatchedItem, movie_id=5)),
        ("/movies/5/reviews", {"text": "csrf probe"}, lambda: _count(site, Review, text="csrf probe")),
        ("/welcome", {"r6": "4"}, lambda: _count(site, Rating, movie_id=6)),
        ("/settings/profile", {"display_name": "csrf probe", "locale": "zh_CN"},
         lambda: _count(site, User, display_name="csrf probe")),
        ("/settings/delete", {"password": PASSWORD, "confirm": "yes"}, lambda: _count(site, User, username=name)),
        ("/settings/password", {"current_password": PASSWORD, "new_password": "another passphrase 9"},
         lambda: _password_changes(site, name)),
        ("/lang", {"locale": "zh_CN"}, lambda: _count(site, User, locale="zh_CN")),
        ("/logout", {}, lambda: 0),
    ]


def test_form_posts_without_a_valid_csrf_token_are_refused(site: TestClient) -> None:
    b, name = page_signup(site)
    other, _ = page_signup(site)
    other_token = form_token(other)
    for url, data, count in _write_routes(site, name):
        before = count()
        for bad in ({}, {"csrf_token": "x" * 64}, {"csrf_token": other_token}):
            r = b.post(url, data={**data, **bad})
            assert r.status_code == 403, (url, bad)
            assert count() == before, (url, bad)
        r = b.post(url, data={**data, "csrf_token": form_token(b)}, headers={"origin": "https://evil.example"})
        assert r.status_code == 403 and count() == before, url
        r = b.post(url, data={**data, "csrf_token": form_token(b)}, headers={"sec-fetch-site": "cross-site"})
        assert r.status_code == 403 and count() == before, url
    assert b.get("/settings").status_code == 200  # still logged in: the refused logout did nothing
    visitor = browser(site)
    visitor.get("/signup")
    n = _count(site, User)
    r = visitor.post("/signup", data={"username": new_name(), "email": "v@example.org", "password": PASSWORD})
    assert r.status_code == 403 and _count(site, User) == n
    r = visitor.post("/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403


def test_refused_csrf_page_is_translated(site: TestClient) -> None:
    b, _ = page_signup(site, "zh-CN")
    r = b.post("/movies/5/rating", data={"rating": "4"})
    assert r.status_code == 403 and "不允许" in r.text and 'lang="zh-Hans"' in r.text


def test_get_pages_write_nothing(site: TestClient, tmp_path: object) -> None:
    b, _ = page_signup(site)
    urls = [*MEMBER_PAGES, "/movies", "/map"]
    db = site.app.state.settings.resolved_database_url.removeprefix("sqlite:///")
    from pathlib import Path

    for url in urls:
        b.get(url)
    before = Path(db).read_bytes()
    for url in urls * 2:
        assert b.get(url).status_code == 200
    assert Path(db).read_bytes() == before


# --------------------------------------------------------------------------- S7: escaping

def test_review_and_display_name_are_escaped(site: TestClient) -> None:
    b, name = page_signup(site)
    t = form_token(b, "/movies/12")
    for text in XSS:
        assert b.post("/movies/12/reviews", data={"text": text, "csrf_token": t}).status_code == 303
    b.post("/settings/profile", data={"display_name": XSS[0], "locale": "en", "csrf_token": t})
    for url in ("/movies/12", "/me/reviews", f"/u/{name}"):
        page = b.get(url).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page, url
        assert "{{7*7}}" in page and ">49<" not in page, url
        assert 'href="javascript:' not in page, url


# --------------------------------------------------------------------------- S9 + bad input

def test_other_members_reviews_cannot_be_deleted(site: TestClient) -> None:
    a, _ = page_signup(site)
    t = form_token(a, "/movies/3")
    a.post("/movies/3/reviews", data={"text": "mine, not yours", "csrf_token": t})
    with transaction(site.app.state.engine, write=False) as s:
        rid = s.scalar(select(Review.id).where(Review.text == "mine, not yours"))
    b, _ = page_signup(site)
    r = b.post(f"/reviews/{rid}/delete", data={"csrf_token": form_token(b)})
    assert r.status_code == 404 and "mine, not yours" not in r.text
    assert _count(site, Review, id=rid) == 1
    assert f'action="/reviews/{rid}/delete"' not in b.get("/movies/3").text
    assert f'action="/reviews/{rid}/delete"' in a.get("/movies/3").text


def test_lists_are_private(site: TestClient) -> None:
    a, name_a = page_signup(site)
    t = form_token(a, "/movies/9")
    a.post("/movies/9/watchlist", data={"on": "1", "csrf_token": t})
    b, _ = page_signup(site)
    assert "Dead Man Walking" not in b.get("/me/watchlist").text
    public = b.get(f"/u/{name_a}").text
    assert "Dead Man Walking" not in public and f"{name_a}@example.org" not in public
    assert b.get("/u/nobody-here-at-all").status_code == 404


@pytest.mark.parametrize(("url", "data"), [
    ("/movies/5/rating", {"rating": "7"}),
    ("/movies/5/rating", {"rating": "4.3"}),
    ("/movies/5/rating", {"rating": "NaN"}),
    ("/movies/5/rating", {}),
    ("/movies/999999/rating", {"rating": "4"}),
    ("/movies/0/rating", {"rating": "4"}),
    ("/movies/5/watchlist", {"on": "maybe"}),
    ("/movies/5/reviews", {"text": "   "}),
    ("/movies/5/reviews", {"text": "x" * 10_001}),
    ("/movies/5/reviews", {"text": "nul \x00 inside"}),
    ("/movies/5/reviews", {"text": "ok", "rating": "9"}),
    ("/welcome", {"r5": "6"}),
    ("/welcome", {"r999999": "4"}),
    ("/welcome", {"r5": "4", "r999999": "4"}),  # one unknown film: the valid rating is not written either
    ("/settings/profile", {"display_name": "a\x00b", "locale": "en"}),
])
def test_bad_form_input_is_refused_and_writes_nothing(site: TestClient, url: str, data: dict[str, str]) -> None:
    b, name = page_signup(site)
    uid = _user_id(site, name)
    r = b.post(url, data={**data, "csrf_token": form_token(b)})
    assert r.status_code in (404, 422), r.status_code
    assert "Traceback" not in r.text and "<h1>" in r.text
    assert _count(site, Rating, user_id=uid) == 0 and _count(site, Review, user_id=uid) == 0
    assert _count(site, WatchlistItem, user_id=uid) == 0
    with transaction(site.app.state.engine, write=False) as s:
        assert s.scalar(select(User.display_name).where(User.id == uid)) is None


# --------------------------------------------------------------------------- admin

def test_admin_pages_are_for_admins_only(site: TestClient) -> None:
    visitor = browser(site)
    for url in ADMIN_PAGES:
        assert visitor.get(url).status_code == 303
    member, _ = page_signup(site)
    t = form_token(member)
    for url in ADMIN_PAGES:
        assert member.get(url).status_code == 403
    _victim, victim_name = page_signup(site)
    vid = _user_id(site, victim_name)
    for url, data in (("/admin/models/train", {"algo": "item-knn"}), ("/admin/models/rollback", {}),
                      (f"/admin/members/{vid}/disable", {})):
        assert member.post(url, data={**data, "csrf_token": t}).status_code == 403, url
    r = member.post("/admin/imports", data={"csrf_token": t}, files={"file": ("r.csv", b"1,2,3\n")})
    assert r.status_code == 403
    with transaction(site.app.state.engine, write=False) as s:
        assert s.scalar(select(User.is_active).where(User.id == vid)) is True


def test_admin_models_members_and_bad_input(site: TestClient) -> None:
    admin = admin_browser(site)
    page = admin.get("/admin/models").text
    active = site.app.state.service.registry.active_version()
    assert active in page and "item-knn" in page and "ratings" in page
    t = _token(page)
    assert admin.post("/admin/models/train", data={"algo": "no-such-algo", "csrf_token": t}).status_code == 422
    assert admin.post("/admin/models/train", data={"algo": "item-knn"}).status_code == 403
    r = admin.post(f"/admin/models/{active}/activate", data={"csrf_token": t})
    assert r.status_code == 303 and site.app.state.service.registry.active_version() == active
    assert admin.post("/admin/models/nope-1/activate", data={"csrf_token": t}).status_code == 404
    assert admin.post("/admin/models/rollback", data={"csrf_token": t}).status_code == 409  # nothing to go back to
    r = admin.post("/admin/imports", data={"csrf_token": t}, files={"file": ("evil.exe", b"MZ")})
    assert r.status_code == 422
    victim, victim_name = page_signup(site)
    vid = _user_id(site, victim_name)
    assert victim_name in admin.get("/admin/members").text
    assert admin.post(f"/admin/members/{vid}/disable", data={}).status_code == 403
    assert admin.post(f"/admin/members/{vid}/disable", data={"csrf_token": t}).status_code == 303
    assert victim.get("/settings").status_code == 303  # the disabled member's session ended
    assert admin.post(f"/admin/members/{vid}/enable", data={"csrf_token": t}).status_code == 303
    assert admin.post("/admin/members/999999/disable", data={"csrf_token": t}).status_code == 404
    assert admin.post(f"/admin/members/{vid}/explode", data={"csrf_token": t}).status_code == 422
