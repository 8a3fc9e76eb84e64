"""People with your taste (service.social_signals.suggested_members) on a fresh database, SQLite and PostgreSQL.

A constructed circle: the viewer loves films 1-6; members love some of them
(and other films); the ranking, the exclusions (self, followed, inactive,
blocked either way), the examples, the damping, the most-followed fallback and
the cache's reaction to follows, blocks and new ratings are checked exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete

from cinerec.errors import InvalidParameter
from cinerec.service import social_signals as ss
from cinerec.store.db import make_engine, transaction
from cinerec.store.models import Block, Follow, Movie, Rating, User, utcnow

#: The viewer's ratings: films 1-6 loved (with different stars, for the examples' order), film 7 disliked.
VIEWER = {1: 5.0, 2: 5.0, 3: 4.5, 4: 4.5, 5: 4.0, 6: 4.0, 7: 2.0}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    from cinerec.store.migrate import upgrade

    upgrade(db_url)
    eng = make_engine(db_url)
    with transaction(eng) as s:
        s.add_all([Movie(id=i, title=f"Film {i}", year=1990 + i) for i in range(1, 121)])
    ss._suggestion_cache.clear()
    yield eng
    ss._suggestion_cache.clear()
    eng.dispose()


def add_user(engine: Engine, name: str, ratings: dict[int, float] | None = None, *, active: bool = True) -> int:
    """A member with ratings (oldest first in dict order, one second apart)."""
    start = utcnow() - timedelta(days=1)
    with transaction(engine) as s:
        u = User(username=name, is_active=active)
        s.add(u)
        s.flush()
        for i, (mid, v) in enumerate((ratings or {}).items()):
            s.add(Rating(user_id=u.id, movie_id=mid, value=v, updated_at=start + timedelta(seconds=i)))
        return int(u.id)


def follow(engine: Engine, a: int, b: int) -> None:
    with transaction(engine) as s:
        s.add(Follow(follower_id=a, followee_id=b))


def block(engine: Engine, a: int, b: int) -> None:
    with transaction(engine) as s:
        s.add(Block(blocker_id=a, blocked_id=b))


def suggest(engine: Engine, uid: int, k: int = 12) -> list[ss.Suggestion]:
    with transaction(engine, write=False) as s:
        return ss.suggested_members(s, uid, k=k)


@pytest.fixture
def circle(engine: Engine) -> dict[str, int]:
    """The viewer ``v`` and the members around them."""
    ids = {"v": add_user(engine, "v", VIEWER)}
    ids["a"] = add_user(engine, "a", {1: 4.0, 2: 5.0, 3: 5.0, 4: 4.0})  # 4 in common
    ids["b"] = add_user(engine, "b", {1: 5.0, 2: 4.5, 3: 3.5})  # 2 in common (3.5 is not a like)
    ids["c"] = add_user(engine, "c", {6: 4.0, 7: 5.0})  # 1 in common (film 7 the viewer disliked)
    ids["d"] = add_user(engine, "d", {10: 5.0})  # nothing in common
    loves_all = {m: 5.0 for m in range(1, 7)}
    ids["f"] = add_user(engine, "f", loves_all)  # followed by the viewer
    ids["x"] = add_user(engine, "x", loves_all, active=False)  # inactive
    ids["y"] = add_user(engine, "y", loves_all)  # blocked by the viewer
    ids["z"] = add_user(engine, "z", loves_all)  # blocked the viewer
    follow(engine, ids["v"], ids["f"])
    block(engine, ids["v"], ids["y"])
    block(engine, ids["z"], ids["v"])
    for who in ("b", "c", "d"):  # followers: a 3, b 1, f 1, x (inactive) 4
        follow(engine, ids[who], ids["a"])
        follow(engine, ids[who], ids["x"])
    follow(engine, ids["c"], ids["b"])
    follow(engine, ids["a"], ids["x"])
    return ids


def names(out: list[ss.Suggestion]) -> list[str]:
    return [x.member.username for x in out]


def test_most_films_in_common_first_and_exclusions(engine: Engine, circle: dict[str, int]) -> None:
    out = suggest(engine, circle["v"])
    assert names(out) == ["a", "b", "c"]  # never v, f (followed), x (inactive), y, z (blocks); d shares nothing
    assert [x.shared_likes for x in out] == [4, 2, 1]
    assert [x.score for x in out] == [round(ss.taste_score(4, 4), 6), round(ss.taste_score(2, 2), 6),
                                      round(ss.taste_score(1, 2), 6)]
    assert [x.followers for x in out] == [3, 1, 0]
    # examples: films both loved, highest sum of the two ratings first (2: 10, 3: 9.5, 1: 9, 4: 8.5), at most 3
    assert [f.movie_id for f in out[0].examples] == [2, 3, 1]
    assert out[0].examples[0].title == "Film 2" and out[0].examples[0].year == 1992
    assert [f.movie_id for f in out[2].examples] == [6]
    assert suggest(engine, circle["v"], k=2) == out[:2]


def test_damping_keeps_a_prolific_rater_from_always_winning(engine: Engine, circle: dict[str, int]) -> None:
    # p shares 5 of the viewer's loved films but loves 100 more: 5 / sqrt(105 + 30) < 4 / sqrt(4 + 30)
    p = add_user(engine, "p", {**{m: 4.0 for m in range(1, 6)}, **{m: 5.0 for m in range(20, 120)}})
    out = suggest(engine, circle["v"])
    assert names(out) == ["a", "p", "b", "c"]
    assert out[1].member.user_id == p and out[1].shared_likes == 5
    assert out[1].score == round(5 / math.sqrt(105 + ss.DAMPING), 6) < out[0].score


def test_fallback_without_likes_is_the_most_followed(engine: Engine, circle: dict[str, int]) -> None:
    n = add_user(engine, "n")
    out = suggest(engine, n)
    assert names(out) == ["a", "b", "f"]  # 3, 1, 1 followers (ties: lower id); x is inactive; d, c nobody follows
    assert [x.shared_likes for x in out] == [0, 0, 0] and [x.examples for x in out] == [(), (), ()]
    assert [x.followers for x in out] == [3, 1, 1]
    block(engine, circle["a"], n)  # a block either way removes a at once
    assert names(suggest(engine, n)) == ["b", "f"]
    # a member whose only likes nobody shares gets the fallback too
    lonely = add_user(engine, "lonely", {100: 5.0})
    assert names(suggest(engine, lonely)) == ["a", "b", "f"]


def test_a_follow_a_block_and_a_new_rating_change_the_list_at_once(engine: Engine, circle: dict[str, int]) -> None:
    v = circle["v"]
    assert names(suggest(engine, v)) == ["a", "b", "c"]
    follow(engine, v, circle["a"])
    assert names(suggest(engine, v)) == ["b", "c"]
    block(engine, circle["b"], v)
    assert names(suggest(engine, v)) == ["c"]
    with transaction(engine) as s:
        s.add(Rating(user_id=v, movie_id=10, value=5.0, updated_at=utcnow()))
    out = suggest(engine, v)
    # d now shares film 10 and, with one like against c's two, scores higher: 1 / sqrt(31) > 1 / sqrt(32)
    assert names(out) == ["d", "c"] and [x.shared_likes for x in out] == [1, 1]
    with transaction(engine) as s:  # unfollowing brings a back
        s.execute(delete(Follow).where(Follow.follower_id == v, Follow.followee_id == circle["a"]))
    assert names(suggest(engine, v))[0] == "a"


def test_feed_box_only_while_following_few_or_an_empty_feed(engine: Engine, circle: dict[str, int]) -> None:
    v = circle["v"]
    with transaction(engine, write=False) as s:
        assert names(ss.feed_suggestions(s, v, feed_empty=False, k=2)) == ["a", "b"]
    for i in range(ss.FEW_FOLLOWS):
        follow(engine, v, add_user(engine, f"q{i}"))
    with transaction(engine, write=False) as s:
        assert ss.following_count(s, v) == ss.FEW_FOLLOWS + 1
        assert ss.feed_suggestions(s, v, feed_empty=False) == []
        assert names(ss.feed_suggestions(s, v, feed_empty=True, k=2)) == ["a", "b"]


@pytest.mark.parametrize("k", [0, -1, ss.MAX_SUGGESTIONS + 1])
def test_k_out_of_range(engine: Engine, circle: dict[str, int], k: int) -> None:
    with pytest.raises(InvalidParameter):
        suggest(engine, circle["v"], k=k)
