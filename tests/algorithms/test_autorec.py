"""I-AutoRec: the contract, the latent form it serves in, fold-in of a trained user, saving, a floor on ML-100K u1."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from cinerec.algorithms import autorec, load, save
from cinerec.algorithms.autorec import AutoRec
from cinerec.algorithms.registry import create
from cinerec.data.interactions import Interactions
from cinerec.data.splits import ml100k_folds
from cinerec.errors import DataFormatError, InvalidParameter
from cinerec.evaluation.protocols import evaluate_split
from tests.algorithms.contract import RecommenderContract, low_rank

SMALL: dict[str, Any] = {"n_factors": 16, "reg": 1.0, "reg_bias": 1.0, "max_iter": 60}
#: Fold-in of a trained user's own ratings against their trained score row on :func:`low_rank`: measured mean
#: Pearson correlation 0.995 (lowest 0.987) and mean absolute gap 0.065 stars.
CORR_FLOOR, GAP_CEILING = 0.98, 0.15
FLOOR_U1 = 0.905


class TestAutoRec(RecommenderContract):
    algo = "autorec"
    params: ClassVar[dict[str, Any]] = SMALL
    withheld_first = False  # a rating predictor: ranks by predicted rating
    history_overlap = 0.85  # measured 0.95 (ridge fold-in of the output row against the fixed film encodings)


@pytest.fixture(scope="module")
def fitted() -> tuple[AutoRec, Any]:
    data = low_rank()
    model = AutoRec(**SMALL).fit(data)
    return model, data


def test_serves_the_network_as_a_latent_model(fitted: tuple[AutoRec, Any]) -> None:
    """``mu + s (b_u + V_u . sigmoid(W^T x_i + c))`` recomputed from the kept encoder equals ``predict``."""
    model, data = fitted
    ratings = np.asarray(data.ratings)
    z = (ratings - model.mu_) / model.rating_std_
    x = np.zeros((data.n_items, data.n_users))
    x[data.items, data.users] = z + model.input_offset
    h = 1.0 / (1.0 + np.exp(-(x @ model.encoder_weight_ + model.encoder_bias_)))
    np.testing.assert_allclose(h, model.item_factors_, rtol=1e-9)
    users, items = data.users[:50], data.items[:50]
    by_hand = model.mu_ + model.user_bias_[users] + model.item_bias_[items] + np.einsum(
        "ij,ij->i", model.user_factors_[users], model.item_factors_[items])
    np.testing.assert_allclose(model.predict(users, items), np.clip(by_hand, 1, 5), rtol=1e-9)
    # an unknown user gets the mean trained user's prediction; the encoding of the empty rating vector exists too
    mean_user = model.predict(np.full(data.n_items, -1), np.arange(data.n_items))
    assert np.isfinite(mean_user).all() and mean_user.std() > 0
    assert model.best_iter_ >= 1 and model.validation_rmse_ > 0


def test_fold_in_of_a_trained_users_ratings_agrees_with_their_row(fitted: tuple[AutoRec, Any]) -> None:
    """The ridge fold-in solves training's objective for one output row with the film encodings fixed.

    Early stopping leaves the trained rows short of that optimum, so the two
    score rows agree closely, not exactly.
    """
    model, data = fitted
    mat = data.matrix
    corr, gaps = [], []
    for u in range(0, data.n_users, 5):
        items, values = mat.indices[mat.indptr[u]:mat.indptr[u + 1]], mat.data[mat.indptr[u]:mat.indptr[u + 1]]
        fresh, trained = model.score_history(items, values), model.score(np.array([u]))[0]
        corr.append(np.corrcoef(fresh, trained)[0, 1])
        gaps.append(np.abs(fresh - trained).mean())
        assert model.fold_in(items, values).shape == (1 + model.n_factors,)
    assert float(np.mean(corr)) >= CORR_FLOOR, np.mean(corr)
    assert float(np.mean(gaps)) <= GAP_CEILING, np.mean(gaps)


def test_ratings_scale_free() -> None:
    """``2 r + 3`` gives the same network: predictions map by the same affine change."""
    data = low_rank()
    scaled = Interactions(data.users, data.items, 2 * np.asarray(data.ratings) + 3, data.user_vocab, data.item_vocab)
    a = AutoRec(**SMALL).fit(data)
    b = AutoRec(**SMALL).fit(scaled)
    users, items = data.users[:100], data.items[:100]
    np.testing.assert_allclose(b.predict(users, items), 2 * a.predict(users, items) + 3, rtol=1e-4)


def test_sparse_training_matches_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sparse input with the decoder at the rated pairs (sparse data sets) learns the same network as the dense path."""
    data = low_rank()
    # 20 L-BFGS steps: the two paths sum float32 in another order, and over more steps the line searches drift
    # apart (measured mean gap 1e-5 at 20 steps, 1e-3 at 40, 0.026 at 60), which would hide a wrong objective
    params = {**SMALL, "max_iter": 20}
    dense = AutoRec(**params).fit(data)
    monkeypatch.setattr(autorec, "SPARSE_BELOW", 1.1)
    sparse = AutoRec(**params).fit(data)
    users, items = data.users[:200], data.items[:200]
    a, b = sparse.predict(users, items), dense.predict(users, items)
    assert np.abs(a - b).mean() < 1e-3 and np.abs(a - b).max() < 1e-2, (np.abs(a - b).mean(), np.abs(a - b).max())
    assert np.abs(b - np.asarray(data.ratings[:200])).mean() < 0.4  # and 20 steps did learn (0.30; 0.68 at 5 steps)


def test_bad_input() -> None:
    data = low_rank()
    with pytest.raises(DataFormatError):
        AutoRec(**SMALL).fit(Interactions(data.users, data.items, None, data.user_vocab, data.item_vocab))
    with pytest.raises(InvalidParameter):
        AutoRec(n_factors=0).fit(data)
    with pytest.raises(InvalidParameter):
        AutoRec(validation_fraction=1.0).fit(data)


def test_save_load_keeps_encoder(tmp_path: Path, fitted: tuple[AutoRec, Any]) -> None:
    model, _ = fitted
    save(model, tmp_path / "a")
    back = load(tmp_path / "a")
    assert isinstance(back, AutoRec)
    np.testing.assert_array_equal(back.encoder_weight_, model.encoder_weight_)
    items, values = np.array([0, 3, 7]), np.array([5.0, 1.0, 4.0])
    np.testing.assert_allclose(back.score_history(items, values), model.score_history(items, values), rtol=1e-9)


def test_alias() -> None:
    assert create("i-autorec").name == "autorec"


@pytest.mark.slow  # one fit on the 80,000 ratings of u1.base
def test_rmse_floor_on_ml100k_u1(ml100k: Path) -> None:
    """A cheaper network than the default (which takes minutes): 40 L-BFGS iterations on every rating, no validation."""
    split = next(ml100k_folds(ml100k))
    row = evaluate_split(create("autorec", reg=100.0, max_iter=40, validation_fraction=0.0), split, 10)
    assert row["rmse"] <= FLOOR_U1, row["rmse"]  # measured 0.8932 in 13 s; the default 0.8915, bayesian-mf's floor 0.915
