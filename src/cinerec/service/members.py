"""What members do with films: rate, mark (want to watch / watched), review, and get recommendations.

Every change is one transaction that also appends an ``events`` row (see
:mod:`cinerec.store.repos.events` for the values) and, for ratings, updates
the film's aggregates in the same transaction. Changing or deleting a review
is allowed to its author and to admins; anybody else gets ``NotFound``, the
same answer as for a review that does not exist (no probing of ids).

Recommendations read the member's current history from the database at
request time, so a rating or a mark changes the next list at once without
retraining; a rated or watched film never comes back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cinerec.errors import InvalidParameter, NotFound
from cinerec.nlp.sentiment import SentimentAnalyzer, check_text
from cinerec.service import filters as rec_filters
from cinerec.service import social_signals
from cinerec.service.accounts import Principal
from cinerec.service.recommender import (
    MAX_K,
    LiveModel,
    Recommendation,
    RecommendationList,
    RecommenderService,
)
from cinerec.service.reviews import analyse_review
from cinerec.store.db import transaction
from cinerec.store.models import RATING_MAX, RATING_MIN, Movie, Rating, Review, User, utcnow
from cinerec.store.repos import aggregates as aggregate_repo
from cinerec.store.repos import events as event_repo
from cinerec.store.repos import ratings as rating_repo
from cinerec.store.repos import reviews as review_repo
from cinerec.store.repos import users as user_repo
from cinerec.store.repos import watchlist as list_repo
from cinerec.store.repos.watchlist import ListKind

#: Largest page any member list returns (``limit`` above it is refused with 422 by the API).
MAX_PAGE = 100
#: The value a watched film without a rating counts as in the history the recommender scores.
WATCHED_VALUE = 3.5
#: The value a want-to-watch film without a rating counts as (interest, not yet an opinion).
WATCHLIST_VALUE = 3.5

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the total number of rows."""

    items: list[T]
    total: int


@dataclass(frozen=True)
class PublicProfile:
    """What anybody may see of a member: no email, password hash, role or private lists."""

    username: str
    display_name: str | None
    joined: datetime
    n_ratings: int
    n_reviews: int
    recent_ratings: list[tuple[Rating, Movie]]
    recent_reviews: list[tuple[Review, Movie]]


def check_rating(value: float) -> float:
    """A star rating: finite, 0.5 to 5, in half steps.

    Raises:
        InvalidParameter: naming the ``rating`` field.
    """
    ok = (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
          and RATING_MIN <= value <= RATING_MAX and float(value * 2).is_integer())
    if not ok:
        raise InvalidParameter("rating must be 0.5 to 5 in steps of 0.5",
                               details={"fields": [{"loc": ["body", "rating"], "msg": "0.5 to 5 in steps of 0.5",
                                                    "type": "value_error"}]})
    return float(value)


def _page(limit: int, offset: int) -> tuple[int, int]:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidParameter(f"limit must be 1-{MAX_PAGE} and offset >= 0",
                               details={"fields": [{"loc": ["query", "limit"], "msg": f"1-{MAX_PAGE}",
                                                    "type": "value_error"}]})
    return limit, offset


def _require_movie(session: Session, movie_id: int) -> None:
    if not rating_repo.movie_exists(session, movie_id):
        raise NotFound(f"movie {movie_id} does not exist")


def rate(engine: Engine, user_id: int, movie_id: int, value: float) -> Rating:
    """Set the member's rating of a film (a new one or a change) and return it.

    Raises:
        InvalidParameter: not 0.5-5 in halves.
        NotFound: unknown film.
    """
    value = check_rating(value)
    with transaction(engine) as session:
        _require_movie(session, movie_id)
        row = _rate_in(session, user_id, movie_id, value)
        session.expunge(row)
    return row


def rate_many(engine: Engine, user_id: int, ratings: dict[int, float]) -> int:
    """Set several ratings at once (the onboarding page): all are checked, then written in one transaction.

    Returns:
        How many ratings were written.

    Raises:
        InvalidParameter: a value not 0.5-5 in halves (nothing written).
        NotFound: an unknown film (nothing written).
    """
    checked = {movie_id: check_rating(value) for movie_id, value in ratings.items()}
    with transaction(engine) as session:
        for movie_id, value in checked.items():
            _require_movie(session, movie_id)
            _rate_in(session, user_id, movie_id, value)
    return len(checked)


def _rate_in(session: Session, user_id: int, movie_id: int, value: float) -> Rating:
    """Write a checked rating of an existing film, its aggregates and its event, inside the caller's transaction."""
    now = utcnow()
    row, old = rating_repo.upsert(session, user_id, movie_id, value, now)
    aggregate_repo.apply_rating_change(session, movie_id, old, value)
    event_repo.record(session, user_id, "rate", movie_id=movie_id, value=value, when=now)
    return row


def unrate(engine: Engine, user_id: int, movie_id: int) -> bool:
    """Remove the member's rating of a film; returns whether there was one.

    Raises:
        NotFound: unknown film.
    """
    now = utcnow()
    with transaction(engine) as session:
        _require_movie(session, movie_id)
        old = rating_repo.remove(session, user_id, movie_id)
        if old is None:
            return False
        aggregate_repo.apply_rating_change(session, movie_id, old, None)
        event_repo.record(session, user_id, "rate", movie_id=movie_id, value=None, when=now)
    return True


def my_ratings(session: Session, user_id: int, *, limit: int = 20, offset: int = 0) -> Page[tuple[Rating, Movie]]:
    """The member's ratings, most recently changed first (stable: ties by id).

    Raises:
        InvalidParameter: ``limit`` outside 1..:data:`MAX_PAGE` or negative ``offset``.
    """
    limit, offset = _page(limit, offset)
    rows, total = rating_repo.for_user(session, user_id, limit=limit, offset=offset)
    return Page(rows, total)


def mark(engine: Engine, kind: ListKind, user_id: int, movie_id: int) -> bool:
    """Put a film on the watchlist or mark it watched; returns whether it was new.

    Marking a film watched takes it off the watchlist (Douban: 想看 becomes 看过).

    Raises:
        NotFound: unknown film.
    """
    now = utcnow()
    with transaction(engine) as session:
        _require_movie(session, movie_id)
        added = list_repo.add(session, kind, user_id, movie_id, now)
        if added:
            event_repo.record(session, user_id, kind, movie_id=movie_id, value=1.0, when=now)
        if kind == "watched" and list_repo.remove(session, "watchlist", user_id, movie_id):
            event_repo.record(session, user_id, "watchlist", movie_id=movie_id, value=0.0, when=now)
    return added


def unmark(engine: Engine, kind: ListKind, user_id: int, movie_id: int) -> bool:
    """Take a film off the watchlist or remove its watched mark; returns whether it was there.

    Raises:
        NotFound: unknown film.
    """
    now = utcnow()
    with transaction(engine) as session:
        _require_movie(session, movie_id)
        removed = list_repo.remove(session, kind, user_id, movie_id)
        if removed:
            event_repo.record(session, user_id, kind, movie_id=movie_id, value=0.0, when=now)
    return removed


def my_list(session: Session, kind: ListKind, user_id: int, *, limit: int = 20,
            offset: int = 0) -> Page[tuple[Movie, datetime]]:
    """The member's watchlist or watched films, newest first (stable: ties by film id).

    Raises:
        InvalidParameter: bad ``limit``/``offset``.
    """
    limit, offset = _page(limit, offset)
    rows, total = list_repo.page(session, kind, user_id, limit=limit, offset=offset)
    return Page(rows, total)


def write_review(engine: Engine, analyzer: SentimentAnalyzer, user_id: int, movie_id: int, text: str,
                 rating: float | None = None) -> Review:
    """Write a review (language and sentiment detected), optionally with a star rating.

    Raises:
        InvalidParameter: empty or oversized text, or a bad rating.
        NotFound: unknown film.
    """
    stars = check_rating(rating) if rating is not None else None
    clean, sentiment = analyse_review(analyzer, text)  # before the transaction: it holds no lock while scoring
    with transaction(engine) as session:  # the review, its event and the rating: all or nothing
        _require_movie(session, movie_id)
        review = review_repo.add(session, user_id, movie_id, clean, language=sentiment.language,
                                 sentiment=sentiment.score, visibility="public")
        event_repo.record(session, user_id, "review", movie_id=movie_id, value=review.sentiment, object_id=review.id)
        if stars is not None:
            _rate_in(session, user_id, movie_id, stars)
        session.expunge(review)
    return review


def _own_review(session: Session, actor: Principal, review_id: int) -> Review:
    review = review_repo.get(session, review_id)
    if review is None or (review.user_id != actor.user_id and not actor.is_admin):
        raise NotFound(f"review {review_id} does not exist")
    return review


def edit_review(engine: Engine, analyzer: SentimentAnalyzer, actor: Principal, review_id: int,
                text: str) -> tuple[Review, str]:
    """Replace a review's text (author or admin); language and sentiment are recomputed.

    Returns:
        The changed review and its author's username.

    Raises:
        NotFound: no such review, or not the actor's and the actor is no admin.
        InvalidParameter: empty or oversized text.
    """
    clean = check_text(text)
    if not clean:
        raise InvalidParameter("a review needs some text",
                               details={"fields": [{"loc": ["body", "text"], "msg": "empty", "type": "value_error"}]})
    with transaction(engine, write=False) as session:
        _own_review(session, actor, review_id)
    s = analyzer.analyze(clean)
    now = utcnow()
    with transaction(engine) as session:
        review = _own_review(session, actor, review_id)
        review_repo.update_text(session, review_id, clean, language=s.language, sentiment=s.score, when=now)
        event_repo.record(session, review.user_id, "review", movie_id=review.movie_id, value=s.score,
                          object_id=review_id, when=now)
        session.refresh(review)
        author = user_repo.get_account(session, review.user_id)
        session.expunge(review)
    return review, author.username if author is not None else ""


def delete_review(engine: Engine, actor: Principal, review_id: int) -> None:
    """Delete a review (author or admin).

    Raises:
        NotFound: no such review, or not the actor's and the actor is no admin.
    """
    with transaction(engine) as session:
        review = _own_review(session, actor, review_id)
        review_repo.remove(session, review_id)
        event_repo.record(session, review.user_id, "review", movie_id=review.movie_id, value=None,
                          object_id=review_id)


def my_reviews(session: Session, user_id: int, *, limit: int = 20, offset: int = 0) -> Page[tuple[Review, Movie]]:
    """The member's own reviews of every visibility, newest first.

    Raises:
        InvalidParameter: bad ``limit``/``offset``.
    """
    limit, offset = _page(limit, offset)
    rows, total = review_repo.for_user(session, user_id, public_only=False, limit=limit, offset=offset)
    return Page(rows, total)


def public_profile(session: Session, username: str, *, n: int = 10) -> PublicProfile:
    """A member's public face: name, join date, counts, latest ratings and public reviews.

    Raises:
        NotFound: no active member (site account or dataset profile) with that username.
    """
    user: User | None = user_repo.by_username(session, username)
    if user is None or not user.is_active:
        raise NotFound(f"member {username!r} does not exist")
    ratings, n_ratings = rating_repo.for_user(session, user.id, limit=n, offset=0)
    reviews, n_reviews = review_repo.for_user(session, user.id, public_only=True, limit=n, offset=0)
    return PublicProfile(user.username, user.display_name, user.created_at, n_ratings, n_reviews, ratings, reviews)


def history(session: Session, user_id: int) -> tuple[list[tuple[int, float]], list[int]]:
    """The member's history for scoring and the films never to recommend again (see :func:`_history`)."""
    hist, exclude, _ = _history(session, user_id)
    return hist, exclude


def _history(session: Session, user_id: int) -> tuple[list[tuple[int, float]], list[int], dict[int, float]]:
    """The member's history for scoring and the films never to recommend again.

    Returns:
        ``(history, exclude, rated)``: ratings as ``(movie id, stars)``, plus
        watched films without a rating at :data:`WATCHED_VALUE` and watchlist
        films without either at :data:`WATCHLIST_VALUE`; ``exclude`` holds
        every rated or watched film; ``rated`` the member's own ratings.
    """
    rated = dict(user_repo.history(session, user_id))
    watched = list_repo.movie_ids(session, "watched", user_id)
    wanted = list_repo.movie_ids(session, "watchlist", user_id)
    hist = dict(rated)
    for m in watched:
        hist.setdefault(m, WATCHED_VALUE)
    for m in wanted:
        hist.setdefault(m, WATCHLIST_VALUE)
    exclude = sorted(set(rated) | set(watched))
    return sorted(hist.items()), exclude, rated


def _truthful(recs: RecommendationList, rated: dict[int, float]) -> RecommendationList:
    """Reasons quote a rating only for films the member really rated.

    Watched and want-to-watch films count in the scored history at a default
    value; a reason built on one of them must not say "you rated it".
    """
    def fix(x: dict[str, object]) -> dict[str, object]:
        mid = x.get("movie_id")
        if "rating" not in x:
            return x
        if isinstance(mid, int) and mid in rated:
            return {**x, "rating": rated[mid]}
        return {k: v for k, v in x.items() if k != "rating"}

    items = [Recommendation(r.movie_id, r.score, [fix(x) for x in r.reasons]) for r in recs.items]
    return RecommendationList(recs.model_version, recs.algo, recs.strategy, items)


def recommendations(session: Session, recommender: RecommenderService, user_id: int, k: int = 10,
                    filters: rec_filters.RecFilter | None = None, *, model: LiveModel | None = None,
                    diversity: float | None = None) -> RecommendationList:
    """Top-``k`` films for a member from their current history (never a rated or watched film).

    Only films ``filters`` allows (:func:`cinerec.service.filters.parse_filter`;
    default: released films only) are ranked; fewer than ``k`` come back when
    fewer are left. ``model`` ranks instead of the active version and
    ``diversity`` re-ranks by MMR (an experiment's variant: see
    :mod:`cinerec.service.experiments`). A film that somebody the member follows shared (and did
    not revoke) leads its reasons with ``{"kind": "shared_by", "username": ...}``.

    Raises:
        InvalidParameter: ``k`` outside 1..MAX_K.
        NotFound: no model is active yet.
    """
    if not 1 <= k <= MAX_K:
        raise InvalidParameter(f"k must be 1-{MAX_K}")
    hist, exclude, rated = _history(session, user_id)
    allowed = rec_filters.candidates(session, filters or rec_filters.RecFilter())
    recs = _truthful(recommender.recommend(user_id, k, history=hist or None, exclude=exclude, candidates=allowed,
                                           model=model, diversity=diversity), rated)
    return _with_sharers(recs, social_signals.shared_by(session, user_id, [r.movie_id for r in recs.items]))


def _with_sharers(recs: RecommendationList, sharers: dict[int, list[str]]) -> RecommendationList:
    """A ``shared_by`` reason first on each film somebody the member follows shared (the newest sharer)."""
    if not sharers:
        return recs
    items = [Recommendation(r.movie_id, r.score, [social_signals.shared_by_reason(sharers[r.movie_id][0]), *r.reasons])
             if r.movie_id in sharers else r for r in recs.items]
    return RecommendationList(recs.model_version, recs.algo, recs.strategy, items)


def similar(session: Session, recommender: RecommenderService, movie_id: int, k: int = 10) -> RecommendationList:
    """Films whose audiences overlap with this film's: the model scores a one-film history.

    When the active model does not know the film (added after training) the
    answer is the onboarding list (``strategy="onboarding"``).

    Raises:
        NotFound: unknown film, or no model is active yet.
        InvalidParameter: ``k`` outside 1..MAX_K.
    """
    if not 1 <= k <= MAX_K:
        raise InvalidParameter(f"k must be 1-{MAX_K}")
    title = rating_repo.movie_title(session, movie_id)
    if title is None:
        raise NotFound(f"movie {movie_id} does not exist")
    recs = recommender.recommend(None, k, explain=False, history=[(movie_id, RATING_MAX)], exclude=[movie_id])
    if recs.strategy == "onboarding":
        return recs
    items = [Recommendation(r.movie_id, r.score, [{"kind": "similar_audience", "weight": round(r.score, 4),
                                                   "text": f"liked by the people who liked {title}",
                                                   "movie_id": movie_id}])
             for r in recs.items]
    return RecommendationList(recs.model_version, recs.algo, recs.strategy, items)
