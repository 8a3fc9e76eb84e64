"""Neighbourhood models against brute-force references, and their history path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cinerec.algorithms.knn import ItemKNN, UserKNN
from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from tests.algorithms.contract import low_rank


def small_ratings(seed: int = 3, n_users: int = 30, n_items: int = 12, density: float = 0.5) -> Interactions:
    """Random 1-5 ratings (some users rate an item at exactly their baseline, so zeros occur after centring)."""
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    df = pd.DataFrame({"user": u, "item": i, "rating": rng.integers(1, 6, size=len(u)).astype(float)})
    return Interactions.from_frame(df, time_col=None, user_vocab=Vocabulary(np.arange(n_users)),
                                   item_vocab=Vocabulary(np.arange(n_items)))


def dense_similarity(r: np.ndarray, seen: np.ndarray, shrinkage: float, min_support: int) -> np.ndarray:
    """Cosine over common support between the columns of ``r`` (loops, no cleverness)."""
    n = r.shape[1]
    sim = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            common = seen[:, a] & seen[:, b]
            c = int(common.sum())
            if a == b or c < max(min_support, 1):
                continue
            xa, xb = r[common, a], r[common, b]
            den = np.sqrt((xa**2).sum() * (xb**2).sum())
            if den > 0:
                sim[a, b] = (xa * xb).sum() / den * ((c - 1) / (c - 1 + shrinkage) if shrinkage > 0 else 1.0)
    return sim


def top_rows(sim: np.ndarray, keep: int) -> np.ndarray:
    """Each row's ``keep`` largest positive entries, the rest 0."""
    out = np.zeros_like(sim)
    for a, row in enumerate(sim):
        order = np.argsort(-row, kind="stable")[:keep]
        out[a, order] = np.where(row[order] > 0, row[order], 0.0)
    return out


def test_item_similarity_matches_dense_reference() -> None:
    data = small_ratings()
    m = ItemKNN(similarity="cosine", center="none", shrinkage=3.0, min_support=2, max_neighbors=5, k=3).fit(data)
    r = data.matrix.toarray()
    ref = dense_similarity(r, r > 0, 3.0, 2)
    np.testing.assert_allclose(m.similarity_.toarray(), top_rows(ref, 5), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.truncated_.toarray(), top_rows(ref, 3), rtol=1e-12, atol=1e-15)


def test_user_similarity_keeps_stored_zeros_as_support() -> None:
    data = small_ratings(seed=5)
    m = UserKNN(similarity="pearson", center="none", shrinkage=0.0, max_neighbors=50).fit(data)
    r = data.matrix.toarray()
    seen = r > 0
    centred = np.where(seen, r - m.user_mean_[:, None], 0.0)
    assert ((centred == 0) & seen).any()  # the case this test is about
    ref = dense_similarity(centred.T, seen.T, 0.0, 1)
    np.testing.assert_allclose(m.similarity_.toarray(), top_rows(ref, 50), rtol=1e-10, atol=1e-12)


def test_predict_matches_reference_formula() -> None:
    data = small_ratings(seed=7)
    m = ItemKNN(k=3, min_k=2, shrinkage=2.0, denominator_reg=0.3).fit(data)
    r = data.matrix.toarray()
    sim = m.similarity_.toarray()
    users, items = np.meshgrid(np.arange(data.n_users), np.arange(data.n_items), indexing="ij")
    users, items = users.ravel(), items.ravel()
    got = m.predict(users, items)
    for u, i, p in zip(users, items, got, strict=True):
        base = m.mu_ + m.user_bias_[u] + m.item_bias_[i]
        rated = np.flatnonzero(r[u] > 0)
        s = sim[i, rated]
        pos = s > 0
        s, rated = s[pos], rated[pos]
        top = np.argsort(-s, kind="stable")[:3]
        s, rated = s[top], rated[top]
        if len(s) >= 2:
            resid = r[u, rated] - (m.mu_ + m.user_bias_[u] + m.item_bias_[rated])
            base += (s * resid).sum() / (s.sum() + 0.3)
        assert p == pytest.approx(float(np.clip(base, 1, 5)), abs=1e-12)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize("similarity", ["pearson_baseline", "pearson", "cosine", "adjusted_cosine"])
def test_training_history_scores_equal_trained_scores(cls: type[ItemKNN], similarity: str) -> None:
    data = low_rank()
    m = cls(similarity=similarity).fit(data)  # type: ignore[arg-type]
    trained = m.score(np.arange(data.n_users))
    mat = data.matrix
    for u in range(data.n_users):
        items = mat.indices[mat.indptr[u] : mat.indptr[u + 1]]
        values = mat.data[mat.indptr[u] : mat.indptr[u + 1]]
        np.testing.assert_array_equal(m.score_history(items[::-1], values[::-1]), trained[u])


def test_user_knn_history_path_on_implicit_data() -> None:
    data = low_rank()
    implicit = Interactions.from_frame(data.to_frame(), rating_col=None)
    m = UserKNN().fit(implicit)
    trained = m.score(np.arange(implicit.n_users))
    mat = implicit.binary
    for u in range(0, implicit.n_users, 7):
        items = mat.indices[mat.indptr[u] : mat.indptr[u + 1]]
        np.testing.assert_array_equal(m.score_history(items, np.full(len(items), 3.0)), trained[u])


def test_user_knn_neighbours_bring_something_new() -> None:
    # user 0 rated {0,1,2}; user 1 rated {0,1} (nothing beyond user 0); user 2 rated {0,1,3}
    df = pd.DataFrame({"user": [0, 0, 0, 1, 1, 2, 2, 2], "item": [0, 1, 2, 0, 1, 0, 1, 3],
                       "rating": [5.0, 4.0, 2.0, 5.0, 4.0, 5.0, 4.0, 5.0]})
    data = Interactions.from_frame(df, time_col=None)
    m = UserKNN(similarity="cosine", center="none", shrinkage=0.0).fit(data)
    scores = m.score_history(np.array([0, 1, 2]), np.array([5.0, 4.0, 2.0]))
    w = m._history_neighbours(m._history_row(np.array([0, 1, 2]), np.array([5.0, 4.0, 2.0])))
    assert w.indices.tolist() == [2]  # neither the user themself nor user 1 is a neighbour
    assert scores[3] == pytest.approx(w.data[0])
    np.testing.assert_array_equal(m.score(np.array([0]))[0], scores)


def test_pearson_baseline_history_uses_its_own_bias() -> None:
    data = low_rank()
    m = UserKNN().fit(data)
    mat = data.matrix
    for u in (0, 5, 17):
        lo, hi = mat.indptr[u], mat.indptr[u + 1]
        x = m._profile(np.array([0, hi - lo]), mat.indices[lo:hi].astype(np.int64), mat.data[lo:hi])
        trained = m.profiles_[:, u].toarray().ravel()[mat.indices[lo:hi]]
        np.testing.assert_allclose(x, trained, rtol=1e-9, atol=1e-9)


def test_item_knn_explains_with_the_liked_films_most_similar() -> None:
    data = low_rank()
    m = ItemKNN().fit(data)
    items, values = m.training_history(3)
    np.testing.assert_array_equal(values, data.matrix[3].data)  # the ratings, not a 0/1 mask
    target = int(m.recommend(np.array([3]), 1).items[0, 0])
    reasons = m.explain(3, target, 3)
    assert reasons and all(r.kind == "liked_item" for r in reasons)
    liked = set(items[values >= values.mean()].tolist())
    assert {r.item for r in reasons} <= liked
    sims = m.similarity_[target].toarray().ravel()
    assert [r.weight for r in reasons] == sorted((r.weight for r in reasons), reverse=True)
    best = max(liked, key=lambda j: sims[j])
    assert reasons[0].item == best and reasons[0].weight == pytest.approx(sims[best])


def test_user_knn_explains_with_people_who_liked_it() -> None:
    data = low_rank()
    m = UserKNN().fit(data)
    items, values = m.training_history(0)
    target = int(m.recommend(np.array([0]), 1).items[0, 0])
    reasons = m.explain(0, target, 3)
    assert len(reasons) == 1 and reasons[0].kind == "similar_users" and reasons[0].item is None
    # the neighbours of the liked part of the history who rated the film at or above their own mean
    liked = values >= values.mean()
    w = m._history_neighbours(m._history_row(items[liked], values[liked]))
    r = data.matrix.toarray()
    fans = [v for v in w.indices if r[v, target] > 0 and r[v, target] >= m.user_mean_[v]]
    assert reasons[0].text == f"{len(fans)} people with similar taste liked it"
    assert reasons[0].weight == pytest.approx(sum(w[0, v] for v in fans))
    assert m.explain_history(np.array([], dtype=np.int64), None, target) == []
