"""Shares, public-list entries and review likes enter training as weighted implicit interactions;
the circle repository reads what followees did (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import Engine

from cinerec.store.db import make_engine, transaction
from cinerec.store.migrate import upgrade
from cinerec.store.models import ListItem, Movie, MovieList, Rating, Review, ReviewLike, Share, User
from cinerec.store.snapshot import SOCIAL_SIGNALS, load_interactions, social_signal

WHEN = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Engine:
    """A migrated database, SQLite and PostgreSQL."""
    upgrade(db_url)
    return make_engine(db_url)


def _seed(engine: Engine) -> tuple[list[int], list[int]]:
    """Members 0-3 and films 0-7 with ratings, shares, lists and review likes (see each test)."""
    with transaction(engine) as s:
        users = [User(username=f"u{i}") for i in range(4)]
        movies = [Movie(title=f"Film {i}") for i in range(8)]
        s.add_all(users + movies)
        s.flush()
        u, m = [x.id for x in users], [x.id for x in movies]
        s.add_all([Rating(user_id=u[0], movie_id=m[0], value=2.0, updated_at=WHEN),
                   Rating(user_id=u[1], movie_id=m[0], value=5.0, updated_at=WHEN)])
        # u0 rated m0: sharing it does not replace the rating
        s.add(Share(user_id=u[0], movie_id=m[0], audience="followers", created_at=WHEN))
        s.add(Share(user_id=u[0], movie_id=m[1], audience="public", token="t" * 43, created_at=WHEN))
        s.add(Share(user_id=u[0], movie_id=m[2], audience="followers", created_at=WHEN, revoked_at=WHEN))
        public = MovieList(user_id=u[2], title="Best", is_public=True, item_count=2)
        private = MovieList(user_id=u[2], title="Secret", is_public=False, item_count=1)
        s.add_all([public, private])
        s.flush()
        s.add_all([ListItem(list_id=public.id, movie_id=m[3], position=0, added_at=WHEN),
                   ListItem(list_id=public.id, movie_id=m[1], position=1, added_at=WHEN),
                   ListItem(list_id=private.id, movie_id=m[4], position=0, added_at=WHEN)])
        review = Review(user_id=u[1], movie_id=m[5], text="great", sentiment=None)
        s.add(review)
        s.flush()
        s.add(ReviewLike(user_id=u[3], review_id=review.id, created_at=WHEN))
        # u2 shares a film that is also on their public list: the share's higher weight counts
        s.add(Share(user_id=u[2], movie_id=m[3], audience="followers", created_at=WHEN))
    return u, m


def _pairs(engine: Engine, **kw: bool) -> dict[tuple[int, int], tuple[float, float]]:
    it = load_interactions(engine, **kw)
    users, items = it.user_vocab.raw(it.users), it.item_vocab.raw(it.items)
    ratings = it.ratings if it.ratings is not None else np.full(len(it), np.nan)
    weights = it.weights if it.weights is not None else np.ones(len(it))
    return {(int(a), int(b)): (float(r), float(w)) for a, b, r, w in zip(users, items, ratings, weights, strict=True)}


def test_signals_weighted_as_documented(engine: Engine) -> None:
    u, m = _seed(engine)
    got = _pairs(engine)
    assert got[(u[0], m[0])] == (2.0, 1.0)  # the rating wins over the share
    assert got[(u[1], m[0])] == (5.0, 1.0)
    assert got[(u[0], m[1])] == SOCIAL_SIGNALS["share"]
    assert got[(u[2], m[3])] == SOCIAL_SIGNALS["share"]  # share beats list entry
    assert got[(u[2], m[1])] == SOCIAL_SIGNALS["list"]
    assert got[(u[3], m[5])] == SOCIAL_SIGNALS["like_review"]
    assert (u[0], m[2]) not in got  # revoked share
    assert (u[2], m[4]) not in got  # private list
    assert len(got) == 6


def test_social_off_leaves_ratings_only(engine: Engine) -> None:
    u, m = _seed(engine)
    got = _pairs(engine, social=False)
    assert set(got) == {(u[0], m[0]), (u[1], m[0])}


def test_social_signal_order_and_unknown_kind() -> None:
    import pandas as pd

    rating, weight = social_signal(pd.Series(["share", "list", "like_review"]))
    assert list(weight) == sorted(weight, reverse=True) and weight.max() < 1.0  # below a rating's weight
    assert list(rating) == [4.5, 4.0, 3.5]
    with pytest.raises(KeyError):
        social_signal(pd.Series(["follow"]))


def test_follows_become_the_social_graph(engine: Engine) -> None:
    from cinerec.store.models import Follow

    u, _ = _seed(engine)
    assert load_interactions(engine).social is None  # nobody follows anybody yet
    with transaction(engine) as s:
        s.add_all([Follow(follower_id=u[0], followee_id=u[1]), Follow(follower_id=u[3], followee_id=u[0])])
    it = load_interactions(engine)
    assert it.social is not None and it.social.shape == (4, 4)
    edges = {(int(it.user_vocab.raw(a)), int(it.user_vocab.raw(b))) for a, b in zip(*it.social.nonzero(), strict=True)}
    assert edges == {(u[0], u[1]), (u[3], u[0])}
    assert load_interactions(engine, social=False).social is None


def test_circle_reads_followees_signals_without_blocked_or_hidden(engine: Engine) -> None:
    from cinerec.store.models import Block, Follow
    from cinerec.store.repos import circle

    u, m = _seed(engine)
    with transaction(engine) as s:
        s.add_all([Follow(follower_id=u[3], followee_id=u[0]), Follow(follower_id=u[3], followee_id=u[1]),
                   Follow(follower_id=u[3], followee_id=u[2])])
    with transaction(engine, write=False) as s:
        got = {(x.kind, x.movie_id, x.user_id, x.value) for x in circle.signals(s, u[3], min_rating=4.0, limit=100)}
        assert got == {("rate", m[0], u[1], 5.0), ("share", m[0], u[0], None), ("share", m[1], u[0], None),
                       ("share", m[3], u[2], None),
                       ("list", m[3], u[2], None), ("list", m[1], u[2], None)}  # no 2★, revoked share, private list
        # newest share first (equal times: the later share); the revoked share of m2 is not there
        assert circle.sharers(s, u[3], [m[1], m[2], m[3], m[4]]) == [(m[3], "u2"), (m[1], "u0")]
        assert circle.followee_ids(s, u[3]) == sorted([u[0], u[1], u[2]])
    with transaction(engine) as s:
        s.add(Block(blocker_id=u[2], blocked_id=u[3]))
    with transaction(engine, write=False) as s:
        assert {x.user_id for x in circle.signals(s, u[3], min_rating=4.0, limit=100)} == {u[0], u[1]}
        assert circle.sharers(s, u[3], [m[3]]) == []
        assert circle.followee_ids(s, u[3]) == sorted([u[0], u[1]])
