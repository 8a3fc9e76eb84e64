"""Approximate top-k (faiss IVF) for latent models: recall, filters, refill, persistence, fallbacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from cinerec.algorithms import _ann, load, save
from cinerec.algorithms.mf import BiasedMF
from cinerec.algorithms.registry import create
from cinerec.errors import DataFormatError, InvalidParameter
from cinerec.service.registry import ModelRegistry
from cinerec.service.training import build_ann
from tests.algorithms.contract import low_rank

pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is part of .[dev]")

N_ITEMS, N_USERS, DIM = 20_000, 300, 32
EXACT = 10**9  # an ann_min_items no catalogue reaches: exact ranking


def synthetic_mf(seed: int = 0) -> BiasedMF:
    """A fitted-looking biased MF over 20k items x 32 factors with clustered, decaying-spectrum factors.

    Each user has seen 20 of their own exact top 50 plus 30 random items,
    so the seen filter removes much of the head of every ranking.
    """
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(1.0 + np.arange(DIM) / 4.0)
    centres = rng.normal(size=(64, DIM)) * scale
    items = centres[rng.integers(0, 64, N_ITEMS)] + 0.7 * rng.normal(size=(N_ITEMS, DIM)) * scale
    users = centres[rng.integers(0, 64, N_USERS)] + 0.7 * rng.normal(size=(N_USERS, DIM)) * scale
    model = BiasedMF(n_factors=DIM)
    model.n_users_, model.n_items_ = N_USERS, N_ITEMS
    model.mu_ = 3.5
    model.user_bias_ = rng.normal(0.0, 0.2, N_USERS)
    model.item_bias_ = rng.normal(0.0, 0.3, N_ITEMS)
    model.user_factors_, model.item_factors_ = users, items
    model.min_rating_, model.max_rating_ = 0.5, 5.0
    full = model.mu_ + model.user_bias_[:, None] + model.item_bias_[None, :] + users @ items.T
    top50 = np.argsort(-full, axis=1)[:, :50]
    rows, cols = [], []
    for u in range(N_USERS):
        picked = np.unique(np.r_[rng.choice(top50[u], 20, replace=False), rng.choice(N_ITEMS, 30, replace=False)])
        rows += [u] * len(picked)
        cols += picked.tolist()
    model.seen_ = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(N_USERS, N_ITEMS))
    model.seen_values_ = np.ones(len(rows), dtype=np.float32)
    return model


@pytest.fixture(scope="module")
def indexed() -> BiasedMF:
    model = synthetic_mf()
    model.build_ann_index()
    return model


@pytest.fixture
def model(indexed: BiasedMF) -> Iterator[BiasedMF]:
    indexed.ann_min_items = 0
    yield indexed
    indexed.ann_min_items = 0


def exact(model: BiasedMF, fn: str, *args: Any, **kwargs: Any) -> Any:
    """``model.fn(...)`` ranked exactly (the index switched off by the threshold)."""
    before = model.ann_min_items
    model.ann_min_items = EXACT
    try:
        return getattr(model, fn)(*args, **kwargs)
    finally:
        model.ann_min_items = before


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's exact top-k found by the approximate top-k."""
    return float(np.mean([len(set(g[g >= 0]) & set(t[t >= 0])) / max((t >= 0).sum(), 1) for g, t in zip(got, truth, strict=True)]))




def test_recall_at_10_against_exact_and_exact_scores(model: BiasedMF, ann_searches: list[int]) -> None:
    users = np.arange(N_USERS)
    got = model.recommend(users, 10)
    truth = exact(model, "recommend", users, 10)
    assert ann_searches, "the index was not used"
    assert recall(got.items, truth.items) >= 0.95
    # every returned score is the model's own score of that item
    full = model.score(users)
    np.testing.assert_allclose(got.scores, np.take_along_axis(full, got.items, axis=1), rtol=0, atol=1e-9)
    assert (np.diff(got.scores, axis=1) <= 0).all()


def test_seen_items_never_returned(model: BiasedMF) -> None:
    users = np.arange(N_USERS)
    got = model.recommend(users, 10)
    for u in users:
        seen = set(model.seen_[u].indices.tolist())
        assert not seen & set(got.items[u].tolist())
    # the filter had work to do: the unfiltered top 10 holds seen items
    unfiltered = model.recommend(users, 10, exclude_seen=False)
    assert sum(len(set(model.seen_[u].indices.tolist()) & set(unfiltered.items[u].tolist())) for u in users) > N_USERS


def test_history_ranking_through_the_index(model: BiasedMF, ann_searches: list[int]) -> None:
    hits = []
    for u in range(0, N_USERS, 15):
        items, _ = model.training_history(u)
        # ratings a member of this taste would give: the model's predictions, rounded to half stars
        values = np.clip(np.round(2 * model.score(np.array([u]), items)[0]) / 2, 0.5, 5.0)
        got = model.recommend_history(items, values, 10)
        truth = exact(model, "recommend_history", items, values, 10)
        assert not set(items.tolist()) & set(got.items[0].tolist())
        np.testing.assert_allclose(got.scores[0], model.score_history(items, values)[got.items[0]], atol=1e-9)
        hits.append(recall(got.items, truth.items))
    assert ann_searches
    assert np.mean(hits) >= 0.95


def test_candidates_respected(model: BiasedMF) -> None:
    rng = np.random.default_rng(3)
    users = np.arange(100)
    candidates = np.sort(rng.choice(N_ITEMS, N_ITEMS * 3 // 10, replace=False))
    got = model.recommend(users, 10, candidates=candidates)
    assert np.isin(got.items, candidates).all()
    assert recall(got.items, exact(model, "recommend", users, 10, candidates=candidates).items) >= 0.95
    # a short candidate list is scored exactly: the same answer as exact ranking
    few = candidates[:200]
    got = model.recommend(users, 10, candidates=few)
    truth = exact(model, "recommend", users, 10, candidates=few)
    np.testing.assert_array_equal(got.items, truth.items)
    np.testing.assert_allclose(got.scores, truth.scores, atol=1e-12)


def test_refill_when_the_top_is_excluded(model: BiasedMF, ann_searches: list[int]) -> None:
    for u in range(10):
        full = model.score(np.array([u]))[0]
        top = np.argsort(-full)[:1500]  # a business filter removing this user's whole head
        got = model.recommend(np.array([u]), 10, exclude=top)
        truth = exact(model, "recommend", np.array([u]), 10, exclude=top)
        assert not set(top.tolist()) & set(got.items[0].tolist())
        assert (got.items[0] >= 0).all()
        assert recall(got.items, truth.items) >= 0.9
    # the first fetch (k + seen, scaled by the 92.5 % left, + margin) cannot survive a 1,500-item hole: it doubled
    assert max(ann_searches) >= 4 * min(ann_searches)


def test_fewer_eligible_than_k_pads_like_exact(model: BiasedMF) -> None:
    candidates = np.array([5, 17, 400, 9_999, 19_999])
    got = model.recommend(np.arange(3), 10, candidates=candidates)
    truth = exact(model, "recommend", np.arange(3), 10, candidates=candidates)
    np.testing.assert_array_equal(got.items, truth.items)
    assert (got.items[:, 5:] == -1).all() and np.isnan(got.scores[:, 5:]).all()


def test_threshold_keeps_small_catalogues_exact(model: BiasedMF, ann_searches: list[int]) -> None:
    model.ann_min_items = N_ITEMS + 1
    got = model.recommend(np.arange(5), 10)
    assert not ann_searches
    model.ann_min_items = N_ITEMS
    np.testing.assert_array_equal(got.items, exact(model, "recommend", np.arange(5), 10).items)
    model.recommend(np.arange(5), 10)
    assert ann_searches


def test_save_load_round_trip_keeps_the_index(model: BiasedMF, tmp_path: Path) -> None:
    save(model, tmp_path / "m")
    back = load(tmp_path / "m")
    assert back.has_ann_index
    np.testing.assert_array_equal(back.ann_index_, model.ann_index_)
    assert back.ann_nprobe_ == model.ann_nprobe_ and back.ann_recall_ == model.ann_recall_
    back.ann_min_items = 0
    assert back._ann() is not None
    users = np.arange(50)
    a, b = model.recommend(users, 10), back.recommend(users, 10)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-12)


def test_corrupt_index_on_disk_is_refused_by_the_registry(model: BiasedMF, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    good = reg.publish(model, user_ids=np.arange(N_USERS), item_ids=np.arange(N_ITEMS))
    bad = reg.publish(model, user_ids=np.arange(N_USERS), item_ids=np.arange(N_ITEMS), activate=False)
    arrays = bad.path / "arrays.npz"
    raw = bytearray(arrays.read_bytes())
    # flip bytes inside the stored index (the largest array: its bytes sit in the file's middle)
    start = raw.find(bytes(model.ann_index_[4096:4160]))
    assert start > 0
    raw[start:start + 64] = bytes(64)
    arrays.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match="checksum"):
        reg.activate(bad.version)
    assert reg.active_version() == good.version


def test_unreadable_index_falls_back_to_exact_with_a_warning(model: BiasedMF, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    save(model, tmp_path / "m")
    back = load(tmp_path / "m")
    back.ann_index_ = np.random.default_rng(0).integers(0, 256, len(model.ann_index_)).astype(np.uint8)
    save(back, tmp_path / "garbled")  # checksums match the garbled bytes: only faiss can tell
    garbled = load(tmp_path / "garbled")
    garbled.ann_min_items = 0
    users = np.arange(20)
    with caplog.at_level(logging.WARNING, logger="cinerec.algorithms._ann"):
        got = garbled.recommend(users, 10)
    assert "ANN index cannot be read" in caplog.text
    truth = exact(model, "recommend", users, 10)
    np.testing.assert_array_equal(got.items, truth.items)


def test_index_of_another_catalogue_is_not_used(model: BiasedMF, caplog: pytest.LogCaptureFixture) -> None:
    other = synthetic_mf(seed=1)
    small = _ann.build_index(other.item_factors_[:5_000])
    other.ann_index_ = _ann.serialize(small)
    other.ann_min_items = 0
    with caplog.at_level(logging.WARNING, logger="cinerec.algorithms._ann"):
        got = other.recommend(np.arange(5), 10)
    assert "does not match the model" in caplog.text
    np.testing.assert_array_equal(got.items, exact(other, "recommend", np.arange(5), 10).items)


def test_without_faiss_everything_is_exact(model: BiasedMF, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           ann_searches: list[int]) -> None:
    save(model, tmp_path / "m")

    def missing() -> Any:
        raise ImportError("No module named 'faiss'")

    monkeypatch.setattr(_ann, "_faiss", missing)
    assert not _ann.ann_available()
    back = load(tmp_path / "m")  # loading never needs faiss
    back.ann_min_items = 0
    got = back.recommend(np.arange(20), 10)
    assert not ann_searches
    np.testing.assert_array_equal(got.items, exact(model, "recommend", np.arange(20), 10).items)
    fresh = synthetic_mf(seed=2)
    with pytest.raises(ImportError, match="cinerec\\[ann\\]"):
        fresh.build_ann_index()
    assert build_ann(fresh, 0) is None and not fresh.has_ann_index


def test_only_latent_models_are_indexed_and_a_refit_drops_the_index() -> None:
    data = low_rank(n_users=60, n_items=120)
    knn = create("item-knn").fit(data)
    assert not knn.supports_ann
    with pytest.raises(InvalidParameter, match="latent"):
        knn.build_ann_index()
    assert build_ann(knn, 0) is None
    als = create("implicit-als", n_factors=4).fit(data)
    assert build_ann(als, len(data.item_vocab) + 1) is None  # under the threshold
    info = build_ann(als, 0)
    assert info is not None and info["nprobe"] >= 1 and als.has_ann_index
    als.fit(data)
    assert not als.has_ann_index


LATENT = [
    ("biased-mf", {"n_factors": 6, "n_epochs": 15}),
    ("svdpp", {"n_factors": 6, "n_epochs": 10}),
    ("trust-svd", {"n_factors": 6, "n_epochs": 10}),
    ("bayesian-mf", {"n_factors": 4, "n_burnin": 5, "n_samples": 8}),
    ("bayesian-mf", {"n_factors": 4, "n_burnin": 5, "n_samples": 8, "use_biases": False}),
    ("implicit-als", {"n_factors": 6}),
    ("bpr", {"n_factors": 6, "n_iterations": 30}),
    ("neural", {"max_epochs": 3}),
]


@pytest.mark.parametrize(("algo", "params"), LATENT, ids=[f"{a}-{i}" for i, (a, _) in enumerate(LATENT)])
def test_every_latent_model_states_its_scores_as_const_plus_inner_product(algo: str, params: dict[str, Any]) -> None:
    """The ANN path ranks and re-scores with ``const + v_i . w``: it must be each model's own score."""
    data = low_rank(n_users=80, n_items=150)
    m = create(algo, **params).fit(data)
    assert m.supports_ann
    users = np.arange(m.n_users_)
    vectors = m._latent_items()
    q = m._latent_users(users)
    np.testing.assert_allclose(q.const[:, None] + q.vectors @ vectors.T, m.score(users), rtol=0, atol=1e-9)
    for u in (0, 7, 33):
        items, values = m.training_history(u)
        h = m._latent_history(items[:8], values[:8])
        np.testing.assert_allclose(h.const[0] + vectors @ h.vectors[0], m.score_history(items[:8], values[:8]), rtol=0,
                                   atol=1e-9)
    # and through an index (every cell searched on so small a catalogue) the lists are the exact ones
    m.build_ann_index()
    m.ann_min_items = 0
    got = m.recommend(users, 5, exclude_seen=False)
    m.ann_min_items = EXACT
    truth = m.recommend(users, 5, exclude_seen=False)
    np.testing.assert_array_equal(got.items, truth.items)
    np.testing.assert_allclose(got.scores, truth.scores, atol=1e-9)


@pytest.mark.parametrize("algo", ["implicit-als", "biased-mf"])
def test_history_caches_follow_refits(algo: str) -> None:
    """The fold-in's design and Gram matrix are kept per fitted state: a refit must not answer with the old ones."""
    first, second = low_rank(seed=1), low_rank(seed=2)
    params: dict[str, Any] = {"n_factors": 4}
    model = create(algo, **params).fit(first)
    items, values = np.arange(6), np.array([5.0, 4.0, 4.0, 3.0, 5.0, 2.0])
    before = model.score_history(items, values)  # fills the caches
    model.fit(second)
    fresh = create(algo, **params).fit(second)
    after = model.score_history(items, values)
    np.testing.assert_allclose(after, fresh.score_history(items, values), rtol=0, atol=1e-9)
    assert not np.allclose(before, after)


def test_build_tunes_the_cells_searched_to_the_target_recall(indexed: BiasedMF) -> None:
    # clustered factors: the default number of cells already reaches the target
    nlist = _ann.default_nlist(N_ITEMS)
    assert indexed.ann_nprobe_ == _ann.default_nprobe(nlist) and indexed.ann_recall_ >= 0.95
    # structureless Gaussian factors: the default misses, so the build searches more cells until the target holds
    hard = synthetic_mf(seed=4)
    rng = np.random.default_rng(4)
    hard.item_factors_ = rng.normal(size=(N_ITEMS, DIM))
    hard.user_factors_ = rng.normal(size=(N_USERS, DIM))
    hard.build_ann_index(check_users=100)
    assert hard.ann_nprobe_ > _ann.default_nprobe(nlist)
    assert hard.ann_recall_ >= 0.95 or hard.ann_nprobe_ == nlist
    hard.ann_min_items = 0
    users = np.arange(100, 200)  # not all of them were in the tuning sample
    assert recall(hard.recommend(users, 10).items, exact(hard, "recommend", users, 10).items) >= 0.9
    # an explicit nprobe is kept as given
    hard.build_ann_index(nprobe=8, check_users=50)
    assert hard.ann_nprobe_ == 8 and hard.ann_recall_ < 0.95
