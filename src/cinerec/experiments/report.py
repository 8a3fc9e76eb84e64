"""An experiment's report: from one row per exposed member to what an analyst reads. Pure: no SQL, no I/O.

The randomisation unit is the member, so every test is on per-member
outcomes: a member *converts* on an outcome kind (click, rate, watchlist,
share) when they did it, within the attribution window after their first
exposure, to a film the experiment recommended to them. The product's
database path (:mod:`cinerec.service.experiments`) and the simulator
(:mod:`cinerec.experiments.simulate`) both fill a :class:`MemberOutcomes`
and call :func:`build`, so a simulated report and a live one are computed by
the same code.

Metrics (``config.metric`` is the primary one, ``config.guardrails`` the
ones that must not get worse):

* ``ctr``: share of members who clicked at least one recommended film
  (tested by the two-proportion z-test). The classic clicks-per-impression
  ratio is reported beside it (:attr:`VariantResult.ctr`) but not tested:
  impressions of one member are not independent draws.
* ``watchlist``, ``share_rate``: share of members who put a recommended film
  on their watchlist, or shared one.
* ``rating``: mean of each member's ratings of recommended films, over the
  members who rated one (Welch's t-test); the share who rated one is
  ``rating_rate``.

Every comparison gives the absolute and relative lift with
``1 - alpha`` intervals, the fixed-horizon p-value and the always-valid
(mixture SPRT) p-value accumulated over daily peeks — the one the decision
uses, so reading the dashboard every day does not inflate false positives.
A sample ratio mismatch (chi-square ``p < 0.001`` on members per variant)
hides every decision. A decision also waits for ``min_sample`` members per
variant when one is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np

from cinerec.errors import InvalidParameter
from cinerec.experiments import analysis
from cinerec.experiments.analysis import CupedResult, SRMResult

#: Metrics an experiment can decide on (and guard).
METRICS: tuple[str, ...] = ("ctr", "rating", "watchlist", "share_rate")
#: Outcome kinds a member can convert on, in report order.
OUTCOMES: tuple[str, ...] = ("click", "rate", "watchlist", "share")
#: The outcome kind behind each metric.
METRIC_OUTCOME: dict[str, str] = {"ctr": "click", "rating": "rate", "watchlist": "watchlist", "share_rate": "share"}
#: The most peeks a report evaluates (longer experiments peek at evenly spaced days).
MAX_PEEKS = 120
#: Relative effect the sample-size recommendation and the sequential test's mixture are scaled to.
DEFAULT_MDE = 0.10
DAY = 86_400.0

Decision = Literal["better", "worse", "inconclusive", "collecting"]


@dataclass(frozen=True)
class VariantConfig:
    """A variant as the experiment defines it."""

    name: str
    model_version: str
    weight: float


@dataclass(frozen=True)
class ExperimentConfig:
    """What the report needs to know about the experiment itself."""

    name: str
    metric: str
    traffic: float
    variants: tuple[VariantConfig, ...]
    status: str = "running"
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    window: timedelta = timedelta(days=7)
    guardrails: tuple[str, ...] = ()
    min_sample: int | None = None

    def __post_init__(self) -> None:
        for m in (self.metric, *self.guardrails):
            if m not in METRICS:
                raise InvalidParameter(f"unknown metric {m!r}: use one of {', '.join(METRICS)}")
        if len(self.variants) < 2:
            raise InvalidParameter("an experiment needs at least 2 variants")


@dataclass(frozen=True)
class MemberOutcomes:
    """One entry per exposed member (columns of equal length), plus film impressions per variant.

    Attributes:
        variant: the member's variant, as an index into ``config.variants``.
        exposed_at: POSIX seconds of the member's first exposure.
        first: per outcome kind (:data:`OUTCOMES`), POSIX seconds of the
            member's first such outcome on a recommended film within the
            window, ``nan`` for none.
        clicks: clicks on recommended films within the window.
        rating_sum, rating_n: the member's ratings of recommended films within the window.
        pre_activity: the CUPED covariate (e.g. actions in the 28 days before the start), or ``None``.
        impressions: films shown per variant (a film counted once per list it appeared in).
    """

    variant: np.ndarray
    exposed_at: np.ndarray
    first: Mapping[str, np.ndarray]
    clicks: np.ndarray
    rating_sum: np.ndarray
    rating_n: np.ndarray
    impressions: np.ndarray
    pre_activity: np.ndarray | None = None

    @classmethod
    def empty(cls, n_variants: int) -> MemberOutcomes:
        """No member exposed yet."""
        z = np.zeros(0)
        return cls(np.zeros(0, dtype=np.int64), z, {k: z for k in OUTCOMES}, z.astype(np.int64), z,
                   z.astype(np.int64), np.zeros(n_variants, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.variant)


@dataclass(frozen=True)
class VariantResult:
    """One variant's totals."""

    name: str
    model_version: str
    weight: float
    users: int
    impressions: int
    clicks: int
    #: clicks per film impression (``None`` without impressions); descriptive, not tested.
    ctr: float | None
    #: members converted per outcome kind, and as a share of ``users``.
    converted: dict[str, int]
    rates: dict[str, float | None]
    mean_rating: float | None
    rating_members: int

    def metric_value(self, metric: str) -> float | None:
        """The variant's value of a metric as the report tests it."""
        if metric == "rating":
            return self.mean_rating
        return self.rates[METRIC_OUTCOME[metric]]


@dataclass(frozen=True)
class Comparison:
    """One metric, one variant against the control.

    ``decision`` is ``None`` when the report's verdict is hidden (SRM) or the
    comparison could not be computed (e.g. no member rated a film in one arm).
    """

    metric: str
    variant: str
    control: str
    test: str
    control_value: float | None
    value: float | None
    abs_lift: float | None
    abs_ci: tuple[float, float] | None
    rel_lift: float | None
    rel_ci: tuple[float, float] | None
    p_value: float | None
    sequential_p: float | None
    decision: Decision | None


@dataclass(frozen=True)
class Peek:
    """The primary metric of one variant at the end of one day, with its ``1 - alpha`` interval."""

    day: int
    at: float
    variant: str
    users: int
    conversions: int
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class PeekTest:
    """A variant against the control at one daily peek: the naive p-value and the always-valid one."""

    day: int
    variant: str
    p_value: float | None
    sequential_p: float


@dataclass(frozen=True)
class CupedComparison:
    """The primary metric's effect adjusted by CUPED with pre-experiment activity."""

    variant: str
    result: CupedResult
    ci: tuple[float, float]


@dataclass(frozen=True)
class ExperimentReport:
    """Everything ``cinerec experiment report``, the admin API and the admin page show."""

    config: ExperimentConfig
    variants: tuple[VariantResult, ...]
    srm: SRMResult | None
    primary: tuple[Comparison, ...]
    guardrails: tuple[Comparison, ...]
    hidden_reason: str | None
    ready: bool
    alpha: float
    mde: float
    #: members per variant the fixed-horizon two-proportion test needs to detect ``mde`` with 80% power
    #: (``None`` for ``rating`` or no baseline yet)
    sample_size: int | None
    series: tuple[Peek, ...]
    tests: tuple[PeekTest, ...]
    cuped: tuple[CupedComparison, ...] = field(default=())
    #: the same for the always-valid test the decision uses (read daily; about twice as many)
    sample_size_sequential: int | None = None

    @property
    def srm_flagged(self) -> bool:
        """Whether the sample ratio mismatch gate fired."""
        return self.srm is not None and self.srm.flagged

    @property
    def harmed_guardrails(self) -> list[str]:
        """``"variant: metric"`` for each guardrail a variant made significantly worse."""
        return [f"{c.variant}: {c.metric}" for c in self.guardrails if c.decision == "worse"]

    @property
    def users(self) -> int:
        """Members exposed in all variants."""
        return sum(v.users for v in self.variants)


def build(config: ExperimentConfig, members: MemberOutcomes, *, now: datetime | None = None, alpha: float = 0.05,
          mde: float = DEFAULT_MDE, cuped: bool = False) -> ExperimentReport:
    """The report of ``config`` from its members' outcomes, as of ``now`` (default: the stop time, else now).

    Raises:
        InvalidParameter: ``alpha`` or ``mde`` out of range, a variant index out of range.
    """
    if not 0 < alpha < 1:
        raise InvalidParameter(f"alpha must be in (0, 1), got {alpha}")
    if not mde > 0:
        raise InvalidParameter(f"the minimum detectable effect must be positive, got {mde}")
    nv = len(config.variants)
    var = np.asarray(members.variant, dtype=np.int64)
    if len(var) and (var.min() < 0 or var.max() >= nv):
        raise InvalidParameter("a member's variant index is out of range")
    if now is not None:
        members = _as_of(members, posix(now))
    results = tuple(_variant_result(config, members, i) for i in range(nv))
    users = [r.users for r in results]
    srm = analysis.srm(users, [v.weight for v in config.variants]) if sum(users) else None
    hidden = None
    if srm is not None and srm.flagged:
        hidden = (f"sample ratio mismatch: chi-square p = {srm.p_value:.3g} < {srm.threshold:g}; the split is "
                  "broken, so no decision can be trusted until the cause is found")
    ready = config.min_sample is None or min(users) >= config.min_sample
    peeks = _peek_times(config, members, now)
    series, tests, final_seq = _sequential(config, members, peeks, alpha, mde)
    primary = tuple(_compare(config.metric, members, results, i, alpha, final_seq.get(r.name), hidden, ready)
                    for i, r in enumerate(results[1:], start=1))
    guards: list[Comparison] = []
    for g in config.guardrails:
        seq_g = _sequential(config, members, peeks, alpha, mde, metric=g)[2] if g != config.metric else final_seq
        guards.extend(_compare(g, members, results, i, alpha, seq_g.get(r.name), hidden, True)
                      for i, r in enumerate(results[1:], start=1))
    size = size_seq = None
    base = results[0].metric_value(config.metric)
    if config.metric != "rating" and base is not None and 0 < base < 1 and base * (1 + mde) < 1:
        size = analysis.sample_size(base, mde, alpha)
        size_seq = analysis.sample_size_sequential(base, mde, alpha)
    cup = _cuped(config, members, alpha) if cuped and members.pre_activity is not None else ()
    return ExperimentReport(config, results, srm, primary, tuple(guards), hidden, ready, alpha, mde, size,
                            series, tests, cup, size_seq)


def _as_of(m: MemberOutcomes, t: float) -> MemberOutcomes:
    """``m`` as it was known at POSIX time ``t``: later exposures dropped, later outcomes not yet happened.

    Click counts and ratings are kept as given for members whose first
    outcome of that kind is not later than ``t`` (they carry no times of
    their own), and zeroed for the others.
    """
    keep = np.asarray(m.exposed_at, dtype=np.float64) <= t
    first = {}
    for k in OUTCOMES:
        f = np.asarray(m.first[k], dtype=np.float64)[keep]
        first[k] = np.where(f <= t, f, np.nan)
    clicked = np.isfinite(first["click"])
    rated = np.isfinite(first["rate"])
    return MemberOutcomes(
        np.asarray(m.variant)[keep], np.asarray(m.exposed_at)[keep], first,
        np.where(clicked, np.asarray(m.clicks)[keep], 0), np.where(rated, np.asarray(m.rating_sum)[keep], 0.0),
        np.where(rated, np.asarray(m.rating_n)[keep], 0), m.impressions,
        None if m.pre_activity is None else np.asarray(m.pre_activity)[keep])


def _variant_result(config: ExperimentConfig, m: MemberOutcomes, i: int) -> VariantResult:
    v = config.variants[i]
    sel = np.asarray(m.variant) == i
    n = int(sel.sum())
    converted = {k: int(np.isfinite(np.asarray(m.first[k])[sel]).sum()) for k in OUTCOMES}
    rates = {k: (converted[k] / n if n else None) for k in OUTCOMES}
    impressions = int(m.impressions[i]) if i < len(m.impressions) else 0
    clicks = int(np.asarray(m.clicks)[sel].sum())
    means = _member_means(m, sel)
    mean_rating = float(means.mean()) if len(means) else None
    return VariantResult(v.name, v.model_version, v.weight, n, impressions, clicks,
                         clicks / impressions if impressions else None, converted, rates, mean_rating,
                         len(means))


def _member_means(m: MemberOutcomes, sel: np.ndarray) -> np.ndarray:
    rn = np.asarray(m.rating_n)[sel]
    rated = rn > 0
    out: np.ndarray = np.asarray(m.rating_sum, dtype=np.float64)[sel][rated] / rn[rated]
    return out


def _compare(metric: str, m: MemberOutcomes, results: Sequence[VariantResult], i: int, alpha: float,
             seq: float | None, hidden: str | None, ready: bool) -> Comparison:
    """``metric`` of variant ``i`` against the control (variant 0): lifts, intervals, p-values, decision."""
    ctrl, arm = results[0], results[i]
    if metric == "rating":
        var = np.asarray(m.variant, dtype=np.int64)
        a, b = _member_means(m, var == 0), _member_means(m, var == i)
        if len(a) > 1 and len(b) > 1 and (a.var() > 0 or b.var() > 0):
            t = analysis.welch_samples(a, b, alpha)
            return _decided(metric, ctrl, arm, t.abs_lift, t.abs_ci, t.rel_lift, t.rel_ci, t.p_value, seq, alpha,
                            hidden, ready)
    elif ctrl.users and arm.users:
        kind = METRIC_OUTCOME[metric]
        p = analysis.two_proportions(ctrl.converted[kind], ctrl.users, arm.converted[kind], arm.users, alpha)
        return _decided(metric, ctrl, arm, p.abs_lift, p.abs_ci, p.rel_lift, p.rel_ci, p.p_value, seq, alpha,
                        hidden, ready)
    return Comparison(metric, arm.name, ctrl.name, _test_name(metric), ctrl.metric_value(metric),
                      arm.metric_value(metric), None, None, None, None, None, seq, None)


def _decided(metric: str, ctrl: VariantResult, arm: VariantResult, abs_lift: float, abs_ci: tuple[float, float],
             rel_lift: float, rel_ci: tuple[float, float], p: float, seq: float | None, alpha: float,
             hidden: str | None, ready: bool) -> Comparison:
    decision: Decision | None = None
    if hidden is None and seq is not None and math.isfinite(abs_lift):
        if not ready:
            decision = "collecting"
        elif seq < alpha:
            decision = "better" if abs_lift > 0 else "worse"
        else:
            decision = "inconclusive"
    return Comparison(metric, arm.name, ctrl.name, _test_name(metric), ctrl.metric_value(metric),
                      arm.metric_value(metric), _num(abs_lift), _pair(abs_ci), _num(rel_lift), _pair(rel_ci),
                      _num(p), seq, decision)


def _test_name(metric: str) -> str:
    return "Welch t-test" if metric == "rating" else "two-proportion z-test"


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _pair(ci: tuple[float, float]) -> tuple[float, float] | None:
    return (float(ci[0]), float(ci[1])) if all(math.isfinite(c) for c in ci) else None


def posix(when: datetime) -> float:
    """POSIX seconds of a datetime; a naive one (SQLite gives those) is UTC."""
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


def _peek_times(config: ExperimentConfig, m: MemberOutcomes, now: datetime | None) -> np.ndarray:
    """The end of each day since the start (at most :data:`MAX_PEEKS`, evenly spaced), the last one ``now``."""
    start = posix(config.started_at) if config.started_at else (float(np.min(m.exposed_at)) if len(m) else None)
    if now is not None:
        end = posix(now)
    else:  # a stopped experiment's outcomes keep arriving until the window after the stop closes
        end = posix(datetime.now(UTC))
        if config.stopped_at is not None:
            end = min(end, posix(config.stopped_at + config.window))
    if len(m):
        end = max(end, float(np.max(m.exposed_at)))
    if start is None:
        return np.array([end])
    n_days = max(1, math.ceil((end - start) / DAY))
    days = np.arange(1, n_days + 1, dtype=np.float64)
    if n_days > MAX_PEEKS:
        days = np.unique(np.round(np.linspace(1, n_days, MAX_PEEKS)))
    times = start + days * DAY
    times[-1] = min(times[-1], end) if n_days > 1 else end
    return times


def _sequential(config: ExperimentConfig, m: MemberOutcomes, peeks: np.ndarray, alpha: float, mde: float,
                metric: str | None = None) -> tuple[tuple[Peek, ...], tuple[PeekTest, ...], dict[str, float]]:
    """Cumulative values per variant at each peek, naive and always-valid p-values, the final always-valid ones."""
    metric = metric or config.metric
    kind = METRIC_OUTCOME[metric]
    var = np.asarray(m.variant, dtype=np.int64)
    exposed = np.asarray(m.exposed_at, dtype=np.float64)
    first = np.asarray(m.first[kind], dtype=np.float64)
    means = np.full(len(m), np.nan)
    rn = np.asarray(m.rating_n)
    rated = rn > 0
    means[rated] = np.asarray(m.rating_sum, dtype=np.float64)[rated] / rn[rated]
    z = _z(alpha)
    names = [v.name for v in config.variants]
    series: list[Peek] = []
    tests: list[PeekTest] = []
    running = {n: 1.0 for n in names[1:]}
    tau2: float | None = None
    for day, t in enumerate(peeks, start=1):
        inn = exposed <= t
        conv = inn & (first <= t)
        stats_: list[tuple[int, int, float | None, float, int]] = []  # users, conversions, value, var, n for means
        for i, name in enumerate(names):
            sel = inn & (var == i)
            n = int(sel.sum())
            x = int((conv & (var == i)).sum())
            if metric == "rating":
                vals = means[sel & conv]
                k = len(vals)
                mean = float(vals.mean()) if k else None
                v = float(vals.var(ddof=1)) if k > 1 else math.nan
                se = math.sqrt(v / k) if k > 1 else math.nan
                lo, hi = (mean - z * se, mean + z * se) if mean is not None and math.isfinite(se) else (None, None)
                series.append(Peek(day, float(t), name, n, k, mean, lo, hi))
                stats_.append((n, k, mean, v, k))
            else:
                p = x / n if n else None
                if p is not None:
                    se = math.sqrt(p * (1 - p) / n)
                    lo, hi = max(0.0, p - z * se), min(1.0, p + z * se)
                else:
                    lo = hi = None
                series.append(Peek(day, float(t), name, n, x, p, lo, hi))
                stats_.append((n, x, p, math.nan, n))
        c_n, c_x, c_val, c_var, c_k = stats_[0]
        if tau2 is None and c_val is not None and c_val > 0:
            tau2 = (mde * c_val) ** 2  # the mixture's scale, fixed at the first informative peek
        for i, name in enumerate(names[1:], start=1):
            n, x, val, v, k = stats_[i]
            p_naive: float | None = None
            if metric == "rating":
                if c_val is not None and val is not None and c_k > 1 and k > 1 and (c_var > 0 or v > 0):
                    diff, var_d = val - c_val, c_var / c_k + v / k
                    p_naive = analysis.welch(c_val, c_var, c_k, val, v, k, alpha).p_value
                    if tau2 is not None:
                        running[name] = float(analysis.sequential_p(diff, var_d, tau2, running[name]))
            elif c_n and n and (c_x + x) and (c_x + x) < (c_n + n):
                p_naive = float(analysis.pooled_z_test(c_x, c_n, x, n)[1])
                if tau2 is not None:
                    running[name] = float(analysis.sequential_p_proportions(c_x, c_n, x, n, tau2, running[name]))
            tests.append(PeekTest(day, name, _num(p_naive) if p_naive is not None else None, running[name]))
    return tuple(series), tuple(tests), running


def _z(alpha: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(1 - alpha / 2))


def _cuped(config: ExperimentConfig, m: MemberOutcomes, alpha: float) -> tuple[CupedComparison, ...]:
    """CUPED on the primary conversion (0/1 per member) for each variant against the control."""
    if config.metric == "rating" or m.pre_activity is None:
        return ()
    kind = METRIC_OUTCOME[config.metric]
    var = np.asarray(m.variant, dtype=np.int64)
    y = np.isfinite(np.asarray(m.first[kind], dtype=np.float64)).astype(np.float64)
    x = np.asarray(m.pre_activity, dtype=np.float64)
    z = _z(alpha)
    out = []
    for i, v in enumerate(config.variants[1:], start=1):
        sel = (var == 0) | (var == i)
        treated = var[sel] == i
        if treated.sum() < 2 or (~treated).sum() < 2 or np.var(x[sel]) == 0:
            continue
        r = analysis.cuped(y[sel], x[sel], treated)
        out.append(CupedComparison(v.name, r, (r.effect - z * r.se, r.effect + z * r.se)))
    return tuple(out)


__all__ = [
    "METRICS",
    "OUTCOMES",
    "Comparison",
    "CupedComparison",
    "ExperimentConfig",
    "ExperimentReport",
    "MemberOutcomes",
    "Peek",
    "PeekTest",
    "VariantConfig",
    "VariantResult",
    "build",
]

