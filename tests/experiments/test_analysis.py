"""Statistics of A/B experiments: TESTPLAN A3 (SRM gate), A5 (two-proportion
vector, CUPED), power at the recommended sample size, Welch against scipy, and
(through :func:`cinerec.experiments.report.build`) the verdict hidden under SRM,
decisions on the always-valid p-value and reports as of a past day. A4 (A/A calibration, peeking) runs through the
simulator, in test_simulate.py.

Simulations draw counts directly with numpy (seeded, vectorised); the
``cinerec experiment simulate`` path will reuse the same functions.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from cinerec.errors import InvalidParameter
from cinerec.experiments.analysis import (
    cuped,
    pooled_z_test,
    sample_size,
    sequential_p,
    sequential_p_proportions,
    srm,
    two_proportions,
    welch,
    welch_samples,
)
from cinerec.experiments.report import ExperimentConfig, MemberOutcomes, VariantConfig, build


def test_a3_srm_gate() -> None:
    bad = srm([600, 400], [0.5, 0.5])
    assert bad.p_value == pytest.approx(2.54e-10, rel=0.01)
    assert bad.flagged
    ok = srm([502, 498], [0.5, 0.5])
    assert ok.p_value == pytest.approx(0.899, abs=0.001)
    assert not ok.flagged
    # weights are normalised; an 80/20 split at its planned weights is fine
    assert not srm([8010, 1990], [80, 20]).flagged


T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _members(counts: list[tuple[int, int]], *, ratings: list[tuple[float, float]] | None = None,
             seed: int = 3) -> MemberOutcomes:
    """``(users, clickers)`` per variant as one row per member, exposed over a week; optional rating mean/sd."""
    rng = np.random.default_rng(seed)
    variant, clicked, rsum, rn = [], [], [], []
    for i, (n, x) in enumerate(counts):
        variant += [i] * n
        clicked += [True] * x + [False] * (n - x)
        if ratings is not None and i < len(ratings):
            mu, sd = ratings[i]
            vals = np.clip(rng.normal(mu, sd, x), 0.5, 5.0)
            rsum += list(vals) + [0.0] * (n - x)
            rn += [1] * x + [0] * (n - x)
        else:
            rsum += [0.0] * n
            rn += [0] * n
    n_all = len(variant)
    exposed = T0.timestamp() + rng.uniform(0, 7 * 86400, n_all)
    click_at = np.where(np.array(clicked), exposed + 3600, np.nan)
    rate_at = np.where(np.array(rn) > 0, exposed + 7200, np.nan)
    none = np.full(n_all, np.nan)
    return MemberOutcomes(np.array(variant), exposed, {"click": click_at, "rate": rate_at, "watchlist": none,
                                                        "share": none},
                          np.array(clicked, dtype=np.int64), np.array(rsum), np.array(rn, dtype=np.int64),
                          np.array([10 * n for n, _ in counts]))


def _config(names: list[str], metric: str = "ctr") -> ExperimentConfig:
    return ExperimentConfig("x", metric, 1.0, tuple(VariantConfig(n, f"v-{n}", 1 / len(names)) for n in names),
                            started_at=T0)


def test_a3_verdict_hidden_under_srm() -> None:
    end = T0 + timedelta(days=8)
    rep = build(_config(["control", "treatment"]), _members([(600, 60), (400, 80)]), now=end)
    assert rep.srm_flagged and rep.srm is not None and rep.srm.p_value == pytest.approx(2.54e-10, rel=0.01)
    assert rep.hidden_reason is not None and "sample ratio mismatch" in rep.hidden_reason
    assert [c.decision for c in rep.primary] == [None]
    assert rep.primary[0].value == pytest.approx(0.2)  # the numbers stay for diagnosis

    balanced = build(_config(["control", "treatment"]), _members([(502, 50), (498, 50)]), now=end)
    assert not balanced.srm_flagged and balanced.hidden_reason is None
    assert balanced.primary[0].decision == "inconclusive"


def test_report_decisions_welch_and_as_of() -> None:
    end = T0 + timedelta(days=8)
    members = _members([(20000, 2000), (20000, 2400), (20000, 1600)],
                       ratings=[(3.5, 0.5), (3.6, 0.5), (3.5, 0.5)])
    rep = build(_config(["control", "b", "c"]), members, now=end)
    by = {c.variant: c for c in rep.primary}
    assert by["b"].decision == "better" and by["c"].decision == "worse"
    assert by["b"].sequential_p is not None and by["b"].sequential_p < 0.05
    assert by["b"].p_value is not None and by["b"].p_value < by["b"].sequential_p  # always-valid is dearer
    rating = build(_config(["control", "b", "c"], "rating"), members, now=end)
    r = {c.variant: c for c in rating.primary}
    assert r["b"].test == "Welch t-test" and r["b"].abs_lift == pytest.approx(0.1, abs=0.04)
    assert r["b"].p_value is not None and r["b"].p_value < 0.05
    # peeks: one per day, the always-valid p never rises
    seq = [t.sequential_p for t in rep.tests if t.variant == "b"]
    assert len(seq) == 8 and all(a >= b for a, b in itertools.pairwise(seq))
    # as of the third day only the members exposed by then count, and only outcomes that had happened
    early = build(_config(["control", "b", "c"]), members, now=T0 + timedelta(days=3))
    assert 0.35 < early.users / rep.users < 0.5
    assert early.variants[0].converted["click"] < rep.variants[0].converted["click"]
    with pytest.raises(InvalidParameter):
        build(_config(["control", "b"]), members)  # variant index 2 is not in this experiment


def test_a5_two_proportion_vector() -> None:
    r = two_proportions(1000, 10000, 1100, 10000)
    assert round(r.z, 3) == 2.307
    assert round(r.p_value, 4) == 0.0211
    assert r.rate_a == 0.1 and r.rate_b == pytest.approx(0.11)
    assert r.abs_lift == pytest.approx(0.01)
    se = math.sqrt(0.1 * 0.9 / 10000 + 0.11 * 0.89 / 10000)
    assert r.abs_ci == pytest.approx((0.01 - 1.959964 * se, 0.01 + 1.959964 * se), rel=1e-5)
    assert r.rel_lift == pytest.approx(0.1)
    lo, hi = r.rel_ci
    assert 0 < lo < 0.1 < hi
    # the pooled z test agrees with scipy's chi-square test on the 2x2 table (z^2 = chi2)
    chi2, p, _, _ = stats.chi2_contingency([[1000, 9000], [1100, 8900]], correction=False)
    assert r.z**2 == pytest.approx(chi2) and r.p_value == pytest.approx(p)
    with pytest.raises(InvalidParameter):
        two_proportions(11, 10, 1, 10)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(3.4, 1.0, 300)
    b = rng.normal(3.6, 1.4, 250)
    r = welch_samples(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert r.t == pytest.approx(ref.statistic)
    assert r.p_value == pytest.approx(ref.pvalue)
    assert r.df == pytest.approx(ref.df)
    ci = ref.confidence_interval(0.95)
    assert r.abs_ci == pytest.approx((ci.low, ci.high))
    assert r.rel_ci[0] < r.rel_lift < r.rel_ci[1]
    s = welch(a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size)
    assert s.p_value == pytest.approx(r.p_value)
    with pytest.raises(InvalidParameter):
        welch(1.0, 0.0, 5, 1.0, 0.0, 5)


def _cuped_runs(effect: float, runs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, rho = 2000, 0.7
    raw, adj, ses = [], [], []
    for _ in range(runs):
        x = rng.normal(10.0, 2.0, n)
        noise = rng.normal(0.0, 2.0, n)
        treated = rng.random(n) < 0.5
        y = 5.0 + rho * (x - 10.0) + math.sqrt(1 - rho**2) * noise + effect * treated
        r = cuped(y, x, treated)
        raw.append(r.raw_effect)
        adj.append(r.effect)
        ses.append(r.se)
    return np.array(raw), np.array(adj), np.array(ses)


def test_a5_cuped_lower_variance_and_unbiased() -> None:
    # pre-period correlation 0.7 (x and y both have sd 2)
    raw, adj, ses = _cuped_runs(effect=0.3, runs=200, seed=11)
    assert adj.var(ddof=1) < raw.var(ddof=1)
    ratio = adj.var(ddof=1) / raw.var(ddof=1)
    assert 0.35 < ratio < 0.7  # about 1 - 0.7^2 = 0.51
    # the reported standard error matches the spread across runs
    assert ses.mean() == pytest.approx(adj.std(ddof=1), rel=0.15)
    assert abs(adj.mean() - 0.3) < 2 * adj.std(ddof=1) / math.sqrt(adj.size)
    # A/A: unbiased
    _, aa, _ = _cuped_runs(effect=0.0, runs=200, seed=12)
    assert abs(aa.mean()) < 2 * aa.std(ddof=1) / math.sqrt(aa.size)


def test_sequential_detects_a_real_effect() -> None:
    rng = np.random.default_rng(5)
    runs, days, per_day = 500, 16, 2000
    x_a = rng.binomial(per_day, 0.10, (runs, days)).cumsum(axis=1)
    x_b = rng.binomial(per_day, 0.12, (runs, days)).cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)
    seq = np.ones(runs)
    for d in range(days):
        seq = sequential_p_proportions(x_a[:, d], n[d], x_b[:, d], n[d], 0.01**2, seq)
    assert (seq <= 0.05).mean() > 0.9


def test_power_at_recommended_sample_size() -> None:
    base, lift = 0.1, 0.1
    n = sample_size(base, lift)
    assert 14000 < n < 15500  # textbook value for 10% -> 11% at alpha 0.05, power 0.8
    rng = np.random.default_rng(31)
    runs = 2000
    x_a = rng.binomial(n, base, runs)
    x_b = rng.binomial(n, base * (1 + lift), runs)
    z, pv = pooled_z_test(x_a, n, x_b, n)
    power = float(((pv < 0.05) & (z > 0)).mean())
    assert power >= 0.75, power
    with pytest.raises(InvalidParameter):
        sample_size(0.0, 0.1)


def test_sequential_p_is_the_normal_mixture_likelihood_ratio() -> None:
    # Lambda = N(d; 0, V + tau2) / N(d; 0, V): the N(0, tau2) mixture of N(d; theta, V)
    # over the null density, computed with scipy independently of the closed form
    d = np.array([0.0, 0.005, 0.01, -0.02])
    v, tau2 = 2.25e-5, 1e-4
    lam = stats.norm.pdf(d, scale=math.sqrt(v + tau2)) / stats.norm.pdf(d, scale=math.sqrt(v))
    assert sequential_p(d, v, tau2) == pytest.approx(np.minimum(1.0, 1.0 / lam))
    assert float(sequential_p(0.01, 0.0, tau2, previous=0.3)) == 0.3  # no information yet
    with pytest.raises(InvalidParameter):
        sequential_p(0.01, v, 0.0)


def test_edge_counts() -> None:
    r = two_proportions(0, 100, 5, 100)
    assert r.rel_lift == math.inf and all(math.isnan(c) for c in r.rel_ci)
    assert 0 < r.p_value < 0.05
    none = two_proportions(0, 100, 0, 100)
    assert none.z == 0.0 and none.p_value == 1.0 and math.isnan(none.rel_lift)
    with pytest.raises(InvalidParameter):
        srm([10, 10], [0.5, 0.3, 0.2])
    with pytest.raises(InvalidParameter):
        cuped([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0], [0, 0, 1, 1])


def test_sequential_sample_size_is_larger_and_consistent() -> None:
    from cinerec.experiments.analysis import sample_size_sequential

    n = sample_size_sequential(0.1, 0.1)
    assert n == 28589 and n > sample_size(0.1, 0.1)
    # at n the last look's rejection region has the planned power (the mSPRT boundary on z, checked directly)
    p1, p2, tau2 = 0.1, 0.11, 0.01**2
    v = 0.105 * 0.895 * 2 / n
    c = math.sqrt(2 * (v + tau2) / tau2 * (math.log(20) + 0.5 * math.log1p(tau2 / v)))
    power = stats.norm.sf(c - (p2 - p1) / math.sqrt(v)) + stats.norm.cdf(-c - (p2 - p1) / math.sqrt(v))
    assert 0.8 <= power < 0.8001
    assert sample_size_sequential(0.1, 0.2) < n  # bigger effects need fewer members
    with pytest.raises(InvalidParameter):
        sample_size_sequential(0.1, 0.1, tau2=0)
