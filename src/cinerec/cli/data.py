"""``cinerec data``: fetch and import datasets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from cinerec.cli._common import engine, ensure_schema, settings

if TYPE_CHECKING:
    from cinerec.data.readers import Dataset

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def fetch(
    name: str = typer.Argument(..., help="ml-latest-small | ml-100k | ml-1m | ml-25m | filmtrust"),
    path: Path | None = typer.Option(None, "--path", help="use this local archive (for filmtrust: a folder of its files) "
                                     "instead of downloading"),
) -> None:
    """Download NAME (MovieLens from GroupLens; FilmTrust's files), verify its checksums, cache it and print its folder."""
    from cinerec.data.fetch import fetch as do_fetch

    s = settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console) as bar:
        task = bar.add_task(f"downloading {name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        folder = do_fetch(name, s.resolved_cache_dir, archive=path, data_dir=s.data_dir, progress=progress)
    typer.echo(str(folder))


def print_report(report: object, limit: int = 20, *, problems: bool = True) -> None:
    """Print an import summary (counts, scale, placeholders) and, with ``problems``, the first rejected rows."""
    from cinerec.store.importer import ImportReport

    assert isinstance(report, ImportReport)
    t = Table(title=f"imported {report.source} ({report.format}) in {report.seconds:.1f} s")
    t.add_column("what")
    t.add_column("rows", justify="right")
    for k, v in report.counts.items():
        t.add_row(k, str(v))
    if report.placeholders:
        t.add_row("placeholder movies (no title)", str(report.placeholders))
    errors = {p.reason for p in report.problems}
    for reason, n in report.rejected.items():
        t.add_row(f"{'rejected' if reason in errors else 'dropped'}: {reason}", str(n))
    Console().print(t)
    stars = "stored as stars unchanged" if report.mapping == "identity" else "mapped linearly onto 0.5-5 stars"
    typer.echo(f"rating scale {report.scale}: {stars}; original values kept")
    if problems:
        for p in report.problems[:limit]:
            console.print(f"  {p}", markup=False, highlight=False)
        if len(report.problems) > limit:
            console.print(f"  ... and {len(report.problems) - limit} more")


def read_options(
    path: Path, fmt: str, columns: str | None, sep: str | None, header: bool | None, scale: str | None,
    name: str | None = None,
) -> Dataset:
    """Read ``path`` with the delimited-file options of ``data import`` and ``evaluate``; print what was rejected.

    Returns:
        The :class:`~cinerec.data.readers.Dataset`.
    """
    from cinerec.data.readers import (
        RatingScale,
        parse_columns_option,
        parse_sep_option,
        read_dataset,
    )

    ds = read_dataset(path, fmt, columns=parse_columns_option(columns), name=name, sep=parse_sep_option(sep),
                      header=header, scale=RatingScale.parse(scale) if scale else None)
    for line in ds.rejection_summary():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return ds


FORMAT_HELP = "auto | ml-100k | ml-1m | ml-latest | movietweetings | filmtrust | librec | csv (auto looks at the content)"
COLUMNS_HELP = ("which field is which: header names (user=uid,item=mid,rating=r,time=t[,title=name]) "
                "or 0-based positions (user=0,item=1,rating=2[,time=3])")
SEP_HELP = "field separator of a delimited file: ',' '::' ';' '|' 'tab' or 'whitespace' (default: found from the content)"
HEADER_HELP = "whether the first line of a delimited file names the columns (default: found from the content)"
SCALE_HELP = "rating scale LOW:HIGH[:STEP] of a delimited file, e.g. 0:10 or 0.5:4:0.5 (default: the format's, else the data's)"
MAX_REJECTED_HELP = "refuse when more than this share of the rating rows is rejected (0-1)"


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="dataset folder, ratings file or .zip"),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    columns: str | None = typer.Option(None, "--columns", help=COLUMNS_HELP),
    sep: str | None = typer.Option(None, "--sep", help=SEP_HELP),
    header: bool | None = typer.Option(None, "--header/--no-header", help=HEADER_HELP),
    scale: str | None = typer.Option(None, "--scale", help=SCALE_HELP),
    source: str | None = typer.Option(None, "--source", help="source tag for imported rows (default: folder name)"),
    strict: bool = typer.Option(False, "--strict", help="refuse the whole import if any row is rejected"),
    max_rejected: float = typer.Option(0.01, "--max-rejected", min=0.0, max=1.0, help=MAX_REJECTED_HELP),
) -> None:
    """Read, clean, validate and import a dataset in one transaction (idempotent).

    Ratings are stored as stars: a scale within 0.5-5 is kept as it is, any
    other (0-10) is mapped linearly onto 0.5-5 and the original values are
    kept. Films a ratings-only file names without titles become placeholder
    films ("Item 1234"). Exits non-zero, importing nothing, when no rating is
    left or more than --max-rejected of the rows were rejected.

    A FilmTrust folder (ratings.txt beside trust.txt) also brings its trust
    network: each trust edge becomes a follow (the trustor follows the
    trustee), in the same transaction.

    Examples:
      cinerec data import ../shared/data/filmtrust --format filmtrust
      cinerec data import ratings.dat --sep :: --no-header --columns user=0,item=1,rating=2,time=3 --scale 0:10
    """
    from cinerec.store.importer import import_dataset

    ds = read_options(path, fmt, columns, sep, header, scale, source)
    ensure_schema()
    report = import_dataset(engine(), ds, source=source, strict=strict, max_rejected=max_rejected)
    print_report(report, problems=False)


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
