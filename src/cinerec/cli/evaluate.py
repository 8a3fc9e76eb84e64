"""``cinerec evaluate``: cross-validated comparison of algorithms."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cinerec.cli._common import algo_names, parse_params, runtime_params
from cinerec.cli.data import (
    COLUMNS_HELP,
    FORMAT_HELP,
    HEADER_HELP,
    MAX_REJECTED_HELP,
    SCALE_HELP,
    SEP_HELP,
    read_options,
)
from cinerec.evaluation.protocols import SPLIT_HELP


def split_algo_option(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``"bias,trust-svd[use_trust=false;reg=0.5]"`` -> ``[("bias", {}), ("trust-svd", {"use_trust": False, "reg": 0.5})]``.

    Entries are separated by commas outside brackets; bracketed ``key=value``
    pairs are separated by ``;`` and their values read as JSON when they can
    be (else kept as strings), as ``--param`` values are.

    Raises:
        InvalidParameter: unbalanced brackets or a pair without ``=``.
    """
    import json

    from cinerec.errors import InvalidParameter

    entries: list[str] = []
    depth, start = 0, 0
    for k, ch in enumerate(text + ","):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise InvalidParameter(f"--algo {text!r}: ']' without '['")
        elif ch == "," and depth == 0:
            entries.append(text[start:k].strip())
            start = k + 1
    if depth:
        raise InvalidParameter(f"--algo {text!r}: '[' without ']'")
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in filter(None, entries):
        name, _, rest = entry.partition("[")
        inline: dict[str, Any] = {}
        if rest:
            if not rest.endswith("]"):
                raise InvalidParameter(f"--algo entry {entry!r}: parameters go last, as NAME[key=value;key=value]")
            for pair in filter(None, (p.strip() for p in rest[:-1].split(";"))):
                if "=" not in pair:
                    raise InvalidParameter(f"--algo entry {entry!r}: {pair!r} is not key=value")
                key, raw = (x.strip() for x in pair.split("=", 1))
                try:
                    inline[key] = json.loads(raw)
                except json.JSONDecodeError:
                    inline[key] = raw
        out.append((name.strip(), inline))
    return out


def evaluate(
    data: Path = typer.Option(..., "--data", help="dataset folder, ratings file or .zip (any importable format)"),
    split: str = typer.Option("kfold:5", "--split", help=SPLIT_HELP),
    algo: str = typer.Option("bias,item-knn,biased-mf", "--algo", help="comma-separated algorithm names; "
                             "NAME[key=value;key=value] gives one entry its own parameters (JSON values), so one "
                             "algorithm can appear twice, e.g. trust-svd,trust-svd[use_trust=false]"),
    param: list[str] | None = typer.Option(None, "--param", help="ALGO.key=value (JSON value), repeatable"),
    k: int = typer.Option(10, "--k", min=1, max=1000, help="list length for ranking metrics"),
    json_out: Path | None = typer.Option(None, "--json", help="write per-fold results and a summary as JSON"),
    report: Path | None = typer.Option(None, "--report", help="folder for summary.png and report.html"),
    seed: int = typer.Option(42, "--seed", help="random_state of random splits"),
    relevance: float | None = typer.Option(None, "--relevance-threshold", help="only test ratings >= this count as relevant"),
    metadata: list[Path] | None = typer.Option(None, "--metadata", help="HetRec folder or TMDB-style CSV for content features, repeatable"),
    device: str | None = typer.Option(None, "--device", help="cpu | cuda | auto, for the neural models among --algo"),
    text_embeddings: str | None = typer.Option(None, "--text-embeddings", help="minilm | use-m: add sentence embeddings "
                                               "of overviews, keywords and tags to the content features"),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    columns: str | None = typer.Option(None, "--columns", help=COLUMNS_HELP),
    sep: str | None = typer.Option(None, "--sep", help=SEP_HELP),
    has_header: bool | None = typer.Option(None, "--header/--no-header", help=HEADER_HELP),
    scale: str | None = typer.Option(None, "--scale", help=SCALE_HELP),
    max_rejected: float = typer.Option(0.01, "--max-rejected", min=0.0, max=1.0, help=MAX_REJECTED_HELP),
) -> None:
    """Fit each algorithm on each fold and report RMSE/MAE, precision/recall/NDCG/MAP@k, coverage, novelty and time.

    Examples:
      cinerec evaluate --data ml-100k --split ml100k-folds --algo bias,item-knn,svdpp
      cinerec evaluate --data ratings.csv --split stratified:0.75 --algo ease,implicit-als --k 10 --json out.json
      cinerec evaluate --data ../shared/data/filmtrust --format filmtrust --algo bias,svdpp,trust-svd,trust-svd[use_trust=false]

    A FilmTrust folder brings its trust network: the folds keep it whole (only
    ratings are held out) and trust-aware models (trust-svd) learn from it.
    """
    from cinerec.evaluation.protocols import AlgoSpec, cross_validate, make_splits
    from cinerec.evaluation.report import learned_lines, table_rows, write_report
    from cinerec.service.training import check_memory

    entries = split_algo_option(algo)
    algos = algo_names(",".join(name for name, _ in entries))
    params = parse_params(param, algos)
    specs = [AlgoSpec(a, runtime_params(a, {**params[a], **inline}, device, progress=False, strict=False))
             for a, (_, inline) in zip(algos, entries, strict=True)]
    for s in specs:
        s.build()  # fail fast on unknown names or parameters
    dataset = None
    if not split.startswith(("ml100k-folds", "files:")):
        # the reader's rejected rows are shown on every run; too many of them stop the evaluation
        dataset = read_options(data, fmt, columns, sep, has_header, scale)
        dataset.check_rejected(max_rejected)
    interactions = dataset.interactions() if dataset is not None else None
    if interactions is not None and dataset is not None and any(s.build().needs_features for s in specs):
        from cinerec.data.features import dataset_features
        from cinerec.data.readers.metadata import read_metadata

        encoder = None
        if text_embeddings:
            from functools import partial

            from cinerec.nlp.embeddings import encode

            encoder = partial(encode, encoder=text_embeddings)
        feats = dataset_features(interactions.item_vocab, dataset.movies, dataset.tags,
                                 [read_metadata(m) for m in metadata or []], text_encoder=encoder)
        interactions = interactions.with_features(feats)
    splits = make_splits(split, interactions, source=data, random_state=seed)
    if splits:  # before any fit: refuse an algorithm that cannot fit in memory on the largest training set
        largest = max((sp.train for sp in splits), key=len)
        for spec in specs:
            check_memory(spec.build(), largest.n_users, largest.n_items, len(largest))
    console = Console(stderr=True)
    total = len(specs) * len(splits)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("evaluating", total=total)

        def on_fold(label: str, fold: str, row: dict[str, Any]) -> None:
            bar.update(task, advance=1, description=f"{label} {fold}")

        results = cross_validate(specs, splits, k=k, dataset=data.name, split_name=split,
                                 relevance_threshold=relevance, on_fold=on_fold)
    header, rows = table_rows(results)
    table = Table(title=f"{data.name} · {split} · k={k}")
    for h in header:
        table.add_column(h, justify="left" if h == "algo" else "right")
    for r in rows:
        table.add_row(*(escape(c) for c in r))  # labels such as trust-svd[use_trust=False] are not markup
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    for line in learned_lines(results):
        typer.echo(line)
    if json_out:
        results.write_json(json_out)
        typer.echo(f"wrote {json_out}")
    if report:
        for p in write_report(results, report):
            typer.echo(f"wrote {p}")
