"""Recommendations from the people a member follows: "Popular with people you follow" and "shared by @name".

**Score.** A film's score is a sum over the distinct followees who did
something with it; each followee counts once, with their strongest signal,
discounted by its age::

    score(film) = sum over followees f of  max over f's signals s on the film of  w(s) * r(age(s))

    w(share) = 1.0       w(film on a public list) = 0.7       w(rating v >= 4) = (v - 3) / 2   (4★ 0.5 … 5★ 1.0)
    r(age)   = 0.25 + 0.75 * 2 ** (-age_days / 30)             (half-life 30 days; old signals keep a quarter)

So a share from yesterday (about 1.0) weighs as much as four 5★ ratings
from long ago (4 × 0.25), and one member's enthusiasm never counts more
than once. Ties go to the film
more followees touched, then to the more recent. Revoked shares, private
lists, followees in a block relation with the member (either way) and
inactive accounts never count; films the member rated or marked watched are
left out.

**Cost.** The reads take the newest :data:`SIGNAL_LIMIT` signals of each kind
(ratings, shares, list entries) of the followees, so the work is bounded
however active they are; the scored list is kept per member for
:data:`CACHE_SECONDS` under the set of people they follow (followees' new activity shows within
that time; a follow, unfollow or block at once), and the member's own
ratings and watched marks are applied on every call (a film rated a second
ago is gone at once).

**People with your taste** (:func:`suggested_members`). For a member ``v``
and another member ``u``, with ``L(x)`` the films ``x`` rated 4★ or more::

    shared(u) = |L(v) ∩ L(u)|                     (films both loved; v's newest MAX_LIKED likes compared)
    score(u)  = shared(u) / sqrt(|L(u)| + DAMPING)  (DAMPING = 30)

This is the cosine of the two members' like-sets without the constant
``sqrt(|L(v)|)``, damped: dividing by ``sqrt(|L(u)|)`` keeps prolific raters
(who share a few films with everybody) from always winning, and the added
:data:`DAMPING` keeps a member with one or two likes from winning on a single
film in common. Ties go to more films in common, then the username. The
database returns the :data:`CANDIDATES` members with the most films in
common and they are re-ranked by ``score``. The member themselves, people
they follow, inactive accounts and block relations (either way) are never
suggested. Without 4★ ratings (or with fewer co-likers than asked for) the
rest are the most-followed active members. The list is kept per member for
:data:`CACHE_SECONDS` under the member's follow set, block relations and
rating counts, so a follow, a block or a new rating changes it at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cinerec.errors import InvalidParameter
from cinerec.service.cache import LRUCache, fingerprint
from cinerec.service.recommender import Recommendation, RecommendationList
from cinerec.store.models import utcnow
from cinerec.store.repos import circle as circle_repo
from cinerec.store.repos import users as user_repo
from cinerec.store.repos import watchlist as list_repo

if TYPE_CHECKING:  # service.members imports this module, and _social_common imports service.members
    from cinerec.service._social_common import MemberCard

#: The most films one call returns (``k`` above it is refused).
MAX_K = 100
#: The lowest rating of a followee's that counts as "rated highly".
MIN_RATING = 4.0
#: Weight of a followee's share of a film and of a film on their public list.
SHARE_WEIGHT, LIST_WEIGHT = 1.0, 0.7
#: Half-life of a signal's weight, in days, and the share of the weight an old signal keeps.
HALF_LIFE_DAYS, RECENCY_FLOOR = 30.0, 0.25
#: Newest signals of each kind read per call.
SIGNAL_LIMIT = 5000
#: Seconds a member's scored list is reused.
CACHE_SECONDS = 60.0

_cache: LRUCache[list[SocialPick]] = LRUCache(2048, ttl=CACHE_SECONDS, name="social_picks")


@dataclass(frozen=True)
class SocialPick:
    """A film popular with the people a member follows.

    Attributes:
        movie_id: the film.
        score: the documented sum (module docstring).
        followees: usernames of the followees who count for it, largest contribution first.
        shared_by: usernames of the followees who shared it, newest share first.
    """

    movie_id: int
    score: float
    followees: list[str]
    shared_by: list[str]


def signal_weight(kind: str, value: float | None) -> float:
    """``w(s)`` of the module docstring: a share 1.0, a public-list entry 0.7, a rating ``(v - 3) / 2``.

    Raises:
        ValueError: an unknown kind, or a rating without a value.
    """
    if kind == "share":
        return SHARE_WEIGHT
    if kind == "list":
        return LIST_WEIGHT
    if kind == "rate" and value is not None:
        return max(0.0, (value - 3.0) / 2.0)
    raise ValueError(f"unknown signal {kind!r} (value {value!r})")


def recency(when: datetime, now: datetime) -> float:
    """``r(age)`` of the module docstring: 1 now, halving every :data:`HALF_LIFE_DAYS` down to :data:`RECENCY_FLOOR`."""
    t = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    age_days = max(0.0, (now - t).total_seconds() / 86400.0)
    return RECENCY_FLOOR + (1.0 - RECENCY_FLOOR) * math.pow(2.0, -age_days / HALF_LIFE_DAYS)


def score_signals(signals: list[circle_repo.CircleSignal], now: datetime) -> list[SocialPick]:
    """Every film in ``signals`` scored and ordered as the module docstring says (best first).

    Args:
        signals: what the followees did (:func:`cinerec.store.repos.circle.signals`).
        now: the time ages are measured from.

    Returns:
        One pick per film, best first (ties: more followees, newer signal, lower film id).
    """
    best: dict[int, dict[str, float]] = {}
    newest: dict[int, datetime] = {}
    sharers: dict[int, list[tuple[datetime, str]]] = {}
    for s in signals:
        w = signal_weight(s.kind, s.value) * recency(s.when, now)
        per = best.setdefault(s.movie_id, {})
        per[s.username] = max(per.get(s.username, 0.0), w)
        t = s.when if s.when.tzinfo is not None else s.when.replace(tzinfo=UTC)
        if s.movie_id not in newest or t > newest[s.movie_id]:
            newest[s.movie_id] = t
        if s.kind == "share":
            sharers.setdefault(s.movie_id, []).append((t, s.username))
    picks = []
    for mid, per in best.items():
        if not any(per.values()):
            continue
        names = sorted(per, key=lambda n: (-per[n], n))
        shared = [n for _, n in sorted(sharers.get(mid, []), key=lambda x: (x[0], x[1]), reverse=True)]
        picks.append(SocialPick(mid, sum(per.values()), names, list(dict.fromkeys(shared))))
    picks.sort(key=lambda p: (-p.score, -len(p.followees), -newest[p.movie_id].timestamp(), p.movie_id))
    return picks


def _scored(session: Session, user_id: int) -> list[SocialPick]:
    """The member's scored list from the cache, or read and scored now.

    The key holds the set of people followed, so a follow, an unfollow or a
    block changes the list at once; their own new activity shows within
    :data:`CACHE_SECONDS`.
    """
    key = (str(session.get_bind().engine.url), user_id,
           fingerprint((i, 0.0) for i in circle_repo.followee_ids(session, user_id)))
    hit = _cache.get(key)
    if hit is None:
        hit = score_signals(circle_repo.signals(session, user_id, min_rating=MIN_RATING, limit=SIGNAL_LIMIT), utcnow())
        _cache.put(key, hit)
    return hit


def popular_with_following(session: Session, user_id: int, *, k: int = 12) -> list[SocialPick]:
    """Films the people the member follows rated highly, shared or listed lately (module docstring's score).

    Args:
        user_id: the member.
        k: how many films, 1..:data:`MAX_K`.

    Returns:
        Up to ``k`` picks, best first; empty when the member follows nobody
        (or nobody they follow did anything the member has not seen).

    Raises:
        InvalidParameter: ``k`` outside 1..:data:`MAX_K`.
    """
    if not 1 <= k <= MAX_K:
        raise InvalidParameter(f"k must be 1-{MAX_K}",
                               details={"fields": [{"loc": ["query", "k"], "msg": f"1-{MAX_K}", "type": "value_error"}]})
    seen = {m for m, _ in user_repo.history(session, user_id)} | set(list_repo.movie_ids(session, "watched", user_id))
    return [p for p in _scored(session, user_id) if p.movie_id not in seen][:k]


def follows_anybody(session: Session, user_id: int) -> bool:
    """Whether the member follows at least one active member they are not in a block relation with."""
    return bool(circle_repo.followee_ids(session, user_id))


def shared_by(session: Session, user_id: int, movie_ids: list[int]) -> dict[int, list[str]]:
    """Usernames of the people the member follows who shared each of ``movie_ids`` (not revoked), newest first.

    Args:
        user_id: the member.
        movie_ids: the films to look up (e.g. a recommendation list).

    Returns:
        ``movie id -> usernames`` for the films somebody shared; others absent.
    """
    out: dict[int, list[str]] = {}
    for mid, name in circle_repo.sharers(session, user_id, movie_ids):
        names = out.setdefault(mid, [])
        if name not in names:
            names.append(name)
    return out


def shared_by_reason(username: str) -> dict[str, object]:
    """The ``shared_by`` reason of a recommendation (the same shape as the model's reasons)."""
    return {"kind": "shared_by", "text": f"shared by @{username}", "weight": 0.0, "movie_id": None,
            "username": username}


def pick_reasons(pick: SocialPick) -> list[dict[str, object]]:
    """A pick's reasons: who shared it (if anybody) and how many of the people followed count for it."""
    reasons: list[dict[str, object]] = [shared_by_reason(pick.shared_by[0])] if pick.shared_by else []
    top, n = pick.followees[0], len(pick.followees)
    text = f"liked by @{top} and {n - 1} more you follow" if n > 1 else f"liked by @{top}, whom you follow"
    reasons.append({"kind": "following", "text": text, "weight": round(pick.score, 4), "movie_id": None,
                    "username": top, "count": n})
    return reasons


@dataclass(frozen=True)
class SocialRow:
    """The For-you page's "Popular with people you follow" row.

    Attributes:
        recs: the picks as a recommendation list (``strategy="popular_with_following"``), each with its reasons.
        following: whether the member follows anybody (without: the page shows a hint to follow people).
    """

    recs: RecommendationList
    following: bool


def social_recommendations(session: Session, user_id: int, *, k: int = 12) -> RecommendationList:
    """:func:`popular_with_following` as a recommendation list with reasons (what the API and the page show).

    Each film's reasons are ``shared_by`` (the newest sharer among the people
    followed, when somebody shared it) and ``following`` (the followee who
    counts most, and how many count); ``score`` is the documented sum.

    Raises:
        InvalidParameter: ``k`` outside 1..:data:`MAX_K`.
    """
    picks = popular_with_following(session, user_id, k=k)
    items = [Recommendation(p.movie_id, p.score, pick_reasons(p)) for p in picks]
    return RecommendationList("social", "popular-with-following", "popular_with_following", items)


def for_you_row(session: Session, user_id: int, *, k: int = 12) -> SocialRow:
    """The For-you page's social row: the picks and whether the member follows anybody.

    Raises:
        InvalidParameter: ``k`` outside 1..:data:`MAX_K`.
    """
    return SocialRow(social_recommendations(session, user_id, k=k), follows_anybody(session, user_id))


# ------------------------------------------------------------------ people with your taste

#: The most members :func:`suggested_members` returns (``k`` above it is refused).
MAX_SUGGESTIONS = 50
#: The member's newest liked films (4★ or more) compared with everybody else's.
MAX_LIKED = 500
#: Members with the most films in common that are re-ranked by the damped score.
CANDIDATES = 300
#: Added to a member's like count under the square root (module docstring).
DAMPING = 30.0
#: Films in common shown per suggestion ("You both loved X and Y").
EXAMPLES = 3
#: Below this many people followed, the feed shows suggestions above the items.
FEW_FOLLOWS = 5

_suggestion_cache: LRUCache[list[Suggestion]] = LRUCache(2048, ttl=CACHE_SECONDS, name="member_suggestions")


@dataclass(frozen=True)
class FilmRef:
    """A film named in a suggestion: id, title and year."""

    movie_id: int
    title: str
    year: int | None


@dataclass(frozen=True)
class Suggestion:
    """A member somebody may like to follow.

    Attributes:
        member: who.
        shared_likes: films both rated 4★ or more (0 for a most-followed fallback).
        examples: up to :data:`EXAMPLES` of those films, best-loved by both first.
        followers: how many members follow them.
        score: the damped score of the module docstring (0.0 for a fallback).
    """

    member: MemberCard
    shared_likes: int
    examples: tuple[FilmRef, ...]
    followers: int
    score: float


def taste_score(shared: int, liked: int) -> float:
    """``shared / sqrt(liked + DAMPING)``: the damped score of the module docstring."""
    return shared / math.sqrt(liked + DAMPING)


def _rank(session: Session, user_id: int) -> list[Suggestion]:
    """The member's suggestions, best first, up to :data:`MAX_SUGGESTIONS` (uncached)."""
    # imported at call time: see the import cycle note at the top
    from cinerec.service._social_common import MemberCard

    found = circle_repo.co_likers(session, user_id, min_rating=MIN_RATING, max_liked=MAX_LIKED, limit=CANDIDATES)
    liked = circle_repo.liked_counts(session, [c.user_id for c in found], min_rating=MIN_RATING)
    scored = sorted(found, key=lambda c: (-taste_score(c.count, liked.get(c.user_id, c.count)), -c.count,
                                          c.username))[:MAX_SUGGESTIONS]
    picked = [(c, taste_score(c.count, liked.get(c.user_id, c.count))) for c in scored]
    if len(picked) < MAX_SUGGESTIONS:
        have = {c.user_id for c, _ in picked}
        more = circle_repo.most_followed(session, user_id, limit=MAX_SUGGESTIONS + len(have))
        picked += [(circle_repo.MemberCount(c.user_id, c.username, c.display_name, 0), 0.0)
                   for c in more if c.user_id not in have][:MAX_SUGGESTIONS - len(picked)]
    ids = [c.user_id for c, _ in picked]
    examples: dict[int, list[FilmRef]] = {}
    for uid, mid, title, year in circle_repo.liked_in_common(
            session, user_id, [c.user_id for c, s in picked if s > 0], min_rating=MIN_RATING, max_liked=MAX_LIKED):
        films = examples.setdefault(uid, [])
        if len(films) < EXAMPLES:
            films.append(FilmRef(mid, title, year))
    followers = circle_repo.follower_counts(session, ids)
    return [Suggestion(MemberCard(c.user_id, c.username, c.display_name), c.count,
                       tuple(examples.get(c.user_id, ())), followers.get(c.user_id, 0), round(score, 6))
            for c, score in picked]


def suggested_members(session: Session, user_id: int, *, k: int = 12) -> list[Suggestion]:
    """Members with the viewer's taste: the most films both rated 4★ or more, damped (module docstring).

    Args:
        user_id: the member asking.
        k: how many, 1..:data:`MAX_SUGGESTIONS`.

    Returns:
        Up to ``k`` suggestions, best first: co-likers by damped score, then
        (without 4★ ratings, or to fill up) the most-followed active members.
        Never the member, people they follow, inactive accounts or block
        relations either way.

    Raises:
        InvalidParameter: ``k`` outside 1..:data:`MAX_SUGGESTIONS`.
    """
    if not 1 <= k <= MAX_SUGGESTIONS:
        raise InvalidParameter(f"k must be 1-{MAX_SUGGESTIONS}", details={
            "fields": [{"loc": ["query", "k"], "msg": f"1-{MAX_SUGGESTIONS}", "type": "value_error"}]})
    n_rated, n_liked = circle_repo.rating_counts(session, user_id, min_rating=MIN_RATING)
    key = (str(session.get_bind().engine.url), user_id,
           fingerprint((i, 0.0) for i in circle_repo.followee_ids(session, user_id)),
           fingerprint((i, 1.0) for i in circle_repo.block_partner_ids(session, user_id)), n_rated, n_liked)
    return _suggestion_cache.get_or_compute(key, lambda: _rank(session, user_id))[:k]


def following_count(session: Session, user_id: int) -> int:
    """How many active members the member follows (block relations left out)."""
    return len(circle_repo.followee_ids(session, user_id))


def feed_suggestions(session: Session, user_id: int, *, feed_empty: bool, k: int = 6) -> list[Suggestion]:
    """The feed's "People with your taste" box: suggestions while the member follows fewer than
    :data:`FEW_FOLLOWS` people or has an empty feed, else none.

    Raises:
        InvalidParameter: ``k`` outside 1..:data:`MAX_SUGGESTIONS`.
    """
    if not feed_empty and following_count(session, user_id) >= FEW_FOLLOWS:
        return []
    return suggested_members(session, user_id, k=k)
