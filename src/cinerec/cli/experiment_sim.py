"""``cinerec experiment simulate``: A/B tests on synthetic members through the product's assignment and report."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cinerec.cli._common import settings
from cinerec.cli._experiment_table import report_table, summary_lines
from cinerec.errors import InvalidParameter

if TYPE_CHECKING:
    from cinerec.experiments.report import ExperimentReport
    from cinerec.experiments.simulate import Simulation

__all__ = ["resolve_dataset", "simulate"]


def resolve_dataset(dataset: str) -> Path:
    """A dataset folder or file for ``--dataset``: an existing path, else a known dataset name.

    Names are found under ``CINEREC_DATA_DIR`` or the cache first, as
    ``cinerec data fetch`` does, and downloaded otherwise.

    Raises:
        NotFound: neither a path nor a known dataset name.
        DownloadError: a known name that is not local and cannot be downloaded.
    """
    from cinerec.data.fetch import fetch

    path = Path(dataset).expanduser()
    if path.exists():
        return path
    s = settings()
    return fetch(dataset, s.resolved_cache_dir, data_dir=s.data_dir)


def simulate(
    dataset: str = typer.Option("ml-latest-small", "--dataset", help="dataset name (found under CINEREC_DATA_DIR or "
                                "the cache, else downloaded) or a dataset folder/file with explicit ratings"),
    control: str = typer.Option("ease", "--control", help="control algorithm (see `cinerec models algorithms`)"),
    treatment: str = typer.Option("popularity", "--treatment", help="treatment algorithm"),
    members: int | None = typer.Option(None, "--members", min=2, help="members arriving over the experiment "
                                       "(default: the sample size that detects the MDE on the control's "
                                       "simulated click rate with 80% power)"),
    days: float = typer.Option(14.0, "--days", min=0.01, help="experiment length; the report is read at its end"),
    k: int = typer.Option(10, "--k", min=1, max=1000, help="films shown to each member"),
    true_effect: float | None = typer.Option(None, "--true-effect", help="plant this relative lift on the treatment's "
                                             "member conversion (both arms then show the control model's lists), "
                                             "e.g. 0.1 for +10%"),
    aa: bool = typer.Option(False, "--aa", help="A/A test: both arms show the control model's lists"),
    runs: int = typer.Option(1, "--runs", min=1, help="experiments to simulate; above 1, print how often each way of "
                             "reading them rejected (false positives under --aa, power under --true-effect)"),
    seed: int = typer.Option(0, "--seed", help="seeds the holdout, the members and the assignment"),
    holdout: float = typer.Option(0.2, "--holdout", min=0.01, max=0.99, help="share of each user's ratings hidden "
                                  "from training; clicks follow them"),
    mde: float = typer.Option(0.10, "--mde", min=0.001, help="relative effect the sample size and the sequential "
                              "test are scaled to"),
    alpha: float = typer.Option(0.05, "--alpha", min=1e-6, max=0.5, help="significance level"),
    db: Path | None = typer.Option(None, "--db", help="a single run is replayed through the product's exposure "
                                   "log and events into a new SQLite database and reported from it: keep it at "
                                   "this path (default: a temporary one)"),
    no_db: bool = typer.Option(False, "--no-db", help="a single run: skip the database replay"),
    plot: Path | None = typer.Option(None, "--plot", help="a single run: write the report's plot to this PNG"),
) -> None:
    """Simulate A/B tests of two trained models on synthetic members from a data set's held-out ratings.

    Each member behaves as a user of the data set: they click a recommended
    film with a probability rising with the rating they gave it in the part
    of the data the models never saw. Members are assigned with the
    product's GrowthBook hashing and analysed by the same report as live
    experiments (daily peeks, always-valid p-values, SRM check).

    A single run is then replayed through the product itself: a new SQLite
    database, the members and films, every exposure through the exposure log,
    every click as an event, and the report read back from the database —
    which must agree with the simulation's own analysis.

    Examples:
      cinerec experiment simulate --control ease --treatment popularity
      cinerec experiment simulate --aa --runs 1000 --days 16 --members 10000
      cinerec experiment simulate --true-effect 0.1 --runs 200
    """
    from cinerec.data.readers import read_dataset
    from cinerec.experiments.simulate import (
        ClickModel,
        calibrate,
        recommended_members,
        run_many,
        simulate_once,
    )

    if aa and true_effect:
        raise InvalidParameter("--aa runs have no effect: give --aa or --true-effect, not both")
    err = Console(stderr=True)
    folder = resolve_dataset(dataset)
    data = read_dataset(folder).interactions()
    t0 = time.perf_counter()
    with err.status(f"training {control} and {treatment} on {folder.name} ({1 - holdout:.0%} of each user's ratings)"):
        model = ClickModel.fit(data, control, treatment, k=k, holdout=holdout, random_state=seed)
    fit_s = time.perf_counter() - t0
    base, treat = model.expected_rates(aa=aa, true_effect=true_effect, days=days)
    typer.echo(f"click model: {model.n_users:,} users, {model.models[0]} vs {model.models[1]} trained in {fit_s:.1f} s; "
               f"expected share of members who click: control {base:.2%}, treatment {treat:.2%} "
               f"({treat / base - 1:+.2%} relative)" if base > 0 else "click model: no user would click")
    if members is None:
        members = recommended_members(model, mde, alpha, days=days)
        typer.echo(f"members: {members:,} (detects {mde:+.0%} on the control's click rate with 80% power)")
    out = Console(width=None if sys.stdout.isatty() else 200)
    if runs == 1:
        sim = simulate_once(model, members=members, days=days, aa=aa, true_effect=true_effect, seed=seed,
                            alpha=alpha, mde=mde)
        out.print(report_table(sim.report))
        for line in summary_lines(sim.report):
            typer.echo(line)
        typer.echo(f"{len(sim.exposures):,} exposures, {len(sim.clicks):,} clicks between "
                   f"{sim.start:%Y-%m-%d} and {sim.end:%Y-%m-%d %H:%M} UTC")
        rep = sim.report
        if not no_db:
            rep = _replay(sim, db)
            out.print(report_table(rep))
            same = _same(sim.report, rep)
            typer.echo("the database's report agrees with the simulation's analysis (members, conversions, "
                       "p-values)" if same else "WARNING: the database's report differs from the simulation's")
            if not same:
                raise typer.Exit(1)
        if plot is not None:
            from cinerec.experiments.plot import render_png
            from cinerec.fileio import atomic_write

            atomic_write(plot, render_png(rep))
            typer.echo(f"plot written to {plot}")
        return
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as bar:
        task = bar.add_task("simulating", total=runs)
        reports = run_many(model, runs, members=members, days=days, aa=aa, true_effect=true_effect, seed=seed,
                           alpha=alpha, mde=mde, progress=lambda done: bar.update(task, completed=done))
    cal = calibrate(reports)
    kind = "A/A" if aa or true_effect == 0 else (f"planted {true_effect:+.1%}" if true_effect is not None
                                                 else f"{model.models[1]} vs {model.models[0]}")
    table = Table(title=f"{runs:,} simulated experiments · {kind} · {members:,} members · {cal.peeks} daily peeks")
    table.add_column("reading", justify="left")
    table.add_column(f"share with p < {alpha:g}", justify="right")
    table.add_column("± s.e.", justify="right")
    for label, rate in (("fixed horizon (z-test at the end)", cal.fixed_horizon),
                        (f"naive peeking (any of {cal.peeks} daily z-tests)", cal.naive_peeking),
                        ("sequential (always-valid p at the end)", cal.sequential),
                        ("detected an improvement (fixed horizon, lift > 0)", cal.detected)):
        table.add_row(label, f"{rate:.3f}", f"{cal.se(rate):.3f}")
    out.print(table)
    typer.echo(f"mean relative lift {cal.mean_rel_lift:+.2%}; KS test of the fixed-horizon p-values against uniform: "
               f"p = {cal.ks_p:.3g}; {runs:,} runs in {time.perf_counter() - t0:.1f} s")


def _replay(sim: Simulation, path: Path | None) -> ExperimentReport:
    """Replay ``sim`` into a new SQLite database at ``path`` (a temporary one if ``None``) and report from it."""
    import tempfile

    from cinerec.service.experiments import replay
    from cinerec.store.db import make_engine
    from cinerec.store.migrate import upgrade

    if path is not None and path.exists():
        raise InvalidParameter(f"--db {path}: the file exists; give a new path (the replay needs an empty database)")
    with tempfile.TemporaryDirectory(prefix="cinerec-sim-") as tmp:
        target = path or Path(tmp) / "simulation.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{target}"
        upgrade(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        try:
            rep = replay(engine, sim)
        finally:
            engine.dispose()
        typer.echo(f"replayed through the exposure log into {target if path else 'a temporary database'} and "
                   f"reported from it in {time.perf_counter() - t0:.1f} s:")
        return rep


def _same(a: ExperimentReport, b: ExperimentReport) -> bool:
    """Whether two reports agree on members, conversions, impressions and the comparisons' p-values."""
    def key(r: ExperimentReport) -> list[object]:
        rows: list[object] = [(v.users, v.converted["click"], v.clicks, v.impressions) for v in r.variants]
        rows += [(round(c.p_value or 0, 9), round(c.sequential_p or 0, 9), c.decision) for c in r.primary]
        return rows

    return key(a) == key(b)

