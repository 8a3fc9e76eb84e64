"""The only bridge from SQL to the engine: database rows -> Interactions.

Vocabularies hold database ids, so the service can translate recommendations
back to movies without any other mapping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from cinerec.data.features import ItemFeatures, build_item_features
from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from cinerec.store.models import Credit, Genre, Movie, MovieGenre, Person, Rating, Tag, User


def load_interactions(engine: Engine, *, all_movies: bool = True) -> Interactions:
    """All ratings as :class:`Interactions` keyed by database user and movie ids.

    Args:
        all_movies: include movies without ratings in the item vocabulary, so
            content-based models can recommend brand-new films.
    """
    with engine.connect() as conn:
        rows = conn.execute(select(Rating.user_id, Rating.movie_id, Rating.value, Rating.updated_at)).all()
        users = np.array(conn.execute(select(User.id).order_by(User.id)).scalars().all(), dtype=np.int64)
        movies = (np.array(conn.execute(select(Movie.id).order_by(Movie.id)).scalars().all(), dtype=np.int64)
                  if all_movies else None)
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "updated_at"])
    ts = pd.to_datetime(df["updated_at"], utc=True)
    df["timestamp"] = (ts.astype("int64") // 10**9).astype(np.int64) if len(df) else np.array([], dtype=np.int64)
    iv = Vocabulary(movies) if movies is not None else Vocabulary.from_values(df["item"].to_numpy())
    return Interactions.from_frame(df, user_vocab=Vocabulary(users), item_vocab=iv)


def load_item_features(engine: Engine, item_vocab: Vocabulary) -> ItemFeatures:
    """Content features of the movies in ``item_vocab`` from the database.

    Genres and year from ``movies``, user tags from ``tags``, directors and
    cast from ``credits``, plot text from ``movies.overview``.
    """
    with engine.connect() as conn:
        mv = pd.DataFrame(conn.execute(select(Movie.id, Movie.year, Movie.overview)).all(), columns=["item", "year", "overview"])
        mg = pd.DataFrame(conn.execute(select(MovieGenre.movie_id, Genre.name).join(Genre)).all(), columns=["item", "genre"])
        tg = pd.DataFrame(conn.execute(select(Tag.movie_id, Tag.tag)).all(), columns=["item", "tag"])
        pp = pd.DataFrame(conn.execute(select(Credit.movie_id, Person.name).join(Person)).all(), columns=["item", "name"])
    genres = mg.groupby("item")["genre"].apply(list)
    movies = mv.assign(genres=mv["item"].map(genres)).assign(genres=lambda d: d["genres"].apply(lambda g: g if isinstance(g, list) else []))
    texts = mv[mv["overview"].fillna("").str.strip() != ""][["item", "overview"]]
    return build_item_features(item_vocab, movies=movies, tags=tg if len(tg) else None,
                               people=pp if len(pp) else None, texts=texts if len(texts) else None)
