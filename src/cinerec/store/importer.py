"""Import a read :class:`~cinerec.data.readers.Dataset` into the database.

One transaction per import: a failure at any point (bad data, a killed
process, a lost connection) leaves the database exactly as it was. Rows are
upserted on natural keys (``(source, source_id)`` for users and movies,
``(user, movie)`` for ratings), so importing the same files twice changes
nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cinerec.data.readers import Dataset, Problem
from cinerec.errors import DataFormatError
from cinerec.store.db import transaction
from cinerec.store.models import (
    RATING_MAX,
    RATING_MIN,
    Genre,
    ImportRun,
    Movie,
    MovieGenre,
    Rating,
    Tag,
    User,
)

Progress = Callable[[str, int, int], None]
CHUNK = 20_000


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        source: the source tag rows were keyed by.
        format: the reader used.
        counts: users, movies, ratings, tags in the imported data.
        rejected: rejected or dropped rows by reason.
        problems: every rejected row with file, line and field.
        seconds: wall time.
    """

    source: str
    format: str
    counts: dict[str, int]
    rejected: dict[str, int]
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0


def _insert(session: Session, table: Table) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def _upsert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: list[str], update: list[str],
    progress: Progress | None = None, label: str = "",
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update (or DO NOTHING), in chunks."""
    if not rows:
        return
    for start in range(0, len(rows), CHUNK):
        stmt = _insert(session, table)
        if update:
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        session.execute(stmt, list(rows[start : start + CHUNK]))
        if progress:
            progress(label, min(start + CHUNK, len(rows)), len(rows))


def _datetimes(ts: Iterable[int]) -> list[Any]:
    return list(pd.to_datetime(np.asarray(list(ts), dtype=np.int64), unit="s", utc=True).to_pydatetime())


def _id_map(session: Session, model: type[User] | type[Movie], source: str) -> dict[str, int]:
    rows = session.execute(select(model.source_id, model.id).where(model.source == source))
    return {sid: pk for sid, pk in rows if sid is not None}


def import_dataset(
    engine: Engine,
    dataset: Dataset,
    *,
    source: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    _fail_after: str | None = None,
) -> ImportReport:
    """Write ``dataset`` into the database in one transaction.

    Args:
        engine: the target database.
        dataset: a dataset from :func:`cinerec.data.readers.read_dataset`.
        source: the source tag (default ``dataset.name``).
        strict: refuse the whole import if any row was rejected.
        progress: called with (stage, done, total).

    Returns:
        An :class:`ImportReport`.

    Raises:
        DataFormatError: with ``strict`` and rejected rows, or when ratings
            reference movies neither in the dataset nor in the database.
    """
    t0 = time.perf_counter()
    src = source or dataset.name
    problems = dataset.problems
    ratings = dataset.ratings
    rpath = str(dataset.files[0]) if dataset.files else "ratings"
    # the database stores stars: other scales must be rescaled before import
    out = ~ratings["rating"].between(RATING_MIN, RATING_MAX).to_numpy()
    if out.any():
        problems.add_many(Path(rpath), ratings["_line"].to_numpy()[out], "rating",
                          f"rating out of range for stars ({RATING_MIN:g}-{RATING_MAX:g})", ratings["rating"].to_numpy()[out])
        ratings = ratings[~out]
    if strict and len(problems):
        first = problems.items[0]
        raise DataFormatError(
            f"{len(problems)} row(s) rejected (first: {first}); nothing was imported (--strict)",
            path=first.path, line=first.line, field=first.field,
        )

    with transaction(engine) as session:
        movie_ids = _import_movies(session, dataset, src, progress)
        if dataset.movies is None:
            known = ratings["item"].astype(str).isin(movie_ids.keys()).to_numpy()
            if not known.all():
                problems.add_many(Path(rpath), ratings["_line"].to_numpy()[~known], "item",
                                  "unknown movie id (import the movie metadata first, or add a title column)",
                                  ratings["item"].to_numpy()[~known])
                if strict:
                    raise DataFormatError(f"{int((~known).sum())} rating(s) reference unknown movies; nothing was imported")
                ratings = ratings[known]
        user_raw = pd.unique(pd.concat([ratings["user"], dataset.tags["user"] if dataset.tags is not None else pd.Series([], dtype=object)]))
        now = _datetimes([int(ratings["timestamp"].max()) if len(ratings) else 0])[0]
        user_rows = [{"username": f"{src}-{u}"[:64], "source": src, "source_id": str(u), "created_at": now,
                      "locale": "en", "is_admin": False, "is_active": True, "session_version": 0} for u in user_raw]
        _upsert(session, User.__table__, user_rows, ["source", "source_id"], [], progress, "users")  # type: ignore[arg-type]
        user_ids = _id_map(session, User, src)
        if _fail_after == "users":
            raise RuntimeError("injected failure after users")

        uid = np.array([user_ids[str(u)] for u in ratings["user"].tolist()], dtype=np.int64)
        mid = np.array([movie_ids[str(m)] for m in ratings["item"].tolist()], dtype=np.int64)
        when = _datetimes(ratings["timestamp"].to_numpy())
        rating_rows = [
            {"user_id": u, "movie_id": m, "value": v, "created_at": w, "updated_at": w}
            for u, m, v, w in zip(uid.tolist(), mid.tolist(), ratings["rating"].astype(float).tolist(), when, strict=True)
        ]
        _upsert(session, Rating.__table__, rating_rows, ["user_id", "movie_id"], ["value", "updated_at"], progress, "ratings")  # type: ignore[arg-type]
        if _fail_after == "ratings":
            raise RuntimeError("injected failure after ratings")

        n_tags = 0
        if dataset.tags is not None and len(dataset.tags):
            t = dataset.tags
            tw = _datetimes(t["timestamp"].to_numpy())
            tag_rows = [
                {"user_id": user_ids[str(u)], "movie_id": movie_ids[str(m)], "tag": tag[:200], "created_at": w}
                for u, m, tag, w in zip(t["user"].tolist(), t["item"].tolist(), t["tag"].tolist(), tw, strict=True)
            ]
            _upsert(session, Tag.__table__, tag_rows, ["user_id", "movie_id", "tag"], [], progress, "tags")  # type: ignore[arg-type]
            n_tags = len(tag_rows)
        counts = {
            "users": len(user_rows), "movies": len(movie_ids) if dataset.movies is not None else int(ratings["item"].nunique()),
            "ratings": len(rating_rows), "tags": n_tags,
        }
        session.add(ImportRun(source=src, path=str(dataset.files[0].parent if dataset.files else ""), format=dataset.format,
                              counts=counts, rejected=problems.by_reason()))
    return ImportReport(src, dataset.format, counts, problems.by_reason(), list(problems.items), time.perf_counter() - t0)


def _import_movies(session: Session, dataset: Dataset, src: str, progress: Progress | None) -> dict[str, int]:
    movies = dataset.movies
    if movies is None:
        return _id_map(session, Movie, src)
    names = sorted({g for gs in movies["genres"] for g in gs})
    _upsert(session, Genre.__table__, [{"name": n} for n in names], ["name"], [])  # type: ignore[arg-type]
    genre_ids = {n: i for n, i in session.execute(select(Genre.name, Genre.id).where(Genre.name.in_(names)))} if names else {}

    def opt(col: str) -> list[Any]:
        if col not in movies:
            return [None] * len(movies)
        return [None if pd.isna(v) else v for v in movies[col].tolist()]

    years, imdb, tmdb = opt("year"), opt("imdb_id"), opt("tmdb_id")
    rows = [
        {"title": t[:300], "year": None if y is None else int(y), "imdb_id": i, "tmdb_id": None if d is None else int(d),
         "source": src, "source_id": str(item)}
        for item, t, y, i, d in zip(movies["item"].tolist(), movies["title"].tolist(), years, imdb, tmdb, strict=True)
    ]
    _upsert(session, Movie.__table__, rows, ["source", "source_id"], ["title", "year", "imdb_id", "tmdb_id"], progress, "movies")  # type: ignore[arg-type]
    ids = _id_map(session, Movie, src)
    mids = [ids[str(i)] for i in movies["item"].tolist()]
    for start in range(0, len(mids), 1000):
        session.execute(delete(MovieGenre).where(MovieGenre.movie_id.in_(mids[start : start + 1000])))
    pairs = [{"movie_id": m, "genre_id": genre_ids[g]} for m, gs in zip(mids, movies["genres"].tolist(), strict=True) for g in gs]
    _upsert(session, MovieGenre.__table__, pairs, ["movie_id", "genre_id"], [])  # type: ignore[arg-type]
    return ids


def table_counts(engine: Engine) -> dict[str, int]:
    """Row counts of the data tables (users, movies, genres, ratings, tags...)."""
    out: dict[str, int] = {}
    with Session(engine) as s:
        for model in (User, Movie, Genre, MovieGenre, Rating, Tag):
            out[model.__tablename__] = int(s.scalar(select(func.count()).select_from(model)) or 0)
    return out
