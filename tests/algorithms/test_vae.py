"""Mult-VAE with a content-aware decoder: the contract, cold items scored by content, persistence, a real-data floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from cinerec.algorithms import load, save
from cinerec.algorithms.registry import canonical, create
from cinerec.data.interactions import Interactions
from cinerec.data.splits import stratified_split
from cinerec.errors import DataFormatError
from cinerec.evaluation.protocols import evaluate_split
from tests.algorithms.contract import RecommenderContract, two_groups

TINY: dict[str, Any] = {"latent": 8, "hidden": 32, "content_components": 4, "content_hidden": 16, "batch_size": 16,
                        "max_epochs": 20, "anneal_epochs": 5, "learning_rate": 0.01, "patience": 5}


class TestMultVAE(RecommenderContract):
    algo = "vae"
    params: ClassVar[dict[str, Any]] = TINY
    history_exact = True  # a trained user is scored by the encoder on their training row, as a fresh history is


def test_recvae_options_learn_the_groups() -> None:
    """RecVAE's dense encoder, composite prior and alternating updates, served by the numpy encoder."""
    data, withheld = two_groups()
    m = create("vae", **{**TINY, "encoder_layers": 3, "prior": "composite", "alternating": True}).fit(data)
    assert m.encoder_hidden_.shape == (2, TINY["hidden"], TINY["hidden"]) and len(m.encoder_norm_) == 3
    assert (m.recommend(np.arange(data.n_users), 1).items[:, 0] == withheld).mean() >= 0.9
    items, values = data.binary[3].indices, np.ones(data.binary[3].nnz)
    np.testing.assert_allclose(m.score_history(items, values), m.score(np.array([3]))[0], rtol=1e-9)


def test_aliases() -> None:
    assert canonical("Mult-VAE") == canonical("multvae") == canonical("MultVAE") == "vae"


def _without(data: Interactions, items: list[int]) -> Interactions:
    return data.subset(~np.isin(data.items, items))


def test_unrated_films_are_ranked_by_content() -> None:
    data, _ = two_groups(n_users=60)
    cold = [4, 15]  # one film of each taste group; nobody has rated them
    m = create("vae", **TINY).fit(_without(data, cold))
    s = m.score(np.arange(data.n_users), np.array(cold))
    assert np.isfinite(s).all()
    assert (np.abs(m.item_factors_[cold]).sum(axis=1) > 0).all()
    top = m.recommend(np.arange(data.n_users), 1, candidates=np.array(cold)).items[:, 0]
    expected = np.where(np.arange(data.n_users) < data.n_users // 2, cold[0], cold[1])
    assert (top == expected).mean() >= 0.9  # each group's unrated film first for that group


def test_ids_only_without_features() -> None:
    data, withheld = two_groups()
    bare = Interactions(data.users, data.items, data.ratings, data.user_vocab, data.item_vocab)
    with pytest.raises(DataFormatError):
        create("vae", **TINY).fit(bare)
    m = create("vae", **{**TINY, "content_components": 0}).fit(bare)
    assert (m.recommend(np.arange(data.n_users), 1).items[:, 0] == withheld).mean() >= 0.9


def test_saved_model_scores_without_the_network(tmp_path: Path) -> None:
    data, _ = two_groups()
    m = create("vae", **TINY).fit(data)
    save(m, tmp_path / "a")
    m2 = load(tmp_path / "a")
    assert set(m2.state_dict()) == set(m.state_dict()) and "item_emb" in m2.state_dict()
    np.testing.assert_array_equal(m2.state_dict()["item_emb"], m.state_dict()["item_emb"])
    items, values = np.array([0, 1, 2]), np.array([5.0, 4.0, 5.0])
    np.testing.assert_allclose(m2.score_history(items, values), m.score_history(items, values), rtol=1e-6)


@pytest.mark.slow  # trains a small autoencoder on ML-100K with content
def test_vae_on_ml100k_stratified_with_content(ml100k) -> None:  # type: ignore[no-untyped-def]
    from cinerec.data.features import dataset_features
    from cinerec.data.readers import read_dataset

    ds = read_dataset(ml100k)
    it = ds.interactions()
    data = it.with_features(dataset_features(it.item_vocab, ds.movies, ds.tags))
    split = stratified_split(data, 0.75, random_state=42)
    model = create("vae", refit=False, max_epochs=12, hidden=300, latent=100)  # ~15 s on one core
    row = evaluate_split(model, split, 10)
    # measured 0.4127 (best epoch 10); the defaults with refit reach 0.4504, EASE 0.4808
    assert row["ndcg@k"] >= 0.40
    assert model.best_epoch_ >= 1 and model.validation_ndcg_ > 0
    cold = np.flatnonzero(split.train.item_counts() == 0)
    assert len(cold) and np.isfinite(model.score(np.array([0]))[0, cold]).all()

