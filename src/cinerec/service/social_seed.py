"""A seeded social graph for the demo: follows by taste, shares and public lists from the MovieLens profiles.

MovieLens profiles have ratings but no friends. The generator gives them a
plausible social life so the feed, notifications and "Popular with people
you follow" have something to show:

- **Follows.** Each profile follows its ``follows`` nearest neighbours by
  taste, the cosine similarity of mean-centred ratings (two people who both
  rate a film above their own average agree, whatever their scales), plus
  ``random_follows`` members drawn uniformly (people also follow friends with
  other tastes). Only neighbours with a positive similarity count.
- **Shares.** Each profile shares ``shares`` films drawn at random from its
  ``3 x shares`` highest-rated films rated 4★ or more, with a short note from
  an English or a Chinese template (a profile writes in one language: Chinese
  with probability ``chinese``); a share is public (with an unguessable link
  token from :mod:`secrets`, never from the seed) with probability
  ``public_shares``, else for followers.
- **Lists.** With probability ``list_fraction`` a profile makes "My top picks"
  (its ``list_size`` highest-rated films) and, when it rated at least 5 films
  of one genre 4★ or more, "Favourite <genre> films" (its best of the genre it
  loves most). Lists are public; ``item_count`` and ``like_count`` are kept.
- **Likes.** Each profile likes ``list_likes`` lists of the people it follows.
- **Time.** Every action gets a time in the last ``days`` days (uniform), and
  an event (``follow``, ``share``, ``list``, ``like_list``, inserted in time
  order so event ids grow with time as the feed expects) and the
  notifications a live action would send (the followee of a follow, the
  sharer's followers, a liked list's owner).

The plan is a pure function of the ratings, the genres and the parameters
(:func:`plan_social_graph`), deterministic for a ``seed``, so the simulation
benchmark can build the same kind of graph from training ratings alone.
Writing it (:func:`seed_social`) goes through the same repository writers
as members' own actions and is idempotent: follows, shares (per member and
film), lists (per member and title) and likes that exist are skipped, and
only new rows get events and notifications.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sqlalchemy import Engine

from cinerec.errors import InvalidParameter, NotFound
from cinerec.store.db import analyze, transaction
from cinerec.store.models import utcnow
from cinerec.store.repos import circle as circle_repo
from cinerec.store.repos import events as event_repo
from cinerec.store.repos import follows as follow_repo
from cinerec.store.repos import likes as like_repo
from cinerec.store.repos import lists as list_repo
from cinerec.store.repos import notifications as notification_repo
from cinerec.store.repos import shares as share_repo
from cinerec.store.repos import users as user_repo

#: Share notes a profile writing in English picks from.
NOTES_EN = (
    "One of my favourites: you should see it.",
    "Watched it again, still great.",
    "Underrated. Give it a try.",
    "A must-see.",
    "This one stayed with me for days.",
    "Perfect for a quiet evening.",
)
#: Share notes a profile writing in Chinese picks from.
NOTES_ZH = (
    "强烈推荐，值得一看。",
    "又看了一遍，还是很好看。",
    "被低估的好片，推荐。",
    "必看。",
    "看完好几天都忘不了。",
    "适合一个安静的晚上。",
)
#: Title and description of the list of a profile's best films.
TOP_PICKS = ("My top picks", "The films I rated highest.")
#: A genre list's title and description (``{genre}`` filled in).
GENRE_LIST = ("Favourite {genre} films", "My favourite {genre} films, best first.")
#: The lowest rating a film needs to be shared or listed.
LIKED = 4.0
#: Rated films of one genre (at ``LIKED`` or more) a profile needs for a genre list.
MIN_GENRE_FILMS = 5


@dataclass(frozen=True)
class SeedParams:
    """The generator's knobs (see the module docstring).

    Attributes:
        follows: nearest neighbours each profile follows.
        random_follows: further members each profile follows at random.
        shares: films each profile shares.
        list_fraction: share of profiles that make lists.
        list_size: films on a list (at most).
        list_likes: lists of followees each profile likes.
        public_shares: probability that a share is a public link.
        chinese: probability that a profile writes its notes in Chinese.
        days: actions are spread over this many past days.
        seed: the random seed.
    """

    follows: int = 8
    random_follows: int = 2
    shares: int = 3
    list_fraction: float = 0.5
    list_size: int = 10
    list_likes: int = 1
    public_shares: float = 0.2
    chinese: float = 0.3
    days: float = 90.0
    seed: int = 42

    def check(self) -> SeedParams:
        """The parameters, validated.

        Raises:
            InvalidParameter: a negative count, a probability outside 0..1 or ``days`` not positive.
        """
        counts = (self.follows, self.random_follows, self.shares, self.list_size, self.list_likes)
        probs = (self.list_fraction, self.public_shares, self.chinese)
        if min(counts) < 0 or not all(0.0 <= p <= 1.0 for p in probs) or not self.days > 0:
            raise InvalidParameter("counts must be >= 0, probabilities 0..1 and days > 0")
        return self


@dataclass(frozen=True)
class PlannedShare:
    """A share to make: who, which film, the note, public or not, how many days ago."""

    user: int
    movie: int
    note: str
    public: bool
    days_ago: float


@dataclass(frozen=True)
class PlannedList:
    """A public list to make: owner, title, description, films best first, how many days ago."""

    user: int
    title: str
    description: str
    movies: list[int]
    days_ago: float


@dataclass(frozen=True)
class SocialPlan:
    """What the generator will write (raw user and film ids).

    Attributes:
        follows: ``(follower, followee, days ago)``.
        shares: films to share.
        lists: lists to make.
        list_likes: ``(liker, (owner, title) of the list, days ago)``.
    """

    follows: list[tuple[int, int, float]] = field(default_factory=list)
    shares: list[PlannedShare] = field(default_factory=list)
    lists: list[PlannedList] = field(default_factory=list)
    list_likes: list[tuple[int, tuple[int, str], float]] = field(default_factory=list)


@dataclass(frozen=True)
class SeedReport:
    """Rows a :func:`seed_social` run added (zeros when everything existed)."""

    follows: int
    shares: int
    lists: int
    list_items: int
    list_likes: int
    events: int
    notifications: int


def taste_matrix(users: npt.NDArray[np.int64], items: npt.NDArray[np.int64],
                 ratings: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], sp.csr_matrix]:
    """Each user's mean-centred ratings as a unit-length row.

    Args:
        users, items, ratings: one rating per position (raw ids).

    Returns:
        ``(user ids, matrix)``: the distinct user ids (ascending) and a CSR
        ``(n_users, n_items)`` matrix of centred, L2-normalised rows (a row of
        zeros for a user whose ratings are all equal).
    """
    uids, u = np.unique(users, return_inverse=True)
    _, i = np.unique(items, return_inverse=True)
    sums = np.bincount(u, weights=ratings, minlength=len(uids))
    counts = np.bincount(u, minlength=len(uids))
    centred = ratings - (sums / np.maximum(counts, 1))[u]
    norms = np.sqrt(np.bincount(u, weights=centred ** 2, minlength=len(uids)))
    values = np.divide(centred, norms[u], out=np.zeros_like(centred), where=norms[u] > 0)
    return uids, sp.csr_matrix((values, (u, i)), shape=(len(uids), int(i.max()) + 1 if len(i) else 0))


def nearest_neighbours(matrix: sp.csr_matrix, n: int, *, block: int = 1024) -> list[list[int]]:
    """Row indices of each row's ``n`` most similar other rows (cosine of unit rows, positive only), best first.

    Computed a block of rows at a time, so memory grows with ``block x n_rows``.
    """
    out: list[list[int]] = []
    rows = matrix.shape[0]
    t = matrix.T.tocsc()
    for s in range(0, rows, block):
        sim = np.asarray((matrix[s:s + block] @ t).todense(), dtype=np.float64)
        for r in range(sim.shape[0]):
            sim[r, s + r] = -np.inf
        for r in range(sim.shape[0]):
            row = sim[r]
            m = min(n, rows - 1)
            if m <= 0:
                out.append([])
                continue
            top = np.argpartition(-row, m - 1)[:m]
            top = top[np.lexsort((top, -row[top]))]
            out.append([int(j) for j in top if row[j] > 0])
    return out


def similarity(matrix: sp.csr_matrix, pairs: Sequence[tuple[int, int]]) -> npt.NDArray[np.float64]:
    """Cosine similarity of row pairs of :func:`taste_matrix`'s matrix."""
    if not pairs:
        return np.empty(0, dtype=np.float64)
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    return np.asarray(matrix[a].multiply(matrix[b]).sum(axis=1), dtype=np.float64).ravel()


def plan_social_graph(users: npt.ArrayLike, items: npt.ArrayLike, ratings: npt.ArrayLike,
                      genres: Mapping[int, Sequence[str]] | None = None, params: SeedParams | None = None,
                      *, actors: set[int] | None = None) -> SocialPlan:
    """The follows, shares, lists and likes to make from ratings alone (see the module docstring).

    Args:
        users, items, ratings: one rating per position (raw ids; one rating per user and film).
        genres: film id -> genre names, for genre lists (``None``: top picks only).
        params: the knobs (defaults: :class:`SeedParams`).
        actors: the users who share, list and like (``None``: everybody);
            everybody follows.

    Returns:
        The plan, deterministic for the same inputs and ``params.seed``.

    Raises:
        InvalidParameter: bad parameters.
    """
    p = (params or SeedParams()).check()
    u = np.asarray(users, dtype=np.int64)
    it = np.asarray(items, dtype=np.int64)
    r = np.asarray(ratings, dtype=np.float64)
    plan = SocialPlan()
    if not len(u):
        return plan
    rng = np.random.default_rng(p.seed)
    uids, matrix = taste_matrix(u, it, r)
    n = len(uids)

    def when() -> float:
        return float(rng.uniform(0.0, p.days))

    neighbours = nearest_neighbours(matrix, p.follows) if p.follows else [[] for _ in range(n)]
    followees: dict[int, list[int]] = {}
    for a in range(n):
        chosen = list(neighbours[a])
        others = n - 1 - len(chosen)
        k = min(p.random_follows, others)
        if k > 0:
            pool = np.setdiff1d(np.arange(n), np.array([a, *chosen]), assume_unique=False)
            chosen += [int(x) for x in rng.choice(pool, size=k, replace=False)]
        followees[int(uids[a])] = [int(uids[b]) for b in chosen]
        plan.follows.extend((int(uids[a]), int(uids[b]), when()) for b in chosen)

    order = np.lexsort((it, -r, u))  # per user: best rated first, ties by film id
    starts = np.r_[0, np.flatnonzero(np.diff(u[order])) + 1, len(order)]
    lists_by_owner: dict[int, list[tuple[int, str]]] = {}
    for s, e in itertools.pairwise(starts.tolist()):
        user = int(u[order[s]])
        if actors is not None and user not in actors:
            continue
        films, stars = it[order[s:e]], r[order[s:e]]
        liked = films[stars >= LIKED]
        notes = NOTES_ZH if rng.random() < p.chinese else NOTES_EN
        pool = liked[:3 * p.shares]
        for m in (rng.choice(pool, size=min(p.shares, len(pool)), replace=False) if len(pool) else []):
            plan.shares.append(PlannedShare(user, int(m), str(notes[int(rng.integers(len(notes)))]),
                                            bool(rng.random() < p.public_shares), when()))
        if rng.random() >= p.list_fraction or not len(liked) or not p.list_size:
            continue
        plan.lists.append(PlannedList(user, TOP_PICKS[0], TOP_PICKS[1], [int(m) for m in liked[:p.list_size]], when()))
        lists_by_owner.setdefault(user, []).append((user, TOP_PICKS[0]))
        if genres:
            by_genre: dict[str, list[int]] = {}
            for m in liked.tolist():
                for g in genres.get(int(m), ()):
                    by_genre.setdefault(g, []).append(int(m))
            fav = sorted(((len(v), g) for g, v in by_genre.items() if len(v) >= MIN_GENRE_FILMS
                          and g not in ("(no genres listed)", "unknown")), key=lambda x: (-x[0], x[1]))
            if fav:
                g = fav[0][1]
                title = GENRE_LIST[0].format(genre=g)
                plan.lists.append(PlannedList(user, title, GENRE_LIST[1].format(genre=g), by_genre[g][:p.list_size],
                                              when()))
                lists_by_owner[user].append((user, title))
    if p.list_likes:
        for a in sorted(followees):
            if actors is not None and a not in actors:
                continue
            reachable = [key for b in followees[a] for key in lists_by_owner.get(b, [])]
            if reachable:
                picks = rng.choice(len(reachable), size=min(p.list_likes, len(reachable)), replace=False)
                plan.list_likes.extend((a, reachable[int(x)], when()) for x in sorted(picks.tolist()))
    return plan


def _member_follows(plan: SocialPlan, member: int, ratings: list[tuple[int, int, float]], n: int) -> SocialPlan:
    """``plan`` plus the member's follows: the nearest profiles by taste (else the most followed) and half back."""
    mine = [x for x in ratings if x[0] == member]
    chosen: list[int] = []
    if len(mine) >= 2:
        uids, matrix = taste_matrix(*(np.array(c) for c in zip(*ratings, strict=True)))
        row = int(np.searchsorted(uids, member))
        sims = np.asarray((matrix @ matrix[row].T).todense()).ravel()
        sims[row] = -np.inf
        chosen = [int(uids[j]) for j in np.lexsort((uids, -sims))[:n] if sims[j] > 0]
    if len(chosen) < n:
        popular: dict[int, int] = {}
        for _, b, _t in plan.follows:
            popular[b] = popular.get(b, 0) + 1
        chosen += [b for b in sorted(popular, key=lambda x: (-popular[x], x)) if b not in chosen][:n - len(chosen)]
    follows = list(plan.follows) + [(member, b, 1.0 + i) for i, b in enumerate(chosen)]
    follows += [(b, member, 0.5 + i) for i, b in enumerate(chosen[: (n + 1) // 2])]
    return SocialPlan(follows, plan.shares, plan.lists, plan.list_likes)


def seed_social(engine: Engine, params: SeedParams | None = None, *, member: str | None = None,
                now: datetime | None = None) -> SeedReport:
    """Write the demo's social graph among the imported dataset profiles (idempotent).

    Args:
        engine: the database.
        params: the generator's knobs (:class:`SeedParams`).
        member: a site account that joins the graph: it follows ``params.follows``
            profiles (nearest by its ratings, else the most followed) and half of
            them follow it back, so a person logging in as it sees a feed,
            notifications and a "Popular with people you follow" row.
        now: the time actions are dated back from (default: now).

    Returns:
        The rows added.

    Raises:
        InvalidParameter: bad parameters.
        NotFound: ``member`` is not an active account.
    """
    p = (params or SeedParams()).check()
    now = now or utcnow()
    with transaction(engine, write=False) as session:
        ratings = circle_repo.dataset_ratings(session)
        genres = circle_repo.movie_genres(session)
        member_id: int | None = None
        if member is not None:
            account = user_repo.by_username(session, member)
            if account is None or not account.is_active or account.source is not None:
                raise NotFound(f"no site account {member!r} (a dataset profile is already in the graph)")
            member_id = account.id
            ratings = [x for x in ratings if x[0] != member_id] + [(member_id, m, v) for m, v in
                                                                    user_repo.history(session, member_id)]
    actors = {x[0] for x in ratings} - ({member_id} if member_id is not None else set())
    cols = list(zip(*ratings, strict=True)) if ratings else [(), (), ()]
    plan = plan_social_graph(np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64),
                             np.array(cols[2], dtype=np.float64), genres, p, actors=actors)
    if member_id is not None:
        plan = _member_follows(plan, member_id, ratings, p.follows)
    return _write(engine, plan, now)


def _write(engine: Engine, plan: SocialPlan, now: datetime) -> SeedReport:
    """Insert what of ``plan`` does not exist yet, with events and notifications, in one transaction.

    Rows go through the same repository writers as members' own actions
    (follows, shares, lists with their kept ``item_count``, likes with their
    kept ``like_count``, the share fan-out of notifications); events are
    written last, in time order, so event ids grow with time.
    """
    def at(days_ago: float) -> datetime:
        return now - timedelta(days=days_ago)

    events: list[tuple[datetime, int, str, int | None, int]] = []  # (when, user, kind, movie, object)
    n_notes = 0
    with transaction(engine) as session:
        blocked = circle_repo.blocked_pairs(session)

        def apart(a: int, b: int) -> bool:
            return (a, b) in blocked or (b, a) in blocked

        n_follows = 0
        with session.no_autoflush:  # the follow notices are flushed once, in a batch, not before every insert
            for a, b, d in sorted(plan.follows, key=lambda f: -f[2]):  # oldest first
                if a == b or apart(a, b) or not follow_repo.add(session, a, b, at(d)):
                    continue
                n_follows += 1
                events.append((at(d), a, "follow", None, b))
                notification_repo.add(session, b, a, "follow", now=at(d))
                n_notes += 1
        session.flush()

        done = circle_repo.shared_movies(session)
        n_shares = 0
        for x in sorted(plan.shares, key=lambda x: -x.days_ago):
            if (x.user, x.movie) in done:
                continue
            done.add((x.user, x.movie))
            share = share_repo.create(session, x.user, movie_id=x.movie, list_id=None, note=x.note,
                                      audience="public" if x.public else "followers",
                                      token=secrets.token_urlsafe(32) if x.public else None, now=at(x.days_ago))
            n_shares += 1
            events.append((at(x.days_ago), x.user, "share", x.movie, share.id))
            n_notes += notification_repo.fan_out_share(session, x.user, share.id, at(x.days_ago))

        titles = circle_repo.list_titles(session)
        n_lists = n_items = 0
        for lst in plan.lists:
            if (lst.user, lst.title) in titles:
                continue
            row = list_repo.create(session, lst.user, title=lst.title, description=lst.description, public=True,
                                   now=at(lst.days_ago))
            for m in lst.movies:
                list_repo.append(session, row.id, m, note=None, now=at(lst.days_ago))
            titles[(lst.user, lst.title)] = row.id
            n_lists += 1
            n_items += len(lst.movies)
            events.append((at(lst.days_ago), lst.user, "list", None, row.id))

        n_likes = 0
        for a, key, d in plan.list_likes:
            target = titles.get(key)
            if target is None or apart(a, key[0]) or not like_repo.set_list_like(session, a, target, True, at(d))[0]:
                continue
            n_likes += 1
            events.append((at(d), a, "like_list", None, target))
            notification_repo.add(session, key[0], a, "like_list", now=at(d), list_id=target)
            n_notes += 1

        for when, actor, kind, film, obj in sorted(events, key=lambda e: (e[0], e[1], e[2], e[4])):
            event_repo.record(session, actor, kind, movie_id=film, value=1.0, object_id=obj, when=when)
    analyze(engine)
    return SeedReport(n_follows, n_shares, n_lists, n_items, n_likes, len(events), n_notes)
