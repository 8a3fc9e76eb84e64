"""Import a read :class:`~cinerec.data.readers.Dataset` into the database.

One transaction per import: a failure at any point (bad data, a killed
process, a lost connection) leaves the database exactly as it was. Rows are
upserted on natural keys (``(source, source_id)`` for users and movies,
``(user, movie)`` for ratings), so importing the same files twice changes
nothing.

Ratings are stored as stars (0.5-5): the dataset's own scale is recorded in
``rating_scales`` and mapped onto stars by
:meth:`~cinerec.data.readers.RatingScale.to_stars` (the identity for scales
within 0.5-5, linear otherwise); the original value is kept in
``ratings.source_value``. Ratings of a file without a movie list that name
films the database does not know create placeholder films ("Item 1234",
``is_placeholder``) instead of being rejected.

A dataset with a trust network (FilmTrust's ``trust.txt``) also brings its
edges as ``follows`` rows (the trustor follows the trustee), in the same
transaction and as idempotently (``(follower, followee)`` is the key); every
person of the network is a user of the source, with or without ratings.

On PostgreSQL the tables with many rows (users, movies, ratings, tags,
follows) go in with ``COPY ... FROM STDIN`` (psycopg 3's ``cursor.copy``) in
batches of :data:`CHUNK` rows, each batch reported to ``progress``: straight
into a table that is still empty, otherwise into a temporary staging table
whose rows one ``INSERT ... SELECT ... ON CONFLICT`` then moves, so the
upsert on natural keys, and with it idempotency, is unchanged; ids are
assigned in the dataset's order, exactly as the row-by-row path assigns
them. It is all inside the import's one
transaction (the staging tables are dropped at its end), so "resumable"
means: an interrupted import (killed, connection lost) leaves nothing
behind, and running the same command again starts clean and, because every
write is an upsert, reaching the end twice changes nothing. Resuming
half-way from committed batches is deliberately not offered: it would show
the site and the trainer a half-imported dataset. ``benchmarks/pg_import.py``
times ``COPY`` against batched ``INSERT`` (``copy=False``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, Table, delete, func, select
from sqlalchemy.orm import Session

from cinerec.data.readers import Dataset, Problem
from cinerec.errors import DataFormatError
from cinerec.store.db import analyze, analyze_tables, transaction
from cinerec.store.models import (
    RATING_MAX,
    RATING_MIN,
    Follow,
    Genre,
    ImportRun,
    Movie,
    MovieGenre,
    Rating,
    RatingScale,
    Tag,
    User,
)
from cinerec.store.repos import aggregates

Progress = Callable[[str, int, int], None]
#: Rows per ``executemany`` batch, and per ``COPY`` batch on PostgreSQL (one progress report each).
CHUNK = 20_000
#: From this many rows a table goes in with ``COPY`` on PostgreSQL (fewer: plain ``INSERT``).
COPY_MIN_ROWS = 1_000
#: Rating rows turned into driver values at a time. Those values are Python objects (about 0.3 KB a rating), so
#: building them for every rating at once made an import's memory grow with the file (3.8 GB at 10M ratings on
#: SQLite); a batch's are freed before the next is built, all within the import's one transaction.
RATING_BATCH = 250_000
_COPY_KEY = "cinerec_import_copy"


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        source: the source tag rows were keyed by.
        format: the reader used.
        counts: users, movies, ratings, tags in the imported data (and
            ``follows`` when the dataset has a trust network).
        rejected: rejected or dropped rows by reason.
        problems: every rejected row with file, line and field.
        seconds: wall time.
        scale: the dataset's rating scale (``0-10 in steps of 1``).
        mapping: how it became stars: ``identity`` or ``linear``.
        rows_read: data rows in the ratings file.
        placeholders: placeholder films created for unknown item ids.
    """

    source: str
    format: str
    counts: dict[str, int]
    rejected: dict[str, int]
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    scale: str = ""
    mapping: str = "identity"
    rows_read: int = 0
    placeholders: int = 0


def _upsert(
    session: Session, table: Table, data: Mapping[str, Sequence[Any]], keys: list[str], update: list[str],
    progress: Progress | None = None, label: str = "", *, into_empty: bool | None = None,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update (or DO NOTHING), in chunks.

    Rows go to the driver's ``executemany`` as tuples: bulk imports skip the
    ORM's per-value processing, which costs more than SQLite's own work.
    Values must already be in driver form (see :func:`_timestamps`).
    ``into_empty`` is passed on to :func:`_copy_upsert`.
    """
    cols = list(data)
    n = len(data[cols[0]]) if cols else 0
    if not n:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and n >= COPY_MIN_ROWS and session.info.get(_COPY_KEY, True):
        _copy_upsert(session, table, data, keys, update, progress, label, into_empty=into_empty)
        return
    mark = "%s" if postgres else "?"
    q = session.get_bind().dialect.identifier_preparer.quote
    action = ("DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in update)) if update else "DO NOTHING"
    sql = (f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in cols)}) VALUES ({', '.join([mark] * len(cols))}) "
           f"ON CONFLICT ({', '.join(q(k) for k in keys)}) {action}")
    rows = list(zip(*(data[c] for c in cols), strict=True))
    conn = session.connection()
    for start in range(0, n, CHUNK):
        conn.exec_driver_sql(sql, rows[start : start + CHUNK])
        if progress:
            progress(label, min(start + CHUNK, n), n)


def _copy_upsert(
    session: Session, table: Table, data: Mapping[str, Sequence[Any]], keys: list[str], update: list[str],
    progress: Progress | None = None, label: str = "", *, into_empty: bool | None = None,
) -> None:
    """PostgreSQL's bulk path of :func:`_upsert`: ``COPY``, straight into an empty table, else through staging.

    Rows repeating a key are dropped first, as the row-by-row path resolves
    them (the last wins under ``DO UPDATE``, the first under ``DO NOTHING``).
    Into an empty table nothing can conflict, so the rows are copied straight
    in (a first import into a new database, the case that matters at scale);
    otherwise ``COPY`` fills a temporary staging table (no constraints, no
    indexes, dropped with the transaction at the latest) and one ``INSERT
    ... SELECT ... ON CONFLICT`` moves them, since ``COPY`` cannot say ``ON
    CONFLICT``. New rows take their serial ids in the order of ``data``
    either way, as with ``INSERT``.

    ``into_empty`` is the caller's word on the table: ``True`` when it was
    empty before this transaction wrote the earlier batches of the same
    de-duplicated rows (so nothing can conflict), ``None`` to look.
    """
    cols = list(data)
    frame = pd.DataFrame({k: list(data[k]) for k in keys})
    keep = ~frame.duplicated(keep="last" if update else "first").to_numpy()
    rows = [list(data[c]) for c in cols]
    if not keep.all():
        idx = np.flatnonzero(keep)
        rows = [[col[i] for i in idx] for col in rows]
    n = len(rows[0])
    q = session.get_bind().dialect.identifier_preparer.quote
    col_list = ", ".join(q(c) for c in cols)
    conn = session.connection()
    empty = into_empty if into_empty is not None else (
        conn.exec_driver_sql(f"SELECT 1 FROM {q(table.name)} LIMIT 1").first() is None)
    target = q(table.name) if empty else q(f"_copy_{table.name}")
    if not empty:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{target}")
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {target} ON COMMIT DROP AS "
                             f"SELECT {col_list} FROM {q(table.name)} WITH NO DATA")
        conn.exec_driver_sql(f"ALTER TABLE {target} ADD COLUMN _n bigserial")
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            with cur.copy(f"COPY {target} ({col_list}) FROM STDIN") as copy:
                for row in zip(*(c[start:stop] for c in rows), strict=True):
                    copy.write_row(row)
            if progress:
                progress(label, stop, n)
    if empty:
        return
    key_list = ", ".join(q(k) for k in keys)
    action = ("DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in update)) if update else "DO NOTHING"
    conn.exec_driver_sql(f"INSERT INTO {q(table.name)} ({col_list}) SELECT {col_list} FROM {target} "
                         f"ORDER BY _n ON CONFLICT ({key_list}) {action}")
    conn.exec_driver_sql(f"DROP TABLE {target}")


def _analyze_written(session: Session) -> None:
    """PostgreSQL: statistics of the tables just written, from inside the import's transaction.

    The aggregates' rebuild (one join of every film to its ratings) is then
    planned from the real row counts rather than from statistics taken before
    the import (empty tables in a new database: the planner guessed 670 films
    for ml-latest-small's 9,125). ``ANALYZE`` in a transaction samples its own
    uncommitted rows, and its statistics roll back with it on failure; it
    takes a fraction of a second (a 30,000-row sample per table).
    """
    if session.get_bind().dialect.name == "postgresql":
        analyze_tables(session.connection(), (m.__tablename__ for m in (User, Movie, Rating, Tag, Follow)))


def _timestamps(session: Session, ts: Iterable[int]) -> list[Any]:
    """Unix seconds in the form the driver stores for ``DateTime(timezone=True)``.

    PostgreSQL takes aware datetimes; SQLite stores SQLAlchemy's text format
    (``YYYY-MM-DD HH:MM:SS.ffffff``), formatted here in one vectorised pass.
    """
    when = pd.to_datetime(np.asarray(list(ts), dtype=np.int64), unit="s", utc=True)
    if session.get_bind().dialect.name == "postgresql":
        return list(when.to_pydatetime())
    return list(when.strftime("%Y-%m-%d %H:%M:%S.%f"))


def source_id_map(session: Session, model: type[User] | type[Movie], source: str) -> dict[str, int]:
    """A dataset's raw ids (``source_id``) -> database ids, for users or movies of ``source``."""
    rows = session.execute(select(model.source_id, model.id).where(model.source == source))
    return {sid: pk for sid, pk in rows if sid is not None}


def import_dataset(
    engine: Engine,
    dataset: Dataset,
    *,
    source: str | None = None,
    strict: bool = False,
    max_rejected: float | None = None,
    progress: Progress | None = None,
    copy: bool = True,
    _fail_after: str | None = None,
) -> ImportReport:
    """Write ``dataset`` into the database in one transaction.

    Args:
        engine: the target database.
        dataset: a dataset from :func:`cinerec.data.readers.read_dataset`.
        source: the source tag (default ``dataset.name``).
        strict: refuse the whole import if any row was rejected.
        max_rejected: refuse the whole import if more than this share of the
            rating rows was rejected (``None``: no limit).
        progress: called with (stage, done, total), once per batch.
        copy: on PostgreSQL, write the large tables with ``COPY`` (the
            default; ``False``: batched ``INSERT``, the path SQLite always
            takes). The result is the same either way.

    Returns:
        An :class:`ImportReport`.

    Raises:
        DataFormatError: with ``strict`` and rejected rows, with more rejected
            rows than ``max_rejected`` allows, when no rating is left to
            import, or when the scale cannot be mapped onto stars. Nothing is
            written then.
    """
    t0 = time.perf_counter()
    src = source or dataset.name
    problems = dataset.problems
    ratings = dataset.ratings
    rpath = str(dataset.files[0]) if dataset.files else "ratings"
    scale = dataset.rating_scale
    stars = scale.to_stars(ratings["rating"].to_numpy(dtype=np.float64))
    # a reader that declares a scale rejects values outside it; an inferred one spans the data: this is a guard
    out = ~((stars >= RATING_MIN - 1e-9) & (stars <= RATING_MAX + 1e-9))
    if out.any():
        problems.add_many(Path(rpath), ratings["_line"].to_numpy()[out], "rating",
                          f"rating outside the scale {scale}", ratings["rating"].to_numpy()[out])
        ratings, stars = ratings[~out], stars[~out]
    stars = np.clip(stars, RATING_MIN, RATING_MAX)
    if strict and len(problems):
        first = problems.items[0]
        raise DataFormatError(
            f"{len(problems)} row(s) rejected (first: {first}); nothing was imported (--strict)",
            path=first.path, line=first.line, field=first.field,
        )
    if max_rejected is not None:
        dataset.check_rejected(max_rejected)
    if not len(ratings):
        raise DataFormatError(
            f"nothing to import: none of the {dataset.ratings_read} rating rows was kept "
            f"({', '.join(f'{r}: {n}' for r, n in problems.by_reason().items()) or 'no rows'})",
            path=rpath,
        )

    with transaction(engine) as session:
        session.info[_COPY_KEY] = copy
        movie_ids = _import_movies(session, dataset, src, progress)
        n_placeholders = 0
        if dataset.movies is None:
            n_placeholders = _add_placeholders(session, ratings["item"], movie_ids, src, progress)
            if n_placeholders:
                movie_ids = source_id_map(session, Movie, src)
        trust = dataset.trust.edges if dataset.trust is not None else None
        people = [ratings["user"], *([dataset.tags["user"]] if dataset.tags is not None else []),
                  *([trust["trustor"], trust["trustee"]] if trust is not None else [])]
        user_raw = pd.unique(pd.concat(people).astype(str))
        first_seen = _timestamps(session, [int(ratings["timestamp"].max()) if len(ratings) else 0]) * len(user_raw)
        nu = len(user_raw)
        user_cols: dict[str, Sequence[Any]] = {
            "username": [f"{src}-{u}"[:64] for u in user_raw], "source": [src] * nu, "source_id": [str(u) for u in user_raw],
            "created_at": first_seen, "locale": ["en"] * nu, "is_admin": [False] * nu, "is_active": [True] * nu,
            "session_version": [0] * nu,
        }
        _upsert(session, User.__table__, user_cols, ["source", "source_id"], [], progress, "users")  # type: ignore[arg-type]
        user_ids = source_id_map(session, User, src)
        if _fail_after == "users":
            raise RuntimeError("injected failure after users")

        _upsert(session, RatingScale.__table__, {  # type: ignore[arg-type]
            "source": [src], "low": [scale.low], "high": [scale.high], "step": [scale.step], "mapping": [scale.mapping],
            "updated_at": _timestamps(session, [int(time.time())]),
        }, ["source"], ["low", "high", "step", "mapping", "updated_at"])
        _import_ratings(session, ratings, stars, user_ids, movie_ids, progress)
        if _fail_after == "ratings":
            raise RuntimeError("injected failure after ratings")

        n_tags = 0
        if dataset.tags is not None and len(dataset.tags):
            t = dataset.tags
            tag_cols: dict[str, Sequence[Any]] = {
                "user_id": [user_ids[str(u)] for u in t["user"].tolist()],
                "movie_id": [movie_ids[str(m)] for m in t["item"].tolist()],
                "tag": [x[:200] for x in t["tag"].tolist()], "created_at": _timestamps(session, t["timestamp"].to_numpy()),
            }
            _upsert(session, Tag.__table__, tag_cols, ["user_id", "movie_id", "tag"], [], progress, "tags")  # type: ignore[arg-type]
            n_tags = len(t)
        if trust is not None and len(trust):
            # the reader dropped self-trust and repeated edges, so no row breaks follows' key or its not_self check
            follow_cols: dict[str, Sequence[Any]] = {
                "follower_id": [user_ids[str(u)] for u in trust["trustor"].tolist()],
                "followee_id": [user_ids[str(u)] for u in trust["trustee"].tolist()],
                "created_at": first_seen[:1] * len(trust),
            }
            _upsert(session, Follow.__table__, follow_cols, ["follower_id", "followee_id"], [], progress, "follows")  # type: ignore[arg-type]
        if _fail_after == "follows":
            raise RuntimeError("injected failure after follows")
        _analyze_written(session)
        aggregates.rebuild(session)  # per-film counts, means and histograms for the catalogue
        counts = {
            "users": nu, "movies": len(movie_ids) if dataset.movies is not None else int(ratings["item"].nunique()),
            "ratings": len(ratings), "tags": n_tags,
            **({"follows": len(trust)} if trust is not None else {}),
        }
        session.add(ImportRun(source=src, path=str(dataset.files[0].parent if dataset.files else ""), format=dataset.format,
                              counts={**counts, "placeholder_movies": n_placeholders}, rejected=problems.by_reason()))
    analyze(engine)
    return ImportReport(src, dataset.format, counts, problems.by_reason(), list(problems.items), time.perf_counter() - t0,
                        scale=str(scale), mapping=scale.mapping, rows_read=dataset.ratings_read, placeholders=n_placeholders)


def _import_ratings(session: Session, ratings: pd.DataFrame, stars: npt.NDArray[np.float64], user_ids: dict[str, int],
                    movie_ids: dict[str, int], progress: Progress | None) -> None:
    """Upsert the ratings in batches of :data:`RATING_BATCH` rows (progress counts every row of the import).

    A (member, film) pair repeated in ``ratings`` keeps its last row, as
    ``ON CONFLICT DO UPDATE`` does (the readers already leave one); that
    done once here, no batch can conflict with an earlier one, and on
    PostgreSQL a table that was empty takes every batch by ``COPY`` directly.
    """
    repeated = ratings.duplicated(["user", "item"], keep="last").to_numpy()
    if repeated.any():
        ratings, stars = ratings[~repeated], stars[~repeated]
    total = len(ratings)
    into_empty: bool | None = None  # look for each batch (SQLite: not used)
    if session.get_bind().dialect.name == "postgresql" and session.execute(select(Rating.id).limit(1)).first() is None:
        into_empty = True
    for start in range(0, total, RATING_BATCH):
        part = ratings.iloc[start:start + RATING_BATCH]
        when = _timestamps(session, part["timestamp"].to_numpy())
        cols: dict[str, Sequence[Any]] = {
            "user_id": [user_ids[str(u)] for u in part["user"].tolist()],
            "movie_id": [movie_ids[str(m)] for m in part["item"].tolist()],
            "value": stars[start:start + RATING_BATCH].tolist(), "source_value": part["rating"].astype(float).tolist(),
            "created_at": when, "updated_at": when,
        }
        report = None if progress is None else _shifted(progress, start, total)
        _upsert(session, Rating.__table__, cols, ["user_id", "movie_id"],  # type: ignore[arg-type]
                ["value", "source_value", "updated_at"], report, "ratings", into_empty=into_empty)
        del cols, when


def _shifted(progress: Progress, at: int, total: int) -> Progress:
    """``progress`` for one batch that starts at row ``at`` of ``total``."""
    return lambda label, done, _n: progress(label, at + done, total)


def _add_placeholders(
    session: Session, items: pd.Series, known: dict[str, int], src: str, progress: Progress | None,
) -> int:
    """Create a flagged placeholder film ("Item 1234") for each rated id the database does not know."""
    new = [sid for sid in pd.unique(items.astype(str)).tolist() if sid not in known]
    if not new:
        return 0
    n = len(new)
    cols: dict[str, Sequence[Any]] = {
        "title": [f"Item {sid}"[:300] for sid in new], "source": [src] * n, "source_id": new,
        "is_placeholder": [True] * n, "created_at": _timestamps(session, [int(time.time())]) * n,
    }
    _upsert(session, Movie.__table__, cols, ["source", "source_id"], [], progress, "placeholder movies")  # type: ignore[arg-type]
    return n


def _import_movies(session: Session, dataset: Dataset, src: str, progress: Progress | None) -> dict[str, int]:
    movies = dataset.movies
    if movies is None:
        return source_id_map(session, Movie, src)
    names = sorted({g for gs in movies["genres"] for g in gs})
    _upsert(session, Genre.__table__, {"name": names}, ["name"], [])  # type: ignore[arg-type]
    genre_ids = {n: i for n, i in session.execute(select(Genre.name, Genre.id).where(Genre.name.in_(names)))} if names else {}

    def opt(col: str) -> list[Any]:
        if col not in movies:
            return [None] * len(movies)
        return [None if pd.isna(v) else v for v in movies[col].tolist()]

    years, imdb, tmdb = opt("year"), opt("imdb_id"), opt("tmdb_id")
    n = len(movies)
    cols: dict[str, Sequence[Any]] = {
        "title": [t[:300] for t in movies["title"].tolist()], "year": [None if y is None else int(y) for y in years],
        "imdb_id": imdb, "tmdb_id": [None if d is None else int(d) for d in tmdb], "source": [src] * n,
        "source_id": [str(i) for i in movies["item"].tolist()], "created_at": _timestamps(session, [int(time.time())]) * n,
        "is_placeholder": [False] * n,
    }
    # a movie file replaces the placeholders an earlier ratings-only import made for the same ids
    _upsert(session, Movie.__table__, cols, ["source", "source_id"],  # type: ignore[arg-type]
            ["title", "year", "imdb_id", "tmdb_id", "is_placeholder"], progress, "movies")
    ids = source_id_map(session, Movie, src)
    mids = [ids[str(i)] for i in movies["item"].tolist()]
    for start in range(0, len(mids), 1000):
        session.execute(delete(MovieGenre).where(MovieGenre.movie_id.in_(mids[start : start + 1000])))
    pairs = [(m, genre_ids[g]) for m, gs in zip(mids, movies["genres"].tolist(), strict=True) for g in gs]
    _upsert(session, MovieGenre.__table__, {"movie_id": [p[0] for p in pairs], "genre_id": [p[1] for p in pairs]},  # type: ignore[arg-type]
            ["movie_id", "genre_id"], [])
    return ids


def table_counts(engine: Engine) -> dict[str, int]:
    """Row counts of the data tables (users, movies, genres, ratings, tags, follows)."""
    out: dict[str, int] = {}
    with Session(engine) as s:
        for model in (User, Movie, Genre, MovieGenre, Rating, Tag, Follow):
            out[model.__tablename__] = int(s.scalar(select(func.count()).select_from(model)) or 0)
    return out
