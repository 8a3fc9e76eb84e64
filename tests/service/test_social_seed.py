"""The demo's social graph: deterministic for a seed, idempotent, follows skewed to similar tastes, counts kept."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from cinerec.data.readers import read_dataset
from cinerec.errors import InvalidParameter, NotFound
from cinerec.service import social_signals
from cinerec.service.accounts import create_user
from cinerec.service.social_seed import (
    NOTES_EN,
    NOTES_ZH,
    SeedParams,
    plan_social_graph,
    seed_social,
    similarity,
    taste_matrix,
)
from cinerec.store.db import make_engine, transaction
from cinerec.store.importer import import_dataset
from cinerec.store.migrate import upgrade
from cinerec.store.models import Event, Follow, ListItem, ListLike, MovieList, Notification, Share

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ml100k_ratings(datasets: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, list[str]]]:
    ds = read_dataset(datasets / "ml-100k")
    it = ds.interactions()
    assert it.ratings is not None and ds.movies is not None
    genres = {int(m): list(g) for m, g in zip(ds.movies["item"], ds.movies["genres"], strict=True)}
    return it.user_vocab.raw(it.users), it.item_vocab.raw(it.items), it.ratings, genres


def test_plan_is_deterministic_for_a_seed(ml100k_ratings: tuple) -> None:  # type: ignore[type-arg]
    u, i, r, g = ml100k_ratings
    a = plan_social_graph(u, i, r, g, SeedParams(seed=7))
    b = plan_social_graph(u, i, r, g, SeedParams(seed=7))
    c = plan_social_graph(u, i, r, g, SeedParams(seed=8))
    assert a == b
    assert a.shares != c.shares and a.follows != c.follows
    assert len(a.follows) == len(np.unique(u)) * 10  # 8 neighbours + 2 random each (every ML-100K user has both)
    assert {s.note for s in a.shares} <= set(NOTES_EN) | set(NOTES_ZH)
    assert {s.note for s in a.shares} & set(NOTES_ZH) and {s.note for s in a.shares} & set(NOTES_EN)
    titles = {lst.title for lst in a.lists}
    assert "My top picks" in titles and any(t.startswith("Favourite ") for t in titles)


def test_shares_and_lists_hold_the_members_top_rated_films(ml100k_ratings: tuple) -> None:  # type: ignore[type-arg]
    u, i, r, g = ml100k_ratings
    plan = plan_social_graph(u, i, r, g, SeedParams())
    stars = {(int(a), int(b)): float(v) for a, b, v in zip(u, i, r, strict=True)}
    assert plan.shares and all(stars[(s.user, s.movie)] >= 4 for s in plan.shares)
    for lst in plan.lists:
        assert all(stars[(lst.user, m)] >= 4 for m in lst.movies) and len(lst.movies) <= 10
        if lst.title == "My top picks":
            best = sorted((v for (a, _), v in stars.items() if a == lst.user), reverse=True)[:len(lst.movies)]
            assert [stars[(lst.user, m)] for m in lst.movies] == best


def test_follows_skew_to_similar_tastes(ml100k_ratings: tuple) -> None:  # type: ignore[type-arg]
    u, i, r, g = ml100k_ratings
    uids, matrix = taste_matrix(u, i, r)
    index = {int(x): k for k, x in enumerate(uids)}
    plan = plan_social_graph(u, i, r, g, SeedParams(follows=5, random_follows=0))
    followed = similarity(matrix, [(index[a], index[b]) for a, b, _ in plan.follows])
    rng = np.random.default_rng(0)
    pairs = [(int(a), int(b)) for a, b in rng.integers(0, len(uids), size=(5000, 2)) if a != b]
    random = similarity(matrix, pairs)
    assert followed.mean() > random.mean() + 0.1
    mixed = plan_social_graph(u, i, r, g, SeedParams(follows=0, random_follows=5))
    assert abs(similarity(matrix, [(index[a], index[b]) for a, b, _ in mixed.follows]).mean() - random.mean()) < 0.02


def test_bad_parameters() -> None:
    for bad in (SeedParams(follows=-1), SeedParams(list_fraction=1.5), SeedParams(days=0)):
        with pytest.raises(InvalidParameter):
            plan_social_graph([1, 2], [1, 1], [4.0, 5.0], None, bad)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Path:
    """A migrated SQLite file holding ml-latest-small, to copy per test."""
    path = tmp_path_factory.mktemp("seed") / "base.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    eng = make_engine(url)
    import_dataset(eng, read_dataset(datasets / "ml-latest-small"))
    eng.dispose()
    return path


def _copy(base: Path, tmp_path: Path, name: str) -> Engine:
    target = tmp_path / name
    shutil.copy(base, target)
    return make_engine(f"sqlite:///{target}")


def _contents(engine: Engine) -> tuple[list[tuple[object, ...]], ...]:
    with transaction(engine, write=False) as s:
        follows = s.execute(select(Follow.follower_id, Follow.followee_id, Follow.created_at)
                            .order_by(Follow.follower_id, Follow.followee_id)).all()
        shares = s.execute(select(Share.user_id, Share.movie_id, Share.note, Share.audience, Share.created_at)
                           .order_by(Share.id)).all()
        items = s.execute(select(MovieList.user_id, MovieList.title, ListItem.movie_id, ListItem.position)
                          .join(ListItem).order_by(MovieList.id, ListItem.position)).all()
        events = s.execute(select(Event.user_id, Event.kind, Event.movie_id, Event.created_at).order_by(Event.id)).all()
    return [tuple(x) for x in follows], [tuple(x) for x in shares], [tuple(x) for x in items], [tuple(x) for x in events]


@pytest.mark.slow
def test_seed_is_deterministic_idempotent_and_keeps_counts(imported: Path, tmp_path: Path) -> None:
    a, b = _copy(imported, tmp_path, "a.db"), _copy(imported, tmp_path, "b.db")
    first = seed_social(a, SeedParams(seed=3), now=NOW)
    assert first.follows > 0 and first.shares > 0 and first.lists > 0 and first.list_likes > 0
    assert first.events == first.follows + first.shares + first.lists + first.list_likes
    assert seed_social(b, SeedParams(seed=3), now=NOW) == first
    assert _contents(a) == _contents(b)
    again = seed_social(a, SeedParams(seed=3), now=NOW)
    assert again == type(first)(0, 0, 0, 0, 0, 0, 0)
    with transaction(a, write=False) as s:
        assert s.scalar(select(func.count()).select_from(Follow)) == first.follows
        for lst in s.scalars(select(MovieList)):
            n_items = s.scalar(select(func.count()).select_from(ListItem).where(ListItem.list_id == lst.id))
            n_likes = s.scalar(select(func.count()).select_from(ListLike).where(ListLike.list_id == lst.id))
            assert (lst.item_count, lst.like_count) == (n_items, n_likes) and lst.is_public
        assert s.scalar(select(func.count()).select_from(Notification)) == first.notifications
        public = s.scalars(select(Share.token).where(Share.audience == "public")).all()
        assert public and all(t is not None and len(t) >= 43 for t in public)
        # event ids grow with time, as the feed's cursor expects
        times = s.scalars(select(Event.created_at).order_by(Event.id)).all()
        assert times == sorted(times)


@pytest.mark.slow
def test_a_member_joins_the_graph(imported: Path, tmp_path: Path) -> None:
    eng = _copy(imported, tmp_path, "m.db")
    with pytest.raises(NotFound):
        seed_social(eng, SeedParams(), member="nobody-here", now=NOW)
    user = create_user(eng, "demo-viewer", "correct horse battery staple 42")
    seed_social(eng, SeedParams(follows=6), member="demo-viewer", now=NOW)
    with transaction(eng, write=False) as s:
        following = s.scalar(select(func.count()).select_from(Follow).where(Follow.follower_id == user.id))
        followers = s.scalar(select(func.count()).select_from(Follow).where(Follow.followee_id == user.id))
        kinds = dict(s.execute(select(Notification.kind, func.count()).where(Notification.user_id == user.id)
                               .group_by(Notification.kind)).all())
        shared = s.scalar(select(func.count()).select_from(Share).join(Follow, Follow.followee_id == Share.user_id)
                          .where(Follow.follower_id == user.id))
        assert following == 6 and followers == 3
        assert kinds == {"follow": 3, "share": shared} and shared > 0  # the followees' shares reach the member
        assert len(social_signals.popular_with_following(s, user.id, k=12)) == 12
