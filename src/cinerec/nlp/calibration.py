"""Calibrated probabilities for binary text classifiers, and their correction to another class prior.

A classifier's scores carry the class prior of its training corpus: the
Douban model learned on about 66% positive comments, so on a review set that
is 87% positive its 0.5 threshold calls too many texts negative. Two steps
fix that without retraining:

- :func:`fit_platt` maps raw logits to probabilities that are calibrated on
  the training distribution (Platt 1999), fitted on out-of-fold logits so the
  model's own training texts do not make it look over-confident.
- :func:`shift_prior` moves calibrated probabilities to a known target prior
  by Bayes' rule, and :func:`estimate_prior` finds an unknown target prior on
  the batch being scored by EM (Saerens, Latinne & Decaestecker, *Adjusting
  the outputs of a classifier to new a priori probabilities*, Neural
  Computation 14, 2002). EM needs a batch (tens of texts or more) from one
  population; for a single text keep the training prior or pass a known one.

:func:`expected_calibration_error` measures the result.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cinerec.errors import InvalidParameter

FloatArray = npt.NDArray[np.float64]

#: Probabilities are kept this far from 0 and 1 so logits stay finite.
_EPS = 1e-6


def logit(p: npt.ArrayLike) -> FloatArray:
    """``log(p / (1 - p))``, with ``p`` clipped into ``[1e-6, 1 - 1e-6]``."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def sigmoid(z: npt.ArrayLike) -> FloatArray:
    """The logistic function, numerically stable for large ``|z|``."""
    x = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def fit_platt(logits: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """Platt scaling: ``(a, b)`` such that ``sigmoid(a * logit + b)`` is calibrated on these labels.

    Args:
        logits: out-of-fold decision values of the classifier.
        labels: the 0/1 truth.

    Raises:
        InvalidParameter: lengths differ, or only one class is present.
    """
    from sklearn.linear_model import LogisticRegression

    z = np.asarray(logits, dtype=np.float64).reshape(-1, 1)
    y = np.asarray(labels, dtype=np.int64)
    if len(z) != len(y) or set(np.unique(y)) != {0, 1}:
        raise InvalidParameter("Platt scaling needs one 0/1 label per logit, with both classes present")
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(z, y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _check_prior(prior: float, what: str) -> float:
    if not 0.0 < float(prior) < 1.0:
        raise InvalidParameter(f"{what} must be strictly between 0 and 1, not {prior!r}")
    return float(prior)


def shift_prior(probabilities: npt.ArrayLike, train_prior: float, prior: float) -> FloatArray:
    """Move calibrated positive-class probabilities from ``train_prior`` to ``prior`` (Bayes' rule).

    Raises:
        InvalidParameter: a prior outside ``(0, 1)``.
    """
    shift = logit(_check_prior(prior, "prior")) - logit(_check_prior(train_prior, "the training prior"))
    return sigmoid(logit(probabilities) + shift)


def estimate_prior(probabilities: npt.ArrayLike, train_prior: float, *, max_iter: int = 200,
                   tol: float = 1e-6) -> tuple[float, FloatArray]:
    """Estimate the positive share of a batch by EM and return it with the re-weighted probabilities.

    Saerens et al. (2002): start from the training prior, re-weight every
    probability to the current prior estimate, take their mean as the next
    estimate, until it settles. The result is kept within ``[0.001, 0.999]``.

    Args:
        probabilities: calibrated (under ``train_prior``) positive-class probabilities of one batch.
        train_prior: the positive share the probabilities were calibrated under.

    Returns:
        ``(prior, adjusted)``: the estimated positive share and the probabilities moved to it.

    Raises:
        InvalidParameter: an empty batch, or a prior outside ``(0, 1)``.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.size == 0:
        raise InvalidParameter("estimating the class prior needs at least one probability")
    base = logit(p) - logit(_check_prior(train_prior, "the training prior"))
    prior = float(train_prior)
    adjusted = p
    for _ in range(max_iter):
        adjusted = sigmoid(base + logit(prior))
        new = float(np.clip(adjusted.mean(), 1e-3, 1.0 - 1e-3))
        if abs(new - prior) < tol:
            prior = new
            break
        prior = new
    return prior, sigmoid(base + logit(prior))


def expected_calibration_error(probabilities: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10) -> float:
    """ECE: the mean gap between predicted and observed positive rate over ``n_bins`` equal-width bins, weighted by bin size.

    Raises:
        InvalidParameter: lengths differ, empty input or fewer than one bin.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(p) != len(y) or len(p) == 0 or n_bins < 1:
        raise InvalidParameter("ECE needs as many labels as probabilities (at least one) and n_bins >= 1")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, weights=p, minlength=n_bins) - np.bincount(bins, weights=y, minlength=n_bins))
    return float(gap[counts > 0].sum() / len(p))
