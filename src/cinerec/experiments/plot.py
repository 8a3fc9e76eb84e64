"""An experiment report as a picture: the primary metric per variant over time, and its p-values at each peek.

The top panel draws each variant's primary metric at the end of every day
since the start (:attr:`ExperimentReport.series`) with its interval as a
shaded band; the bottom one draws, per variant compared with the control,
the always-valid p-value the decision uses (solid) and the naive fixed-horizon
p-value (dashed) at the same peeks, with a line at ``alpha``: the naive curve
dips below it by chance far more often than the always-valid one, which is
why the page decides on the latter.

Rendered with matplotlib's Agg canvas on a :class:`matplotlib.figure.Figure`
of its own (never pyplot), so concurrent requests share no drawing state.
Chinese titles render through a CJK font found on the machine
(``fonts-noto-cjk`` on Debian), used as a fallback after DejaVu Sans.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cinerec.experiments.report import DAY, ExperimentReport, posix

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_LABELS", "render_png"]

#: The texts of the figure; the page passes them translated. ``{alpha}`` in ``alpha`` is filled in.
DEFAULT_LABELS: dict[str, str] = {
    "title": "Primary metric per variant",
    "value": "Members converted",
    "rating": "Mean rating",
    "days": "Days since start",
    "p_title": "p-value against the control at each daily peek",
    "p_value": "p-value (log scale)",
    "always_valid": "always-valid",
    "naive": "naive",
    "alpha": "alpha = {alpha}",
    "empty": "No member has been exposed to this experiment yet.",
}

#: The top panel's axis label per metric, when ``labels`` does not give ``value``.
_METRIC_VALUE: dict[str, str] = {"ctr": "Members who clicked a recommended film",
                                 "watchlist": "Members who watchlisted one", "share_rate": "Members who shared one"}

#: CJK families tried in order (the first one the machine has wins).
_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans CN",
                 "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN")
#: File names of CJK fonts worth registering when matplotlib's font cache predates their install.
_CJK_FILES = ("notosanscjk", "sourcehansans", "wqy-zenhei", "wqy-microhei", "droidsansfallback", "uming")
_font_lock = threading.Lock()
_families: list[str] | None = None


def _font_families() -> list[str]:
    """DejaVu Sans, then the first CJK family found (registered once if matplotlib's cache does not know it)."""
    global _families
    with _font_lock:
        if _families is None:
            from matplotlib import font_manager

            def known() -> str | None:
                names = {f.name for f in font_manager.fontManager.ttflist}
                return next((f for f in _CJK_FAMILIES if f in names), None)

            found = known()
            if found is None:
                for path in font_manager.findSystemFonts():
                    if any(k in path.lower().replace("_", "") for k in _CJK_FILES):
                        try:
                            font_manager.fontManager.addfont(path)
                        except (OSError, RuntimeError, ValueError):  # an unreadable font file: try the next
                            continue
                found = known()
            _families = ["DejaVu Sans", *([found] if found else [])]
        return list(_families)


def _fill(text: str, alpha: float) -> str:
    return text.replace("{alpha}", f"{alpha:g}")


def render_png(report: ExperimentReport, *, labels: Mapping[str, str] | None = None) -> bytes:
    """The report's figure as PNG bytes.

    Args:
        report: what :func:`cinerec.experiments.report.build` made.
        labels: texts overriding :data:`DEFAULT_LABELS` (translated titles and axis labels).

    Returns:
        A PNG image: two panels, or one saying that nobody was exposed yet.
    """
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    text = {**DEFAULT_LABELS, "value": _METRIC_VALUE.get(report.config.metric, DEFAULT_LABELS["value"]),
            **(labels or {})}
    families = _font_families()
    font = FontProperties(family=families, size=10)
    title_font = FontProperties(family=families, size=12, weight="bold")
    small = FontProperties(family=families, size=8.5)
    series = [p for p in report.series if p.value is not None]
    fig = Figure(figsize=(9.0, 6.6), dpi=110, layout="constrained")
    if report.users == 0 or not series:
        fig.set_size_inches(9.0, 2.4)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, text["empty"], ha="center", va="center", fontproperties=title_font, wrap=True,
                transform=ax.transAxes)
        return _png(fig)

    start = posix(report.config.started_at) if report.config.started_at else min(p.at for p in report.series) - DAY
    names = [v.name for v in report.config.variants]
    colour = {n: f"C{i}" for i, n in enumerate(names)}
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))

    for name in names:
        pts = [p for p in series if p.variant == name]
        if not pts:
            continue
        x = [(p.at - start) / DAY for p in pts]
        top.plot(x, [p.value for p in pts], color=colour[name], lw=2, marker="o" if len(pts) <= 30 else None,
                 ms=3.5, label=name)
        band = [(xi, p.low, p.high) for xi, p in zip(x, pts, strict=True) if p.low is not None and p.high is not None]
        if len(band) == 1:  # one peek so far: an error bar, a band needs two
            xb, lo, hi = band[0]
            value = pts[0].value if pts[0].value is not None else (lo + hi) / 2
            top.errorbar([xb], [value], yerr=[[value - lo], [hi - value]], color=colour[name], capsize=4, lw=1.5)
        elif band:
            top.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], color=colour[name],
                             alpha=0.15, lw=0)
    rating = report.config.metric == "rating"
    top.set_title(text["title"], fontproperties=title_font, loc="left")
    top.set_ylabel(text["rating"] if rating else text["value"], fontproperties=font)
    if not rating:
        top.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    top.grid(True, alpha=0.3)
    top.legend(prop=small, loc="best", frameon=False)

    floor = 1e-4
    lowest = 1.0
    for test_variant in names[1:]:
        pts_t = [t for t in report.tests if t.variant == test_variant]
        if not pts_t:
            continue
        at = {p.day: p.at for p in report.series if p.variant == test_variant}
        xs = [(at[t.day] - start) / DAY for t in pts_t if t.day in at]
        seq = [max(floor, t.sequential_p) for t in pts_t if t.day in at]
        bottom.plot(xs, seq, color=colour[test_variant], lw=2, marker="o" if len(xs) <= 30 else None, ms=3.5,
                    label=f"{test_variant}: {text['always_valid']}")
        naive = [(x, max(floor, t.p_value)) for x, t in zip(xs, (t for t in pts_t if t.day in at), strict=True)
                 if t.p_value is not None and math.isfinite(t.p_value)]
        if naive:
            bottom.plot([n[0] for n in naive], [n[1] for n in naive], color=colour[test_variant], lw=1.3, ls="--",
                        marker="x" if len(naive) <= 30 else None, ms=4, label=f"{test_variant}: {text['naive']}")
        lowest = min([lowest, *seq, *(n[1] for n in naive)])
    bottom.axhline(report.alpha, color="#b42318", lw=1.2, ls=":", label=_fill(text["alpha"], report.alpha))
    bottom.set_yscale("log")
    bottom.set_ylim(max(floor / 2, min(lowest, report.alpha) / 3), 1.5)
    bottom.set_title(text["p_title"], fontproperties=title_font, loc="left")
    bottom.set_ylabel(text["p_value"], fontproperties=font)
    bottom.set_xlabel(text["days"], fontproperties=font)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    last = max((p.at - start) / DAY for p in series)
    bottom.set_xlim(0, max(1.0, last * 1.04))  # the first day of an experiment is a day wide, not a few seconds
    bottom.grid(True, alpha=0.3, which="major")
    bottom.legend(prop=small, loc="best", frameon=False, ncol=2)
    for ax in (top, bottom):
        ax.tick_params(labelsize=8.5)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
