"""Per-film rating aggregates (:class:`~cinerec.store.models.MovieStats`).

The catalogue serves counts, means and histograms from ``movie_stats``
instead of aggregating ``ratings`` on every request. The table stays equal to
a recount because every rating write goes through :func:`apply_rating_change`
in the writer's own transaction (an atomic ``UPDATE ... SET n = n + 1``, so
concurrent writers on PostgreSQL or SQLite never lose an increment), and bulk
writes (imports, account deletion) call :func:`rebuild` or :func:`recount`.

The damped ("Bayesian") mean ranks films by rating without putting films
with two or three ratings on top (IMDb's top-250 formula)::

    bayes = (v * R + m * C) / (v + m)

with ``v`` the film's rating count, ``R`` its mean, ``C`` the mean of all
ratings and ``m`` = :data:`PRIOR_WEIGHT` pseudo-ratings at ``C``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cinerec.store.models import STAR_BINS, Movie, MovieStats, Rating

#: ``m`` of the damped mean: a film counts as if it also had this many ratings at the global mean.
#: 10 is about the median rating count of a MovieLens film, so half the catalogue is pulled
#: at least halfway towards the global mean.
PRIOR_WEIGHT = 10.0
#: ``C`` when the database holds no rating at all (the middle of the 0.5-5 star scale).
DEFAULT_GLOBAL_MEAN = 2.75


def star_bin(value: float) -> int:
    """The half-star bin (1 = 0.5★ ... 10 = 5★) of a rating; off-grid values go to the next bin up."""
    return min(10, max(1, math.ceil(value * 2 - 1e-9)))


def _bin_expr(col: Any, i: int) -> ColumnElement[int]:
    """SQL: 1 when rating ``col`` falls in bin ``i``, else 0 (same rule as :func:`star_bin`)."""
    cond = col <= i / 2 if i == 1 else (col > (i - 1) / 2) & (col <= i / 2)
    return case((cond, 1), else_=0)


def _insert(session: Session) -> Any:
    """The dialect's INSERT construct that supports ``ON CONFLICT``."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(MovieStats)
    if name == "sqlite":
        return sqlite.insert(MovieStats)
    raise NotImplementedError(f"movie_stats upsert is not implemented for {name}")


def apply_rating_change(session: Session, movie_id: int, old: float | None, new: float | None) -> None:
    """Update a film's aggregates for one rating write, inside the caller's transaction.

    Args:
        session: the session whose transaction writes the rating.
        movie_id: the rated film.
        old: the previous rating of this user for this film, ``None`` if there was none.
        new: the rating written, ``None`` when the rating was removed.

    Call it after writing the rating row, in the same transaction.

    The update is a single atomic ``INSERT ... ON CONFLICT DO UPDATE`` of
    deltas, so concurrent writers never overwrite each other's counts.
    """
    if old is None and new is None:
        return
    _bump()
    delta: dict[str, int] = dict.fromkeys(STAR_BINS, 0)
    if old is not None:
        delta[STAR_BINS[star_bin(old) - 1]] -= 1
    if new is not None:
        delta[STAR_BINS[star_bin(new) - 1]] += 1
    dn = (new is not None) - (old is not None)
    dsum = (new or 0.0) - (old or 0.0)
    table = MovieStats.__table__
    changes = {"n_ratings": table.c.n_ratings + dn, "rating_sum": table.c.rating_sum + dsum,
               **{k: table.c[k] + v for k, v in delta.items() if v}}
    if old is not None:
        # the film's row exists as soon as one of its ratings was counted: a plain delta update
        result = session.execute(update(MovieStats).where(MovieStats.movie_id == movie_id).values(**changes))
        if not result.rowcount:  # type: ignore[attr-defined]
            recount(session, [movie_id])  # a row lost outside this module: recount that film
        return
    # a new rating (all deltas >= 0): the inserted row equals the delta when the film had no row
    stmt = _insert(session).values(movie_id=movie_id, n_ratings=dn, rating_sum=dsum, **delta)
    session.execute(stmt.on_conflict_do_update(index_elements=[MovieStats.movie_id], set_=changes))


_generation = itertools.count()
_current = [0]


def _bump() -> None:
    _current[0] = next(_generation) + 1


def touch() -> None:
    """Say that something a catalogue or film page shows changed in this process (a review, its sentiment).

    Pages cached under :func:`generation` are then rebuilt on their next request here; other
    processes see the change when their short-lived entries expire.
    """
    _bump()


def generation() -> int:
    """A number that changes whenever this process writes aggregates (a cache key for catalogue pages)."""
    return _current[0]


def _recount_select(movie_ids: list[int] | None = None) -> Any:
    """SELECT of recounted aggregates, one row per film (films without ratings get zeros)."""
    v = Rating.value
    cols = [Movie.id, func.count(Rating.id), func.coalesce(func.sum(v), literal(0.0))]
    cols += [func.coalesce(func.sum(_bin_expr(v, i)), 0) for i in range(1, 11)]
    stmt = select(*cols).outerjoin(Rating, Rating.movie_id == Movie.id).group_by(Movie.id)
    if movie_ids is not None:
        stmt = stmt.where(Movie.id.in_(movie_ids))
    return stmt


_COLUMNS = ["movie_id", "n_ratings", "rating_sum", *STAR_BINS]


def rebuild(session: Session) -> int:
    """Recompute every film's aggregates from ``ratings`` (after bulk imports).

    Returns:
        The number of films with a stats row.
    """
    _bump()
    session.execute(delete(MovieStats))
    session.execute(insert(MovieStats).from_select(_COLUMNS, _recount_select()))
    return int(session.scalar(select(func.count()).select_from(MovieStats)) or 0)


def recount(session: Session, movie_ids: list[int]) -> None:
    """Recompute the aggregates of some films from ``ratings`` (after deleting many ratings at once).

    Call it in the transaction that changed the ratings, with the ids of every
    film whose ratings changed (for example all films a deleted account rated).
    """
    _bump()
    ids = sorted(set(movie_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(MovieStats).where(MovieStats.movie_id.in_(chunk)))
        session.execute(insert(MovieStats).from_select(_COLUMNS, _recount_select(chunk)))


def global_mean(session: Session) -> float:
    """``C``: the mean of all ratings, from the aggregates (:data:`DEFAULT_GLOBAL_MEAN` when there are none)."""
    n, total = session.execute(select(func.sum(MovieStats.n_ratings), func.sum(MovieStats.rating_sum))).one()
    return float(total) / float(n) if n else DEFAULT_GLOBAL_MEAN


def bayes_mean(n: int, mean: float | None, c: float, m: float = PRIOR_WEIGHT) -> float:
    """The damped mean ``(v * R + m * C) / (v + m)`` of one film (``C`` when it has no ratings)."""
    if not n or mean is None:
        return c
    return (n * mean + m * c) / (n + m)


def histogram(stats: MovieStats | None) -> list[int]:
    """The ten half-star counts of a film (0.5★ first), zeros when it has no stats row."""
    if stats is None:
        return [0] * 10
    return [int(getattr(stats, k)) for k in STAR_BINS]
