"""Rating models hold on data unlike MovieLens (issue 8, part 4).

Two data sets MovieLens-tuned defaults were never fitted to: a synthetic one
shaped like MovieTweetings (0-10 integer ratings, a median of two ratings
per user, a long tail of films) and the real FilmTrust file (0.5-4 stars).
On both, every registered rating model must be at least as accurate as the
bias baseline, and an affine change of the rating scale (``2 r + 3``) must
multiply its RMSE by 2 and leave its top-10 lists alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cinerec.algorithms import RatingPredictor
from cinerec.algorithms.registry import create, names
from cinerec.data.interactions import Interactions
from cinerec.data.splits import Split, stratified_split
from cinerec.evaluation import metrics as M
from tests.algorithms.contract import top_overlap
from tests.conftest import data_dir

# Allowed RMSE ratio to the bias baseline. The paired bootstrap (300 resamples
# of the test ratings) of RMSE(model) / RMSE(bias) has a standard deviation of
# 0.0015-0.0065 across these models and both data sets, so 1% is about two
# standard deviations for the noisiest model. Before the fix Bayesian MF
# stood at 1.041 (cold-heavy) and 1.020 (FilmTrust, ratings x2+3).
TOLERANCE = 1.01


def cold_heavy_ratings(n_users: int = 4000, n_items: int = 1500, rank: int = 4, seed: int = 0) -> pd.DataFrame:
    """A MovieTweetings-shaped rating table: 0-10 integers, mostly cold users, long-tail films.

    Users rate ``ceil(lognormal)`` films (median 2, about 8% rate ten or
    more); films are drawn by a Zipf(0.9) popularity, so a few films have
    hundreds of ratings and most have a handful. Ratings are ``7.3 + b_u +
    b_i + p_u . q_i + noise`` (bias deviations 0.9 and 0.8, a rank-``rank``
    taste term of deviation about 0.7, noise 1.2), rounded and clipped to
    0-10, which gives MovieTweetings' high mean (about 7.2) and its pile-up
    at 10.

    Returns:
        Columns ``user``, ``item``, ``rating``.
    """
    rng = np.random.default_rng(seed)
    per_user = np.minimum(np.ceil(np.exp(rng.normal(0.55, 1.15, n_users))).astype(np.int64), n_items // 4)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    log_p = np.log(popularity / popularity.sum())
    user_bias, item_bias = rng.normal(0, 0.9, n_users), rng.normal(0, 0.8, n_items)
    p, q = rng.normal(0, 0.6, (n_users, rank)), rng.normal(0, 0.6, (n_items, rank))
    users, items = [], []
    for u in range(n_users):
        # Gumbel top-k: a popularity-weighted sample without replacement
        keys = log_p + rng.gumbel(size=n_items)
        chosen = np.argpartition(-keys, per_user[u])[: per_user[u]]
        users.append(np.full(len(chosen), u))
        items.append(chosen)
    us, its = np.concatenate(users), np.concatenate(items)
    raw = 7.3 + user_bias[us] + item_bias[its] + np.einsum("ij,ij->i", p[us], q[its]) + rng.normal(0, 1.2, len(us))
    return pd.DataFrame({"user": us, "item": its, "rating": np.clip(np.round(raw), 0, 10) + 0.0})


def filmtrust_ratings() -> pd.DataFrame:
    """The real FilmTrust ratings (headerless ``user,item,rating``, 0.5-4 stars) from the data folder."""
    path = data_dir() / "filmtrust" / "ratings.txt"
    if not path.is_file():
        pytest.fail(f"FilmTrust not found at {path}: set CINEREC_DATA_DIR to the folder holding filmtrust/")
    return pd.read_csv(path, header=None, names=["user", "item", "rating"])


DATASETS: dict[str, Callable[[], pd.DataFrame]] = {"cold-heavy": cold_heavy_ratings, "filmtrust": filmtrust_ratings}


def _predicts_ratings(name: str) -> bool:
    model = create(name)
    return isinstance(model, RatingPredictor) and bool(model.predicts_ratings)


RATING_MODELS = [n for n in names() if _predicts_ratings(n)]
SLOW = {"bayesian-mf", "autorec"}  # a Gibbs sampler; L-BFGS over dense films x users: seconds to minutes per fit
#: Defaults except the optimiser's budget, where the default fit costs most of a minute here: the standardisation and
#: fallbacks under test do not depend on it (AutoRec: fewer L-BFGS iterations, no refit; 40 s -> about 8 s per fit).
CHEAPER = {"autorec": {"max_iter": 60, "refit": False}}


def _param(algo: str, *rest: str) -> Any:
    return pytest.param(*rest, algo, marks=pytest.mark.slow) if algo in SLOW else pytest.param(*rest, algo)


class Fitted:
    """One model fitted on one data set's 80/20 holdout (seed 42) with its ratings mapped by ``a r + b``."""

    def __init__(self, dataset: str, algo: str, a: float = 1.0, b: float = 0.0) -> None:
        frame = DATASETS[dataset]()
        frame = frame.assign(rating=frame["rating"] * a + b)
        self.split: Split = stratified_split(Interactions.from_frame(frame, time_col=None), 0.8, random_state=42)
        test = self.split.test
        self.model = create(algo, **CHEAPER.get(algo, {})).fit(self.split.train)
        assert isinstance(self.model, RatingPredictor)
        self.pred = self.model.predict(test.users, test.items)
        assert test.ratings is not None
        self.truth = test.ratings
        self.train_counts = np.bincount(self.split.train.users, minlength=self.split.train.n_users)[test.users]
        self.users = np.unique(test.users)
        self.top10 = self.model.recommend(self.users, 10).items

    def rmse(self, mask: np.ndarray | None = None) -> float:
        """RMSE over the test ratings (or those selected by ``mask``)."""
        m = np.ones(len(self.pred), dtype=bool) if mask is None else mask
        return M.rmse(self.pred[m], self.truth[m])


_CACHE: dict[tuple[str, str, float, float], Fitted] = {}


def fitted(dataset: str, algo: str, a: float = 1.0, b: float = 0.0) -> Fitted:
    """:class:`Fitted`, computed once per session."""
    key = (dataset, algo, a, b)
    if key not in _CACHE:
        _CACHE[key] = Fitted(dataset, algo, a, b)
    return _CACHE[key]


def test_generator_has_the_shape_of_movietweetings() -> None:
    df = cold_heavy_ratings()
    per_user = df.groupby("user").size()
    per_item = df.groupby("item").size()
    assert per_user.median() == 2
    assert 0.04 < (per_user >= 10).mean() < 0.15
    assert per_item.max() > 50 * per_item.median()  # long tail
    assert df["rating"].between(0, 10).all() and (df["rating"] == df["rating"].round()).all()
    assert 6.8 < df["rating"].mean() < 7.6 and (df["rating"] == 10).mean() > 0.05


def test_every_rating_model_is_tested() -> None:
    assert {"bias", "biased-mf", "svdpp", "bayesian-mf", "item-knn", "user-knn"} <= set(RATING_MODELS)


@pytest.mark.parametrize(("dataset", "algo"), [_param(a, d) for d in DATASETS for a in RATING_MODELS if a != "bias"])
def test_rating_model_at_least_as_good_as_bias(dataset: str, algo: str) -> None:
    model, bias = fitted(dataset, algo), fitted(dataset, "bias")
    assert model.rmse() <= bias.rmse() * TOLERANCE, (model.rmse(), bias.rmse())
    if dataset == "cold-heavy":
        # users with one or two training ratings: priors must shrink them towards the baseline
        cold = model.train_counts <= 2
        assert cold.sum() > 300
        assert model.rmse(cold) <= bias.rmse(cold) * TOLERANCE, (model.rmse(cold), bias.rmse(cold))
        warm = model.train_counts >= 10
        assert model.rmse(warm) <= bias.rmse(warm) * TOLERANCE, (model.rmse(warm), bias.rmse(warm))


@pytest.mark.parametrize(("dataset", "algo"), [_param(a, d) for d in DATASETS for a in RATING_MODELS])
def test_affine_rescaling_doubles_rmse_and_keeps_rankings(dataset: str, algo: str) -> None:
    base, scaled = fitted(dataset, algo), fitted(dataset, algo, 2.0, 3.0)
    assert abs(scaled.rmse() / base.rmse() / 2.0 - 1.0) <= 0.05, (scaled.rmse(), base.rmse())
    overlap = np.mean([top_overlap(x, y) for x, y in zip(base.top10, scaled.top10, strict=True)])
    assert overlap >= 0.9, overlap


@pytest.mark.parametrize("algo", ["biased-mf", "svdpp"])
def test_sgd_models_store_parameters_on_the_rating_scale(algo: str) -> None:
    """Standardised training, undone on the learned parameters: ``2 r + 3`` doubles biases and user factors."""
    base: Any = fitted("cold-heavy", algo).model
    scaled: Any = fitted("cold-heavy", algo, 2.0, 3.0).model
    np.testing.assert_allclose(scaled.mu_, 2 * base.mu_ + 3)
    for attr in ("user_bias_", "item_bias_", "user_factors_"):
        np.testing.assert_allclose(getattr(scaled, attr), 2 * getattr(base, attr), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(scaled.item_factors_, base.item_factors_, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_bayesian_mf_learns_the_noise_and_keeps_it_on_the_rating_scale() -> None:
    base, scaled = fitted("cold-heavy", "bayesian-mf"), fitted("cold-heavy", "bayesian-mf", 2.0, 3.0)
    noise = base.model.learned_summary()["noise_sd"]
    # generated with noise 1.2 plus rounding (sd 0.29), 1.23 together; measured 1.34 (taste the factors
    # cannot learn from one or two ratings, and the clipping at 10, count as noise too)
    assert 1.0 < noise < 1.45, noise
    # the sampler sees the same standardised ratings up to rounding (1e-16), which 100 sweeps amplify a
    # little; learned_summary also rounds to 4 decimals
    assert scaled.model.learned_summary()["noise_sd"] == pytest.approx(2 * noise, rel=1e-3)
    model_1x: Any = base.model
    model_2x: Any = scaled.model
    np.testing.assert_allclose(model_2x.user_bias_, 2 * model_1x.user_bias_, atol=2e-3)


@pytest.mark.parametrize("dataset", [pytest.param(d, marks=pytest.mark.slow) for d in DATASETS])
def test_bayesian_mf_top10_is_at_least_as_good_as_bias(dataset: str) -> None:
    """Issue 8: BPMF's lists were useless on cold-heavy data (films with one or two raves on top).

    It ranks by a lower credible bound of the item bias (``ranking_risk`` posterior standard deviations).
    """
    def ndcg(f: Fitted) -> float:
        truth = f.split.test.binary[f.users]
        return float(M.ndcg_at_k(f.top10, truth, 10).mean())

    model, bias = fitted(dataset, "bayesian-mf"), fitted(dataset, "bias")
    assert ndcg(model) >= ndcg(bias), (ndcg(model), ndcg(bias))
