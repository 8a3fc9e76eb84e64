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

from cinerec.algorithms import RatingPredictor, RecommenderBase, load, save
from cinerec.algorithms.registry import create
from cinerec.data.features import build_item_features
from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from cinerec.errors import InvalidParameter, NotFittedError


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


def low_rank(n_users: int = 120, n_items: int = 60, rank: int = 3, density: float = 0.35,
             seed: int = 1) -> Interactions:
    """Ratings 1..5 from a noisy rank-``rank`` model, observed at random: a data set where rankings mean something."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(size=(n_users, rank)), rng.normal(size=(n_items, rank))
    bias = rng.normal(scale=0.5, size=n_items)
    raw = p @ q.T + bias[None, :] + rng.normal(scale=0.3, size=(n_users, n_items))
    ratings = np.clip(np.round(3 + raw * 0.8), 1, 5)
    mask = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(mask)
    df = pd.DataFrame({"user": u, "item": i, "rating": ratings[u, i], "timestamp": 1000 + i})
    items = Vocabulary(np.arange(n_items))
    movies = pd.DataFrame({"item": np.arange(n_items), "genres": [[f"G{int(np.argmax(q[j]))}"] for j in range(n_items)],
                           "year": [1990 + j % 20 for j in range(n_items)]})
    data = Interactions.from_frame(df, user_vocab=Vocabulary(np.arange(n_users)), item_vocab=items)
    return data.with_features(build_item_features(items, movies=movies))


def top_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the items two top-k lists (rows of -1-padded arrays) have in common."""
    a, b = set(a[a >= 0].tolist()), set(b[b >= 0].tolist())
    return len(a & b) / max(len(a), len(b), 1)


class HistoryContract:
    """Scoring a history the model has not seen: the path every member's fresh ratings take.

    ``history_exact``: the history ranking of a trained user's own training
    history equals the trained ranking (neighbourhood and bias models);
    otherwise the mean top-10 overlap must reach ``history_overlap``.
    ``personalised``: whether one new rating changes the ranking at all.
    """

    algo: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    history_exact: ClassVar[bool] = False
    history_overlap: ClassVar[float] = 0.7
    personalised: ClassVar[bool] = True
    #: Whether one high rating of a group-B film pulls the other group-B films up in :func:`two_groups`. User-kNN
    #: with baseline-centred Pearson cannot: every group-B user is anti-correlated with a group-A history and the
    #: users who share only that film are shrunk to 0, so no neighbour of the history likes group B.
    neighbours_move: ClassVar[bool] = True

    def make(self) -> RecommenderBase:
        return create(self.algo, **self.params)

    def test_training_history_ranks_like_trained_user(self) -> None:
        data = low_rank()
        m = self.make().fit(data)
        mat = data.matrix if data.ratings is not None else data.binary
        users = np.arange(0, data.n_users, 4)
        trained = m.recommend(users, 10)
        overlaps = []
        for row, u in enumerate(users):
            items = mat.indices[mat.indptr[u] : mat.indptr[u + 1]]
            values = mat.data[mat.indptr[u] : mat.indptr[u + 1]]
            fresh = m.recommend_history(items, values, 10)
            assert fresh.items.shape == (1, 10)
            assert not set(fresh.items[0].tolist()) & set(items.tolist())
            if self.history_exact:
                np.testing.assert_array_equal(fresh.items[0], trained.items[row])
            overlaps.append(top_overlap(fresh.items[0], trained.items[row]))
        assert float(np.mean(overlaps)) >= (1.0 if self.history_exact else self.history_overlap), np.mean(overlaps)

    def test_history_finds_withheld_item(self) -> None:
        data, withheld = two_groups()
        m = self.make().fit(data)
        mat = data.matrix if data.ratings is not None else data.binary
        hits = []
        for u in range(data.n_users):
            items = mat.indices[mat.indptr[u] : mat.indptr[u + 1]]
            values = mat.data[mat.indptr[u] : mat.indptr[u + 1]]
            hits.append(m.recommend_history(items, values, 1).items[0, 0] == withheld[u])
        if self.personalised:
            assert np.mean(hits) >= 0.9

    def test_new_high_rating_moves_its_neighbours_up(self) -> None:
        data, _ = two_groups()
        m = self.make().fit(data)
        # a group-A user: their liked items are 0..9; film X = 12 belongs to group B
        items = np.array([0, 1, 2, 3, 4, 5], dtype=np.int64)
        values = np.array([5.0, 4.5, 5.0, 4.0, 4.5, 5.0])
        before = m.score_history(items, values)
        after = m.score_history(np.r_[items, 12], np.r_[values, 5.0])
        group_b = np.array([i for i in range(10, 20) if i != 12])

        def standing(s: np.ndarray) -> float:
            """Group B's mean score in units of the row's spread: moves even when no B film overtakes an A film."""
            v = s[np.isfinite(s)]
            return float((np.nanmean(s[group_b]) - v.mean()) / (v.std() + 1e-12))

        if self.personalised and self.neighbours_move:
            assert standing(after) > standing(before)
        if self.personalised:
            assert not np.allclose(before, after, equal_nan=True)  # the new rating changes the scores

    def test_history_edge_cases(self) -> None:
        data, _ = two_groups()
        m = self.make().fit(data)
        empty = m.score_history(np.array([], dtype=np.int64), np.array([]))
        assert empty.shape == (data.n_items,)
        assert not np.isinf(empty).any()
        # unknown items are ignored, repeats keep the last value
        a = m.score_history(np.array([0, 1, -1, data.n_items + 9]), np.array([5.0, 4.0, 3.0, 3.0]))
        b = m.score_history(np.array([1, 0, 0]), np.array([4.0, 1.0, 5.0]))
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)
        with pytest.raises(InvalidParameter):
            m.score_history(np.array([0, 1]), np.array([5.0]))
        with pytest.raises(InvalidParameter):
            m.score_history(np.array([0]), np.array([np.nan]))
        reasons = m.explain_history(np.array([0, 1, 2, 15]), np.array([5.0, 5.0, 4.5, 1.0]), 3, 3)
        assert all(r.item != 15 for r in reasons)  # a film rated 1 of 5 is never a reason


class RecommenderContract(HistoryContract):
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
        save(m, tmp_path / "artifact")
        m2 = load(tmp_path / "artifact")
        assert type(m2) is type(m) and m2.get_params() == m.get_params()
        users = np.arange(data.n_users)
        np.testing.assert_allclose(m2.score(users), m.score(users), rtol=1e-6, equal_nan=True)

    def test_seeded(self) -> None:
        data, _ = two_groups()
        a = self.make().fit(data).score(np.arange(5))
        b = self.make().fit(data).score(np.arange(5))
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)
