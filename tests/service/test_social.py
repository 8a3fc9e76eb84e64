"""Social service on a fresh SQLite database: follows, blocks, shares, lists, likes, notifications."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from cinerec.errors import Gone, InvalidParameter, NotFound, PermissionDenied, RateLimited
from cinerec.service import _lists, accounts, social
from cinerec.service.accounts import Principal
from cinerec.service.throttle import Limits, Throttle
from cinerec.store.db import make_engine, transaction
from cinerec.store.models import (
    Event,
    ListItem,
    ListLike,
    Movie,
    MovieList,
    Notification,
    Review,
    ReviewLike,
    Share,
)
from cinerec.store.repos import users as user_repo

PW = "a quiet evening with tea"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    from cinerec.store.migrate import upgrade

    upgrade(db_url)
    eng = make_engine(db_url)
    with transaction(eng) as s:
        s.add_all([Movie(id=i, title=f"Film {i}", year=2000 + i) for i in range(1, 13)])
    yield eng
    eng.dispose()


@pytest.fixture
def throttle() -> Throttle:
    return Throttle()


def person(engine: Engine, name: str, *, admin: bool = False) -> Principal:
    user = accounts.create_user(engine, name, PW, is_admin=admin)
    return Principal(user.id, user.username, admin, 0, "bearer", "en")


def count(engine: Engine, model: type, **where: object) -> int:
    with transaction(engine, write=False) as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(s.scalar(stmt) or 0)


def review(engine: Engine, author: Principal, movie_id: int, visibility: str = "public") -> int:
    with transaction(engine) as s:
        r = Review(user_id=author.user_id, movie_id=movie_id, text="A fine film", visibility=visibility)
        s.add(r)
        s.flush()
        return r.id


def test_follow_is_idempotent_notifies_and_lists(engine: Engine, throttle: Throttle) -> None:
    a, b, c = person(engine, "alice"), person(engine, "bob"), person(engine, "carol")
    assert social.follow(engine, throttle, b, "alice") is True
    assert social.follow(engine, throttle, b, "ALICE") is False  # idempotent, case-insensitive name
    social.follow(engine, throttle, c, "alice")
    assert count(engine, Notification, user_id=a.user_id, kind="follow") == 2
    assert count(engine, Event, user_id=b.user_id, kind="follow") == 1
    with transaction(engine, write=False) as s:
        page = social.followers(s, "alice", limit=10)
        assert page.total == 2 and [m.username for m in page.items] == ["carol", "bob"]
        assert [m.username for m in social.following(s, "bob").items] == ["alice"]
        assert social.is_following(s, b.user_id, a.user_id) and not social.is_following(s, a.user_id, b.user_id)
        assert social.relationship(s, a.user_id, b.user_id) == social.Relation(False, True, False, False)
        with pytest.raises(InvalidParameter):
            social.followers(s, "alice", limit=101)
    assert social.unfollow(engine, b, "alice") is True and social.unfollow(engine, b, "alice") is False
    with pytest.raises(NotFound):
        social.follow(engine, throttle, b, "nobody")
    with pytest.raises(InvalidParameter):
        social.follow(engine, throttle, b, "bob")


def test_block_ends_follows_and_stops_follows_likes_and_lists(engine: Engine, throttle: Throttle) -> None:
    a, b = person(engine, "alice"), person(engine, "bob")
    social.follow(engine, throttle, a, "bob")
    social.follow(engine, throttle, b, "alice")
    lst = social.create_list(engine, throttle, a, title="Alice's picks")
    rid = review(engine, a, 1)
    assert social.block(engine, a, "bob") is True and social.block(engine, a, "bob") is False
    with transaction(engine, write=False) as s:
        assert social.relationship(s, a.user_id, b.user_id) == social.Relation(False, False, True, False)
        assert social.relationship(s, b.user_id, a.user_id) == social.Relation(False, False, False, True)
        assert [m.username for m in social.blocked(s, a.user_id).items] == ["bob"]
        with pytest.raises(NotFound):
            social.get_list(s, b, lst.id)
        assert social.lists_of(s, b, "alice").total == 0
    with pytest.raises(PermissionDenied):
        social.follow(engine, throttle, b, "alice")
    with pytest.raises(PermissionDenied):
        social.follow(engine, throttle, a, "bob")
    with pytest.raises(NotFound):
        social.like_review(engine, throttle, b, rid, True)
    with pytest.raises(NotFound):
        social.like_list(engine, throttle, b, lst.id, True)
    assert count(engine, ReviewLike) == 0 and count(engine, ListLike) == 0
    assert social.unblock(engine, a, "bob") is True and social.unblock(engine, a, "bob") is False
    assert social.follow(engine, throttle, b, "alice") is True


def test_share_film_public_link_and_revoke(engine: Engine, throttle: Throttle) -> None:
    a, b, c = person(engine, "alice"), person(engine, "bob"), person(engine, "carol")
    social.follow(engine, throttle, b, "alice")
    social.follow(engine, throttle, c, "alice")
    view = social.share(engine, throttle, a, movie_id=3, note="  <script>alert(1)</script> ", audience="public")
    assert view.token is not None and len(view.token) >= 43 and view.url == f"/s/{view.token}"
    assert view.note == "<script>alert(1)</script>" and view.movie is not None and view.movie.id == 3
    assert view.sharer.username == "alice" and view.list is None
    # one notification per follower, in the share's transaction
    assert count(engine, Notification, kind="share", share_id=view.id) == 2
    followers_only = social.share(engine, throttle, a, movie_id=4, note=None, audience="followers")
    assert followers_only.token is None and followers_only.url is None
    with transaction(engine, write=False) as s:
        assert social.public_share(s, view.token).note == "<script>alert(1)</script>"
        with pytest.raises(NotFound):
            social.public_share(s, "x" * 43)
        assert social.get_share(s, a, view.id).id == view.id
        with pytest.raises(NotFound):
            social.get_share(s, b, view.id)
        assert [x.id for x in social.shares_of(s, a.user_id).items] == [followers_only.id, view.id]
    with pytest.raises(NotFound):
        social.revoke_share(engine, b, view.id)
    social.revoke_share(engine, a, view.id)
    social.revoke_share(engine, a, view.id)  # idempotent
    with transaction(engine, write=False) as s, pytest.raises(Gone):
        social.public_share(s, view.token)
    admin = person(engine, "root", admin=True)
    social.revoke_share(engine, admin, followers_only.id)
    # revoked shares leave the followers' notifications
    with transaction(engine, write=False) as s:
        assert social.notifications(s, b.user_id).items == []


def test_share_checks_input_and_visibility(engine: Engine, throttle: Throttle) -> None:
    a, b = person(engine, "alice"), person(engine, "bob")
    secret = social.create_list(engine, throttle, a, title="Secret", public=False)
    cases = [dict(movie_id=1, list_id=secret.id, note=None), dict(note=None), dict(movie_id=1, note="x" * 1001),
             dict(movie_id=1, note="bad\x00note")]
    for kw in cases:
        with pytest.raises(InvalidParameter):
            social.share(engine, throttle, a, audience="public", **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        social.share(engine, throttle, a, movie_id=1, note=None, audience="everyone")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        social.share(engine, throttle, a, movie_id=999, note=None, audience="public")
    with pytest.raises(NotFound):  # somebody else's private list does not exist for bob
        social.share(engine, throttle, b, list_id=secret.id, note=None, audience="public")
    with pytest.raises(InvalidParameter):  # one's own private list must be made public first
        social.share(engine, throttle, a, list_id=secret.id, note=None, audience="public")
    assert count(engine, Share) == 0 and count(engine, Event, kind="share") == 0
    social.update_list(engine, a, secret.id, public=True)
    shared = social.share(engine, throttle, a, list_id=secret.id, note="my list", audience="public")
    assert shared.list is not None and shared.list.title == "Secret" and shared.movie is None
    social.update_list(engine, a, secret.id, public=False)  # a list made private again: its link is dead
    with transaction(engine, write=False) as s, pytest.raises(NotFound):
        social.public_share(s, shared.token or "")


def test_lists_items_positions_stay_dense(engine: Engine, throttle: Throttle) -> None:
    a = person(engine, "alice")
    lst = social.create_list(engine, throttle, a, title="  Best   of\tall ", description="Line 1\nLine 2")
    assert lst.title == "Best of all" and lst.description == "Line 1\nLine 2" and lst.is_public
    for m in (1, 2, 3, 4, 5):
        summary = social.put_list_item(engine, a, lst.id, m, note=f"note {m}")
    assert summary.item_count == 5

    def order() -> list[tuple[int, int]]:
        with transaction(engine, write=False) as s:
            view = social.get_list(s, a, lst.id)
            assert [e.position for e in view.items] == list(range(len(view.items)))
            assert view.summary.item_count == len(view.items)
            return [(e.movie.id, e.position) for e in view.items]

    social.put_list_item(engine, a, lst.id, 5, position=0)
    assert [m for m, _ in order()] == [5, 1, 2, 3, 4]
    social.put_list_item(engine, a, lst.id, 5, position=99)  # past the end: last
    assert [m for m, _ in order()] == [1, 2, 3, 4, 5]
    social.put_list_item(engine, a, lst.id, 2, position=3)
    assert [m for m, _ in order()] == [1, 3, 4, 2, 5]
    social.remove_list_item(engine, a, lst.id, 3)
    social.remove_list_item(engine, a, lst.id, 3)  # idempotent
    assert [m for m, _ in order()] == [1, 4, 2, 5]
    social.put_list_item(engine, a, lst.id, 7, position=1)
    assert [m for m, _ in order()] == [1, 7, 4, 2, 5]
    social.put_list_item(engine, a, lst.id, 4, note="")  # clears the note, keeps the place
    with transaction(engine, write=False) as s:
        notes = {e.movie.id: e.note for e in social.get_list(s, a, lst.id).items}
    assert notes[4] is None and notes[1] == "note 1" and notes[7] is None
    with pytest.raises(NotFound):
        social.put_list_item(engine, a, lst.id, 999)
    with pytest.raises(InvalidParameter):
        social.put_list_item(engine, a, lst.id, 8, position=-1)
    with pytest.raises(InvalidParameter):
        social.put_list_item(engine, a, lst.id, 8, note="n" * 1001)
    assert count(engine, ListItem, list_id=lst.id) == 5


def test_list_is_full_at_the_limit(engine: Engine, throttle: Throttle, monkeypatch: pytest.MonkeyPatch) -> None:
    a = person(engine, "alice")
    lst = social.create_list(engine, throttle, a, title="Short")
    monkeypatch.setattr(_lists, "MAX_LIST_ITEMS", 3)
    for m in (1, 2, 3):
        social.put_list_item(engine, a, lst.id, m)
    with pytest.raises(InvalidParameter) as exc:
        social.put_list_item(engine, a, lst.id, 4)
    assert exc.value.details["limit"] == 3
    social.put_list_item(engine, a, lst.id, 3, position=0)  # moving within a full list is fine
    assert count(engine, ListItem, list_id=lst.id) == 3


def test_private_lists_exist_only_for_their_owner(engine: Engine, throttle: Throttle) -> None:
    a, b = person(engine, "alice"), person(engine, "bob")
    private = social.create_list(engine, throttle, a, title="Guilty pleasures", public=False)
    public = social.create_list(engine, throttle, a, title="Classics")
    social.put_list_item(engine, a, private.id, 1)
    social.put_list_item(engine, a, public.id, 1)
    with transaction(engine, write=False) as s:
        for viewer in (b, None):
            with pytest.raises(NotFound):
                social.get_list(s, viewer, private.id)
            assert [x.id for x in social.lists_of(s, viewer, "alice").items] == [public.id]
        assert {x.id for x in social.lists_of(s, a, "alice").items} == {private.id, public.id}
        assert [x.id for x in social.public_lists(s).items] == [public.id]
        assert social.public_lists(s, q="guilty").total == 0
        assert social.public_lists(s, q="%").total == 0  # LIKE wildcards are literal
        assert [x.id for x in social.lists_with_movie(s, b, 1)] == [public.id]
        assert social.get_list(s, a, private.id).summary.title == "Guilty pleasures"
    # every change of another member's list is the same NotFound as a missing list
    for call in (lambda: social.update_list(engine, b, public.id, title="mine now"),
                 lambda: social.delete_list(engine, b, public.id),
                 lambda: social.put_list_item(engine, b, public.id, 2),
                 lambda: social.remove_list_item(engine, b, public.id, 1),
                 lambda: social.like_list(engine, throttle, b, private.id, True)):
        with pytest.raises(NotFound):
            call()
    with transaction(engine, write=False) as s:
        view = social.get_list(s, b, public.id)
    assert view.summary.title == "Classics" and view.summary.item_count == 1 and not view.liked
    social.delete_list(engine, a, public.id)
    assert count(engine, MovieList, id=public.id) == 0 and count(engine, ListItem, list_id=public.id) == 0


def test_likes_keep_counts_and_notify(engine: Engine, throttle: Throttle) -> None:
    a, b, c = person(engine, "alice"), person(engine, "bob"), person(engine, "carol")
    rid = review(engine, a, 2)
    hidden = review(engine, a, 3, visibility="private")
    assert social.like_review(engine, throttle, b, rid, True) == 1
    assert social.like_review(engine, throttle, b, rid, True) == 1  # idempotent
    assert social.like_review(engine, throttle, c, rid, True) == 2
    assert social.like_review(engine, throttle, a, rid, True) == 3  # own review: counted, no notice
    assert count(engine, Notification, user_id=a.user_id, kind="like_review") == 2
    assert social.like_review(engine, throttle, c, rid, False) == 2
    assert social.like_review(engine, throttle, c, rid, False) == 2
    with pytest.raises(NotFound):
        social.like_review(engine, throttle, b, hidden, True)
    with pytest.raises(NotFound):
        social.like_review(engine, throttle, b, 9999, True)
    with transaction(engine, write=False) as s:
        assert social.review_likes_of(s, b.user_id, [rid, hidden]) == {rid}
        assert s.get(Review, rid).like_count == 2  # type: ignore[union-attr]
    lst = social.create_list(engine, throttle, a, title="Liked")
    assert social.like_list(engine, throttle, b, lst.id, True) == 1
    with transaction(engine, write=False) as s:
        assert social.get_list(s, b, lst.id).liked
        page = social.notifications(s, a.user_id)
    kinds = [n.kind for n in page.items]
    assert kinds[0] == "like_list" and page.items[0].list == social.ListRef(lst.id, "Liked")
    assert kinds == ["like_list", "like_review", "like_review"] and page.unread == 3  # bob's and carol's likes
    assert social.like_list(engine, throttle, b, lst.id, False) == 0


def test_deleting_an_account_takes_back_its_likes(engine: Engine, throttle: Throttle) -> None:
    a, b = person(engine, "alice"), person(engine, "bob")
    rid = review(engine, a, 2)
    lst = social.create_list(engine, throttle, a, title="Liked")
    social.like_review(engine, throttle, b, rid, True)
    social.like_list(engine, throttle, b, lst.id, True)
    social.follow(engine, throttle, b, "alice")
    social.share(engine, throttle, b, movie_id=1, note="hi", audience="public")
    social.create_list(engine, throttle, b, title="Bob's")
    social.block(engine, a, "bob")
    with transaction(engine) as s:
        user_repo.delete_account(s, b.user_id)
    with transaction(engine, write=False) as s:
        assert s.get(Review, rid).like_count == 0  # type: ignore[union-attr]
        assert s.get(MovieList, lst.id).like_count == 0  # type: ignore[union-attr]
    for model in (Share, ReviewLike, ListLike):
        assert count(engine, model, user_id=b.user_id) == 0
    assert count(engine, MovieList, user_id=b.user_id) == 0 and count(engine, Notification, actor_id=b.user_id) == 0


def test_notifications_page_and_mark_read(engine: Engine, throttle: Throttle) -> None:
    a = person(engine, "alice")
    fans = [person(engine, f"fan{i}") for i in range(5)]
    for f in fans:
        social.follow(engine, throttle, f, "alice")
    with transaction(engine, write=False) as s:
        first = social.notifications(s, a.user_id, limit=2)
        assert [n.actor.username for n in first.items] == ["fan4", "fan3"] and first.unread == 5
        second = social.notifications(s, a.user_id, limit=2, before=first.next_cursor)
        third = social.notifications(s, a.user_id, limit=2, before=second.next_cursor)
        assert [n.actor.username for n in second.items + third.items] == ["fan2", "fan1", "fan0"]
        assert third.next_cursor is None
    assert social.mark_notifications_read(engine, a.user_id, up_to_id=second.items[0].id) == 3
    with transaction(engine, write=False) as s:
        assert social.unread_count(s, a.user_id) == 2
    assert social.mark_notifications_read(engine, a.user_id) == 2
    social.block(engine, a, "fan4")  # a blocked member's notices disappear
    with transaction(engine, write=False) as s:
        assert [n.actor.username for n in social.notifications(s, a.user_id).items] == ["fan3", "fan2", "fan1", "fan0"]
        assert social.unread_count(s, a.user_id) == 0


def test_friends_ratings(engine: Engine, throttle: Throttle) -> None:
    from cinerec.service import members

    a, b, c = person(engine, "alice"), person(engine, "bob"), person(engine, "carol")
    members.rate(engine, b.user_id, 5, 4.5)
    members.rate(engine, c.user_id, 5, 2.0)
    social.follow(engine, throttle, a, "bob")
    with transaction(engine, write=False) as s:
        rows = social.friends_ratings(s, a.user_id, 5)
        assert [(r.member.username, r.rating) for r in rows] == [("bob", 4.5)]
        with pytest.raises(NotFound):
            social.friends_ratings(s, a.user_id, 999)


def test_social_writes_are_throttled(engine: Engine) -> None:
    low = Throttle(limits=Limits(shares_per_user="2/minute", follows_per_user="1/minute", likes_per_user="2/minute",
                                 list_writes_per_user="1/minute"))
    a, b = person(engine, "alice"), person(engine, "bob")
    social.share(engine, low, a, movie_id=1, note=None, audience="followers")
    social.share(engine, low, a, movie_id=2, note=None, audience="followers")
    with pytest.raises(RateLimited) as exc:
        social.share(engine, low, a, movie_id=3, note=None, audience="followers")
    assert exc.value.retry_after >= 1
    social.share(engine, low, b, movie_id=3, note=None, audience="followers")  # per member
    social.follow(engine, low, a, "bob")
    with pytest.raises(RateLimited):
        social.unfollow(engine, a, "bob", throttle=low)
    social.create_list(engine, low, a, title="One")
    with pytest.raises(RateLimited):
        social.create_list(engine, low, a, title="Two")
    rid = review(engine, b, 1)
    social.like_review(engine, low, a, rid, True)
    social.like_review(engine, low, a, rid, False)
    with pytest.raises(RateLimited):
        social.like_review(engine, low, a, rid, True)
    assert count(engine, Share, user_id=a.user_id) == 2 and count(engine, MovieList, user_id=a.user_id) == 1


def test_concurrent_item_writes_keep_positions_dense(engine: Engine, throttle: Throttle) -> None:
    import threading

    a = person(engine, "alice")
    lst = social.create_list(engine, throttle, a, title="Busy")
    errors: list[BaseException] = []

    def add(movie_ids: range) -> None:
        try:
            for m in movie_ids:
                social.put_list_item(engine, a, lst.id, m)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(range(start, start + 4),)) for start in (1, 5, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with transaction(engine, write=False) as s:
        view = social.get_list(s, a, lst.id)
    assert sorted(e.position for e in view.items) == list(range(12)) and view.summary.item_count == 12
