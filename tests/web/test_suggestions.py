"""People with your taste on the site: GET /api/v1/me/suggested-members, the box on /feed, For you and onboarding.

The shared site holds ML-100K's profiles, so each test makes films of its own
(nobody else rated them) and members who love some of them: the ranking at
the top of the list is then exactly the constructed one.
"""

from __future__ import annotations

import re
import secrets

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cinerec.store.db import transaction
from cinerec.store.models import Block, Follow, Movie, User
from tests.web.conftest import member
from tests.web.test_pages import browser, form_token, page_signup

URL = "/api/v1/me/suggested-members"


def _engine(site: TestClient) -> Engine:
    engine: Engine = site.app.state.engine  # type: ignore[attr-defined]
    return engine


def _uid(site: TestClient, username: str) -> int:
    with transaction(_engine(site), write=False) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return int(uid)


def _new_films(site: TestClient, n: int) -> list[int]:
    """``n`` films nobody has rated yet."""
    tag = secrets.token_hex(3)
    with transaction(_engine(site)) as s:
        films = [Movie(title=f"Taste {tag} {i}", year=2001) for i in range(n)]
        s.add_all(films)
        s.flush()
        return [int(m.id) for m in films]


def _rate(site: TestClient, headers: dict[str, str], ratings: dict[int, float]) -> None:
    for movie_id, stars in ratings.items():
        r = site.put(f"/api/v1/movies/{movie_id}/rating", json={"rating": stars}, headers=headers)
        assert r.status_code == 200, r.text


def _follows(site: TestClient, follower: str, followee: str) -> bool:
    with transaction(_engine(site), write=False) as s:
        n = s.scalar(select(func.count()).select_from(Follow).where(
            Follow.follower_id == _uid(site, follower), Follow.followee_id == _uid(site, followee)))
        return bool(n)


def _taste_circle(site: TestClient) -> tuple[list[int], dict[str, str]]:
    """Members a (3 films in common with the viewer), b (2), c (1), f (all 4, followed), y (all 4, blocked)."""
    f = _new_films(site, 5)
    names: dict[str, str] = {}
    for key, liked in (("a", f[:3]), ("b", f[1:3]), ("c", f[3:4]), ("f", f[:4]), ("y", f[:4])):
        name, h = member(site, f"t{key}")
        _rate(site, h, {m: 5.0 for m in liked} | ({f[4]: 2.0} if key == "c" else {}))
        names[key] = name
    return f, names


def test_api_requires_auth_and_a_valid_k(site: TestClient) -> None:
    assert site.get(URL).status_code == 401
    visitor = browser(site).get("/welcome/people")  # the onboarding step is for members: a visitor logs in first
    assert visitor.status_code == 303 and visitor.headers["location"].startswith("/login")
    _, h = member(site, "tk")
    for k in (0, -1, 51, "x"):
        r = site.get(URL, params={"k": k}, headers=h)
        assert r.status_code == 422, (k, r.text)
        assert "error" in r.json()
    r = site.get(URL, params={"k": 50}, headers=h)
    assert r.status_code == 200 and r.json()["count"] == len(r.json()["data"]) <= 50


def test_api_ranks_by_films_in_common_and_leaves_out_followed_blocked_and_self(site: TestClient) -> None:
    f, names = _taste_circle(site)
    v, hv = member(site, "tv")
    _rate(site, hv, {f[0]: 5.0, f[1]: 4.5, f[2]: 4.0, f[3]: 4.0, f[4]: 5.0})
    with transaction(_engine(site)) as s:
        s.add(Follow(follower_id=_uid(site, v), followee_id=_uid(site, names["f"])))
        s.add(Block(blocker_id=_uid(site, names["y"]), blocked_id=_uid(site, v)))
    r = site.get(URL, params={"k": 50}, headers=hv)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["data"])
    top = body["data"][:3]
    assert [x["member"]["username"] for x in top] == [names["a"], names["b"], names["c"]]
    assert [x["shared_likes"] for x in top] == [3, 2, 1]
    assert top[0]["member"] == {"username": names["a"], "display_name": None}  # no id, email or role
    # the films both loved, the best-loved by both first (f0: 10, f1: 9.5, f2: 9)
    assert [e["id"] for e in top[0]["examples"]] == [f[0], f[1], f[2]]
    assert top[0]["examples"][0]["title"].startswith("Taste ")
    assert top[0]["score"] > top[1]["score"] > top[2]["score"] > 0
    # anybody else is the most-followed fallback; never the caller, the followed or the blocked member
    assert all(x["shared_likes"] == 0 and x["examples"] == [] for x in body["data"][3:])
    listed = {x["member"]["username"] for x in body["data"]}
    assert not listed & {v, names["f"], names["y"]}
    assert site.get(URL, params={"k": 2}, headers=hv).json()["data"] == body["data"][:2]


def test_box_renders_in_both_languages_on_feed_for_you_and_onboarding(site: TestClient) -> None:
    for lang, heading, because, step in (("en", "People with your taste", "You both loved", "Step 2 of 2"),
                                         ("zh-CN", "和你口味相近的人", "你们都很喜欢", "第 2 步，共 2 步")):
        f, names = _taste_circle(site)  # films of its own: the first language's member does not share them
        b, _ = page_signup(site, lang)
        t = form_token(b, "/welcome")
        r = b.post("/welcome", data={f"r{f[0]}": "5", f"r{f[1]}": "4.5", "csrf_token": t})
        assert r.status_code == 303 and r.headers["location"] == "/welcome/people"
        for url in ("/welcome/people", "/feed", "/for-you"):
            page = b.get(url)
            assert page.status_code == 200, (url, page.text)
            html = page.text
            assert 'class="taste card-box' in html, url
            assert url == "/welcome/people" or heading in html
            box = html.split('class="taste card-box')[1]
            first = re.search(r'data-username="([^"]+)"', box)
            assert first and first.group(1) == names["a"], url  # 2 films in common, more than anybody
            assert because in box and f'href="/movies/{f[0]}"' in box
            assert f'action="/u/{names["a"]}/follow"' in box and 'name="csrf_token"' in box
        assert step in b.get("/welcome/people").text
        assert 'href="/welcome/people"' in b.get("/welcome").text  # "skip" goes to the last step too


def test_following_from_the_box_needs_csrf_and_the_member_leaves_the_suggestions(site: TestClient) -> None:
    f, names = _taste_circle(site)
    b, name = page_signup(site)
    t = form_token(b, "/welcome")
    b.post("/welcome", data={f"r{f[0]}": "5", f"r{f[1]}": "5", f"r{f[2]}": "5", "csrf_token": t})
    feed = b.get("/feed").text
    form = re.search(rf'<form class="taste-follow" method="post" action="/u/{names["a"]}/follow">(.*?)</form>',
                     feed)
    assert form, "no follow form for the best match"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1)))
    assert fields["on"] == "1" and fields["next"] == "/feed" and fields["csrf_token"]
    # without the token (or with a wrong one): 403, nothing written
    r = b.post(f"/u/{names['a']}/follow", data={"on": "1", "next": "/feed"})
    assert r.status_code == 403 and not _follows(site, name, names["a"])
    r = b.post(f"/u/{names['a']}/follow", data={"on": "1", "next": "/feed", "csrf_token": "forged"})
    assert r.status_code == 403 and not _follows(site, name, names["a"])
    r = b.post(f"/u/{names['a']}/follow", data=fields)
    assert r.status_code == 303 and r.headers["location"] == "/feed"
    assert _follows(site, name, names["a"])
    feed = b.get("/feed").text
    assert f'data-username="{names["a"]}"' not in feed and f'data-username="{names["b"]}"' in feed
    # the same from onboarding's last step: back to the step, the member gone from it
    step = b.get("/welcome/people").text
    assert "You follow 1 member." in step and f'data-username="{names["a"]}"' not in step
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', step.split(f'action="/u/{names["b"]}/follow">')[1]
                             .split("</form>")[0]))
    r = b.post(f"/u/{names['b']}/follow", data=fields)
    assert r.status_code == 303 and r.headers["location"] == "/welcome/people"
    assert f'data-username="{names["b"]}"' not in b.get("/welcome/people").text
