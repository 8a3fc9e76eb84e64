"""Statistics for A/B experiments: lift, tests, SRM, CUPED, sequential p-values.

Pure functions on counts, summary statistics or arrays; no SQL, no I/O.
Distributions come from :mod:`scipy.stats`; nothing here hand-codes a CDF.

Formulas (two arms, control ``a`` and treatment ``b``):

* **Two proportions** (:func:`two_proportions`): rates ``p = x / n``.
  Absolute lift ``p_b - p_a`` with an unpooled Wald interval
  ``± z * sqrt(p_a(1-p_a)/n_a + p_b(1-p_b)/n_b)``; relative lift
  ``p_b / p_a - 1`` with the delta method on the log ratio (Katz):
  ``exp(log(p_b/p_a) ± z * sqrt((1-p_a)/x_a + (1-p_b)/x_b)) - 1``. The test
  is the pooled two-sided z-test, ``z = (p_b - p_a) / sqrt(p(1-p)(1/n_a +
  1/n_b))`` with ``p = (x_a + x_b) / (n_a + n_b)``; 1000/10000 vs
  1100/10000 gives ``z = 2.307``, ``p = 0.0211``.
* **Means** (:func:`welch`): Welch's t-test, Welch–Satterthwaite degrees of
  freedom, a t interval for the difference and the log-ratio delta-method
  interval (normal quantile) for the relative lift.
* **Sample ratio mismatch** (:func:`srm`): chi-square goodness of fit of the
  exposure counts against the planned weights; flagged when ``p < 0.001``.
* **CUPED** (:func:`cuped`): ``theta = cov(y, x) / var(x)`` on the pooled
  data of both arms, ``y_adj = y - theta (x - mean(x))``, effect = difference
  of the arms' mean ``y_adj`` with the unpooled standard error.
* **Sequential** (:func:`sequential_p`): the mixture SPRT of Johari, Pekelis
  and Walsh (2017, "Always valid inference") under a normal approximation.
  With ``theta_hat`` the estimated difference, ``V`` its variance and a
  ``N(0, tau2)`` mixture over the true difference, the likelihood ratio is
  ``Lambda = sqrt(V / (V + tau2)) * exp(tau2 * theta_hat**2 / (2 V (V + tau2)))``
  and the always-valid p-value is the running minimum of ``min(1, 1/Lambda)``
  over the peeks. ``tau2`` is the squared scale of the effects one expects
  (e.g. ``(mde_relative * baseline_rate) ** 2`` for a CTR).
* **Sample size** (:func:`sample_size`): per arm, for the two-sided pooled
  two-proportion test (no continuity correction):
  ``n = (z_{1-alpha/2} sqrt(2 pbar qbar) + z_power sqrt(p1 q1 + p2 q2))**2 / (p2 - p1)**2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from cinerec.errors import InvalidParameter

__all__ = [
    "CupedResult",
    "MeanTest",
    "ProportionTest",
    "SRMResult",
    "cuped",
    "pooled_z_test",
    "sample_size",
    "sample_size_sequential",
    "sequential_p",
    "sequential_p_proportions",
    "srm",
    "two_proportions",
    "welch",
    "welch_samples",
]

FloatArray = npt.NDArray[np.float64]


def _check_alpha(alpha: float, name: str = "alpha") -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidParameter(f"{name} must be in (0, 1), got {alpha}")


def _check_counts(x: int, n: int, arm: str) -> None:
    if n <= 0:
        raise InvalidParameter(f"n_{arm} must be positive, got {n}")
    if not 0 <= x <= n:
        raise InvalidParameter(f"x_{arm} must be in [0, n_{arm}], got {x} of {n}")


@dataclass(frozen=True)
class ProportionTest:
    """Comparison of two conversion rates (treatment ``b`` against control ``a``).

    ``rel_ci`` is ``(nan, nan)`` when either arm has no conversion (the log
    ratio is undefined there).
    """

    rate_a: float
    rate_b: float
    abs_lift: float
    abs_ci: tuple[float, float]
    rel_lift: float
    rel_ci: tuple[float, float]
    z: float
    p_value: float
    alpha: float


def pooled_z_test(
    x_a: npt.ArrayLike, n_a: npt.ArrayLike, x_b: npt.ArrayLike, n_b: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Pooled two-sided two-proportion z-test, vectorised over arrays of counts.

    Args:
        x_a: Conversions in the control arm (scalar or array).
        n_a: Members in the control arm.
        x_b: Conversions in the treatment arm.
        n_b: Members in the treatment arm.

    Returns:
        ``(z, p)`` as float arrays (0-d for scalar input); ``z = 0``, ``p = 1``
        where the pooled rate is 0 or 1 (no variance).
    """
    xa, na, xb, nb = (np.asarray(v, dtype=np.float64) for v in (x_a, n_a, x_b, n_b))
    pooled = (xa + xb) / (na + nb)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb))
    diff = xb / nb - xa / na
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, diff / se, 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return np.asarray(z, dtype=np.float64), np.asarray(p, dtype=np.float64)


def two_proportions(x_a: int, n_a: int, x_b: int, n_b: int, alpha: float = 0.05) -> ProportionTest:
    """Rates, absolute and relative lift with intervals, and the pooled z-test.

    Args:
        x_a: Conversions in the control arm.
        n_a: Members (or exposures) in the control arm.
        x_b: Conversions in the treatment arm.
        n_b: Members in the treatment arm.
        alpha: Two-sided level; intervals are ``1 - alpha``.

    Returns:
        A :class:`ProportionTest`: absolute lift with an unpooled Wald
        interval, relative lift with the log-ratio (Katz) delta-method
        interval, pooled z and its two-sided p-value.

    Raises:
        InvalidParameter: On non-positive ``n``, ``x`` outside ``[0, n]`` or
            ``alpha`` outside ``(0, 1)``.
    """
    _check_counts(x_a, n_a, "a")
    _check_counts(x_b, n_b, "b")
    _check_alpha(alpha)
    q = float(stats.norm.ppf(1.0 - alpha / 2.0))
    pa, pb = x_a / n_a, x_b / n_b
    diff = pb - pa
    se_diff = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    # relative lift: +inf when the control has no conversion but the treatment has
    rel = pb / pa - 1.0 if x_a > 0 else (math.inf if x_b > 0 else math.nan)
    if x_a > 0 and x_b > 0:
        log_ratio = math.log(pb / pa)
        se_log = math.sqrt((1 - pa) / x_a + (1 - pb) / x_b)
        rel_ci = (math.expm1(log_ratio - q * se_log), math.expm1(log_ratio + q * se_log))
    else:
        rel_ci = (math.nan, math.nan)
    z, p = pooled_z_test(x_a, n_a, x_b, n_b)
    return ProportionTest(
        rate_a=pa,
        rate_b=pb,
        abs_lift=diff,
        abs_ci=(diff - q * se_diff, diff + q * se_diff),
        rel_lift=rel,
        rel_ci=rel_ci,
        z=float(z),
        p_value=float(p),
        alpha=alpha,
    )


@dataclass(frozen=True)
class MeanTest:
    """Welch comparison of two means (treatment ``b`` against control ``a``)."""

    mean_a: float
    mean_b: float
    abs_lift: float
    abs_ci: tuple[float, float]
    rel_lift: float
    rel_ci: tuple[float, float]
    t: float
    df: float
    p_value: float
    alpha: float


def welch(
    mean_a: float,
    var_a: float,
    n_a: int,
    mean_b: float,
    var_b: float,
    n_b: int,
    alpha: float = 0.05,
) -> MeanTest:
    """Welch's t-test from summary statistics, with lift and intervals.

    Args:
        mean_a: Control mean (e.g. mean rating of recommended films).
        var_a: Control sample variance (``ddof=1``).
        n_a: Control sample size (at least 2).
        mean_b: Treatment mean.
        var_b: Treatment sample variance (``ddof=1``).
        n_b: Treatment sample size (at least 2).
        alpha: Two-sided level; intervals are ``1 - alpha``.

    Returns:
        A :class:`MeanTest`: the difference with a Welch t interval, the
        relative lift with the log-ratio delta-method interval (normal
        quantile; ``nan`` unless both means are positive), ``t``, the
        Welch–Satterthwaite ``df`` and the two-sided p-value.

    Raises:
        InvalidParameter: On ``n < 2``, a negative variance, zero variance in
            both arms or ``alpha`` outside ``(0, 1)``.
    """
    _check_alpha(alpha)
    if n_a < 2 or n_b < 2:
        raise InvalidParameter(f"Welch needs at least 2 observations per arm, got {n_a} and {n_b}")
    if var_a < 0 or var_b < 0:
        raise InvalidParameter("variances must be non-negative")
    sa, sb = var_a / n_a, var_b / n_b
    se = math.sqrt(sa + sb)
    if se == 0:
        raise InvalidParameter("both arms have zero variance; the t statistic is undefined")
    df = (sa + sb) ** 2 / (sa**2 / (n_a - 1) + sb**2 / (n_b - 1))
    diff = mean_b - mean_a
    t = diff / se
    p = float(2.0 * stats.t.sf(abs(t), df))
    qt = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    if mean_a > 0 and mean_b > 0:
        qz = float(stats.norm.ppf(1.0 - alpha / 2.0))
        log_ratio = math.log(mean_b / mean_a)
        se_log = math.sqrt(sb / mean_b**2 + sa / mean_a**2)
        rel_ci = (math.expm1(log_ratio - qz * se_log), math.expm1(log_ratio + qz * se_log))
    else:
        rel_ci = (math.nan, math.nan)
    rel = mean_b / mean_a - 1.0 if mean_a != 0 else math.nan
    return MeanTest(
        mean_a=mean_a,
        mean_b=mean_b,
        abs_lift=diff,
        abs_ci=(diff - qt * se, diff + qt * se),
        rel_lift=rel,
        rel_ci=rel_ci,
        t=t,
        df=df,
        p_value=p,
        alpha=alpha,
    )


def welch_samples(a: npt.ArrayLike, b: npt.ArrayLike, alpha: float = 0.05) -> MeanTest:
    """Welch's t-test on two samples (control ``a``, treatment ``b``).

    Args:
        a: Control observations.
        b: Treatment observations.
        alpha: Two-sided level.

    Returns:
        The :class:`MeanTest` of :func:`welch` on the samples' means and
        ``ddof=1`` variances.

    Raises:
        InvalidParameter: As :func:`welch`.
    """
    xa = np.asarray(a, dtype=np.float64).ravel()
    xb = np.asarray(b, dtype=np.float64).ravel()
    if xa.size < 2 or xb.size < 2:
        raise InvalidParameter("Welch needs at least 2 observations per arm")
    return welch(
        float(xa.mean()),
        float(xa.var(ddof=1)),
        int(xa.size),
        float(xb.mean()),
        float(xb.var(ddof=1)),
        int(xb.size),
        alpha=alpha,
    )


@dataclass(frozen=True)
class SRMResult:
    """Sample ratio mismatch check: chi-square goodness of fit."""

    chi2: float
    p_value: float
    flagged: bool
    expected: tuple[float, ...]
    threshold: float


def srm(
    counts: Sequence[int], weights: Sequence[float] | None = None, threshold: float = 0.001
) -> SRMResult:
    """Chi-square test of observed arm sizes against the planned traffic split.

    Args:
        counts: Members (or exposures) per arm.
        weights: Planned share per arm (normalised here); equal when ``None``.
        threshold: Flag when ``p < threshold`` (0.001, as GrowthBook).

    Returns:
        An :class:`SRMResult`; ``[600, 400]`` at 50/50 gives ``p ≈ 2.54e-10``
        (flagged), ``[502, 498]`` gives ``p ≈ 0.899``.

    Raises:
        InvalidParameter: On fewer than 2 arms, mismatched lengths, negative
            counts, no members at all, non-positive weights or a threshold
            outside ``(0, 1)``.
    """
    obs = np.asarray(counts, dtype=np.float64)
    w = np.ones_like(obs) if weights is None else np.asarray(weights, dtype=np.float64)
    if obs.ndim != 1 or obs.size < 2:
        raise InvalidParameter("srm needs counts for at least 2 arms")
    if w.shape != obs.shape:
        raise InvalidParameter(f"{obs.size} counts but {w.size} weights")
    if (obs < 0).any() or obs.sum() <= 0:
        raise InvalidParameter("counts must be non-negative with a positive total")
    if (w <= 0).any():
        raise InvalidParameter("weights must be positive")
    _check_alpha(threshold, "threshold")
    expected = obs.sum() * w / w.sum()
    chi2, p = stats.chisquare(obs, f_exp=expected)
    return SRMResult(
        chi2=float(chi2),
        p_value=float(p),
        flagged=bool(p < threshold),
        expected=tuple(float(e) for e in expected),
        threshold=threshold,
    )


@dataclass(frozen=True)
class CupedResult:
    """CUPED-adjusted treatment effect next to the raw one."""

    theta: float
    effect: float
    se: float
    raw_effect: float
    raw_se: float

    @property
    def variance_reduction(self) -> float:
        """Share of the raw effect's variance removed, ``1 - se**2 / raw_se**2``."""
        return 1.0 - (self.se / self.raw_se) ** 2 if self.raw_se > 0 else 0.0


def cuped(y: npt.ArrayLike, x_pre: npt.ArrayLike, treated: npt.ArrayLike) -> CupedResult:
    """CUPED (Deng et al. 2013) with a pre-experiment covariate.

    ``theta = cov(y, x) / var(x)`` is estimated on the pooled data of both
    arms (so it does not depend on the assignment), each member's metric is
    replaced by ``y - theta (x - mean(x))`` and the effect is the difference
    of the arms' adjusted means, with the unpooled standard error
    ``sqrt(var_t / n_t + var_c / n_c)``. Since ``x`` was measured before
    assignment, ``E[x]`` is the same in both arms and the estimate stays
    unbiased; its variance shrinks by about ``corr(y, x)**2``.

    Args:
        y: Metric per member during the experiment.
        x_pre: The same (or a correlated) metric per member before it.
        treated: Boolean (or 0/1) per member, ``True`` for the treatment arm.

    Returns:
        A :class:`CupedResult` with ``theta``, the adjusted effect and its
        standard error, and the raw (unadjusted) effect and standard error.

    Raises:
        InvalidParameter: On mismatched lengths, fewer than 2 members in an
            arm, or a constant covariate.
    """
    yv = np.asarray(y, dtype=np.float64).ravel()
    xv = np.asarray(x_pre, dtype=np.float64).ravel()
    tv = np.asarray(treated).ravel().astype(bool)
    if not yv.size == xv.size == tv.size:
        raise InvalidParameter(
            f"y, x_pre and treated differ in length: {yv.size}, {xv.size}, {tv.size}"
        )
    n_t, n_c = int(tv.sum()), int((~tv).sum())
    if n_t < 2 or n_c < 2:
        raise InvalidParameter(f"CUPED needs at least 2 members per arm, got {n_t} and {n_c}")
    var_x = float(xv.var(ddof=1))
    if var_x == 0:
        raise InvalidParameter("x_pre is constant; it cannot reduce variance")
    theta = float(np.cov(yv, xv, ddof=1)[0, 1]) / var_x
    adj = yv - theta * (xv - xv.mean())

    def diff_se(v: FloatArray) -> tuple[float, float]:
        a, b = v[~tv], v[tv]
        return (
            float(b.mean() - a.mean()),
            math.sqrt(float(b.var(ddof=1)) / n_t + float(a.var(ddof=1)) / n_c),
        )

    effect, se = diff_se(adj)
    raw_effect, raw_se = diff_se(yv)
    return CupedResult(theta=theta, effect=effect, se=se, raw_effect=raw_effect, raw_se=raw_se)


def sequential_p(
    diff: npt.ArrayLike,
    variance: npt.ArrayLike,
    tau2: float,
    previous: npt.ArrayLike = 1.0,
) -> FloatArray:
    """Always-valid p-value of the normal mixture SPRT (Johari et al. 2017).

    ``Lambda = sqrt(V / (V + tau2)) * exp(tau2 * diff**2 / (2 V (V + tau2)))``
    and ``p = min(previous, 1 / Lambda)``. Compute it at every peek, passing
    the previous peek's value as ``previous`` (the running minimum is what
    keeps it valid); stopping the first time ``p <= alpha`` keeps the type I
    error at most ``alpha`` (asymptotically, under the normal approximation).

    Args:
        diff: Estimated difference (treatment minus control), scalar or array.
        variance: Variance of that estimate (``V``); where it is 0 the peek
            carries no information and ``previous`` is returned.
        tau2: Variance of the normal mixture over the true difference, in
            squared units of ``diff``: roughly the squared effect one expects.
        previous: The always-valid p-value at the previous peek (1 at the first).

    Returns:
        The always-valid p-value(s), float array (0-d for scalar input).

    Raises:
        InvalidParameter: On ``tau2 <= 0`` or a negative variance.
    """
    if not tau2 > 0:
        raise InvalidParameter(f"tau2 must be positive, got {tau2}")
    d = np.asarray(diff, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    prev = np.asarray(previous, dtype=np.float64)
    if (v < 0).any():
        raise InvalidParameter("variance must be non-negative")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lambda = 0.5 * np.log(v / (v + tau2)) + tau2 * d**2 / (2.0 * v * (v + tau2))
        p_now = np.where(v > 0, np.exp(-np.maximum(log_lambda, 0.0)), 1.0)
    return np.asarray(np.minimum(prev, p_now), dtype=np.float64)


def sequential_p_proportions(
    x_a: npt.ArrayLike,
    n_a: npt.ArrayLike,
    x_b: npt.ArrayLike,
    n_b: npt.ArrayLike,
    tau2: float,
    previous: npt.ArrayLike = 1.0,
) -> FloatArray:
    """:func:`sequential_p` for two conversion rates from cumulative counts.

    ``diff = p_b - p_a``; ``V = pbar (1 - pbar) (1/n_a + 1/n_b)``, the pooled
    variance of the z-test (defined from the first peek on, even with one
    arm at zero conversions).

    Args:
        x_a: Cumulative control conversions at this peek (scalar or array).
        n_a: Cumulative control members.
        x_b: Cumulative treatment conversions.
        n_b: Cumulative treatment members.
        tau2: Mixture variance in squared rate units, e.g.
            ``(mde_relative * baseline_rate) ** 2``.
        previous: The always-valid p-value at the previous peek.

    Returns:
        The always-valid p-value(s).

    Raises:
        InvalidParameter: As :func:`sequential_p`.
    """
    xa, na, xb, nb = (np.asarray(v, dtype=np.float64) for v in (x_a, n_a, x_b, n_b))
    pooled = (xa + xb) / (na + nb)
    var = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)
    return sequential_p(xb / nb - xa / na, var, tau2, previous)


def sample_size(
    baseline_rate: float, mde_relative: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Members per arm for the two-sided pooled two-proportion z-test.

    Args:
        baseline_rate: Control conversion rate, in ``(0, 1)``.
        mde_relative: Smallest relative lift worth detecting (0.1 for +10%).
        alpha: Two-sided significance level.
        power: Probability of detecting a true lift of ``mde_relative``.

    Returns:
        ``ceil((z_{1-alpha/2} sqrt(2 pbar qbar) + z_power sqrt(p1 q1 + p2 q2))**2
        / (p2 - p1)**2)`` with ``p2 = p1 (1 + mde_relative)``; 14,751 for a 10%
        baseline and a +10% lift.

    Raises:
        InvalidParameter: On a rate outside ``(0, 1)``, a zero lift, a
            treatment rate outside ``(0, 1)``, or ``alpha``/``power`` outside
            ``(0, 1)``.
    """
    if not 0.0 < baseline_rate < 1.0:
        raise InvalidParameter(f"baseline_rate must be in (0, 1), got {baseline_rate}")
    _check_alpha(alpha)
    _check_alpha(power, "power")
    p1 = baseline_rate
    p2 = p1 * (1.0 + mde_relative)
    if mde_relative == 0 or not 0.0 < p2 < 1.0:
        raise InvalidParameter(f"mde_relative {mde_relative} gives a treatment rate of {p2}")
    pbar = (p1 + p2) / 2.0
    za = float(stats.norm.ppf(1.0 - alpha / 2.0))
    zb = float(stats.norm.ppf(power))
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(num**2 / (p2 - p1) ** 2)


def sample_size_sequential(
    baseline_rate: float, mde_relative: float, alpha: float = 0.05, power: float = 0.8,
    tau2: float | None = None,
) -> int:
    """Members per arm for the always-valid (mixture SPRT) test to reach ``power`` at its last look.

    The mSPRT rejects when ``Lambda > 1 / alpha``; with ``z = diff / sqrt(V)``
    that is ``z**2 > c**2 = 2 (V + tau2) / tau2 * (log(1 / alpha) + log(1 + tau2 / V) / 2)``.
    Under a true lift ``z`` is normal with mean ``(p2 - p1) / sqrt(V)``, ``V``
    the pooled variance of the difference at ``n`` members per arm; the
    smallest ``n`` with ``P(|z| > c) >= power`` is found by bisection. Looks
    before the last can only reject earlier, so this is a safe (slightly
    high) figure for an experiment read every day. ``tau2`` defaults to
    ``(mde_relative * baseline_rate) ** 2``, as :mod:`cinerec.experiments.report` uses.

    Raises:
        InvalidParameter: As :func:`sample_size`, or ``tau2 <= 0``.
    """
    fixed = sample_size(baseline_rate, mde_relative, alpha, power)  # validates the arguments
    p1 = baseline_rate
    p2 = p1 * (1.0 + mde_relative)
    scale = (mde_relative * p1) ** 2 if tau2 is None else tau2
    if not scale > 0:
        raise InvalidParameter(f"tau2 must be positive, got {scale}")
    pbar = (p1 + p2) / 2.0

    def reaches(n: int) -> bool:
        v = pbar * (1 - pbar) * 2.0 / n
        c = math.sqrt(2 * (v + scale) / scale * (math.log(1 / alpha) + 0.5 * math.log1p(scale / v)))
        mean = abs(p2 - p1) / math.sqrt(v)
        return float(stats.norm.sf(c - mean) + stats.norm.cdf(-c - mean)) >= power

    lo, hi = fixed, fixed
    while not reaches(hi):
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
