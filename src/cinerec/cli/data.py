"""``cinerec data``: fetch and import datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from cinerec.cli._common import engine, ensure_schema, settings

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def fetch(
    name: str = typer.Argument(..., help="ml-latest-small | ml-100k | ml-1m | ml-25m"),
    path: Path | None = typer.Option(None, "--path", help="use this local archive instead of downloading"),
) -> None:
    """Download NAME from GroupLens (checksummed, cached) and print its folder."""
    from cinerec.data.fetch import fetch as do_fetch

    s = settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console) as bar:
        task = bar.add_task(f"downloading {name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        folder = do_fetch(name, s.resolved_cache_dir, archive=path, data_dir=s.data_dir, progress=progress)
    typer.echo(str(folder))


def print_report(report: object, limit: int = 20) -> None:
    """Print an import summary and the first rejected rows."""
    from cinerec.store.importer import ImportReport

    assert isinstance(report, ImportReport)
    t = Table(title=f"imported {report.source} ({report.format}) in {report.seconds:.1f} s")
    t.add_column("what")
    t.add_column("rows", justify="right")
    for k, v in report.counts.items():
        t.add_row(k, str(v))
    for reason, n in report.rejected.items():
        t.add_row(f"rejected: {reason}", str(n))
    Console().print(t)
    for p in report.problems[:limit]:
        console.print(f"  {p}", markup=False, highlight=False)
    if len(report.problems) > limit:
        console.print(f"  ... and {len(report.problems) - limit} more")


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="dataset folder, ratings file or .zip"),
    fmt: str = typer.Option("auto", "--format", help="auto | ml-100k | ml-1m | ml-latest | csv"),
    columns: str | None = typer.Option(None, "--columns", help="for csv: user=COL,item=COL,rating=COL,time=COL[,title=COL]"),
    source: str | None = typer.Option(None, "--source", help="source tag for imported rows (default: folder name)"),
    strict: bool = typer.Option(False, "--strict", help="refuse the whole import if any row is rejected"),
) -> None:
    """Read, clean, validate and import a dataset in one transaction (idempotent)."""
    from cinerec.data.readers import parse_columns_option, read_dataset
    from cinerec.store.importer import import_dataset

    ds = read_dataset(path, fmt, columns=parse_columns_option(columns), name=source)
    ensure_schema()
    report = import_dataset(engine(), ds, source=source, strict=strict)
    print_report(report)
