"""The only bridge from SQL to the engine: database rows -> Interactions.

Vocabularies hold database ids, so the service can translate recommendations
back to movies without any other mapping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from cinerec.store.models import Movie, Rating, User


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
