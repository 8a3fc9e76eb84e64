"""The only bridge from SQL to the engine: database rows -> Interactions.

Vocabularies hold database ids, so the service can translate recommendations
back to movies without any other mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, func, select

from cinerec.data.features import ItemFeatures, build_item_features, item_texts
from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from cinerec.store.models import Credit, Genre, Movie, MovieGenre, Person, Rating, Review, Tag, User

#: Weight of a review-only interaction at sentiment 0 and its rating-scale stand-in.
REVIEW_BASE_WEIGHT = 0.5


def review_signal(sentiment: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(rating, weight)`` standing in for reviews without a rating.

    The weight (implicit confidence) grows with sentiment from 0.05 for a
    scathing review to 1.0 (a rating's weight) for a glowing one; the stand-in
    rating maps sentiment -1..1 linearly onto 1..5 stars.
    """
    s = np.clip(np.nan_to_num(sentiment), -1.0, 1.0)
    return 3.0 + 2.0 * s, np.clip(REVIEW_BASE_WEIGHT * (1.0 + s), 0.05, 1.0)


def load_interactions(engine: Engine, *, all_movies: bool = True, reviews: bool = True) -> Interactions:
    """All ratings as :class:`Interactions` keyed by database user and movie ids.

    Args:
        all_movies: include movies without ratings in the item vocabulary, so
            content-based models can recommend brand-new films.
        reviews: add scored reviews whose author did not rate the film as
            interactions weighted by sentiment (see :func:`review_signal`);
            ratings keep weight 1.
    """
    with engine.connect() as conn:
        rows = conn.execute(select(Rating.user_id, Rating.movie_id, Rating.value, Rating.updated_at)).all()
        users = np.array(conn.execute(select(User.id).order_by(User.id)).scalars().all(), dtype=np.int64)
        movies = (np.array(conn.execute(select(Movie.id).order_by(Movie.id)).scalars().all(), dtype=np.int64)
                  if all_movies else None)
        rated = select(Rating.id).where(Rating.user_id == Review.user_id, Rating.movie_id == Review.movie_id)
        review_rows = conn.execute(
            select(Review.user_id, Review.movie_id, func.avg(Review.sentiment), func.max(Review.updated_at))
            .where(Review.sentiment.is_not(None), ~rated.exists())
            .group_by(Review.user_id, Review.movie_id)).all() if reviews else []
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "updated_at"])
    if review_rows:
        rv = pd.DataFrame(review_rows, columns=["user", "item", "sentiment", "updated_at"])
        rating, weight = review_signal(rv["sentiment"].to_numpy(dtype=np.float64))
        df = pd.concat([df.assign(weight=1.0), rv.drop(columns="sentiment").assign(rating=rating, weight=weight)],
                       ignore_index=True)
    ts = pd.to_datetime(df["updated_at"], utc=True)
    df["timestamp"] = (ts.astype("int64") // 10**9).astype(np.int64) if len(df) else np.array([], dtype=np.int64)
    iv = Vocabulary(movies) if movies is not None else Vocabulary.from_values(df["item"].to_numpy())
    return Interactions.from_frame(df, user_vocab=Vocabulary(users), item_vocab=iv,
                                   weight_col="weight" if "weight" in df else None)


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
