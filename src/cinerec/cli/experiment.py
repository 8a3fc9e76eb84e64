"""``cinerec experiment``: A/B experiments between model versions — create, start, ramp, stop, report, list, simulate.

The state lives in the database, so a running server picks a change up
within its poll interval (``CINEREC_MODEL_POLL_SECONDS``) without a restart.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cinerec.cli._common import engine, settings
from cinerec.cli.experiment_sim import simulate
from cinerec.errors import InvalidParameter

if TYPE_CHECKING:
    from cinerec.service.experiments import ExperimentInfo, VariantSpec
    from cinerec.service.registry import ModelRegistry

app = typer.Typer(no_args_is_help=True)
app.command("simulate")(simulate)

_METRICS = "ctr | rating | watchlist | share_rate"


def _registry() -> ModelRegistry:
    from cinerec.service.registry import ModelRegistry

    return ModelRegistry(settings().models_dir)


def _variant(text: str) -> VariantSpec:
    """``NAME=VERSION:WEIGHT`` (weight optional, default 1) as a VariantSpec."""
    from cinerec.service.experiments import VariantSpec

    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise InvalidParameter(f"--variant {text!r}: write NAME=MODEL_VERSION[:WEIGHT], e.g. control=2026...-ease-1a2b3c:50")
    version, _, weight = rest.rpartition(":") if ":" in rest else (rest, "", "1")
    try:
        w = float(weight)
    except ValueError:
        raise InvalidParameter(f"--variant {text!r}: the weight {weight!r} is not a number") from None
    return VariantSpec(name.strip(), version.strip(), w)


def _show(info: ExperimentInfo) -> None:
    variants = ", ".join(f"{v.name}={v.label} ({v.weight:.0%})" for v in info.variants)
    typer.echo(f"{info.name}: {info.status}, metric {info.metric}, traffic {info.traffic:.0%}, {variants}")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="the experiment's name (letters, digits, _ . -)"),
    variant: list[str] = typer.Option(..., "--variant", help="NAME=MODEL_VERSION[:WEIGHT], 2 or more; the first is "
                                                             "the control"),
    metric: str = typer.Option("ctr", "--metric", help=f"the primary metric: {_METRICS}"),
    guardrail: list[str] | None = typer.Option(None, "--guardrail", help="a metric that must not get worse "
                                                                          "(repeatable)"),
    traffic: float = typer.Option(1.0, "--traffic", help="fraction of members in the experiment, 0-1"),
    min_sample: int | None = typer.Option(None, "--min-sample", help="members per variant before a decision"),
    window_days: float = typer.Option(7.0, "--window-days", help="days after a member's first exposure in which "
                                                                 "outcomes count"),
    rerank: list[str] | None = typer.Option(None, "--rerank", help="NAME=WEIGHT: re-rank that variant's lists by "
                                            "MMR with this relevance weight in [0, 1] (repeatable)"),
) -> None:
    """Define a draft experiment between registered model versions (`cinerec models list` shows them).

    A variant may also be a model plus a re-ranking setting: `--variant plain=V --variant mmr=V --rerank mmr=0.7`
    tests one version with and without maximal-marginal-relevance re-ranking.
    """
    import dataclasses

    from cinerec.service import experiments

    specs = [_variant(v) for v in variant]
    for text in rerank or ():
        who, sep, value = text.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or weight != weight:
            raise InvalidParameter(f"--rerank {text!r}: write VARIANT=WEIGHT, e.g. treatment=0.7")
        if who not in {s.name for s in specs}:
            raise InvalidParameter(f"--rerank {text!r}: no variant called {who!r}")
        specs = [dataclasses.replace(s, diversity=weight) if s.name == who else s for s in specs]
    info = experiments.create(engine(), _registry(), name, specs, metric=metric,
                              traffic=traffic, guardrails=guardrail or (), min_sample=min_sample,
                              window_days=window_days)
    _show(info)
    typer.echo(f"start it with: cinerec experiment start {info.name}")


@app.command("start")
def start(name: str = typer.Argument(...)) -> None:
    """Open the experiment to members."""
    from cinerec.service import experiments

    _show(experiments.start(engine(), _registry(), name))


@app.command("ramp")
def ramp(name: str = typer.Argument(...),
         traffic: float = typer.Option(..., "--traffic", help="the new fraction of members in it, 0-1")) -> None:
    """Change the fraction of members in the experiment (raising it never moves anyone already in)."""
    from cinerec.service import experiments

    _show(experiments.ramp(engine(), name, traffic))


@app.command("stop")
def stop(name: str = typer.Argument(...)) -> None:
    """Close the experiment: members get the active model again. It cannot be restarted."""
    from cinerec.service import experiments

    _show(experiments.stop(engine(), _registry(), name))


@app.command("list")
def list_() -> None:
    """Every experiment, newest first."""
    from cinerec.service import experiments

    rows = experiments.list_experiments(engine())
    if not rows:
        typer.echo("no experiments yet: see `cinerec experiment create --help`")
    for info in rows:
        _show(info)


@app.command("report")
def report(
    name: str = typer.Argument(...),
    cuped: bool = typer.Option(False, "--cuped", help="adjust the primary metric with pre-experiment activity"),
    mde: float = typer.Option(0.10, "--mde", help="relative effect for the sample-size recommendation"),
    alpha: float = typer.Option(0.05, "--alpha", help="significance level"),
    plot: Path | None = typer.Option(None, "--plot", help="also write the metric-over-time plot to this PNG"),
) -> None:
    """The report: per variant members, impressions and metrics; lifts with 95% intervals; SRM; sequential verdict."""
    from rich.console import Console

    from cinerec.cli._experiment_table import report_table, summary_lines
    from cinerec.service import experiments

    rep = experiments.report(engine(), name, cuped=cuped, mde=mde, alpha=alpha)
    console = Console(width=None if sys.stdout.isatty() else 160)  # piped: wide enough that no name is cut
    console.print(report_table(rep))
    for line in summary_lines(rep):
        console.print(line)
    if plot is not None:
        from cinerec.experiments.plot import render_png
        from cinerec.fileio import atomic_write

        atomic_write(plot, render_png(rep))
        typer.echo(f"plot written to {plot}")
