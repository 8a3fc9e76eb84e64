"""Reviews end to end: import with sentiment, keywords, insights, the implicit signal, API, page, CLI."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cinerec.config import get_settings
from cinerec.data.readers import read_dataset
from cinerec.data.readers.reviews import read_rt_polarity
from cinerec.errors import DataFormatError, InvalidParameter, NotFound
from cinerec.nlp.sentiment import SentimentAnalyzer
from cinerec.service.reviews import (
    audience_insights,
    import_reviews,
    refresh_keywords,
    score_reviews,
    write_review,
)
from cinerec.store.db import make_engine, transaction
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
from cinerec.store.models import Rating, Review
from cinerec.store.snapshot import load_interactions, review_signal

pytestmark = pytest.mark.slow  # imports ML-100K into a database (twice) and scores reviews with the lexicons


def _reviews_file(path: Path, datasets: Path) -> Path:
    """Real rt-polarity sentences as reviews of two ML-100K films by users who did not rate them."""
    rt = read_rt_polarity(datasets / "reviews" / "rt-polarity")
    pos = rt[rt["label"] == 1]["text"].head(30).tolist()
    neg = rt[rt["label"] == 0]["text"].head(30).tolist()
    rows = [("user_id", "movie_id", "text", "rating", "timestamp")]
    # movie 1682 has a single rating (user 916), movie 1681 too (user 896): reviewers 1..30 did not rate them
    rows += [(str(u), "1682", t, "", "880000000") for u, t in zip(range(1, 31), pos, strict=True)]
    rows += [(str(u), "1681", t, "", "") for u, t in zip(range(1, 31), neg, strict=True)]
    rows += [("5", "1682", "", "", ""), ("x", "1", "fine", "", ""), ("5", "999999", "fine", "", ""),
             ("99999", "1", "fine", "", ""), ("5", "1", "fine", "9", ""), ("5", "1", "fine", "", "soon")]
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, datasets: Path):  # type: ignore[no-untyped-def]
    """ML-100K with the 60 reviews imported, one written review and keywords (self-contained per worker)."""
    tmp = tmp_path_factory.mktemp("reviews")
    eng = _fresh_store(tmp, datasets)
    a = SentimentAnalyzer(None)
    import_reviews(eng, _reviews_file(tmp / "reviews.csv", datasets), "ml-100k", a)
    write_review(eng, a, 2, 3, "An absolute delight 😍")
    refresh_keywords(eng, n=5)
    return eng, tmp


def _fresh_store(tmp: Path, datasets: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    upgrade(url)
    eng = make_engine(url)
    import_dataset(eng, read_dataset(datasets / "ml-100k"))
    return eng


def test_import_scores_and_reports_bad_rows(tmp_path: Path, datasets: Path) -> None:
    eng = _fresh_store(tmp_path, datasets)
    path = _reviews_file(tmp_path / "reviews.csv", datasets)
    a = SentimentAnalyzer(None)
    with pytest.raises(DataFormatError, match="no dataset imported under source 'nope'"):
        import_reviews(eng, path, "nope", a)
    with pytest.raises(DataFormatError, match="rejected rows"):
        import_reviews(eng, path, "ml-100k", a, strict=True)
    with transaction(eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0  # strict failure wrote nothing
    r = import_reviews(eng, path, "ml-100k", a)
    assert r.inserted == 60 and r.methods == {"lexicon": 60}
    assert r.rejected == {"empty review": 1, "not an id": 1, "not a unix timestamp": 1, "rating out of range": 1,
                          "unknown movie": 1, "unknown user": 1}
    assert {p.field for p in r.problems} == {"text", "user_id", "movie_id", "rating", "timestamp"}
    assert all(p.line > 1 for p in r.problems)
    assert import_reviews(eng, path, "ml-100k", a).inserted == 0  # idempotent
    with transaction(eng, write=False) as s:
        pos = s.scalar(select(func.avg(Review.sentiment)).where(Review.movie_id == _movie(s, "1682")))
        neg = s.scalar(select(func.avg(Review.sentiment)).where(Review.movie_id == _movie(s, "1681")))
    assert pos > neg


def _movie(session, source_id: str) -> int:  # type: ignore[no-untyped-def]
    from cinerec.store.models import Movie

    return int(session.scalar(select(Movie.id).where(Movie.source == "ml-100k", Movie.source_id == source_id)))


def test_keywords_insights_and_rescoring(store, datasets: Path) -> None:  # type: ignore[no-untyped-def]
    eng, tmp = store
    assert refresh_keywords(eng, n=5) == 3  # the two reviewed films and the one with the written review
    with transaction(eng, write=False) as s:
        good = audience_insights(s, _movie(s, "1682"))
        bad = audience_insights(s, _movie(s, "1681"))
    assert good.summary.n_reviews == 30 and good.summary.positive > bad.summary.positive
    assert len(good.keywords["all"]) == 5 and good.keywords["all"][0][1] >= good.keywords["all"][-1][1]
    # a trained Chinese model does not change English scores; rescoring runs batch by batch
    with transaction(eng, write=False) as s:
        n_reviews = s.scalar(select(func.count()).select_from(Review))
    assert score_reviews(eng, SentimentAnalyzer(tmp / "nlp"), rescore=True, batch=7) == n_reviews >= 61


def test_write_review_validates(store) -> None:  # type: ignore[no-untyped-def]
    eng, _ = store
    a = SentimentAnalyzer(None)
    with pytest.raises(InvalidParameter, match="needs some text"):
        write_review(eng, a, 1, 1, "  ")
    with pytest.raises(InvalidParameter, match="limit"):
        write_review(eng, a, 1, 1, "x" * 100_000)
    with pytest.raises(NotFound):
        write_review(eng, a, 1, 10**9, "fine")
    r = write_review(eng, a, 2, 3, "An absolute delight 😍")
    assert r.id and r.sentiment is not None and r.sentiment > 0 and r.language == "en"


def test_reviews_without_rating_become_weighted_interactions(store) -> None:  # type: ignore[no-untyped-def]
    eng, _ = store
    with_reviews = load_interactions(eng)
    ratings_only = load_interactions(eng, reviews=False)
    with transaction(eng, write=False) as s:
        n_ratings = s.scalar(select(func.count()).select_from(Rating))
        pairs = {(u, m) for u, m in s.execute(select(Review.user_id, Review.movie_id))}
        rated = {(u, m) for u, m in s.execute(select(Rating.user_id, Rating.movie_id))}
        m_good, m_bad = _movie(s, "1682"), _movie(s, "1681")
    assert len(pairs - rated) >= 60  # the imported reviewers did not rate those films
    assert len(ratings_only) == n_ratings and len(with_reviews) == n_ratings + len(pairs - rated)
    assert with_reviews.weights is not None
    col = with_reviews.item_vocab.indices(np.array([m_good, m_bad]))
    w = with_reviews.implicit_matrix
    assert w[:, col[0]].sum() > w[:, col[1]].sum()  # praised film gets more confidence than the panned one
    rating, weight = review_signal(np.array([-1.0, 0.0, 1.0]))
    assert rating.tolist() == [1.0, 3.0, 5.0] and weight.tolist() == [0.05, 0.5, 1.0]


def test_api_and_page_show_reviews(store, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    eng, tmp = store
    from cinerec.web import create_app

    monkeypatch.setenv("CINEREC_HOME", str(tmp))
    monkeypatch.setenv("CINEREC_DATABASE_URL", str(eng.url))
    get_settings.cache_clear()
    with transaction(eng, write=False) as s:
        mid = _movie(s, "1682")
    with TestClient(create_app(get_settings())) as c:
        r = c.get(f"/api/v1/movies/{mid}/reviews", params={"limit": 5})
        assert r.status_code == 200 and r.json()["count"] == 30 and len(r.json()["data"]) == 5
        assert {"author", "text", "language", "sentiment"} <= set(r.json()["data"][0])
        ins = c.get(f"/api/v1/movies/{mid}/insights").json()
        assert ins["n_reviews"] == 30 and len(ins["keywords"]) == 5 and 0 < ins["positive_share"] <= 1
        assert c.get("/api/v1/movies/999999/insights").status_code == 404
        assert c.get("/api/v1/movies/999999/reviews").status_code == 404
        assert c.get(f"/api/v1/movies/{mid}/reviews", params={"limit": 10**9}).status_code == 422
        page = c.get(f"/movies/{mid}").text
        assert '<section id="reviews">' in page and "30 reviews" in page and "% positive" in page
        assert page.count('id="reviews"') == 1 and "Talked about" in page
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        assert title is not None and title.group(1).startswith("Scream of Stone") and "<" not in title.group(1)
    get_settings.cache_clear()
