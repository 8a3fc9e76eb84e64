"""The activity feed: what the people a member follows rated, reviewed, shared, listed and liked.

Built from the ``events`` table (see :mod:`cinerec.store.repos.feed` for the
privacy rules, applied in SQL so every page holds exactly ``limit`` items
while there are more). Newest first; the cursor is the last item's event id,
so paging stays exact while new events arrive: no item repeats, none is
skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cinerec.errors import InvalidParameter
from cinerec.service.members import MAX_PAGE
from cinerec.service.social import MemberCard
from cinerec.store.models import Movie, Review
from cinerec.store.repos import feed as feed_repo
from cinerec.store.repos import lists as list_repo
from cinerec.store.repos import movies as movie_repo
from cinerec.store.repos import shares as share_repo

#: Longest review excerpt in a feed item, in characters.
EXCERPT_CHARS = 280


@dataclass(frozen=True)
class FeedReview:
    """A review in the feed: its id, the start of its text and its likes."""

    id: int
    excerpt: str
    like_count: int


@dataclass(frozen=True)
class FeedShare:
    """A share in the feed; ``token`` only for a public link."""

    id: int
    note: str | None
    audience: str
    token: str | None


@dataclass(frozen=True)
class FeedList:
    """A (public) list in the feed."""

    id: int
    title: str
    item_count: int


@dataclass(frozen=True)
class FeedItem:
    """One thing somebody the viewer follows did.

    Attributes:
        id: the event id (the cursor of the next page when this is a page's last item).
        kind: ``rate``, ``review``, ``share``, ``list``, ``like_review`` or ``like_list``.
        rating: the stars given (``rate``).
        review: the review written or liked.
        share: the share (``share``).
        list: the list created, changed, shared or liked.
    """

    id: int
    kind: str
    actor: MemberCard
    created_at: datetime
    movie: Movie | None
    rating: float | None
    review: FeedReview | None
    share: FeedShare | None
    list: FeedList | None


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed and the cursor of the next one (``None`` on the last page)."""

    items: list[FeedItem]
    next_cursor: int | None


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1].rstrip() + "…"


def feed(session: Session, viewer_id: int, *, cursor: int | None = None, limit: int = 20) -> FeedPage:
    """One page of the viewer's feed, newest first.

    Args:
        viewer_id: the member reading.
        cursor: the previous page's ``next_cursor`` (``None`` for the newest items).
        limit: items per page, 1 to :data:`~cinerec.service.members.MAX_PAGE`.

    Returns:
        The items, and the cursor of the next page (``None`` when this page is not full).

    Raises:
        InvalidParameter: ``limit`` outside 1..MAX_PAGE or a cursor below 1.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidParameter(f"limit must be 1-{MAX_PAGE}", details={"fields": [
            {"loc": ["query", "limit"], "msg": f"1-{MAX_PAGE}", "type": "value_error"}]})
    if cursor is not None and cursor < 1:
        raise InvalidParameter("cursor must be a positive event id", details={"fields": [
            {"loc": ["query", "cursor"], "msg": ">= 1", "type": "value_error"}]})
    rows = feed_repo.page(session, viewer_id, before=cursor, limit=limit)
    events = [e for e, _ in rows]
    # the objects the events name, each kind loaded in one query
    review_ids = [e.object_id for e in events if e.kind in ("review", "like_review") and e.object_id is not None]
    reviews = feed_repo.reviews_by_ids(session, review_ids)
    by_film = feed_repo.reviews_by_author_film(session, [(e.user_id, e.movie_id) for e in events if e.kind == "review"
                                                          and e.object_id is None and e.user_id is not None
                                                          and e.movie_id is not None])
    shares = share_repo.by_ids(session, [e.object_id for e in events if e.kind == "share" and e.object_id is not None])
    list_ids = [e.object_id for e in events if e.kind in ("list", "like_list") and e.object_id is not None]
    list_ids += [s.list_id for s in shares.values() if s.list_id is not None]
    lists = list_repo.by_ids(session, list_ids)
    film_ids = {e.movie_id for e in events if e.movie_id is not None}
    film_ids |= {r.movie_id for r in reviews.values()} | {s.movie_id for s in shares.values() if s.movie_id is not None}
    films = movie_repo.by_ids(session, sorted(film_ids))
    items = []
    for e, actor in rows:
        review: Review | None = None
        if e.kind in ("review", "like_review"):
            review = (reviews.get(e.object_id) if e.object_id is not None
                      else by_film.get((actor.id, e.movie_id)) if e.movie_id is not None else None)
        shared = shares.get(e.object_id) if e.kind == "share" and e.object_id is not None else None
        list_id = shared.list_id if shared is not None else e.object_id if e.kind in ("list", "like_list") else None
        lst = lists.get(list_id) if list_id is not None else None
        movie_id = (review.movie_id if review is not None else shared.movie_id if shared is not None
                    else e.movie_id)
        items.append(FeedItem(
            e.id, e.kind, MemberCard(actor.id, actor.username, actor.display_name), e.created_at,
            films.get(movie_id) if movie_id is not None else None,
            e.value if e.kind == "rate" else None,
            FeedReview(review.id, _excerpt(review.text), review.like_count) if review is not None else None,
            FeedShare(shared.id, shared.note, shared.audience, shared.token) if shared is not None else None,
            FeedList(lst.id, lst.title, lst.item_count) if lst is not None else None))
    return FeedPage(items, items[-1].id if len(items) == limit else None)
