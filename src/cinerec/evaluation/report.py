"""Evaluation reports: a text table, and PNG + HTML plots of the summary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from cinerec.evaluation.protocols import Results

TABLE_METRICS = ("rmse", "mae", "precision@k", "recall@k", "ndcg@k", "map@k", "coverage", "novelty", "fit_seconds")


def _fmt(v: Any, std: Any = None) -> str:
    if v is None:
        return "-"
    s = f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return s + (f" ±{std:.4f}" if std else "")


def table_rows(results: Results, metrics: tuple[str, ...] = TABLE_METRICS) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table (k substituted into metric names)."""
    header = ["algo", *[m.replace("@k", f"@{results.k}") for m in metrics]]
    rows = [[s["algo"], *[_fmt(s[m]) for m in metrics]] for s in results.summary()]
    return header, rows


def markdown_table(results: Results, metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """The summary as a Markdown table."""
    header, rows = table_rows(results, metrics)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def learned_lines(results: Results) -> list[str]:
    """One line per algorithm and fold with what fitting learned (hybrid weights, epochs, variance)."""
    out = []
    for r in results.results:
        learned = r.get("learned") or {}
        if learned:
            parts = []
            for key, val in learned.items():
                if isinstance(val, dict):
                    val = ", ".join(f"{k} {v:g}" for k, v in val.items())
                parts.append(f"{key.replace('_', ' ')}: {val}")
            out.append(f"{r['algo']} ({r['fold']}): " + "; ".join(parts))
    return out


def learned_html(results: Results) -> str:
    """The learned figures as an HTML list (empty when no model reports any)."""
    lines = learned_lines(results)
    if not lines:
        return ""
    return "<h2>What the models learned</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"


def write_report(results: Results, folder: Path) -> list[Path]:
    """Write ``summary.png`` (bar charts with fold std) and ``report.html`` into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    summary = results.summary()
    panels = [m for m in ("rmse", "ndcg@k", "precision@k", "recall@k", "coverage", "fit_seconds")
              if any(s[m] is not None for s in summary)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    labels = [s["algo"] for s in summary]
    for ax, m in zip(axes[0], panels, strict=True):
        vals = [s[m] if s[m] is not None else 0.0 for s in summary]
        errs = [s[f"{m}_std"] or 0.0 for s in summary]
        ax.bar(range(len(labels)), vals, yerr=errs, color="#4c72b0", capsize=3)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_title(m.replace("@k", f"@{results.k}"), fontsize=10)
        if m == "rmse":
            lo = min(v for v in vals if v) if any(vals) else 0
            ax.set_ylim(max(0, lo - 0.1), max(vals) + 0.02)
    fig.suptitle(f"{results.dataset} · {results.split}", fontsize=11)
    fig.tight_layout()
    png = folder / "summary.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    header, rows = table_rows(results)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    page = (
        "<!doctype html><meta charset='utf-8'><title>cinerec evaluation</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style>"
        f"<h1>{html.escape(results.dataset)} — {html.escape(results.split)} (k={results.k})</h1>"
        "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + f"</tr>{body}</table>"
        "<p><img src='summary.png' alt='metric bar charts'></p>"
        + learned_html(results)
    )
    page_path = folder / "report.html"
    page_path.write_text(page, encoding="utf-8")
    return [png, page_path]
