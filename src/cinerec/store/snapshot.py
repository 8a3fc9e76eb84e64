"""The only bridge from SQL to the engine: database rows -> Interactions.

Vocabularies hold database ids, so the service can translate recommendations
back to movies without any other mapping.

What a member did with a film becomes one interaction (user, film, rating,
weight, timestamp). A star rating always wins and keeps weight 1. For a film
the member did *not* rate, the strongest of these implicit signals stands in,
with a rating-scale value for models that read ratings and a confidence weight
for implicit models (ALS, BPR, EASE read the weight):

==========================  ==============  ========  ===========================================
signal                      stand-in stars  weight    counted when
==========================  ==============  ========  ===========================================
rating                      the stars       1.0       always
share of the film           4.5             0.8       not revoked (either audience)
film on a list              4.0             0.6       the list is public
like of a review            3.5             0.3       of a review of that film (any author)
review without rating       3 + 2 x senti.  0.05-1.0  scored sentiment (:func:`review_signal`)
==========================  ==============  ========  ===========================================

Sharing a film recommends it to others, the strongest endorsement short of a
rating; putting it on a public list is a curated but weaker one (lists also
hold "films to see"); liking somebody's review of a film says the member cares
about the film, not that they liked it (the review may pan it), hence the low
weight and a middling stand-in. When one member has several of these for the
same unrated film, the one with the highest weight counts. Revoked shares and
private lists never count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from cinerec.data.features import ItemFeatures, build_item_features, item_texts
from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from cinerec.store.models import (
    Credit,
    Follow,
    Genre,
    ListItem,
    Movie,
    MovieGenre,
    MovieList,
    Person,
    Rating,
    Review,
    ReviewLike,
    Share,
    Tag,
    User,
)

#: Ratings fetched per round trip by the streamed snapshot read (:func:`read_ratings`).
STREAM_CHUNK = 50_000
#: Weight of a review-only interaction at sentiment 0 and its rating-scale stand-in.
REVIEW_BASE_WEIGHT = 0.5
#: ``(stand-in stars, weight)`` of each social signal for a film the member did not rate (see the module docstring).
SOCIAL_SIGNALS: dict[str, tuple[float, float]] = {
    "share": (4.5, 0.8),
    "list": (4.0, 0.6),
    "like_review": (3.5, 0.3),
}


def review_signal(sentiment: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(rating, weight)`` standing in for reviews without a rating.

    The weight (implicit confidence) grows with sentiment from 0.05 for a
    scathing review to 1.0 (a rating's weight) for a glowing one; the stand-in
    rating maps sentiment -1..1 linearly onto 1..5 stars.
    """
    s = np.clip(np.nan_to_num(sentiment), -1.0, 1.0)
    return 3.0 + 2.0 * s, np.clip(REVIEW_BASE_WEIGHT * (1.0 + s), 0.05, 1.0)


def _social_rows(conn: Connection) -> pd.DataFrame:
    """Shares, public-list items and review likes of films the member did not rate, one row per signal.

    Returns:
        Columns ``user, item, kind, updated_at`` (``kind`` a key of :data:`SOCIAL_SIGNALS`).
    """
    def unrated(user_col: Any, movie_col: Any) -> Any:
        return ~select(Rating.id).where(Rating.user_id == user_col, Rating.movie_id == movie_col).exists()

    shares = conn.execute(
        select(Share.user_id, Share.movie_id, Share.created_at)
        .where(Share.movie_id.is_not(None), Share.revoked_at.is_(None), unrated(Share.user_id, Share.movie_id))).all()
    listed = conn.execute(
        select(MovieList.user_id, ListItem.movie_id, ListItem.added_at)
        .join(MovieList, MovieList.id == ListItem.list_id)
        .where(MovieList.is_public.is_(True), unrated(MovieList.user_id, ListItem.movie_id))).all()
    liked = conn.execute(
        select(ReviewLike.user_id, Review.movie_id, ReviewLike.created_at)
        .join(Review, Review.id == ReviewLike.review_id)
        .where(unrated(ReviewLike.user_id, Review.movie_id))).all()
    frames = [pd.DataFrame(rows, columns=["user", "item", "updated_at"]).assign(kind=kind)
              for kind, rows in (("share", shares), ("list", listed), ("like_review", liked)) if rows]
    if not frames:
        return pd.DataFrame(columns=["user", "item", "kind", "updated_at"])
    return pd.concat(frames, ignore_index=True)


def social_signal(kinds: pd.Series) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(rating, weight)`` standing in for shares, list entries and review likes (see :data:`SOCIAL_SIGNALS`).

    Args:
        kinds: signal kinds, each a key of :data:`SOCIAL_SIGNALS`.

    Returns:
        The stand-in star values and the confidence weights, aligned with ``kinds``.

    Raises:
        KeyError: an unknown kind.
    """
    pairs = [SOCIAL_SIGNALS[str(k)] for k in kinds]
    return (np.array([p[0] for p in pairs], dtype=np.float64),
            np.array([p[1] for p in pairs], dtype=np.float64))


def _epoch_seconds(values: Any) -> npt.NDArray[np.int64]:
    """Datetimes (aware, or SQLite's naive UTC text) -> whole Unix seconds, floored."""
    ts = pd.to_datetime(pd.Series(values), utc=True)
    return (ts.astype("int64") // 10**9).to_numpy(dtype=np.int64) if len(ts) else np.array([], dtype=np.int64)


def read_ratings(conn: Connection, *, chunk_size: int | None = None) -> pd.DataFrame:
    """Every rating as columns ``user, item, rating, timestamp`` (numpy-backed), streamed.

    The rows come through a server-side cursor on PostgreSQL
    (``stream_results``), ``chunk_size`` (default :data:`STREAM_CHUNK`) at a
    time, and each chunk becomes numpy arrays before the next is fetched: at
    no point does every rating exist as a Python row object at once, so peak
    memory is the arrays (32 bytes a rating) plus one chunk, not the few
    hundred bytes a rating of a fetched list of rows with datetimes.
    """
    result = conn.execution_options(stream_results=True, yield_per=chunk_size or STREAM_CHUNK).execute(
        select(Rating.user_id, Rating.movie_id, Rating.value, Rating.updated_at))
    users: list[npt.NDArray[np.int64]] = []
    items: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    stamps: list[npt.NDArray[np.int64]] = []
    for part in result.partitions():
        u, i, v, t = zip(*part, strict=True)
        users.append(np.fromiter(u, dtype=np.int64, count=len(part)))
        items.append(np.fromiter(i, dtype=np.int64, count=len(part)))
        values.append(np.fromiter(v, dtype=np.float64, count=len(part)))
        stamps.append(_epoch_seconds(t))

    def cat(parts: list[Any], dtype: type) -> Any:
        return np.concatenate(parts) if parts else np.array([], dtype=dtype)

    return pd.DataFrame({"user": cat(users, np.int64), "item": cat(items, np.int64),
                         "rating": cat(values, np.float64), "timestamp": cat(stamps, np.int64)})


def load_interactions(engine: Engine, *, all_movies: bool = True, reviews: bool = True,
                      social: bool = True) -> Interactions:
    """All ratings as :class:`Interactions` keyed by database user and movie ids.

    Args:
        all_movies: include movies without ratings in the item vocabulary, so
            content-based models can recommend brand-new films.
        reviews: add scored reviews whose author did not rate the film as
            interactions weighted by sentiment (see :func:`review_signal`);
            ratings keep weight 1.
        social: add shares (not revoked), films on public lists and liked
            reviews' films that the member did not rate, weighted as the
            module docstring's table says (:data:`SOCIAL_SIGNALS`), and
            carry the ``follows`` graph as :attr:`Interactions.social`
            (follower -> followee, weight 1, dense user indices).

    Returns:
        One interaction per (member, film): the rating when there is one,
        else the implicit signal with the highest weight.
    """
    with engine.connect() as conn:
        df = read_ratings(conn)
        users = np.array(conn.execute(select(User.id).order_by(User.id)).scalars().all(), dtype=np.int64)
        movies = (np.array(conn.execute(select(Movie.id).order_by(Movie.id)).scalars().all(), dtype=np.int64)
                  if all_movies else None)
        rated = select(Rating.id).where(Rating.user_id == Review.user_id, Rating.movie_id == Review.movie_id)
        review_rows = conn.execute(
            select(Review.user_id, Review.movie_id, func.avg(Review.sentiment), func.max(Review.updated_at))
            .where(Review.sentiment.is_not(None), ~rated.exists())
            .group_by(Review.user_id, Review.movie_id)).all() if reviews else []
        social_rows = _social_rows(conn) if social else None
        follows = conn.execute(select(Follow.follower_id, Follow.followee_id)).all() if social else []
    implicit = []
    if review_rows:
        rv = pd.DataFrame(review_rows, columns=["user", "item", "sentiment", "updated_at"])
        rating, weight = review_signal(rv["sentiment"].to_numpy(dtype=np.float64))
        implicit.append(rv.drop(columns="sentiment").assign(rating=rating, weight=weight))
    if social_rows is not None and len(social_rows):
        rating, weight = social_signal(social_rows["kind"])
        implicit.append(social_rows.drop(columns="kind").assign(rating=rating, weight=weight))
    if implicit:
        extra = pd.concat(implicit, ignore_index=True)
        extra["timestamp"] = _epoch_seconds(extra.pop("updated_at"))
        # the strongest signal per (member, film); the stable sort keeps the first listed on equal weights
        extra = extra.sort_values("weight", ascending=False, kind="stable").drop_duplicates(["user", "item"])
        df = pd.concat([df.assign(weight=1.0), extra], ignore_index=True)
    iv = Vocabulary(movies) if movies is not None else Vocabulary.from_values(df["item"].to_numpy())
    data = Interactions.from_frame(df, user_vocab=Vocabulary(users), item_vocab=iv,
                                   weight_col="weight" if "weight" in df else None)
    if follows:
        edges = np.array(follows, dtype=np.int64)
        data = data.with_social_edges(edges[:, 0], edges[:, 1])
    return data


def load_item_features(engine: Engine, item_vocab: Vocabulary,
                       text_encoder: Callable[[list[str]], npt.NDArray[np.floating[Any]]] | None = None) -> ItemFeatures:
    """Content features of the movies in ``item_vocab`` from the database.

    Genres and year from ``movies``, user tags from ``tags``, directors and
    cast from ``credits``, plot text from ``movies.overview``; with
    ``text_encoder`` (texts -> vectors) also a sentence embedding of each
    film's overview and tags.
    """
    with engine.connect() as conn:
        mv = pd.DataFrame(conn.execute(select(Movie.id, Movie.year, Movie.overview)).all(), columns=["item", "year", "overview"])
        mg = pd.DataFrame(conn.execute(select(MovieGenre.movie_id, Genre.name).join(Genre)).all(), columns=["item", "genre"])
        tg = pd.DataFrame(conn.execute(select(Tag.movie_id, Tag.tag)).all(), columns=["item", "tag"])
        pp = pd.DataFrame(conn.execute(select(Credit.movie_id, Person.name).join(Person)).all(), columns=["item", "name"])
    genres = mg.groupby("item")["genre"].apply(list)
    movies = mv.assign(genres=mv["item"].map(genres)).assign(genres=lambda d: d["genres"].apply(lambda g: g if isinstance(g, list) else []))
    texts = mv[mv["overview"].fillna("").str.strip() != ""][["item", "overview"]]
    embeddings = None
    if text_encoder is not None:
        docs = item_texts(texts if len(texts) else None, tg if len(tg) else None)
        docs = docs[item_vocab.indices(docs["item"].to_numpy()) >= 0]
        embeddings = (docs["item"].to_numpy(), text_encoder(docs["text"].tolist()))
    return build_item_features(item_vocab, movies=movies, tags=tg if len(tg) else None,
                               people=pp if len(pp) else None, texts=texts if len(texts) else None,
                               embeddings=embeddings)
