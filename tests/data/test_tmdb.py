"""TMDB enrichment against recorded answers (never the network): cache, resume, retries, rate limit, import."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cinerec.data.readers import read_dataset
from cinerec.data.readers.metadata import read_metadata
from cinerec.data.tmdb import RateLimiter, TmdbClient
from cinerec.errors import DownloadError, InvalidParameter
from cinerec.store.db import make_engine, transaction
from cinerec.store.importer import import_dataset
from cinerec.store.metadata import import_metadata
from cinerec.store.migrate import upgrade
from cinerec.store.models import Credit, Movie, Person, Tag
from cinerec.store.snapshot import load_interactions, load_item_features

RECORDED = Path(__file__).parent / "recorded" / "tmdb"
KEY = "0123456789abcdef0123456789abcdef"


class FakeTMDB:
    """Answers from the recorded files; ``script`` queues special statuses per film."""

    def __init__(self, script: dict[int, list[int]] | None = None) -> None:
        self.calls: list[int] = []
        self.script = script or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "api.themoviedb.org" and request.url.params["api_key"] == KEY
        assert request.url.params["append_to_response"] == "credits"
        tid = int(request.url.path.rsplit("/", 1)[1])
        self.calls.append(tid)
        queued = self.script.get(tid)
        if queued:
            status = queued.pop(0)
            body = (RECORDED / f"{status}.json").read_text() if (RECORDED / f"{status}.json").exists() else "{}"
            return httpx.Response(status, text=body, headers={"Retry-After": "2"} if status == 429 else {})
        path = RECORDED / f"{tid}.json"
        if not path.exists():
            return httpx.Response(404, text=(RECORDED / "404.json").read_text())
        return httpx.Response(200, json=json.loads(path.read_text()))


def client(tmp_path: Path, fake: FakeTMDB, sleeps: list[float] | None = None, **kw: object) -> TmdbClient:
    sleeps = [] if sleeps is None else sleeps
    return TmdbClient(KEY, tmp_path, transport=httpx.MockTransport(fake), sleep=sleeps.append, **kw)  # type: ignore[arg-type]


def test_fetch_cache_and_resume(tmp_path: Path) -> None:
    fake = FakeTMDB(script={8844: [500, 500, 500]})
    c = client(tmp_path, fake, max_retries=2)
    md, rep = c.enrich([862, 8844, 999999999])
    assert (rep.fetched, rep.not_found, rep.from_cache, rep.retries) == (1, 1, 0, 2)
    assert list(rep.failed) == [8844] and "HTTP 500 after 3 attempts" in rep.failed[8844]
    assert md.texts is not None and md.texts["item"].tolist() == [862]
    assert md.texts.iloc[0]["runtime"] == 81 and md.texts.iloc[0]["poster_url"].endswith("/uXDfjJbdP4ijW5hWSBrPrlKpxab.jpg")
    assert md.directors is not None and md.directors["name"].tolist() == ["John Lasseter"]  # writer credit not a director
    assert md.cast is not None and md.cast["name"].tolist()[:2] == ["Tom Hanks", "Tim Allen"]
    # resume: only the failed film is asked for again; the unknown one is remembered
    fake.calls.clear()
    md, rep = c.enrich([862, 8844, 999999999])
    assert fake.calls == [8844] and rep.from_cache == 2 and rep.fetched == 1 and not rep.failed
    assert sorted(md.texts["item"].tolist()) == [862, 8844]  # type: ignore[index]
    fake.calls.clear()
    client(tmp_path, fake).enrich([862, 8844])
    assert fake.calls == []  # a new process reads the on-disk cache


def test_429_honours_retry_after_and_401_stops(tmp_path: Path) -> None:
    sleeps: list[float] = []
    c = client(tmp_path, FakeTMDB(script={862: [429, 502]}), sleeps)
    _, rep = c.enrich([862])
    assert rep.fetched == 1 and rep.retries == 2
    assert sleeps[:2] == [2.0, 4.0]  # Retry-After, then doubled
    with pytest.raises(DownloadError, match="rejected the API key"):
        client(tmp_path / "b", FakeTMDB(script={8844: [401]})).enrich([8844])
    with pytest.raises(InvalidParameter, match="TMDB API key is needed"):
        TmdbClient(" ", tmp_path)


def test_rate_limiter_spaces_calls() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    lim = RateLimiter(10.0, burst=5, clock=lambda: now[0], sleep=sleep)
    for _ in range(25):
        lim.acquire()
    assert sum(slept) == pytest.approx(2.0, abs=0.01)  # 20 calls beyond the burst at 10/s


@pytest.mark.slow  # imports ml-latest-small
def test_enriched_metadata_reaches_the_store_and_the_features(tmp_path: Path, datasets: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    eng = make_engine(url)
    import_dataset(eng, read_dataset(datasets / "ml-latest-small"))
    md, _ = client(tmp_path, FakeTMDB()).enrich([862, 8844])
    r = import_metadata(eng, md)
    assert (r.matched_films, r.overviews, r.credits) == (2, 2, 11)
    assert import_metadata(eng, md).credits == 0  # idempotent
    with transaction(eng, write=False) as s:
        toy = s.scalar(select(Movie).where(Movie.tmdb_id == 862))
        assert toy is not None and toy.runtime == 81 and toy.overview.startswith("Led by Woody")
        cast = s.execute(select(Person.name, Credit.order).join(Credit).where(Credit.movie_id == toy.id, Credit.role == "cast")
                         .order_by(Credit.order)).all()
        assert [n for n, _ in cast][:3] == ["Tom Hanks", "Tim Allen", "Don Rickles"]
        assert s.scalar(select(Person.tmdb_id).where(Person.name == "John Lasseter")) == 7879
    it = load_interactions(eng)
    f = load_item_features(eng, it.item_vocab)
    row = f.matrix[it.item_vocab.index(toy.id)]
    names = set(f.names[row.indices])
    assert {"person:Tom Hanks", "person:John Lasseter"} <= names and any(n.startswith("text:") for n in names)


@pytest.mark.slow  # imports ml-latest-small and two metadata sets
def test_tmdb_and_hetrec_files_import(tmp_path: Path, datasets: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    eng = make_engine(url)
    import_dataset(eng, read_dataset(datasets / "ml-latest-small"))
    r = import_metadata(eng, read_metadata(datasets / "tmdb-5000"))
    assert r.matched_films > 3000 and r.overviews > 3000 and r.keywords > 10000 and r.credits == 0
    h = import_metadata(eng, read_metadata(datasets / "hetrec2011-movielens-2k"), source="ml-latest-small")
    assert h.matched_films > 6000 and h.credits > 6000
    with transaction(eng, write=False) as s:
        assert s.scalar(select(Tag.tag).join(Movie).where(Movie.tmdb_id == 862, Tag.user_id.is_(None)).limit(1))
    again = import_metadata(eng, read_metadata(datasets / "tmdb-5000"))
    assert again.keywords == 0 and again.overviews == r.overviews  # nothing duplicated
    with transaction(eng, write=False) as s:
        from sqlalchemy import func

        n_tags = s.scalar(select(func.count()).select_from(Tag).where(Tag.user_id.is_(None)))
    assert n_tags == r.keywords + h.keywords
