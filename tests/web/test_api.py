"""The site and API over a real SQLite database with ML-100K and a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.config import get_settings
from cinerec.data.readers import read_dataset
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import train_from_store
from cinerec.store.db import make_engine
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
from cinerec.store.models import Movie, User
from cinerec.web import create_app

if TYPE_CHECKING:
    from tests.conftest import DatasetCounts


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> TestClient:
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("CINEREC_HOME", str(home))
    mp.delenv("CINEREC_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    s = get_settings()
    upgrade(s.resolved_database_url)
    eng = make_engine(s.resolved_database_url)
    import_dataset(eng, read_dataset(datasets / "ml-100k"))
    train_from_store(eng, ModelRegistry(s.models_dir), "item-knn")
    eng.dispose()
    with TestClient(create_app(s)) as c:
        yield c
    mp.undo()
    get_settings.cache_clear()


def test_pages_render(client: TestClient) -> None:
    for url in ("/", "/movies", "/movies?q=star&genre=Sci-Fi&sort=year", "/movies/1"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "Star Wars" in client.get("/movies?q=star+wars").text


def test_movie_search_is_literal_and_sort_allowlisted(client: TestClient) -> None:
    for q in ("' OR '1'='1", "%", "_", '"; DROP TABLE users; --'):
        r = client.get("/api/v1/movies", params={"q": q})
        assert r.status_code == 200 and r.json() == {"data": [], "count": 0}, q
    r = client.get("/api/v1/movies", params={"sort": "title;DROP"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = client.get("/api/v1/movies", params={"q": "toy story"})
    assert r.json()["count"] == 1 and r.json()["data"][0]["year"] == 1995
    r = client.get("/api/v1/movies", params={"genre": "Film-Noir", "sort": "rating", "limit": 5})
    assert r.json()["count"] == 24 and len(r.json()["data"]) == 5


@pytest.mark.parametrize(("url", "status"), [
    ("/api/v1/movies/999999", 404), ("/api/v1/movies/x", 422), ("/api/v1/movies/-5", 422),
    ("/api/v1/movies?limit=1000000", 422), ("/api/v1/movies?offset=-1", 422),
    ("/api/v1/explore/profiles/1/recommendations?k=1000000000", 422), ("/api/v1/explore/profiles/99999/recommendations", 404),
])
def test_bad_input_is_a_4xx_json_error(client: TestClient, url: str, status: int) -> None:
    r = client.get(url)
    assert r.status_code == status
    body = r.json()["error"]
    assert body["code"] and body["message"] and "Traceback" not in r.text


def test_oversized_body_is_413(client: TestClient) -> None:
    r = client.post("/api/v1/movies", content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_recommendations_for_a_dataset_profile(client: TestClient) -> None:
    r = client.get("/api/v1/explore/profiles/1/recommendations", params={"k": 5})
    assert r.status_code == 200
    doc = r.json()
    assert doc["algo"] == "item-knn" and doc["count"] == 5 and doc["model_version"]
    assert all(d["reasons"] and d["reasons"][0]["movie_title"] for d in doc["data"])
    # reasons say what is true: the profile's own rating of the film, and only films rated at or above its mean
    from cinerec.store.repos import users as user_repo

    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        ratings = dict(user_repo.history(session, 1))
    mean = sum(ratings.values()) / len(ratings)
    for d in doc["data"]:
        for x in d["reasons"]:
            assert x["rating"] == ratings[x["movie_id"]] and x["rating"] >= mean
    active = client.get("/api/v1/models/active").json()
    assert active["version"] == doc["model_version"]
    page = client.get("/explore/profiles/1")
    assert page.status_code == 200 and "because you rated" in page.text and "★" in page.text


def test_site_accounts_are_not_exposed(client: TestClient, ml100k_counts: DatasetCounts) -> None:
    app = client.app
    with app.state.sessionmaker() as s:  # type: ignore[attr-defined]
        u = User(username="alice", email="a@example.org")
        s.add(u)
        s.commit()
        uid = u.id
        assert s.scalar(select(func.count()).select_from(User)) == ml100k_counts.users + 1
    assert client.get(f"/api/v1/explore/profiles/{uid}/recommendations").status_code == 404
    assert client.get(f"/explore/profiles/{uid}").status_code == 404


def test_html_errors_are_pages(client: TestClient) -> None:
    r = client.get("/movies/999999", headers={"accept": "text/html"})
    assert r.status_code == 404 and "<h1>404</h1>" in r.text


def test_onboarding_list_and_home_page(client: TestClient) -> None:
    r = client.get("/api/v1/recommendations/onboarding", params={"k": 15})
    assert r.status_code == 200
    body = r.json()
    assert body["strategy"] == "onboarding" and body["count"] == 15
    assert body["data"][0]["movie"]["title"].startswith("Star Wars")
    assert client.get("/api/v1/recommendations/onboarding", params={"k": 0}).status_code == 422
    assert "Start here" in client.get("/").text


@pytest.mark.slow  # SVD+PCA map of the whole catalogue and a matplotlib PNG
def test_catalogue_map_page(client: TestClient, ml100k_counts: DatasetCounts) -> None:
    from cinerec.service.catalogue import build_catalogue_map

    s = get_settings()
    assert "No map yet" in client.get("/map").text
    assert client.get("/map.png").status_code == 404
    info = build_catalogue_map(make_engine(s.resolved_database_url), s.map_dir)
    placed = ml100k_counts.movies_with_content  # a year or a genre: all but ML-100K's "unknown" entry
    assert info.n_films == placed and 0 < info.pca_explained_variance <= 1 and 0 < info.svd_explained_variance <= 1
    page = client.get("/map").text
    assert f"{placed} films placed" in page and 'src="/map.png"' in page
    png = client.get("/map.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    pts = client.get("/map.json").json()["points"]
    assert len(pts) == placed and {"movie_id", "title", "x", "y"} <= set(pts[0])


def test_movie_payloads_carry_the_poster_url(client: TestClient) -> None:
    """Cards of recommended films show the TMDB poster when the film has one (not always the placeholder)."""
    recs = client.get("/api/v1/explore/profiles/2/recommendations", params={"k": 3}).json()["data"]
    target = recs[0]["movie"]["id"]
    url = "https://image.tmdb.org/t/p/w342/abc.jpg"
    with client.app.state.sessionmaker() as s:  # type: ignore[attr-defined]
        s.get(Movie, target).poster_url = url
        s.commit()
    from cinerec.store.repos import aggregates, movies

    aggregates.touch()  # the catalogue changed outside the write paths that mark it
    movies.forget_rows()  # and so did a film's facts (as a metadata import in this process does)
    again = client.get("/api/v1/explore/profiles/2/recommendations", params={"k": 3}).json()["data"]
    assert again[0]["movie"]["id"] == target and again[0]["movie"]["poster_url"] == url
    assert client.get(f"/api/v1/movies/{target}").json()["poster_url"] == url
