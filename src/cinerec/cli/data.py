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


@app.command("import-metadata")
def import_metadata_cmd(
    path: Path = typer.Argument(..., help="HetRec 2011 folder or TMDB-style movies CSV (JSON columns)"),
    source: str | None = typer.Option(None, "--source", help="dataset whose MovieLens ids a HetRec folder uses"),
) -> None:
    """Attach overviews, keywords, directors and tags to the films in the database."""
    from cinerec.data.readers.metadata import read_metadata
    from cinerec.store.metadata import import_metadata

    ensure_schema()
    r = import_metadata(engine(), read_metadata(path), source=source)
    typer.echo(f"{r.matched_films} films matched ({r.unmatched} not in the database): {r.overviews} overviews, "
               f"{r.credits} new credits, {r.keywords} keywords/tags in {r.seconds:.1f} s")


@app.command()
def enrich(
    tmdb_api_key: str = typer.Option(..., "--tmdb-api-key", envvar="TMDB_API_KEY", help="TMDB v3 API key or v4 token"),
    rate: float = typer.Option(20.0, "--rate", min=0.1, max=50, help="requests per second"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="at most this many films (most rated first)"),
) -> None:
    """Fill overview, runtime, poster, directors and top-billed cast from TMDB for films with a tmdbId.

    Answers are cached under the cache folder, so a second run (or one after
    an interruption) only asks for what is missing.
    """
    from cinerec.data.tmdb import TmdbClient
    from cinerec.store.db import transaction
    from cinerec.store.metadata import import_metadata
    from cinerec.store.repos.movies import tmdb_ids_by_popularity

    ensure_schema()
    s = settings()
    eng = engine(s)
    with transaction(eng, write=False) as session:
        ids = tmdb_ids_by_popularity(session, limit)
    if not ids:
        typer.echo("no films with a tmdbId: import a dataset with links (e.g. ml-latest-small) first")
        return
    client = TmdbClient(tmdb_api_key, s.resolved_cache_dir, rate=rate)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      console=console) as bar:
            task = bar.add_task("TMDB", total=len(ids))
            md, rep = client.enrich(ids, progress=lambda done, total: bar.update(task, completed=done))
    finally:
        client.close()
    r = import_metadata(eng, md)
    typer.echo(f"{rep.requested} films: {rep.fetched} fetched, {rep.from_cache} from cache, {rep.not_found} unknown to "
               f"TMDB, {len(rep.failed)} failed, {rep.retries} retries; {r.overviews} overviews and {r.credits} new credits "
               "written")
    for tid, why in list(rep.failed.items())[:10]:
        typer.echo(f"  tmdb {tid}: {why}", err=True)
