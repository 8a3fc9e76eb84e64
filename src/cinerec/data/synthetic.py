"""Seeded synthetic ratings with MovieLens-like shapes, for measuring how costs grow (``benchmarks/scale.py``).

The generator plants what a recommender is supposed to find, so that held-out
accuracy on the data means something:

* **Activity and popularity follow power laws.** Each user's number of
  ratings is drawn from a Lomax (Pareto II) distribution above a floor
  (MovieLens keeps users with 20 ratings or more), capped at half the
  catalogue; films are chosen with Zipf-like popularity, so a few films hold
  a large share of the ratings and most of the catalogue is a long tail.
* **Tastes are low-rank.** Users and films have latent vectors (rank 16 by
  default) and biases. Users belong to one of :data:`TASTE_GROUPS` taste
  groups whose centre their vector leans towards, and a group's members
  choose films that group likes more often than popularity alone says
  (ranking models can learn which films a user will rate); the rating is
  ``b_u + b_i + p_u . q_i + noise`` (rating models can learn how much).
* **Stars look like MovieLens.** The latent scores are mapped through their
  quantiles onto half stars 0.5-5 with ML-25M's share of each value
  (mean about 3.5), which keeps their order.
* **Timestamps and films.** Each user rates within an active span of a
  random start between 2000 and 2023; films get a title, a year and one to
  three genres derived from their latent vector.

Every (user, film) pair appears once. The work is vectorised numpy over
chunks of users: 50 million ratings took 95 s and peaked at 1.7 GB here;
the result is the same for the same arguments on any machine.

Raw ids are ``1..n_users`` and ``1..n_items``; :meth:`SyntheticRatings.dataset`
gives a :class:`~cinerec.data.readers.Dataset` that
:func:`cinerec.store.importer.import_dataset` imports (SQLite, or PostgreSQL
through ``COPY``), :meth:`SyntheticRatings.interactions` the
:class:`~cinerec.data.interactions.Interactions` the algorithms train on, and
:meth:`SyntheticRatings.write_movielens` an ML-latest folder that
``cinerec data import`` reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from cinerec.data.interactions import Interactions
from cinerec.data.readers import Dataset, RatingScale
from cinerec.data.vocab import Vocabulary
from cinerec.errors import InvalidParameter

#: Named sizes: ratings, users, films (MovieLens 100K, 1M, 10M, 25M shapes, and a 50M extrapolation).
SIZES: dict[str, tuple[int, int, int]] = {
    "100k": (100_000, 943, 1_682),
    "1M": (1_000_000, 6_040, 3_706),
    "10M": (10_000_000, 69_878, 10_677),
    "25M": (25_000_000, 162_541, 59_047),
    "50M": (50_000_000, 300_000, 80_000),
}
#: Share of each half star 0.5, 1, ..., 5 in ML-25M (mean 3.53).
STAR_SHARES = np.array([0.0157, 0.0311, 0.0160, 0.0656, 0.0505, 0.1959, 0.1271, 0.2656, 0.0880, 0.1445])
#: Taste groups: users of a group lean towards its centre and choose the films it likes more often.
TASTE_GROUPS = 32
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")
#: Users generated together (their candidate keys are de-duplicated in one sort).
_CHUNK_RATINGS = 2_000_000
_START, _END = 946_684_800, 1_704_067_200  # 2000-01-01, 2024-01-01


def parse_size(text: str) -> int:
    """A number of ratings from ``100k``, ``1M``, ``2.5M`` or ``250000``.

    Raises:
        InvalidParameter: anything else, or zero.
    """
    m = _SIZE.match(str(text))
    if not m:
        raise InvalidParameter(f"a size is a number of ratings such as 100k, 1M, 2.5M or 250000, got {text!r}")
    n = round(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()])
    if n < 1:
        raise InvalidParameter(f"a size must be at least one rating, got {text!r}")
    return n


def default_shape(n_ratings: int) -> tuple[int, int]:
    """Users and films for ``n_ratings``: a named size's shape, else ML-1M's ratings per user and a sqrt-grown catalogue."""
    for n, users, items in SIZES.values():
        if n == n_ratings:
            return users, items
    return max(round(n_ratings / 165), 10), max(round(3_706 * np.sqrt(n_ratings / 1e6)), 10)


@dataclass(frozen=True, eq=False)
class SyntheticRatings:
    """Generated ratings as flat arrays (0-based indices; raw ids are index + 1).

    Attributes:
        users: user index of each rating (int32), grouped by user.
        items: film index of each rating (int32).
        stars: the rating, half stars 0.5-5 (float32).
        timestamps: unix seconds (int64).
        n_users, n_items: the shape (every user has ratings; a tail film may have none).
        years: release year of each film.
        genres: one to three genre names per film.
        seed: the seed it was generated from.
    """

    users: npt.NDArray[np.int32]
    items: npt.NDArray[np.int32]
    stars: npt.NDArray[np.float32]
    timestamps: npt.NDArray[np.int64]
    n_users: int
    n_items: int
    years: npt.NDArray[np.int64]
    genres: list[list[str]]
    seed: int

    def __len__(self) -> int:
        return len(self.users)

    def interactions(self) -> Interactions:
        """The ratings as :class:`Interactions` over raw ids ``1..n_users`` and ``1..n_items``."""
        return Interactions(
            users=self.users.astype(np.int64), items=self.items.astype(np.int64),
            ratings=self.stars.astype(np.float64), timestamps=self.timestamps,
            user_vocab=Vocabulary(np.arange(1, self.n_users + 1)), item_vocab=Vocabulary(np.arange(1, self.n_items + 1)),
        )

    def movies_frame(self) -> pd.DataFrame:
        """Columns item, title, year (Int64), genres (list of str): the films as the readers return them."""
        ids = np.arange(1, self.n_items + 1)
        return pd.DataFrame({"item": ids, "title": [f"Synthetic Film {i}" for i in ids],
                             "year": pd.array(self.years, dtype="Int64"), "genres": self.genres})

    def ratings_frame(self) -> pd.DataFrame:
        """Columns user, item, rating, timestamp (raw ids), one row per rating."""
        return pd.DataFrame({"user": self.users.astype(np.int64) + 1, "item": self.items.astype(np.int64) + 1,
                             "rating": self.stars.astype(np.float64), "timestamp": self.timestamps})

    def dataset(self, name: str | None = None) -> Dataset:
        """A :class:`Dataset` as a reader would return it, ready for :func:`cinerec.store.importer.import_dataset`.

        Args:
            name: the source tag (default ``synthetic-<ratings>-s<seed>``).
        """
        ratings = self.ratings_frame()
        ratings["_line"] = np.arange(2, len(ratings) + 2, dtype=np.int64)
        return Dataset(name=name or f"synthetic-{len(self)}-s{self.seed}", format="synthetic", ratings=ratings,
                       movies=self.movies_frame(), scale=RatingScale(0.5, 5.0, 0.5), ratings_read=len(ratings),
                       notes=[f"synthetic ratings: {len(self)} by {self.n_users} users of {self.n_items} films, seed {self.seed}"])

    def write_movielens(self, folder: Path | str) -> Path:
        """Write ``movies.csv`` and ``ratings.csv`` in the ML-latest layout (what ``cinerec data import`` reads)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        m = self.movies_frame()
        pd.DataFrame({"movieId": m["item"], "title": [f"{t} ({y})" for t, y in zip(m["title"], self.years, strict=True)],
                      "genres": ["|".join(g) for g in self.genres]}).to_csv(out / "movies.csv", index=False)
        r = self.ratings_frame().rename(columns={"user": "userId", "item": "movieId"})
        r.to_csv(out / "ratings.csv", index=False, float_format="%.1f")
        return out

    def save(self, path: Path | str) -> Path:
        """Write the arrays to one uncompressed ``.npz`` (fast to load in another process)."""
        p = Path(path)
        np.savez(p, users=self.users, items=self.items, stars=self.stars, timestamps=self.timestamps,
                 years=self.years, genres=np.array(["|".join(g) for g in self.genres]),
                 shape=np.array([self.n_users, self.n_items, self.seed]))
        return p

    @classmethod
    def load(cls, path: Path | str) -> SyntheticRatings:
        """Read what :meth:`save` wrote."""
        with np.load(path) as z:
            n_users, n_items, seed = (int(v) for v in z["shape"])
            return cls(z["users"], z["items"], z["stars"], z["timestamps"], n_users, n_items, z["years"],
                       [str(g).split("|") for g in z["genres"]], seed)


def generate(n_ratings: int, n_users: int | None = None, n_items: int | None = None, *,
             rank: int = 16, seed: int = 0) -> SyntheticRatings:
    """Generate ``n_ratings`` distinct ratings (see the module docstring for what is planted).

    Args:
        n_ratings: how many ratings.
        n_users, n_items: the shape (``None``: :func:`default_shape`).
        rank: latent dimensions of the planted structure.
        seed: the seed; the same arguments give the same ratings.

    Raises:
        InvalidParameter: a shape that cannot hold ``n_ratings`` distinct
            ratings with each user rating at most half the catalogue.
    """
    du, di = default_shape(n_ratings)
    nu, ni = n_users or du, n_items or di
    cap = max(ni // 2, 1)
    if n_ratings < 1 or nu < 1 or ni < 2 or rank < 1:
        raise InvalidParameter("synthetic ratings need n_ratings >= 1, n_users >= 1, n_items >= 2 and rank >= 1")
    if n_ratings < nu or n_ratings > nu * cap:
        raise InvalidParameter(
            f"{n_ratings} ratings do not fit {nu} users of {ni} films (every user rates at least one and at most "
            f"half the catalogue, {cap}): give between {nu} and {nu * cap} ratings, or another shape")
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    counts = _user_counts(n_ratings, nu, cap, rngs[0])

    r = rngs[1]
    pop = np.empty(ni)
    pop[r.permutation(ni)] = (np.arange(ni) + 1.0 + 0.002 * ni) ** -0.95
    scale = (0.35 / rank) ** 0.25  # p_u . q_i has a standard deviation of about 0.6 stars
    groups = r.standard_normal((TASTE_GROUPS, rank))
    q = r.standard_normal((ni, rank))
    group_of = r.integers(TASTE_GROUPS, size=nu)
    p = (0.8 * groups[group_of] + 0.6 * r.standard_normal((nu, rank))) * scale
    q_scaled = (q * scale).astype(np.float32)
    p_scaled = p.astype(np.float32)
    log_pop = np.log(pop)
    b_user = (0.35 * r.standard_normal(nu)).astype(np.float32)
    b_item = (0.4 * r.standard_normal(ni) + 0.15 * (log_pop - log_pop.mean()) / log_pop.std()).astype(np.float32)

    taste = groups @ q.T / np.sqrt(rank)  # (groups, items), about unit variance
    weights = pop[None, :] * np.exp(taste)
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    # one increasing array: group g's CDF lies in [g, g + 1]
    flat = np.asarray(cdf + np.arange(TASTE_GROUPS)[:, None], dtype=np.float64).ravel()

    users, items = _choose_items(counts, group_of, flat, ni, rngs[2])

    latent = np.empty(len(users), dtype=np.float32)
    noise = rngs[3]
    for s in range(0, len(users), _CHUNK_RATINGS):
        u, i = users[s : s + _CHUNK_RATINGS], items[s : s + _CHUNK_RATINGS]
        latent[s : s + len(u)] = (b_user[u] + b_item[i] + np.einsum("ij,ij->i", p_scaled[u], q_scaled[i])
                                  + noise.standard_normal(len(u), dtype=np.float32) * np.float32(0.75))
    cuts = np.quantile(latent, np.cumsum(STAR_SHARES)[:-1])
    stars = np.empty(len(users), dtype=np.float32)
    timestamps = np.empty(len(users), dtype=np.int64)
    t = rngs[4]
    start = t.integers(_START, _END - 86_400 * 365, size=nu)
    span = np.minimum(t.exponential(86_400 * 400, size=nu), _END - start).astype(np.int64)
    for s in range(0, len(users), _CHUNK_RATINGS):  # in chunks: float64 temporaries of every rating would double the peak
        u, part = users[s : s + _CHUNK_RATINGS], slice(s, s + _CHUNK_RATINGS)
        stars[part] = (np.searchsorted(cuts, latent[part]) + 1) * 0.5
        timestamps[part] = start[u] + (t.random(len(u)) * span[u]).astype(np.int64)
    del latent

    m = rngs[5]
    years = np.maximum(2023 - np.floor(m.exponential(14, size=ni)), 1902).astype(np.int64)
    genre_scores = q @ m.standard_normal((rank, len(GENRES))) / np.sqrt(rank)
    order = np.argsort(-genre_scores, axis=1)[:, :3]
    top = np.take_along_axis(genre_scores, order, axis=1)
    genres = [[GENRES[g] for j, (g, s) in enumerate(zip(row, s_row, strict=True)) if j == 0 or s > 1.0]
              for row, s_row in zip(order.tolist(), top.tolist(), strict=True)]
    return SyntheticRatings(users, items, stars, timestamps, nu, ni, years, genres, seed)


def _user_counts(n_ratings: int, n_users: int, cap: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Ratings per user: a floor plus a Lomax(1.3) share of the rest, at most ``cap``, summing to ``n_ratings``."""
    floor = max(1, min(20, round(0.15 * n_ratings / n_users)))
    raw = rng.pareto(1.3, n_users)
    f = floor + raw * (n_ratings - n_users * floor) / max(raw.sum(), 1e-12)
    for _ in range(100):
        over = f > cap
        if not over.any():
            break
        excess = float((f[over] - cap).sum())
        f[over] = cap
        room = np.where(f < cap, f - floor + 1e-9, 0.0)
        f += excess * room / room.sum()
    counts = np.minimum(np.floor(f).astype(np.int64), cap)
    short = n_ratings - int(counts.sum())
    if short > 0:  # the largest remainders first, among users below the cap
        frac = np.where(counts < cap, f - np.floor(f), -1.0)
        counts[np.argsort(-frac, kind="stable")[:short]] += 1
    return np.asarray(counts, dtype=np.int64)


def _choose_items(counts: npt.NDArray[np.int64], group_of: npt.NDArray[np.int64], flat_cdf: npt.NDArray[np.float64],
                  n_items: int, rng: np.random.Generator) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """``counts[u]`` distinct films per user, drawn from the user's taste group's distribution.

    Users are taken in chunks. Each round draws a few more films than each
    user still lacks (inverse CDF on the group's row of ``flat_cdf``), drops
    repeats and films already chosen, and keeps at most what each user lacks,
    chosen at random; after a few rounds the last films of heavy users are
    drawn uniformly, so the loop ends however concentrated their group's
    tastes are.
    """
    ends = np.cumsum(counts)
    bounds = np.searchsorted(ends, np.arange(_CHUNK_RATINGS, int(ends[-1]), _CHUNK_RATINGS))
    out_u, out_i = [], []
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(counts)], strict=True):
        if lo >= hi:
            continue
        chosen = np.empty(0, dtype=np.int64)
        lack = counts[lo:hi].copy()
        ids = np.arange(lo, hi)
        rounds = 0
        while lack.any():
            need = lack > 0
            draw = np.ceil(lack[need] * (1.1 if rounds == 0 else 2.0)).astype(np.int64) + 2
            u = np.repeat(ids[need], draw)
            if rounds < 6:
                g = group_of[u]
                i = np.searchsorted(flat_cdf, g + rng.random(len(u)), side="right") - g * n_items
                i = np.clip(i, 0, n_items - 1)
            else:
                i = rng.integers(n_items, size=len(u))
            keys = np.sort(u * n_items + i)
            keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
            keys = keys[~np.isin(keys, chosen, assume_unique=True)]
            keys = keys[rng.permutation(len(keys))]
            ku = keys // n_items
            order = np.argsort(ku, kind="stable")
            keys, ku = keys[order], ku[order]
            starts = np.r_[0, np.flatnonzero(ku[1:] != ku[:-1]) + 1]
            rank = np.arange(len(ku)) - np.repeat(starts, np.diff(np.r_[starts, len(ku)]))
            take = rank < lack[ku - lo]
            chosen = np.sort(np.r_[chosen, keys[take]])
            lack -= np.bincount(ku[take] - lo, minlength=len(lack))
            rounds += 1
        out_u.append((chosen // n_items).astype(np.int32))
        out_i.append((chosen % n_items).astype(np.int32))
    return np.concatenate(out_u), np.concatenate(out_i)
