"""Caches on the hot routes never serve stale or somebody else's data (issue 9's load bar, TESTPLAN L2).

Recommendation lists are cached under the model version, the member and a
fingerprint of the member's history; film facts and catalogue rows under the
aggregates generation. These tests warm each cache, write, and check that
the next answer reflects the write at once and that nothing personal leaks
into what visitors get.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from cinerec.store.db import transaction
from cinerec.store.repos import movies as movie_repo
from tests.web.conftest import member
from tests.web.test_pages import browser, form_token, page_signup


def _ids(payload: dict[str, object]) -> list[int]:
    data = payload["data"]
    assert isinstance(data, list)
    return [int(d["movie"]["id"]) for d in data]


def test_a_rating_changes_the_cached_list_and_for_you_at_once(site: TestClient) -> None:
    b, _ = page_signup(site)
    token = form_token(b, "/movies/50")
    assert b.post("/movies/50/rating", data={"rating": "5", "csrf_token": token}).status_code == 303
    cache = site.app.state.responses.local  # the member's finished responses
    first = b.get("/api/v1/me/recommendations?k=10", headers={"accept": "application/json"}).json()
    hits = cache.hits
    again = b.get("/api/v1/me/recommendations?k=10", headers={"accept": "application/json"}).json()
    assert again == first and cache.hits == hits + 1  # served from the cache
    page = b.get("/for-you").text
    top = _ids(first)[0]
    assert f'href="/movies/{top}"' in page.split('id="for-you"')[1]
    assert b.post(f"/movies/{top}/rating", data={"rating": "1", "csrf_token": token}).status_code == 303
    after = b.get("/api/v1/me/recommendations?k=10", headers={"accept": "application/json"}).json()
    assert top not in _ids(after) and _ids(after) != _ids(first)
    page = b.get("/for-you").text.split('id="for-you"')[1]
    assert str(top) not in re.findall(r'href="/movies/(\d+)"', page)  # rated 1: neither listed nor a reason
    # a watched mark changes the history too
    nxt = _ids(after)[0]
    assert b.post(f"/movies/{nxt}/watched", data={"on": "1", "csrf_token": token}).status_code == 303
    assert nxt not in _ids(b.get("/api/v1/me/recommendations?k=10", headers={"accept": "application/json"}).json())


def test_members_never_get_each_others_cached_lists(site: TestClient) -> None:
    _, a = member(site)
    _, b = member(site)
    site.put("/api/v1/movies/50/rating", json={"rating": 5}, headers=a)
    site.put("/api/v1/movies/50/rating", json={"rating": 1}, headers=b)
    ra = site.get("/api/v1/me/recommendations?k=10", headers=a).json()
    rb = site.get("/api/v1/me/recommendations?k=10", headers=b).json()
    # each list's reasons quote the member's own rating of film 50
    quoted_a = {x.get("rating") for d in ra["data"] for x in d["reasons"] if x.get("movie_id") == 50}
    quoted_b = {x.get("rating") for d in rb["data"] for x in d["reasons"] if x.get("movie_id") == 50}
    assert quoted_a <= {5.0, None} and quoted_b <= {1.0, None}
    # the same history for two members is still two entries: the member is part of the key
    _, c = member(site)
    _, d = member(site)
    cache = site.app.state.responses.local
    for h in (c, d):
        site.put("/api/v1/movies/50/rating", json={"rating": 4}, headers=h)
    n = len(cache)
    site.get("/api/v1/me/recommendations?k=10", headers=c)
    site.get("/api/v1/me/recommendations?k=10", headers=d)
    assert len(cache) == min(n + 2, cache.maxsize)


def test_visitors_never_see_what_a_member_saw(site: TestClient) -> None:
    b, name = page_signup(site)
    token = form_token(b, "/movies/50")
    b.post("/movies/50/rating", data={"rating": "4.5", "csrf_token": token})
    mine = b.get("/movies/50").text
    assert 'value="4.5" checked' in mine and "Remove my rating" in mine
    assert "For you" in b.get("/").text
    visitor = browser(site)
    film = visitor.get("/movies/50").text
    home = visitor.get("/").text
    for html in (film, home):
        assert name not in html and " checked" not in html and "Remove my rating" not in html
    assert 'id="for-you"' not in home


def test_rating_write_refreshes_cached_film_rows_and_facts(site: TestClient) -> None:
    engine = site.app.state.engine
    with transaction(engine, write=False) as s:
        before = movie_repo.rows_by_ids(s, [60])[60].n_ratings
    visitor = browser(site)
    visitor.get("/movies/60")  # warms the film's facts
    _, h = member(site)
    site.put("/api/v1/movies/60/rating", json={"rating": 3}, headers=h)
    with transaction(engine, write=False) as s:
        kept = movie_repo.rows_by_ids(s, [60])[60]
        assert kept.n_ratings == before + 1
    site.put("/api/v1/movies/60/rating", json={"rating": 4}, headers=h)
    with transaction(engine, write=False) as s:  # new figures, the film's facts kept (only the figures are re-read)
        again = movie_repo.rows_by_ids(s, [60])[60]
    assert again.movie is kept.movie and again.n_ratings == before + 1 and again.mean_rating != kept.mean_rating
    assert site.get("/api/v1/movies/60").json()["n_ratings"] == before + 1
    html = visitor.get("/movies/60").text
    assert re.search(rf"\b{before + 1}\b", html)


def test_review_writes_show_at_once_on_a_cached_film_page(site: TestClient) -> None:
    visitor = browser(site)
    assert "A quiet masterpiece of cached pages" not in visitor.get("/movies/70").text  # warms the film's facts
    _, h = member(site)
    r = site.post("/api/v1/movies/70/reviews", json={"text": "A quiet masterpiece of cached pages"}, headers=h)
    assert r.status_code == 201
    assert "A quiet masterpiece of cached pages" in visitor.get("/movies/70").text
    assert site.delete(f"/api/v1/reviews/{r.json()['id']}", headers=h).status_code == 204
    assert "A quiet masterpiece of cached pages" not in visitor.get("/movies/70").text
