"""Business filters on the recommendation routes and the For-you page (real SQLite + ML-100K, item-kNN).

``genre`` (case-insensitive, repeatable = any of), ``year_min``/``year_max``
and ``released`` on GET /api/v1/me/recommendations and
/api/v1/explore/profiles/{id}/recommendations; the For-you page's GET form.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cinerec.service import filters
from cinerec.store.db import transaction
from cinerec.store.models import Movie
from tests.web.conftest import member
from tests.web.test_pages import LANGS, XSS, browser, page_signup

ME = "/api/v1/me/recommendations"
PROFILE = "/api/v1/explore/profiles/{}/recommendations"
HISTORY = {50: 5.0, 181: 4.5, 172: 4.0, 1: 4.0, 121: 2.0}  # Star Wars, Return of the Jedi, Empire, Toy Story...


def rated_member(site: TestClient) -> dict[str, str]:
    """A new member with :data:`HISTORY` rated; their auth headers."""
    _, h = member(site, "flt")
    for movie, stars in HISTORY.items():
        assert site.put(f"/api/v1/movies/{movie}/rating", json={"rating": stars}, headers=h).status_code == 200
    return h


def films(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [d["movie"] for d in body["data"]]


@pytest.fixture
def fresh_filters() -> Iterator[None]:
    """Drop cached allowed sets before and after a test that changes films' dates."""
    filters.clear()
    yield
    filters.clear()


@pytest.mark.parametrize("query", ["genre=Nope", "genre=comedy&genre=%3Cscript%3E", "year_min=1869", "year_max=2101",
                                   "year_min=2000&year_max=1990", "year_min=abc", "released=maybe"])
def test_bad_filter_values_are_422_with_a_clear_message(site: TestClient, query: str) -> None:
    h = rated_member(site)
    for url, headers in ((f"{ME}?{query}", h), (f"{PROFILE.format(1)}?{query}", {})):
        r = site.get(url, headers=headers)
        assert r.status_code == 422, (url, r.text)
        message = r.json()["error"]["message"]
        if "genre=" in query:
            assert "unknown genre" in message and "Comedy" in message and "Drama" in message  # the known ones listed
        elif "1990" in query:
            assert message == "year_min (2000) is after year_max (1990)"
        else:
            assert ("year" in message or "released" in message) and "Traceback" not in message


def test_the_filter_changes_the_list_and_every_film_matches(site: TestClient) -> None:
    h = rated_member(site)
    plain = films(site.get(f"{ME}?k=20", headers=h).json())
    assert len(plain) == 20
    comedy = site.get(f"{ME}?k=20&genre=comedy", headers=h).json()
    assert comedy["count"] == 20 and comedy["strategy"].endswith(":history")
    assert all("Comedy" in m["genres"] for m in films(comedy))
    assert [m["id"] for m in films(comedy)] != [m["id"] for m in plain]
    either = films(site.get(f"{ME}?k=20&genre=HORROR&genre=Sci-Fi", headers=h).json())
    assert len(either) == 20 and all({"Horror", "Sci-Fi"} & set(m["genres"]) for m in either)
    assert any("Horror" in m["genres"] for m in either) or any("Sci-Fi" in m["genres"] for m in either)
    years = films(site.get(f"{ME}?k=20&year_min=1990&year_max=1994", headers=h).json())
    assert len(years) == 20 and all(1990 <= m["year"] <= 1994 for m in years)
    # never a rated film, whatever the filter
    for got in (plain, films(comedy), either, years):
        assert not {m["id"] for m in got} & set(HISTORY)
    # a filter matching few films gives fewer than k, without padding
    few = films(site.get(f"{ME}?k=50&genre=Film-Noir&year_max=1950", headers=h).json())
    assert 0 < len(few) < 50 and all("Film-Noir" in m["genres"] and m["year"] <= 1950 for m in few)
    # the dataset profiles' route takes the same filters
    prof = site.get(f"{PROFILE.format(1)}?k=15&genre=drama&year_min=1995", headers={}).json()
    assert prof["count"] == 15 and all("Drama" in m["genres"] and m["year"] >= 1995 for m in films(prof))


def test_one_members_filter_never_leaks_into_anothers_list(site: TestClient) -> None:
    a, b = rated_member(site), rated_member(site)  # the same history: the same unfiltered list
    horror = [m["id"] for m in films(site.get(f"{ME}?genre=horror", headers=a).json())]
    mine = [m["id"] for m in films(site.get(ME, headers=b).json())]
    assert horror != mine and mine == [m["id"] for m in films(site.get(ME, headers=a).json())]
    comedy = films(site.get(f"{ME}?genre=comedy", headers=b).json())
    assert all("Comedy" in m["genres"] for m in comedy) and [m["id"] for m in comedy] != horror
    again = films(site.get(f"{ME}?genre=horror", headers=a).json())
    assert [m["id"] for m in again] == horror and all("Horror" in m["genres"] for m in again)


def test_not_yet_released_films_are_left_out_unless_asked_for(site: TestClient, fresh_filters: None) -> None:
    h = rated_member(site)
    top = [m["id"] for m in films(site.get(f"{ME}?k=10", headers=h).json())]
    dated, undated = top[0], top[1]
    engine = site.app.state.engine
    with transaction(engine) as s:
        old = {m.id: (m.release_date, m.year) for m in (s.get(Movie, dated), s.get(Movie, undated)) if m is not None}
        s.execute(update(Movie).where(Movie.id == dated).values(release_date=date.today() + timedelta(days=30)))
        s.execute(update(Movie).where(Movie.id == undated).values(release_date=None, year=date.today().year + 1))
    filters.clear()
    site.app.state.responses.local.clear()  # a catalogue change reaches cached lists within their TTL
    try:
        now = [m["id"] for m in films(site.get(f"{ME}?k=10", headers=h).json())]
        assert dated not in now and undated not in now and len(now) == 10
        later = [m["id"] for m in films(site.get(f"{ME}?k=10&released=false", headers=h).json())]
        assert later == top
        # released today counts as released
        with transaction(engine) as s:
            s.execute(update(Movie).where(Movie.id == dated).values(release_date=date.today()))
        filters.clear()
        site.app.state.responses.local.clear()  # a catalogue change reaches cached lists within their TTL
        assert dated in [m["id"] for m in films(site.get(f"{ME}?k=10", headers=h).json())]
    finally:
        with transaction(engine) as s:
            for mid, (rd, year) in old.items():
                s.execute(update(Movie).where(Movie.id == mid).values(release_date=rd, year=year))
        filters.clear()
        site.app.state.responses.local.clear()  # a catalogue change reaches cached lists within their TTL


def test_openapi_documents_the_filters(site: TestClient) -> None:
    spec = site.get("/api/openapi.json").json()
    for path in ("/api/v1/me/recommendations", "/api/v1/explore/profiles/{user_id}/recommendations"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert {"genre", "year_min", "year_max", "released", "k"} <= set(params), path
        assert params["genre"]["description"] and params["released"]["schema"]["default"] is True
        year = params["year_min"]["schema"]["anyOf"][0]
        assert (year["minimum"], year["maximum"]) == filters.YEAR_RANGE


@pytest.mark.parametrize("lang", list(LANGS))
def test_for_you_filter_form_in_both_languages(site: TestClient, lang: str) -> None:
    html_lang, _ = LANGS[lang]
    b, _ = page_signup(site, lang)
    for movie, stars in HISTORY.items():
        assert b.get(f"/movies/{movie}").status_code == 200
        token = b.get(f"/movies/{movie}").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert b.post(f"/movies/{movie}/rating", data={"rating": str(stars).removesuffix(".0"), "csrf_token": token,
                                                       "next": "/for-you"}).status_code == 303
    r = b.get("/for-you?genre=Comedy&year_min=1990&year_max=1996")
    assert r.status_code == 200 and f'<html lang="{html_lang}">' in r.text
    html = r.text
    assert 'id="for-you-filters"' in html and 'method="get"' in html
    assert '<option value="Comedy" selected>' in html and 'value="1990"' in html and 'value="1996"' in html
    if html_lang == "zh-Hans":
        assert "全部类型" in html and "清除筛选" in html and "喜剧" in html and "Any genre" not in html
    else:
        assert "Any genre" in html and "Clear filters" in html
    unfiltered = b.get("/for-you").text
    assert 'href="/for-you">' not in unfiltered.split('id="for-you-filters"', 1)[1].split("</form>", 1)[0]
    # the filtered list holds only 1990-1996 comedies
    ids = [int(x.split('"', 1)[0]) for x in html.split('id="for-you"', 1)[1].split("</ol>", 1)[0].split('href="/movies/')[1:]]
    assert ids
    for mid in set(ids):
        m = site.get(f"/api/v1/movies/{mid}").json()
        assert "Comedy" in m["genres"] and 1990 <= m["year"] <= 1996


@pytest.mark.parametrize("lang", list(LANGS))
def test_for_you_shows_bad_filter_values_escaped(site: TestClient, lang: str) -> None:
    b, _ = page_signup(site, lang)
    for hostile in XSS:
        r = b.get("/for-you", params={"genre": hostile})
        assert r.status_code == 422
        assert hostile not in r.text if "<" in hostile or '"' in hostile else True
        assert 'id="filter-problem"' in r.text and 'id="for-you"' in r.text  # the unfiltered list is still shown
    r = b.get("/for-you", params={"genre": "<script>alert(1)</script>"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and "<script>alert(1)" not in r.text
    for query, zh, en in (("year_min=1995&year_max=1990", "起始年份晚于结束年份", "The start year is after the end year"),
                          ("year_min=12345", "年份须为 1870 到 2100 之间的整数", "Years are whole numbers from 1870 to 2100"),
                          ("year_max=abc", "年份须为", "Years are whole numbers")):
        page = b.get(f"/for-you?{query}")
        assert page.status_code == 422 and (zh if LANGS[lang][0] == "zh-Hans" else en) in page.text, query


def test_visitor_is_sent_to_login_with_the_filter_kept(site: TestClient) -> None:
    r = browser(site).get("/for-you?genre=Comedy&year_min=1990")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
