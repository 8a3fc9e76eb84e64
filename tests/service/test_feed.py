"""Activity feed on a fresh SQLite database: what appears, privacy in SQL, cursor paging under concurrent writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from cinerec.errors import InvalidParameter
from cinerec.service import feed, members, social
from cinerec.service.throttle import Throttle
from cinerec.store.db import make_engine, transaction
from cinerec.store.models import Event, Movie, Review
from cinerec.store.repos import events as event_repo
from tests.service.test_social import person


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    from cinerec.store.migrate import upgrade

    upgrade(db_url)
    eng = make_engine(db_url)
    with transaction(eng) as s:
        s.add_all([Movie(id=i, title=f"Film {i}", year=2000 + i) for i in range(1, 13)])
    yield eng
    eng.dispose()


def read(engine: Engine, viewer_id: int, **kw: object) -> feed.FeedPage:
    with transaction(engine, write=False) as s:
        return feed.feed(s, viewer_id, **kw)  # type: ignore[arg-type]


def test_feed_shows_followed_activity_and_hides_private_things(engine: Engine) -> None:
    t = Throttle()
    a, b, c = person(engine, "alice"), person(engine, "bob"), person(engine, "carol")
    social.follow(engine, t, b, "alice")
    members.rate(engine, a.user_id, 1, 4.5)
    members.unrate(engine, a.user_id, 1)  # a removal is no feed item
    members.rate(engine, a.user_id, 2, 3.0)
    with transaction(engine) as s:  # a public review with its event (object_id names it) and a private one
        pub = Review(user_id=a.user_id, movie_id=3, text="w" * 400, visibility="public")
        hidden = Review(user_id=a.user_id, movie_id=4, text="secret", visibility="private")
        s.add_all([pub, hidden])
        s.flush()
        event_repo.record(s, a.user_id, "review", movie_id=3, value=0.5, object_id=pub.id)
        event_repo.record(s, a.user_id, "review", movie_id=4, value=0.1, object_id=hidden.id)
    shared = social.share(engine, t, a, movie_id=5, note="watch this", audience="public")
    revoked = social.share(engine, t, a, movie_id=6, note="oops", audience="followers")
    social.revoke_share(engine, a, revoked.id)
    public = social.create_list(engine, t, a, title="Public list")
    private = social.create_list(engine, t, a, title="Private list", public=False)
    social.put_list_item(engine, a, private.id, 7)
    social.like_list(engine, t, a, public.id, True)
    crid = review_id = _review(engine, c.user_id, 8)
    social.like_review(engine, t, a, crid, True)
    members.rate(engine, c.user_id, 9, 5.0)  # carol is not followed: never in bob's feed
    items = read(engine, b.user_id).items
    got = [(i.kind, i.movie.id if i.movie else None) for i in items]
    assert got == [("like_review", 8), ("like_list", None), ("list", None), ("share", 5), ("review", 3), ("rate", 2)]
    assert items[0].review is not None and items[0].review.id == review_id and items[0].review.like_count == 1
    assert items[1].list is not None and items[1].list.title == "Public list"
    assert items[3].share is not None and items[3].share.note == "watch this" and items[3].share.token == shared.token
    assert items[4].review is not None and len(items[4].review.excerpt) == feed.EXCERPT_CHARS
    assert items[5].rating == 3.0 and items[5].actor.username == "alice"
    assert all(i.list is None or i.list.id != private.id for i in items)
    # a list made private, a review made private: gone from the feed at once
    social.update_list(engine, a, public.id, public=False)
    with transaction(engine) as s:
        s.get(Review, crid).visibility = "private"  # type: ignore[union-attr]
    assert [i.kind for i in read(engine, b.user_id).items] == ["share", "review", "rate"]
    # a block either way empties it
    social.follow(engine, t, b, "alice")
    social.block(engine, b, "alice")
    assert read(engine, b.user_id).items == []
    with pytest.raises(InvalidParameter):
        read(engine, b.user_id, limit=101)
    with pytest.raises(InvalidParameter):
        read(engine, b.user_id, cursor=0)


def _review(engine: Engine, user_id: int, movie_id: int) -> int:
    with transaction(engine) as s:
        r = Review(user_id=user_id, movie_id=movie_id, text="Great", visibility="public")
        s.add(r)
        s.flush()
        return r.id


def test_review_events_without_a_review_id_match_the_public_review(engine: Engine) -> None:
    t = Throttle()
    a, b = person(engine, "alice"), person(engine, "bob")
    social.follow(engine, t, b, "alice")
    rid = _review(engine, a.user_id, 2)
    with transaction(engine) as s:
        event_repo.record(s, a.user_id, "review", movie_id=2, value=0.3)
    item = read(engine, b.user_id).items[0]
    assert item.kind == "review" and item.review is not None and item.review.id == rid
    with transaction(engine) as s:
        s.delete(s.get(Review, rid))
    assert read(engine, b.user_id).items == []


def test_page_sizes_are_exact_with_private_items_between(engine: Engine) -> None:
    t = Throttle()
    a, b = person(engine, "alice"), person(engine, "bob")
    social.follow(engine, t, b, "alice")
    private = social.create_list(engine, t, a, title="Hidden", public=False)
    for m in range(1, 11):
        members.rate(engine, a.user_id, m, 4.0)
        social.put_list_item(engine, a, private.id, m)  # a hidden event between every visible one
    first = read(engine, b.user_id, limit=4)
    second = read(engine, b.user_id, limit=4, cursor=first.next_cursor)
    third = read(engine, b.user_id, limit=4, cursor=second.next_cursor)
    assert [len(p.items) for p in (first, second, third)] == [4, 4, 2] and third.next_cursor is None
    films = [i.movie.id for p in (first, second, third) for i in p.items if i.movie]
    assert films == list(range(10, 0, -1))


def test_paging_is_stable_under_concurrent_inserts(engine: Engine) -> None:
    t = Throttle()
    a, b = person(engine, "alice"), person(engine, "bob")
    social.follow(engine, t, b, "alice")
    for i in range(60):
        members.rate(engine, a.user_id, 1 + i % 12, 0.5 + (i % 10) * 0.5)
    with transaction(engine, write=False) as s:
        before = set(s.scalars(select(Event.id).where(Event.user_id == a.user_id, Event.kind == "rate")))
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            members.rate(engine, a.user_id, 1 + i % 12, 0.5 + (i % 10) * 0.5)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[int] = []
    try:
        cursor = None
        while True:
            page = read(engine, b.user_id, limit=7, cursor=cursor)
            seen += [i.id for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen))  # no duplicates
    assert before <= set(seen)  # no gaps among the events that existed when paging started
    assert seen == sorted(seen, reverse=True)
