"""An experiment report as a rich table and a few summary lines, for ``cinerec experiment simulate`` and ``report``."""

from __future__ import annotations

from rich.table import Table

from cinerec.experiments.report import Comparison, ExperimentReport, Peek

__all__ = ["report_table", "summary_lines"]


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.2%}" if signed else f"{x:.2%}"


def _interval(value: float | None, ci: tuple[float, float] | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    if ci is None:
        return _pct(value, signed)
    return f"{_pct(value, signed)} [{_pct(ci[0], signed)}, {_pct(ci[1], signed)}]"


def _p(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if x >= 1e-4 else f"{x:.1e}"


def _value(metric: str, peek: Peek | None) -> str:
    """The primary metric of one variant at the last peek, with its interval."""
    if peek is None or peek.value is None:
        return "—"
    if metric == "rating":
        ci = f" [{peek.low:.2f}, {peek.high:.2f}]" if peek.low is not None and peek.high is not None else ""
        return f"{peek.value:.2f}{ci}"
    ci_pair = (peek.low, peek.high) if peek.low is not None and peek.high is not None else None
    return _interval(peek.value, ci_pair)


def report_table(rep: ExperimentReport) -> Table:
    """One row per variant: members, impressions, clicks, clicks per impression, the primary metric with its interval,
    and for each non-control variant its lift over the control, the z-test (or Welch) p-value, the always-valid p-value
    and the decision. The caption gives the sample ratio test.
    """
    metric = rep.config.metric
    level = f"{1 - rep.alpha:.0%}"
    title = f"experiment {rep.config.name} · {metric} · {rep.config.status}"
    caption = (f"SRM chi-square p = {_p(rep.srm.p_value)}" + (" (FLAGGED)" if rep.srm_flagged else "")
               if rep.srm is not None else "no members yet")
    table = Table(title=title, caption=caption)
    for name, justify in (("variant", "left"), ("model", "left"), ("members", "right"), ("impressions", "right"),
                          ("clicks", "right"), ("clicks/impr.", "right"),
                          (f"{metric} ({level} CI)", "right"), (f"lift ({level} CI)", "right"), ("p", "right"),
                          ("always-valid p", "right"), ("decision", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    last: dict[str, Peek] = {}
    for peek in rep.series:
        last[peek.variant] = peek
    by_variant: dict[str, Comparison] = {c.variant: c for c in rep.primary}
    for v in rep.variants:
        c = by_variant.get(v.name)
        if v is rep.variants[0]:
            lift, p, seq, decision = "control", "", "", ""
        elif c is None:
            lift, p, seq, decision = "—", "—", "—", "—"
        else:
            if metric == "rating":
                lift = (f"{c.abs_lift:+.3f}" if c.abs_lift is not None else "—")
                if c.abs_ci is not None:
                    lift += f" [{c.abs_ci[0]:+.3f}, {c.abs_ci[1]:+.3f}]"
            else:
                lift = _interval(c.rel_lift, c.rel_ci, signed=True)
            p, seq = _p(c.p_value), _p(c.sequential_p)
            decision = c.decision or ("hidden" if rep.hidden_reason else "—")
        table.add_row(v.name, v.model_version, f"{v.users:,}", f"{v.impressions:,}", f"{v.clicks:,}",
                      _pct(v.ctr), _value(metric, last.get(v.name)), lift, p, seq, decision)
    return table


def summary_lines(rep: ExperimentReport) -> list[str]:
    """What the table leaves out: the hidden verdict's reason, readiness, sample size, guardrails, CUPED."""
    lines: list[str] = []
    if rep.hidden_reason:
        lines.append(f"verdict hidden: {rep.hidden_reason}")
    if rep.sample_size is not None:
        smallest = min((v.users for v in rep.variants), default=0)
        lines.append(f"sample size to detect {rep.mde:+.0%} relative at alpha {rep.alpha:g} with 80% power: "
                     f"{rep.sample_size:,} members per variant read once at the end, "
                     f"{rep.sample_size_sequential or 0:,} for the always-valid test the decision uses "
                     f"(smallest variant has {smallest:,})")
    if rep.config.min_sample is not None and not rep.ready:
        lines.append(f"collecting: decisions wait for {rep.config.min_sample:,} members per variant")
    for g in rep.guardrails:
        lines.append(f"guardrail {g.metric} ({g.variant}): lift {_interval(g.rel_lift, g.rel_ci, signed=True)}, "
                     f"always-valid p {_p(g.sequential_p)}, {g.decision or '—'}")
    if rep.harmed_guardrails:
        lines.append(f"guardrails harmed: {', '.join(rep.harmed_guardrails)}")
    for cu in rep.cuped:
        lines.append(f"CUPED ({cu.variant}): effect {cu.result.effect:+.4f} [{cu.ci[0]:+.4f}, {cu.ci[1]:+.4f}], "
                     f"variance reduced by {cu.result.variance_reduction:.0%}")
    return lines
