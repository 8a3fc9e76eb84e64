"""The one contract every recommender passes; subclass once per algorithm.

Synthetic structure with a known answer: two disjoint taste groups; each
user has rated all but one item of their group, and that withheld item must
rank first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from cinerec.algorithms import RatingPredictor, RecommenderBase, load
from cinerec.algorithms.registry import create
from cinerec.data.features import build_item_features
from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from cinerec.errors import NotFittedError


def two_groups(n_users: int = 40, n_items: int = 20, seed: int = 0) -> tuple[Interactions, np.ndarray]:
    """Users 0..n/2 like items 0..9, the rest items 10..19; each misses one item of their group."""
    rng = np.random.default_rng(seed)
    rows = []
    withheld = np.empty(n_users, dtype=np.int64)
    half = n_items // 2
    for u in range(n_users):
        group = range(0, half) if u < n_users // 2 else range(half, n_items)
        miss = int(rng.choice(list(group)))
        withheld[u] = miss
        for i in group:
            if i != miss:
                rows.append((u, i, float(rng.choice([4.0, 4.5, 5.0])), 1000 + i))
        other = [i for i in range(n_items) if i not in group]
        for i in rng.choice(other, size=2, replace=False):
            rows.append((u, int(i), float(rng.choice([1.0, 1.5, 2.0])), 1000 + int(i)))
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    items = Vocabulary(np.arange(n_items))
    movies = pd.DataFrame({"item": np.arange(n_items), "genres": [["A"] if i < half else ["B"] for i in range(n_items)],
                           "year": [1990 + i for i in range(n_items)]})
    feats = build_item_features(items, movies=movies)
    data = Interactions.from_frame(df, user_vocab=Vocabulary(np.arange(n_users)), item_vocab=items)
    return data.with_features(feats), withheld


class RecommenderContract:
    """Subclass with ``algo`` and ``params`` (and real-data floors)."""

    algo: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    withheld_first: ClassVar[bool] = True

    def make(self) -> RecommenderBase:
        return create(self.algo, **self.params)

    def test_unfitted_raises(self) -> None:
        with pytest.raises(NotFittedError):
            self.make().recommend(np.array([0]), 5)

    def test_params_round_trip(self) -> None:
        m = self.make()
        assert create(self.algo, **m.get_params()).get_params() == m.get_params()

    def test_withheld_item_ranks_first(self) -> None:
        data, withheld = two_groups()
        m = self.make().fit(data)
        recs = m.recommend(np.arange(data.n_users), 3)
        assert recs.items.shape == (data.n_users, 3)
        if self.withheld_first:
            assert (recs.items[:, 0] == withheld).mean() >= 0.9
        # never a seen item
        seen = data.binary
        for u in range(data.n_users):
            assert not set(recs.items[u][recs.items[u] >= 0]) & set(seen[u].indices)

    def test_unknown_user_and_item(self) -> None:
        data, _ = two_groups()
        m = self.make().fit(data)
        s = m.score(np.array([-1, data.n_users + 5, 0]), np.array([0, -1, data.n_items + 3]))
        assert s.shape == (3, 3)
        assert np.isnan(s[2, 1]) and np.isnan(s[2, 2])
        r = m.recommend(np.array([-1]), 4)
        assert r.items.shape == (1, 4)
        if isinstance(m, RatingPredictor) and m.predicts_ratings:
            p = m.predict(np.array([-1, 0]), np.array([0, -1]))
            assert np.isfinite(p).all()

    def test_empty_batch(self) -> None:
        data, _ = two_groups()
        m = self.make().fit(data)
        r = m.recommend(np.array([], dtype=np.int64), 5)
        assert r.items.shape == (0, 5)

    def test_batch_equals_loop(self) -> None:
        data, _ = two_groups()
        m = self.make().fit(data)
        users = np.arange(data.n_users)
        batch = m.recommend(users, 5)
        for u in users[:10]:
            one = m.recommend(np.array([u]), 5)
            np.testing.assert_array_equal(one.items[0], batch.items[u])
        full = m.score(users)
        np.testing.assert_allclose(m.score(users[3:4])[0], full[3], rtol=1e-10)

    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        data, _ = two_groups()
        m = self.make().fit(data)
        m.save(tmp_path / "artifact")
        m2 = load(tmp_path / "artifact")
        assert type(m2) is type(m) and m2.get_params() == m.get_params()
        users = np.arange(data.n_users)
        np.testing.assert_allclose(m2.score(users), m.score(users), rtol=1e-6, equal_nan=True)

    def test_seeded(self) -> None:
        data, _ = two_groups()
        a = self.make().fit(data).score(np.arange(5))
        b = self.make().fit(data).score(np.arange(5))
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)
