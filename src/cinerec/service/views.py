"""What the site's pages show, gathered in one call per page.

The page handlers in :mod:`cinerec.web.pages` authenticate, validate and call
one function here; these functions read the store and ask the recommender,
and return plain dataclasses the templates render. Nothing here writes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cinerec.algorithms.registry import names as algorithm_names
from cinerec.errors import NotFound
from cinerec.service import members, social
from cinerec.service.accounts import Principal
from cinerec.service.cache import LRUCache
from cinerec.service.experiments import ExperimentService
from cinerec.service.filters import RecFilter
from cinerec.service.recommender import (
    MAX_K,
    RecommendationList,
    RecommenderService,
)
from cinerec.service.registry import ModelRegistry, VersionInfo
from cinerec.service.reviews import AudienceInsights
from cinerec.service.worker import read_runs
from cinerec.store.models import Movie, Review, User, utcnow
from cinerec.store.repos import activity as activity_repo
from cinerec.store.repos import aggregates as aggregate_repo
from cinerec.store.repos import credits as credit_repo
from cinerec.store.repos import feed as feed_repo
from cinerec.store.repos import movies as movie_repo
from cinerec.store.repos import ratings as rating_repo
from cinerec.store.repos import reviews as review_repo
from cinerec.store.repos import users as user_repo
from cinerec.store.repos import watchlist as list_repo
from cinerec.store.repos.credits import FilmCredits
from cinerec.store.repos.movies import MovieRow
from cinerec.store.repos.reviews import SentimentSummary

#: How far back member activity counts as trending.
TRENDING_WINDOW = timedelta(days=14)
#: Seconds a computed trending list is reused (it is the same for every visitor).
TRENDING_TTL = 60.0
#: How many films the onboarding page offers.
ONBOARDING_SIZE = 12

#: Seconds a film's public facts (aggregates, people, tags, keywords) are reused, as catalogue pages.
FILM_FACTS_SECONDS = movie_repo.PAGE_CACHE_SECONDS

_trending_cache: dict[str, tuple[float, list[int]]] = {}
_trending_lock = threading.Lock()
#: Film id (and database, aggregates generation) -> its public facts; bounded, expiring.
_film_cache: LRUCache[_FilmFacts] = LRUCache(2048, ttl=FILM_FACTS_SECONDS, name="film_facts")


@dataclass(frozen=True)
class HomeView:
    """The home page.

    Attributes:
        n_films: films in the catalogue.
        model_version: the active model (``None`` before the first training).
        for_you: the member's recommendations from their current history (``None`` for visitors).
        liked: the member's favourite film and their rating of it, for "Because you liked X".
        because: films similar to ``liked``.
        start: the onboarding list (popular and diverse), for visitors and members without ratings.
        trending: films with the most member activity lately (empty on a quiet site).
        top_rated: films by damped mean rating.
        genres: every genre name.
        n_rated: how many films the member rated.
    """

    n_films: int
    model_version: str | None
    for_you: RecommendationList | None
    liked: tuple[Movie, float] | None
    because: RecommendationList | None
    start: RecommendationList | None
    trending: list[MovieRow]
    top_rated: list[MovieRow]
    genres: list[str]
    n_rated: int


@dataclass(frozen=True)
class FilmSocial:
    """What the people around the viewer did with a film, for its page.

    Attributes:
        friends: ratings of the film by the members the viewer follows, newest first.
        lists: public lists that hold the film, most liked first.
        my_lists: the viewer's own lists, to add the film to.
        liked_reviews: ids of the shown reviews the viewer liked.
        like_counts: for a member, each shown review's like count read now (the cached reviews may be a few
            seconds old, and a member who just pressed "like" must see it counted); empty for a visitor.
        shared: the share the viewer just made of this film (``?shared=`` after sharing), else ``None``.
    """

    friends: list[social.FriendRating]
    lists: list[social.ListSummary]
    my_lists: list[social.ListSummary]
    liked_reviews: set[int]
    like_counts: dict[int, int]
    shared: social.ShareView | None


@dataclass(frozen=True)
class MemberView:
    """A member's public page.

    Attributes:
        profile: name, join date, counts, latest ratings and public reviews.
        n_followers: how many members follow them.
        n_following: how many members they follow.
        relation: follows and blocks between the viewer and them (``None`` for a visitor or the member themself).
        lists: their first public lists (all of them for the member themself) and how many there are.
    """

    profile: members.PublicProfile
    n_followers: int
    n_following: int
    relation: social.Relation | None
    lists: members.Page[social.ListSummary]


@dataclass(frozen=True)
class MovieView:
    """A film's page.

    Attributes:
        row: the film and its rating aggregates with the histogram.
        credits: directors and cast.
        tags: the most used tags.
        insights: what reviewers say (sentiment and keywords).
        reviews: public reviews with their authors' usernames, newest first.
        similar: films liked by the same audience, with reasons (``None`` without a model).
        my_rating: the viewer's rating.
        on_watchlist: the viewer wants to watch it.
        watched: the viewer marked it watched.
        social: friends' ratings, lists, likes and the viewer's fresh share (see :func:`film_page`).
    """

    row: MovieRow
    credits: FilmCredits
    tags: list[tuple[str, int]]
    insights: AudienceInsights
    reviews: list[tuple[Review, str]]
    similar: RecommendationList | None
    my_rating: float | None
    on_watchlist: bool
    watched: bool
    social: FilmSocial | None = None


@dataclass(frozen=True)
class OnboardingView:
    """Films to rate first: the recommender's diversified onboarding list without films already rated."""

    films: list[MovieRow]
    n_rated: int


@dataclass(frozen=True)
class ModelsView:
    """The admin's model list.

    Attributes:
        versions: published versions, newest first.
        active: the active version name.
        history: earlier active versions, most recent first (rollback goes to the first).
        algorithms: algorithm names a training job accepts.
        runs: the retraining worker's latest runs, newest first (:func:`cinerec.service.worker.read_runs`).
    """

    versions: list[VersionInfo]
    active: str | None
    history: list[str]
    algorithms: list[str]
    runs: list[dict[str, Any]]


def _model_version(recommender: RecommenderService) -> str | None:
    try:
        return recommender.live.version
    except NotFound:
        return None


def _trending_ids(session: Session, limit: int) -> list[int]:
    """Films with the most member activity lately (cached for :data:`TRENDING_TTL` seconds; empty on a quiet site)."""
    now = time.monotonic()
    with _trending_lock:
        hit = _trending_cache.get("ids")
    if hit is not None and hit[0] > now:
        return hit[1][:limit]
    ids = [m for m, _ in activity_repo.trending(session, utcnow() - TRENDING_WINDOW, 2 * limit)]
    with _trending_lock:
        _trending_cache["ids"] = (now + TRENDING_TTL, ids)
    return ids[:limit]


def _without(recs: RecommendationList, seen: set[int], k: int) -> RecommendationList:
    """The first ``k`` recommendations that are not in ``seen``."""
    items = [r for r in recs.items if r.movie_id not in seen][:k]
    return RecommendationList(recs.model_version, recs.algo, recs.strategy, items)


def home(session: Session, recommender: RecommenderService, viewer_id: int | None, *, k: int = 12,
         experiments: ExperimentService | None = None) -> HomeView:
    """Everything the home page shows, for a visitor (``viewer_id=None``) or a member.

    "Trending" holds only films with recent member activity (never a copy of
    the start list); "Because you liked X" leaves out films the member rated.
    """
    version = _model_version(recommender)
    top, n_films = movie_repo.search(session, sort="rating", limit=k)
    for_you = because = start = None
    liked: tuple[Movie, float] | None = None
    rated = dict(user_repo.history(session, viewer_id)) if viewer_id is not None else {}
    n_rated = len(rated)
    if version is not None:
        if viewer_id is not None and n_rated:
            for_you = (experiments.recommendations(session, viewer_id, k) if experiments is not None
                       else members.recommendations(session, recommender, viewer_id, k))
            favourites = user_repo.top_rated(session, viewer_id, 1)
            if favourites:
                liked = favourites[0]
                because = _without(members.similar(session, recommender, liked[0].id, min(MAX_K, k + n_rated)),
                                   set(rated), k)
        else:
            start = recommender.recommend(None, k)
    shown = {r.movie_id for r in start.items} if start else set()
    ids = [i for i in _trending_ids(session, 2 * k) if i not in shown and i not in rated][:k]
    rows = movie_repo.rows_by_ids(session, ids)
    trending = [rows[i] for i in ids if i in rows]
    return HomeView(n_films, version, for_you, liked, because, start, trending, top, movie_repo.genres(session), n_rated)


def for_you(session: Session, recommender: RecommenderService, viewer_id: int, *, k: int = 24,
            filters: RecFilter | None = None, experiments: ExperimentService | None = None,
            ) -> RecommendationList | None:
    """The member's recommendations, only films ``filters`` allows (``None`` when no model is active yet).

    With ``experiments``, a member in a running A/B experiment gets (and is logged with) their variant's list.
    """
    try:
        if experiments is not None:
            return experiments.recommendations(session, viewer_id, k, filters)
        return members.recommendations(session, recommender, viewer_id, k, filters)
    except NotFound:
        return None


@dataclass(frozen=True)
class _FilmFacts:
    """The part of a film's page that is the same for everybody and changes rarely."""

    row: MovieRow
    credits: FilmCredits
    tags: list[tuple[str, int]]
    keywords: dict[str, list[tuple[str, float]]]
    summary: SentimentSummary
    reviews: list[tuple[Review, str]]


def _film_facts(session: Session, movie_id: int, n_reviews: int) -> _FilmFacts:
    """A film's row with aggregates, people, tags, reviews and their keywords, from memory when fresh.

    Kept for :data:`FILM_FACTS_SECONDS` and only while this process wrote no
    ratings or reviews since (the catalogue pages' rule: a write here is seen
    at once, one in another worker process within those seconds); everything
    about the viewer is always read live.

    Raises:
        NotFound: unknown film.
    """
    key = (str(session.get_bind().engine.url), movie_id, n_reviews, aggregate_repo.generation())
    facts = _film_cache.get(key)
    if facts is None:
        row = movie_repo.get(session, movie_id)
        reviews = review_repo.for_movie(session, movie_id, n_reviews)
        facts = _FilmFacts(row, credit_repo.for_movie(session, movie_id), movie_repo.top_tags(session, movie_id),
                           review_repo.keywords(session, movie_id), review_repo.summary(session, movie_id), reviews)
        # shared with other requests: no session may expire or reload these rows
        for obj in [row.movie, *(r for r, _ in reviews)]:
            session.expunge(obj)
        _film_cache.put(key, facts)
    return facts


def movie(session: Session, recommender: RecommenderService, movie_id: int, viewer_id: int | None, *,
          n_reviews: int = 30, n_similar: int = 12) -> MovieView:
    """Everything a film's page shows, with the viewer's own rating and marks.

    Raises:
        NotFound: unknown film.
    """
    facts = _film_facts(session, movie_id, n_reviews)
    try:
        similar = members.similar(session, recommender, movie_id, n_similar)
    except NotFound:
        similar = None
    mine = rating_repo.current(session, viewer_id, movie_id) if viewer_id is not None else None
    return MovieView(
        row=facts.row, credits=facts.credits, tags=facts.tags,
        insights=AudienceInsights(facts.summary, facts.keywords),
        reviews=facts.reviews,
        similar=similar, my_rating=float(mine.value) if mine is not None else None,
        on_watchlist=viewer_id is not None and list_repo.contains(session, "watchlist", viewer_id, movie_id),
        watched=viewer_id is not None and list_repo.contains(session, "watched", viewer_id, movie_id),
    )


#: How many of their lists a member's page shows, and how many lists holding a film a film's page shows.
N_LISTS = 6
#: The most lists of the viewer's own a film page offers to add the film to.
N_MY_LISTS = 100


def film_page(session: Session, recommender: RecommenderService, movie_id: int, viewer: Principal | None, *,
              shared_id: int | None = None) -> MovieView:
    """A film's page (:func:`movie`) with its social side: who the viewer follows rated it, lists, review likes.

    ``shared_id`` is a share the viewer has just made (the page then shows its
    public link); another member's share id, or one of another film, is ignored.

    Raises:
        NotFound: unknown film.
    """
    view = movie(session, recommender, movie_id, viewer.user_id if viewer else None)
    lists = social.lists_with_movie(session, viewer, movie_id, N_LISTS)
    if viewer is None:  # a visitor cannot like: the cached counts (at most a few seconds old) do
        return replace(view, social=FilmSocial([], lists, [], set(), {}, None))
    review_ids = [r.id for r, _ in view.reviews]
    counts = {i: r.like_count for i, r in feed_repo.reviews_by_ids(session, review_ids).items()}
    shared = None
    if shared_id is not None:
        try:
            shared = social.get_share(session, viewer, shared_id)
        except NotFound:
            shared = None
        if shared is not None and (shared.movie is None or shared.movie.id != movie_id):
            shared = None
    return replace(view, social=FilmSocial(
        friends=social.friends_ratings(session, viewer.user_id, movie_id),
        lists=lists,
        my_lists=social.lists_of(session, viewer, viewer.username, limit=N_MY_LISTS).items,
        liked_reviews=social.review_likes_of(session, viewer.user_id, review_ids),
        like_counts=counts,
        shared=shared,
    ))


def member(session: Session, viewer: Principal | None, username: str, *, n: int = 24) -> MemberView:
    """A member's public page with follower counts, the viewer's relation to them and their lists.

    Raises:
        NotFound: no active member with that username.
    """
    profile = members.public_profile(session, username, n=n)
    user = user_repo.by_username(session, profile.username)
    relation = None
    if viewer is not None and user is not None and user.id != viewer.user_id:
        relation = social.relationship(session, viewer.user_id, user.id)
    return MemberView(
        profile=profile,
        n_followers=social.followers(session, profile.username, limit=1).total,
        n_following=social.following(session, profile.username, limit=1).total,
        relation=relation,
        lists=social.lists_of(session, viewer, profile.username, limit=N_LISTS),
    )


def onboarding(session: Session, recommender: RecommenderService, viewer_id: int, *,
               k: int = ONBOARDING_SIZE) -> OnboardingView:
    """The first films to rate: the onboarding list (popular, diverse), minus films the member rated.

    Without an active model, the most rated films.
    """
    rated = {m for m, _ in user_repo.history(session, viewer_id)}
    try:
        recs = recommender.recommend(None, k + len(rated), explain=False)
        ids = [r.movie_id for r in recs.items if r.movie_id not in rated][:k]
    except NotFound:
        popular, _ = movie_repo.search(session, sort="popular", limit=k + len(rated))
        ids = [r.movie.id for r in popular if r.movie.id not in rated][:k]
    rows = movie_repo.rows_by_ids(session, ids)
    return OnboardingView([rows[i] for i in ids if i in rows], len(rated))


#: Retraining runs the admin's model page shows.
RUNS_SHOWN = 10


def models(registry: ModelRegistry) -> ModelsView:
    """The published model versions, which one is active, which a rollback would restore, and the latest retraining runs."""
    return ModelsView(registry.versions(), registry.active_version(), registry.previous_versions(), algorithm_names(),
                      read_runs(registry.root, limit=RUNS_SHOWN))


def accounts(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[tuple[User, int]], int]:
    """One page of site accounts with their rating counts (admin), newest first, and the total."""
    return user_repo.list_accounts(session, limit=max(1, min(limit, members.MAX_PAGE)), offset=max(0, offset))
