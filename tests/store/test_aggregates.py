"""Per-film rating aggregates: equal to a recount after any writes, damped-mean order, migration backfill."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from cinerec.data.readers import read_dataset
from cinerec.store.db import make_engine, transaction
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
from cinerec.store.models import STAR_BINS, Movie, MovieStats, Rating, User
from cinerec.store.repos import aggregates
from cinerec.store.repos import movies as movie_repo


def _recount(session) -> dict[int, tuple[int, float, list[int]]]:  # type: ignore[no-untyped-def]
    """Aggregates recomputed in Python from the ratings table."""
    out: dict[int, tuple[int, float, list[int]]] = {}
    for mid, value in session.execute(select(Rating.movie_id, Rating.value)):
        n, s, h = out.get(mid, (0, 0.0, [0] * 10))
        h = list(h)
        h[aggregates.star_bin(value) - 1] += 1
        out[mid] = (n + 1, s + value, h)
    return out


def _stored(session) -> dict[int, tuple[int, float, list[int]]]:  # type: ignore[no-untyped-def]
    rows = session.scalars(select(MovieStats)).all()
    return {r.movie_id: (r.n_ratings, r.rating_sum, aggregates.histogram(r)) for r in rows if r.n_ratings}


def _assert_equal_to_recount(engine) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine, write=False) as s:
        expected, stored = _recount(s), _stored(s)
    assert stored.keys() == expected.keys()
    for mid, (n, total, hist) in expected.items():
        assert stored[mid][0] == n and stored[mid][2] == hist, mid
        assert stored[mid][1] == pytest.approx(total, abs=1e-9), mid


def _seed(engine, n_users: int = 30, n_movies: int = 12) -> tuple[list[int], list[int]]:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        users = [User(username=f"u{i}") for i in range(n_users)]
        movies = [Movie(title=f"Film {i}") for i in range(n_movies)]
        s.add_all(users + movies)
        s.flush()
        uids, mids = [u.id for u in users], [m.id for m in movies]
        aggregates.rebuild(s)
    return uids, mids


def _write(session, user_id: int, movie_id: int, value: float | None) -> None:  # type: ignore[no-untyped-def]
    """A rating write the way the product's writers do it: the row, then the aggregate, one transaction."""
    row = session.scalar(select(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id))
    old = row.value if row is not None else None
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(Rating(user_id=user_id, movie_id=movie_id, value=value))
    else:
        row.value = value
    session.flush()
    aggregates.apply_rating_change(session, movie_id, old, value)


def test_aggregates_equal_a_recount_after_random_writes(db_url: str) -> None:
    upgrade(db_url)
    eng = make_engine(db_url)
    uids, mids = _seed(eng)
    rng = random.Random(9)
    values = [x / 2 for x in range(1, 11)] + [3.7]  # an off-grid value goes to the next half-star bin
    for _ in range(40):  # 40 transactions of 1-8 writes, creates, changes and deletes mixed
        with transaction(eng) as s:
            for _ in range(rng.randint(1, 8)):
                _write(s, rng.choice(uids), rng.choice(mids), rng.choice([*values, None, None]))
    _assert_equal_to_recount(eng)
    with transaction(eng) as s:  # a rolled-back transaction leaves the aggregates alone
        before = _stored(s)
    with pytest.raises(RuntimeError), transaction(eng) as s:
        _write(s, uids[0], mids[0], 5.0)
        raise RuntimeError("abort")
    with transaction(eng, write=False) as s:
        assert _stored(s) == before
    eng.dispose()


def test_concurrent_writers_lose_no_increment(db_url: str) -> None:
    """F4 (c): 20 concurrent "rate + update aggregate" transactions on one film."""
    upgrade(db_url)
    eng = make_engine(db_url)
    uids, mids = _seed(eng, n_users=20, n_movies=1)
    errors: list[BaseException] = []

    def rate(uid: int) -> None:
        try:
            with transaction(eng) as s:
                _write(s, uid, mids[0], 4.5)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=(u,)) for u in uids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with transaction(eng, write=False) as s:
        st = s.get(MovieStats, mids[0])
        assert st is not None and st.n_ratings == 20 and st.rating_sum == 90.0 and st.stars_45 == 20
    _assert_equal_to_recount(eng)
    eng.dispose()


def test_recount_repairs_after_a_bulk_delete(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    uids, mids = _seed(eng, n_users=5, n_movies=3)
    with transaction(eng) as s:
        for u in uids:
            for m in mids:
                _write(s, u, m, 4.0)
    with transaction(eng) as s:  # an account deleted with its data: ratings go by cascade
        touched = list(s.scalars(select(Rating.movie_id).where(Rating.user_id == uids[0])))
        s.execute(text("DELETE FROM users WHERE id = :u"), {"u": uids[0]})
        aggregates.recount(s, touched)
    _assert_equal_to_recount(eng)
    eng.dispose()


def test_damped_mean_ranks_well_rated_popular_films_first(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    uids, mids = _seed(eng, n_users=60, n_movies=3)
    few, many, middling = mids
    with transaction(eng) as s:
        for u in uids[:2]:  # two perfect ratings
            _write(s, u, few, 5.0)
        for u in uids[:50]:  # fifty ratings averaging 4.5
            _write(s, u, many, 4.5)
        for u in uids[:60]:
            _write(s, u, middling, 2.0)
    with transaction(eng, write=False) as s:
        rows, total = movie_repo.search(s, sort="rating", limit=3)
        c = aggregates.global_mean(s)
    assert total == 3 and [r.movie.id for r in rows] == [many, few, middling]
    assert rows[0].mean_rating == pytest.approx(4.5) and rows[1].mean_rating == pytest.approx(5.0)
    assert c == pytest.approx((2 * 5 + 50 * 4.5 + 60 * 2) / 112)
    # the formula itself: (v R + m C) / (v + m)
    m = aggregates.PRIOR_WEIGHT
    assert aggregates.bayes_mean(2, 5.0, c) == pytest.approx((2 * 5.0 + m * c) / (2 + m))
    assert aggregates.bayes_mean(0, None, c) == c
    eng.dispose()


def test_import_rebuilds_and_catalogue_reads_the_aggregates(sqlite_url: str, ml_small: Path) -> None:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    import_dataset(eng, read_dataset(ml_small))
    _assert_equal_to_recount(eng)
    with transaction(eng, write=False) as s:
        n_movies = s.scalar(select(func.count()).select_from(Movie))
        assert s.scalar(select(func.count()).select_from(MovieStats)) == n_movies  # zero rows for unrated films too
        top, _ = movie_repo.search(s, sort="popular", limit=5)
        counts = [r.n_ratings for r in top]
        recount = _recount(s)
        assert counts == sorted(counts, reverse=True) and counts[0] == max(n for n, _, _ in recount.values())
        row = movie_repo.get(s, top[0].movie.id)
        assert sum(row.histogram) == row.n_ratings and len(row.histogram) == len(STAR_BINS)
        # films with few ratings do not top the rating sort
        best, _ = movie_repo.search(s, sort="rating", limit=10)
        assert min(r.n_ratings for r in best) >= 20
    eng.dispose()


def test_migration_backfills_existing_ratings(sqlite_url: str) -> None:
    upgrade(sqlite_url, "0004")
    eng = make_engine(sqlite_url)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username, locale, is_admin, is_active, session_version, created_at) "
                          "VALUES (1, 'a', 'en', 0, 1, 0, '2020-01-01'), (2, 'b', 'en', 0, 1, 0, '2020-01-01')"))
        conn.execute(text("INSERT INTO movies (id, title, created_at) VALUES (1, 'x', '2020-01-01'), (2, 'y', '2020-01-01')"))
        conn.execute(text("INSERT INTO ratings (user_id, movie_id, value, created_at, updated_at) "
                          "VALUES (1, 1, 4.0, '2020-01-01', '2020-01-01'), (2, 1, 0.5, '2020-01-01', '2020-01-01')"))
    eng.dispose()
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    with transaction(eng, write=False) as s:
        one, two = s.get(MovieStats, 1), s.get(MovieStats, 2)
        assert one is not None and (one.n_ratings, one.rating_sum, one.stars_40, one.stars_05) == (2, 4.5, 1, 1)
        assert two is not None and two.n_ratings == 0
    eng.dispose()
