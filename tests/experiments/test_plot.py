"""The report's figure: a PNG with the metric over time and the p-values per peek, in English and Chinese."""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cinerec.experiments import report as rep
from cinerec.experiments.plot import render_png

PNG = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 11, 1, tzinfo=UTC)
ZH = {"title": "各变体的主要指标", "value": "转化的会员", "rating": "平均评分", "days": "开始后的天数",
      "p_title": "每日查看时相对对照组的 p 值", "p_value": "p 值（对数刻度）", "always_valid": "始终有效",
      "naive": "朴素", "alpha": "显著性水平 = {alpha}", "empty": "还没有会员进入这个实验。"}


def config(metric: str = "ctr", names: tuple[str, ...] = ("control", "treatment")) -> rep.ExperimentConfig:
    variants = tuple(rep.VariantConfig(n, f"v-{n}", 1 / len(names)) for n in names)
    return rep.ExperimentConfig("plot-test", metric, 1.0, variants, started_at=START, guardrails=("watchlist",))


def members(n: int, days: int, rates: tuple[float, ...], seed: int = 0) -> rep.MemberOutcomes:
    """``n`` members exposed evenly over ``days``, converting (click, rate, watchlist) at ``rates`` per variant."""
    rng = np.random.default_rng(seed)
    variant = rng.integers(0, len(rates), n)
    t0 = START.timestamp()
    exposed = t0 + rng.uniform(0, days * rep.DAY, n)
    p = np.asarray(rates)[variant]
    delay = rng.exponential(0.5 * rep.DAY, n)
    clicked = rng.random(n) < p
    click_at = np.where(clicked, exposed + delay, np.nan)
    rated = clicked & (rng.random(n) < 0.5)
    wl = np.where(rng.random(n) < p / 2, exposed + delay, np.nan)
    first = {"click": click_at, "rate": np.where(rated, click_at, np.nan), "watchlist": wl,
             "share": np.full(n, np.nan)}
    ratings = np.where(rated, rng.integers(1, 6, n).astype(float), 0.0)
    return rep.MemberOutcomes(variant, exposed, first, clicked.astype(np.int64), ratings, rated.astype(np.int64),
                              np.bincount(variant, minlength=len(rates)) * 10)


def report(metric: str = "ctr", n: int = 3000, days: int = 10,
           rates: tuple[float, ...] = (0.10, 0.13)) -> rep.ExperimentReport:
    names = ("control", "treatment", "third")[:len(rates)]
    return rep.build(config(metric, names), members(n, days, rates), now=START + timedelta(days=days))


def _size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return im.size


def render_quietly(r: rep.ExperimentReport, labels: dict[str, str] | None = None) -> tuple[bytes, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_png(r, labels=labels)
    return png, [str(w.message) for w in caught]


@pytest.mark.parametrize("metric", ["ctr", "rating"])
def test_a_report_renders_as_a_png(metric: str) -> None:
    png, warned = render_quietly(report(metric))
    assert png.startswith(PNG) and len(png) > 20_000
    w, h = _size(png)
    assert w >= 800 and h >= 600
    assert not warned, warned


def test_three_variants_and_a_single_peek() -> None:
    png, warned = render_quietly(report(rates=(0.1, 0.12, 0.08), days=1, n=400))
    assert png.startswith(PNG) and not warned, warned


def test_no_exposure_yet_says_so() -> None:
    empty = rep.build(config(), rep.MemberOutcomes.empty(2), now=START + timedelta(hours=3))
    png, warned = render_quietly(empty)
    assert png.startswith(PNG) and not warned
    w, h = _size(png)
    assert h < w / 2  # a one-line figure, not two empty panels
    zh, warned = render_quietly(empty, ZH)
    assert zh.startswith(PNG) and zh != png and not warned, warned


def test_chinese_labels_render_without_missing_glyphs() -> None:
    png, warned = render_quietly(report(), ZH)
    missing = [w for w in warned if "missing from" in w or "Glyph" in w]
    assert not missing, (f"{missing[:2]}: install a CJK font (apt-get install fonts-noto-cjk)")
    assert png.startswith(PNG)
    en, _ = render_quietly(report())
    assert en != png


def test_rendering_leaves_no_pyplot_state() -> None:
    import sys

    render_png(report(n=500, days=3))
    if "matplotlib.pyplot" in sys.modules:  # another test imported it: then no figure of ours is open there
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []
