"""Reviews through the NLP pipeline: sentiment on write, bulk import, re-scoring,
film keywords and audience insights.

The sentiment layer (:class:`~cinerec.nlp.sentiment.SentimentAnalyzer`) uses the
trained models in ``settings.nlp_dir`` when they exist and the VADER/SnowNLP
lexicons otherwise, so every review gets a score from the first day.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.data.readers import Problem
from cinerec.data.readers.reviews import read_reviews_csv
from cinerec.errors import DataFormatError, InvalidParameter
from cinerec.nlp.sentiment import Sentiment, SentimentAnalyzer, check_text
from cinerec.store.db import transaction
from cinerec.store.importer import source_id_map
from cinerec.store.models import Movie, Review, User
from cinerec.store.repos import reviews as repo

Progress = Callable[[int, int], None]


@dataclass
class ReviewImportReport:
    """What a reviews import did."""

    source: str
    read: int
    inserted: int
    rejected: dict[str, int]
    problems: list[Problem] = field(default_factory=list)
    methods: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class AudienceInsights:
    """What a film's audience says: sentiment summary and keywords by polarity."""

    summary: repo.SentimentSummary
    keywords: dict[str, list[tuple[str, float]]]


def write_review(engine: Engine, analyzer: SentimentAnalyzer, user_id: int, movie_id: int, text: str,
                 visibility: str = "public") -> Review:
    """Analyse and store one review.

    Raises:
        InvalidParameter: empty or oversized text.
        NotFound: unknown user or movie.
    """
    clean, s = analyse_review(analyzer, text)
    with transaction(engine) as session:
        review = repo.add(session, user_id, movie_id, clean, language=s.language, sentiment=s.score,
                          visibility=visibility)
        session.expunge(review)
    return review


def analyse_review(analyzer: SentimentAnalyzer, text: str) -> tuple[str, Sentiment]:
    """A review's cleaned text and its language and sentiment, before anything is written.

    Raises:
        InvalidParameter: empty or oversized text.
    """
    clean = check_text(text)
    if not clean:
        raise InvalidParameter("a review needs some text")
    return clean, analyzer.analyze(clean)


def import_reviews(engine: Engine, path: Path | str, source: str, analyzer: SentimentAnalyzer,
                   *, strict: bool = False) -> ReviewImportReport:
    """Import ``user_id,movie_id,text[,rating][,timestamp]`` rows keyed by a dataset's raw ids.

    ``source`` is the dataset the ids belong to (as imported with ``cinerec data
    import``). Rows naming users or movies that source does not have are
    rejected with their line. All or nothing: one transaction.

    Raises:
        DataFormatError: a structural problem in the file, an unknown source,
            or rejected rows with ``strict``.
    """
    t0 = time.perf_counter()
    frame, problems = read_reviews_csv(path)
    with transaction(engine) as session:
        users = source_id_map(session, User, source)
        movies = source_id_map(session, Movie, source)
        if not users and not movies:
            raise DataFormatError(f"no dataset imported under source {source!r}: import its ratings first "
                                  "(`cinerec data import PATH`) or pass --source NAME", path=str(path))
        u = frame["user"].astype(str).map(users)
        m = frame["item"].astype(str).map(movies)
        problems.add_many(Path(path), frame.loc[u.isna(), "_line"], "user_id", "unknown user", frame.loc[u.isna(), "user"])
        bad_m = m.isna() & u.notna()
        problems.add_many(Path(path), frame.loc[bad_m, "_line"], "movie_id", "unknown movie", frame.loc[bad_m, "item"])
        ok = u.notna() & m.notna()
        if strict and len(problems):
            raise DataFormatError(f"{len(problems)} rejected rows, first: {problems.items[0]}", path=str(path))
        kept = frame[ok]
        sentiments = analyzer.analyze_many(kept["text"].tolist())
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for (_, r), uid, mid, s in zip(kept.iterrows(), u[ok], m[ok], sentiments, strict=True):
            when = datetime.fromtimestamp(r["timestamp"], UTC) if r["timestamp"] == r["timestamp"] else now
            rows.append({"user_id": int(uid), "movie_id": int(mid), "text": r["text"], "language": s.language,
                         "sentiment": s.score, "visibility": "public", "created_at": when, "updated_at": when})
        inserted = repo.insert_many(session, rows)
    methods: dict[str, int] = defaultdict(int)
    for s in sentiments:
        methods[s.method] += 1
    return ReviewImportReport(source, len(frame) + len(problems), inserted, problems.by_reason(), list(problems.items),
                              dict(methods), time.perf_counter() - t0)


def score_reviews(engine: Engine, analyzer: SentimentAnalyzer, *, rescore: bool = False, batch: int = 500,
                  progress: Progress | None = None) -> int:
    """Fill in language and sentiment of reviews (all of them with ``rescore``, after a new model).

    Commits batch by batch, so an interrupted run keeps its work and a rerun
    continues where it stopped. Returns how many reviews were scored.
    """
    done, last = 0, 0
    fetch = repo.all_texts if rescore else repo.unscored
    while True:
        with transaction(engine, write=False) as session:
            rows = fetch(session, batch, last)
        if not rows:
            return done
        scores = analyzer.analyze_many([t for _, t in rows])
        with transaction(engine) as session:
            repo.set_sentiments(session, [(rid, s.language, s.score) for (rid, _), s in zip(rows, scores, strict=True)])
        done += len(rows)
        last = rows[-1][0]
        if progress:
            progress(done, 0)


def refresh_keywords(engine: Engine, n: int = 10) -> int:
    """Recompute every film's keywords from its public reviews (all, positive, negative); returns films covered."""
    from cinerec.nlp.keywords import film_keywords

    with transaction(engine, write=False) as session:
        texts = repo.public_texts(session)
    groups: dict[str, dict[int, list[str]]] = {"all": defaultdict(list), "positive": defaultdict(list),
                                               "negative": defaultdict(list)}
    for movie_id, text, s in texts:
        groups["all"][movie_id].append(text)
        if s is not None and s >= repo.POSITIVE:
            groups["positive"][movie_id].append(text)
        elif s is not None and s <= repo.NEGATIVE:
            groups["negative"][movie_id].append(text)
    rows: list[dict[str, Any]] = []
    for polarity, by_film in groups.items():
        for movie_id, kws in film_keywords(by_film, n=n).items():
            rows += [{"movie_id": movie_id, "polarity": polarity, "term": t[:100], "weight": w} for t, w in kws]
    with transaction(engine) as session:
        repo.replace_keywords(session, rows)
    return len(groups["all"])


def audience_insights(session: Session, movie_id: int) -> AudienceInsights:
    """Sentiment summary and keywords of one film (from the last :func:`refresh_keywords`)."""
    return AudienceInsights(repo.summary(session, movie_id), repo.keywords(session, movie_id))
