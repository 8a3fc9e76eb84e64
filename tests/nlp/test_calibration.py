"""Platt scaling, prior shift by Bayes' rule, EM prior estimation and ECE on synthetic scores with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from cinerec.errors import InvalidParameter
from cinerec.nlp.calibration import (
    estimate_prior,
    expected_calibration_error,
    fit_platt,
    logit,
    shift_prior,
    sigmoid,
)


def _label_shift_batch(n_pos: int, n_neg: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores with Gaussian class conditionals N(+1, 1) / N(-1, 1) (log-likelihood ratio 2x)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(1.0, 1.0, n_pos), rng.normal(-1.0, 1.0, n_neg)])
    y = np.concatenate([np.ones(n_pos, dtype=np.int64), np.zeros(n_neg, dtype=np.int64)])
    return x, y


def test_sigmoid_and_logit_are_inverse_and_finite() -> None:
    p = np.array([0.0, 1e-9, 0.2, 0.5, 0.9, 1.0])
    z = logit(p)
    assert np.isfinite(z).all()
    assert np.allclose(sigmoid(z)[2:5], p[2:5])
    assert np.allclose(sigmoid(np.array([-800.0, 0.0, 800.0])), [0.0, 0.5, 1.0])


def test_platt_recovers_the_true_scale_and_offset() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 2.0, 20_000)
    y = (rng.random(z.size) < sigmoid(1.7 * z - 0.4)).astype(np.int64)  # the classifier is under-confident
    a, b = fit_platt(z, y)
    assert a == pytest.approx(1.7, abs=0.08) and b == pytest.approx(-0.4, abs=0.08)
    with pytest.raises(InvalidParameter, match="both classes"):
        fit_platt(z[:10], np.ones(10))


def test_shift_prior_is_bayes_rule() -> None:
    p = np.array([0.1, 0.5, 0.9])
    assert np.allclose(shift_prior(p, 0.6, 0.6), p)
    moved = shift_prior(p, 0.5, 0.8)
    assert np.allclose(moved, 4 * p / (4 * p + (1 - p)))  # odds times 0.8/0.2
    assert np.allclose(shift_prior(moved, 0.8, 0.5), p)
    with pytest.raises(InvalidParameter, match="prior must be strictly between 0 and 1"):
        shift_prior(p, 0.5, 1.0)


@pytest.mark.parametrize("true_prior", [0.13, 0.5, 0.87, 0.95])
def test_em_recovers_the_prior_of_a_label_shifted_batch(true_prior: float) -> None:
    train_prior = 0.66
    n = 4000
    x, y = _label_shift_batch(round(n * true_prior), n - round(n * true_prior), seed=2)
    calibrated = sigmoid(2.0 * x + logit(train_prior))  # the exact posterior under the training prior
    prior, adjusted = estimate_prior(calibrated, train_prior)
    assert prior == pytest.approx(true_prior, abs=0.03)
    assert expected_calibration_error(adjusted, y) < expected_calibration_error(calibrated, y)
    assert ((adjusted > 0.5) == y).mean() >= ((calibrated > 0.5) == y).mean() - 0.005
    assert ((adjusted > 0.5) == y).mean() >= max(true_prior, 1 - true_prior) - 0.005


def test_em_on_a_batch_at_the_training_prior_stays_there() -> None:
    x, _ = _label_shift_batch(3000, 1000, seed=3)
    prior, adjusted = estimate_prior(sigmoid(2.0 * x + logit(0.75)), 0.75)
    assert prior == pytest.approx(0.75, abs=0.03)
    assert np.allclose(adjusted, sigmoid(2.0 * x + logit(prior)))
    with pytest.raises(InvalidParameter, match="at least one"):
        estimate_prior(np.array([]), 0.5)


def test_expected_calibration_error_known_values() -> None:
    assert expected_calibration_error([0.25] * 4, [0, 0, 0, 1]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9, 0.9, 0.1, 0.1], [0, 0, 1, 1]) == pytest.approx(0.9)
    # two bins: 0.3 vs 1/2 observed (gap 0.2, half the rows), 0.8 vs 1 (gap 0.2)
    assert expected_calibration_error([0.3, 0.3, 0.8, 0.8], [0, 1, 1, 1]) == pytest.approx(0.2)
    with pytest.raises(InvalidParameter):
        expected_calibration_error([0.5], [1, 0])
