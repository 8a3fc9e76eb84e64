"""A/B test simulator: synthetic members, two real trained models, the product's own assignment and report.

What it simulates (``cinerec experiment simulate``):

1. **A click model from a data set** (:meth:`ClickModel.fit`). A seeded
   per-user holdout hides ``holdout`` of each user's ratings; the control
   and treatment algorithms (any names of :mod:`cinerec.algorithms.registry`)
   are trained on the rest only. Each user gets each model's top-``k`` list
   (their training films excluded). A shown film the user rated ``r`` in the
   held-out part is clicked with probability :func:`click_probability`
   ``floor + (top - floor) * s**2`` with ``s = (r - low) / (high - low)`` on
   the data's rating scale (so 0.5 stars -> ``floor``, 5 stars -> ``top``,
   rising faster near the top); a film without a held-out rating is clicked
   with probability ``floor``. A user *converts* (clicks at least one film)
   with ``P = 1 - prod(1 - p_i)`` over the list. All of this is computed once;
   every run afterwards is vectorised numpy.
2. **Members.** Run ``r`` permutes the users; member ``j`` (id ``j + 1``)
   behaves as user ``perm[j % n_users]`` with fresh randomness. Members are
   split by :meth:`Experiment.assign_array` (GrowthBook's hash, a new seed
   per run), arrive uniformly over ``days`` from ``start`` and are shown
   their arm's list once.
3. **Effects.** Without options the treatment arm shows the treatment
   model's lists (a real comparison of two algorithms). ``aa=True``: both
   arms show the control model's lists (an A/A test). ``true_effect=e``
   (a *planted* effect): both arms show the control model's lists and each
   treatment member's **conversion probability** is ``min(1, (1 + e) P)``,
   so the true relative lift in the share of members who click is ``e``
   (slightly less where the cap binds; :meth:`ClickModel.expected_rates`
   gives the exact value). Which films a converting member clicks follows
   the unscaled per-film model conditioned on at least one click, so clicks
   per impression move with the conversions.
4. **Time.** A converting member's first click lands an exponential delay
   (mean ``mean_delay_days``, truncated to the ``window_days`` attribution
   window) after their arrival; any further clicked film a uniform time after
   that, within the window. The experiment is read at ``now = start + days``:
   clicks after ``now`` have not happened yet, exactly as in the database.
5. **Analysis.** The outcomes fill a :class:`report.MemberOutcomes` and go
   through :func:`report.build` — the one analysis path the product uses —
   whose daily peeks give both the naive p-value at each day and the
   always-valid sequential one.

:func:`simulate_once` returns a :class:`Simulation` with the sessions as
plain data (exposures and clicks with raw movie ids and times) for a replay
through the database; :func:`run_many` returns only the reports, and
:func:`calibrate` summarises them (false positives, peeking, power).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.data.interactions import Interactions
from cinerec.errors import InvalidParameter
from cinerec.experiments import analysis, report
from cinerec.experiments.assignment import Experiment, Variant

__all__ = [
    "DEFAULT_START",
    "Calibration",
    "Click",
    "ClickModel",
    "Exposure",
    "Simulation",
    "calibrate",
    "click_probability",
    "recommended_members",
    "run_many",
    "simulate_once",
]

#: Where simulated experiments start unless told otherwise (a fixed instant keeps runs reproducible).
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
_DAY = 86_400.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: ``(member_id, variant_index, at, raw movie ids shown, best first)``
Exposure = tuple[int, int, datetime, tuple[int, ...]]
#: ``(member_id, raw movie id, at)``
Click = tuple[int, int, datetime]


def click_probability(ratings: npt.ArrayLike, low: float, high: float, *, floor: float = 0.005,
                      top: float = 0.3) -> FloatArray:
    """Probability that a member clicks a shown film they rated ``ratings`` in the held-out part.

    ``floor + (top - floor) * s**2`` with ``s = (r - low) / (high - low)``
    clipped to ``[0, 1]``: non-decreasing in the rating, ``floor`` at the
    bottom of the scale and ``top`` at its top. ``nan`` (the film is not in
    the user's held-out ratings) gives ``floor``.

    Raises:
        InvalidParameter: ``not 0 <= floor <= top <= 1`` or ``high <= low``.
    """
    if not 0.0 <= floor <= top <= 1.0:
        raise InvalidParameter(f"click probabilities need 0 <= floor <= top <= 1, got floor={floor}, top={top}")
    if not high > low:
        raise InvalidParameter(f"the rating scale needs high > low, got {low}..{high}")
    r = np.asarray(ratings, dtype=np.float64)
    s = np.clip((r - low) / (high - low), 0.0, 1.0)
    p = floor + (top - floor) * s**2
    return np.asarray(np.where(np.isnan(r), floor, p), dtype=np.float64)


@dataclass(frozen=True)
class ClickModel:
    """Per user and per model: the top-``k`` list and each shown film's click probability.

    Build it with :meth:`fit`. Index 0 of the first axis is the control
    model, 1 the treatment model.

    Attributes:
        models: the two algorithm names (control, treatment).
        user_ids: raw id of each simulated user.
        items: ``(2, n_users, k)`` raw movie ids shown, best first (``-1`` pads a short list).
        probs: ``(2, n_users, k)`` click probability of each shown film (0 for padding).
        conversion: ``(2, n_users)`` probability that the user clicks at least one film.
        k: list length.
    """

    models: tuple[str, str]
    user_ids: npt.NDArray[np.int64]
    items: npt.NDArray[np.int64]
    probs: FloatArray
    conversion: FloatArray
    k: int

    @classmethod
    def fit(cls, data: Interactions, control: str = "ease", treatment: str = "popularity", *, k: int = 10,
            holdout: float = 0.2, floor: float = 0.005, top: float = 0.3, random_state: int = 0,
            control_params: dict[str, object] | None = None,
            treatment_params: dict[str, object] | None = None) -> ClickModel:
        """Hold out ``holdout`` of each user's ratings, train both models on the rest, list and score.

        Args:
            data: explicit ratings (raw user and movie ids must be integers).
            control, treatment: algorithm names (any registry spelling).
            k: list length shown to each member.
            holdout: share of each user's ratings hidden from training; the
                clicks come from these.
            floor, top: see :func:`click_probability`.
            random_state: seeds the holdout.
            control_params, treatment_params: the algorithms' parameters.

        Raises:
            InvalidParameter: implicit data, ``k < 1``, ``holdout`` outside
                ``(0, 1)``, an unknown algorithm or parameter.
        """
        from cinerec.algorithms.registry import canonical, create
        from cinerec.data.splits import stratified_split

        if data.ratings is None:
            raise InvalidParameter("the simulator needs explicit ratings: clicks follow the held-out ratings")
        if k < 1:
            raise InvalidParameter(f"k must be at least 1, got {k}")
        if not 0.0 < holdout < 1.0:
            raise InvalidParameter(f"holdout must be in (0, 1), got {holdout}")
        names = (canonical(control), canonical(treatment))
        models = [create(names[0], **(control_params or {})), create(names[1], **(treatment_params or {}))]
        split = stratified_split(data, 1.0 - holdout, random_state=random_state)
        low, high = float(data.ratings.min()), float(data.ratings.max())
        if high <= low:
            high = low + 1.0
        held, present = _held_out(split.test, data.n_users, data.n_items)
        users = np.unique(split.train.users)
        items = np.full((2, len(users), k), -1, dtype=np.int64)
        probs = np.zeros((2, len(users), k))
        raw_items = np.asarray(data.item_vocab.ids)
        for m, model in enumerate(models):
            model.fit(split.train)
            ranked = model.recommend(users, k).items
            ok = ranked >= 0
            rows = np.repeat(users, k).reshape(len(users), k)
            r = np.asarray(held[rows[ok], ranked[ok]]).ravel()
            has = np.asarray(present[rows[ok], ranked[ok]]).ravel() > 0
            rating = np.full(ranked.shape, np.nan)
            rating[ok] = np.where(has, r, np.nan)
            p = click_probability(rating, low, high, floor=floor, top=top)
            probs[m] = np.where(ok, p, 0.0)
            items[m] = np.where(ok, raw_items[np.where(ok, ranked, 0)].astype(np.int64), -1)
        conversion = 1.0 - np.prod(1.0 - probs, axis=2)
        user_ids = np.asarray(data.user_vocab.ids)[users].astype(np.int64)
        return cls(names, user_ids, items, probs, conversion, k)

    @property
    def n_users(self) -> int:
        """Number of simulated users."""
        return len(self.user_ids)

    def arms(self, *, aa: bool = False, true_effect: float | None = None) -> tuple[tuple[int, int], float]:
        """Which model each arm shows, and the treatment's multiplier on conversion.

        Returns:
            ``((control model index, treatment model index), multiplier)``.

        Raises:
            InvalidParameter: ``aa`` with a non-zero effect, or an effect ``<= -1``.
        """
        if true_effect is not None and not math.isfinite(true_effect):
            raise InvalidParameter(f"the true effect must be a finite number, got {true_effect}")
        if aa and true_effect:
            raise InvalidParameter("an A/A test has no effect: use aa or true_effect, not both")
        if true_effect is not None and true_effect <= -1.0:
            raise InvalidParameter(f"the true effect is a relative change above -100%, got {true_effect:+g}")
        if aa or true_effect is not None:
            return (0, 0), 1.0 + (true_effect or 0.0)
        return (0, 1), 1.0

    def expected_rates(self, *, aa: bool = False, true_effect: float | None = None, days: float = 14.0,
                       window_days: float = 7.0, mean_delay_days: float = 1.0) -> tuple[float, float]:
        """The expected share of members per arm with a click observed by the end of the experiment.

        Averaged over users (members cycle through them evenly) and over
        arrival times, counting only clicks before ``start + days``.
        """
        (mc, mt), mult = self.arms(aa=aa, true_effect=true_effect)
        seen = _observed_share(days, window_days, mean_delay_days)
        control = float(self.conversion[mc].mean()) * seen
        treat = float(np.minimum(1.0, mult * self.conversion[mt]).mean()) * seen
        return control, treat


def _held_out(test: Interactions, n_users: int, n_items: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The held-out ratings as a sparse users x items matrix, and where there is one (a rating may be 0)."""
    assert test.ratings is not None
    shape = (n_users, n_items)
    ones = np.ones(len(test.users))
    return (sp.csr_matrix((test.ratings, (test.users, test.items)), shape=shape),
            sp.csr_matrix((ones, (test.users, test.items)), shape=shape))


def _observed_share(days: float, window: float, mean_delay: float) -> float:
    """Share of converting members whose first click falls before the end, arrivals uniform over ``days``."""
    z = -math.expm1(-window / mean_delay)
    a = min(days, window)
    integral = (a - mean_delay * -math.expm1(-a / mean_delay)) / z + max(0.0, days - window)
    return integral / days


def recommended_members(model: ClickModel, mde: float = report.DEFAULT_MDE, alpha: float = 0.05,
                        power: float = 0.8, *, days: float = 14.0, window_days: float = 7.0,
                        mean_delay_days: float = 1.0) -> int:
    """Members (both arms) the report's two-proportion test needs to detect ``mde`` on this model's baseline.

    :func:`analysis.sample_size` per arm at the control's expected observed
    conversion rate (:meth:`ClickModel.expected_rates`), times two.
    """
    base = model.expected_rates(aa=True, days=days, window_days=window_days, mean_delay_days=mean_delay_days)[0]
    return 2 * analysis.sample_size(base, mde, alpha, power)


@dataclass(frozen=True)
class Simulation:
    """One simulated experiment: its sessions as plain data, its outcomes and its report.

    Attributes:
        config: the experiment as the report sees it (variants ``control`` and ``treatment``).
        start: when members start arriving; ``end`` is when the report is read.
        exposures: one per exposed member: ``(member_id, variant_index, at, movie ids shown)``.
        clicks: every click before ``end``: ``(member_id, movie id, at)``, by time.
        outcomes: the same run as the report's input.
        report: :func:`report.build` of ``outcomes`` at ``end``.
        seed: the assignment's hashing seed (members are ``1..members``: a
            database replay with those user ids reproduces every assignment).
    """

    config: report.ExperimentConfig
    start: datetime
    end: datetime
    exposures: list[Exposure]
    clicks: list[Click]
    outcomes: report.MemberOutcomes
    report: report.ExperimentReport
    seed: str = ""


@dataclass(frozen=True)
class _Settings:
    members: int
    days: float
    window_days: float
    mean_delay_days: float
    start: datetime
    name: str
    alpha: float
    mde: float
    aa: bool
    true_effect: float | None


def _config(model: ClickModel, s: _Settings) -> report.ExperimentConfig:
    (mc, mt), _ = model.arms(aa=s.aa, true_effect=s.true_effect)
    treatment = model.models[mt]
    if s.true_effect is not None:
        treatment = f"{treatment} (planted {s.true_effect:+.1%})"
    return report.ExperimentConfig(
        name=s.name, metric="ctr", traffic=1.0,
        variants=(report.VariantConfig("control", model.models[mc], 0.5),
                  report.VariantConfig("treatment", treatment, 0.5)),
        status="stopped", started_at=s.start, stopped_at=s.start + timedelta(days=s.days),
        window=timedelta(days=s.window_days))


def _run(model: ClickModel, s: _Settings, run_seed: int, run: int, *, sessions: bool) -> Simulation | report.ExperimentReport:
    """One experiment; ``sessions`` also builds the exposure and click lists."""
    rng = np.random.default_rng([run_seed, run])
    (mc, mt), mult = model.arms(aa=s.aa, true_effect=s.true_effect)
    config = _config(model, s)
    experiment = Experiment(s.name, f"{s.name}-{run_seed}-{run}", [Variant("control", 0.5), Variant("treatment", 0.5)])
    n = s.members
    ids = np.arange(1, n + 1, dtype=np.int64)
    user = rng.permutation(model.n_users)[np.arange(n) % model.n_users]
    variant = experiment.assign_array(ids)
    arm_model = np.where(variant == 1, mt, mc)
    scale = np.where(variant == 1, mult, 1.0)
    p_conv = np.minimum(1.0, scale * model.conversion[arm_model, user])
    start = report.posix(s.start)
    end = start + s.days * _DAY
    arrival = start + rng.random(n) * s.days * _DAY
    converts = rng.random(n) < p_conv
    window = s.window_days * _DAY
    mean_delay = s.mean_delay_days * _DAY
    delay = -mean_delay * np.log1p(rng.random(n) * np.expm1(-window / mean_delay))  # truncated exponential
    first_at = arrival + delay
    # which films a converting member clicks: the first one by the per-film model conditioned on >= 1 click,
    # each later one independently; times: the first at first_at, the others uniformly later in the window
    conv = np.flatnonzero(converts)
    probs = model.probs[arm_model[conv], user[conv]]  # (n_conv, k)
    cum = 1.0 - np.cumprod(1.0 - probs, axis=1)
    u = rng.random(len(conv)) * cum[:, -1]
    first_idx = np.minimum((cum <= u[:, None]).sum(axis=1), model.k - 1)
    cols = np.arange(model.k)[None, :]
    later = (cols > first_idx[:, None]) & (rng.random(probs.shape) < probs)
    clicked = later | (cols == first_idx[:, None])
    click_at = first_at[conv, None] + np.where(cols == first_idx[:, None], 0.0,
                                               rng.random(probs.shape) * (window - delay[conv, None]))
    seen = clicked & (click_at <= end)
    nan = np.full(n, np.nan)
    first = nan.copy()
    first[conv] = np.where(first_at[conv] <= end, first_at[conv], np.nan)
    clicks = np.zeros(n, dtype=np.int64)
    clicks[conv] = seen.sum(axis=1)
    shown = (model.items[arm_model, user] >= 0).sum(axis=1)
    inn = variant >= 0
    impressions = np.bincount(variant[inn], weights=shown[inn], minlength=2).astype(np.int64)
    zeros = np.zeros(int(inn.sum()))
    outcomes = report.MemberOutcomes(
        variant=variant[inn], exposed_at=arrival[inn],
        first={"click": first[inn], "rate": zeros + np.nan, "watchlist": zeros + np.nan, "share": zeros + np.nan},
        clicks=clicks[inn], rating_sum=zeros, rating_n=zeros.astype(np.int64), impressions=impressions)
    rep = report.build(config, outcomes, now=s.start + timedelta(days=s.days), alpha=s.alpha, mde=s.mde)
    if not sessions:
        return rep

    def when(t: float) -> datetime:
        return datetime.fromtimestamp(float(t), UTC)

    shown_items = model.items[arm_model, user]
    exposures: list[Exposure] = [
        (int(ids[j]), int(variant[j]), when(arrival[j]), tuple(int(x) for x in shown_items[j] if x >= 0))
        for j in np.flatnonzero(inn)]
    rows, cols_ = np.nonzero(seen)
    members = conv[rows]
    click_list: list[Click] = sorted(
        ((int(ids[m]), int(shown_items[m, c]), when(click_at[r, c])) for m, r, c in zip(members, rows, cols_,
                                                                                       strict=True)),
        key=lambda c: (c[2], c[0]))
    return Simulation(config, s.start, s.start + timedelta(days=s.days), exposures, click_list, outcomes, rep,
                      experiment.seed)


def _settings(members: int, days: float, window_days: float, mean_delay_days: float, start: datetime | None,
              name: str, alpha: float, mde: float, aa: bool, true_effect: float | None,
              model: ClickModel) -> _Settings:
    if members < 2:
        raise InvalidParameter(f"a simulation needs at least 2 members, got {members}")
    if not days > 0 or not window_days > 0 or not mean_delay_days > 0:
        raise InvalidParameter("days, window_days and mean_delay_days must be positive")
    model.arms(aa=aa, true_effect=true_effect)  # validates
    when = start or DEFAULT_START
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _Settings(members, days, window_days, mean_delay_days, when, name, alpha, mde, aa, true_effect)


def simulate_once(model: ClickModel, *, members: int = 10_000, days: float = 14.0, aa: bool = False,
                  true_effect: float | None = None, seed: int = 0, start: datetime | None = None,
                  window_days: float = 7.0, mean_delay_days: float = 1.0, name: str = "simulated",
                  alpha: float = 0.05, mde: float = report.DEFAULT_MDE) -> Simulation:
    """One simulated experiment with its sessions as plain data (see the module's description).

    The report equals ``run_many(model, 1, seed=seed, ...)[0]`` with the same options.

    Args:
        model: the click model (:meth:`ClickModel.fit`).
        members: members arriving over the experiment (all in it: traffic 1, weights 50/50).
        days: the experiment's length; the report is read at ``start + days``.
        aa: both arms show the control model's lists.
        true_effect: a planted relative lift on the treatment's conversion
            probability (both arms show the control model's lists).
        seed: seeds the randomness and the assignment's hashing seed.
        start: when members start arriving (default :data:`DEFAULT_START`; naive means UTC).
        window_days: the attribution window clicks are drawn within.
        mean_delay_days: mean delay from arrival to the first click (before truncation).
        name: the experiment's name.
        alpha, mde: passed to :func:`report.build`.

    Raises:
        InvalidParameter: bad counts or durations, ``aa`` with an effect, an effect ``<= -1``.
    """
    s = _settings(members, days, window_days, mean_delay_days, start, name, alpha, mde, aa, true_effect, model)
    out = _run(model, s, seed, 0, sessions=True)
    assert isinstance(out, Simulation)
    return out


def run_many(model: ClickModel, runs: int, *, members: int = 10_000, days: float = 14.0, aa: bool = False,
             true_effect: float | None = None, seed: int = 0, start: datetime | None = None,
             window_days: float = 7.0, mean_delay_days: float = 1.0, name: str = "simulated",
             alpha: float = 0.05, mde: float = report.DEFAULT_MDE,
             progress: Callable[[int], None] | None = None) -> list[report.ExperimentReport]:
    """``runs`` independent experiments (new assignment seed and randomness each); their reports only.

    Options as :func:`simulate_once`; run ``i`` draws from ``(seed, i)``.
    ``progress`` is called with the number of runs done after each one.

    Raises:
        InvalidParameter: as :func:`simulate_once`, or ``runs < 1``.
    """
    if runs < 1:
        raise InvalidParameter(f"runs must be at least 1, got {runs}")
    s = _settings(members, days, window_days, mean_delay_days, start, name, alpha, mde, aa, true_effect, model)
    out: list[report.ExperimentReport] = []
    for i in range(runs):
        rep = _run(model, s, seed, i, sessions=False)
        assert isinstance(rep, report.ExperimentReport)
        out.append(rep)
        if progress is not None:
            progress(i + 1)
    return out


@dataclass(frozen=True)
class Calibration:
    """How often a batch of simulated experiments rejected the null, by each way of reading them.

    Attributes:
        runs: experiments.
        alpha: the significance level.
        peeks: daily peeks per experiment (the last one is the fixed-horizon test).
        fixed_horizon: share with the final z-test ``p < alpha``.
        naive_peeking: share where *any* daily peek's z-test had ``p < alpha``
            (stopping at the first significant look).
        sequential: share with the final always-valid p-value ``< alpha``
            (a running minimum: the same as ever crossing it).
        detected: share with ``p < alpha`` and a positive lift (power, under a positive effect).
        ks_p: Kolmogorov–Smirnov p-value of the fixed-horizon p-values against
            the uniform distribution (only meaningful for A/A runs).
        mean_rel_lift: mean observed relative lift.
        p_values: the fixed-horizon p-values (1 where a run had none).
    """

    runs: int
    alpha: float
    peeks: int
    fixed_horizon: float
    naive_peeking: float
    sequential: float
    detected: float
    ks_p: float
    mean_rel_lift: float
    p_values: FloatArray = field(repr=False)

    def se(self, rate: float) -> float:
        """The binomial standard error of a share ``rate`` over :attr:`runs`."""
        return math.sqrt(rate * (1.0 - rate) / self.runs)


def calibrate(reports: Sequence[report.ExperimentReport]) -> Calibration:
    """Summarise reports of one treatment arm each (as :func:`run_many` makes).

    Raises:
        InvalidParameter: no reports.
    """
    from scipy import stats

    if not reports:
        raise InvalidParameter("no reports to summarise")
    alpha = reports[0].alpha
    p = np.array([c.p_value if (c := r.primary[0]).p_value is not None else 1.0 for r in reports])
    seq = np.array([r.primary[0].sequential_p if r.primary[0].sequential_p is not None else 1.0 for r in reports])
    lift = np.array([r.primary[0].abs_lift if r.primary[0].abs_lift is not None else 0.0 for r in reports])
    rel = np.array([r.primary[0].rel_lift if r.primary[0].rel_lift is not None else np.nan for r in reports])
    naive = np.array([any(t.p_value is not None and t.p_value < r.alpha for t in r.tests) for r in reports])
    return Calibration(
        runs=len(reports), alpha=alpha, peeks=max(len(r.tests) for r in reports),
        fixed_horizon=float((p < alpha).mean()), naive_peeking=float(naive.mean()),
        sequential=float((seq < alpha).mean()), detected=float(((p < alpha) & (lift > 0)).mean()),
        ks_p=float(stats.kstest(p, "uniform").pvalue), mean_rel_lift=float(np.nanmean(rel)) if np.isfinite(rel).any()
        else math.nan, p_values=p)
