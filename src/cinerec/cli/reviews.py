"""``cinerec reviews``: sentiment models, review import, scoring, keywords and insights."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from cinerec.cli._common import engine, ensure_schema, settings
from cinerec.errors import InvalidParameter

if TYPE_CHECKING:
    from cinerec.nlp.sentiment import SentimentAnalyzer

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


def _out() -> Console:
    """Standard output; wide when piped, so tables are not truncated in logs."""
    return Console(width=None if sys.stdout.isatty() else 200)


def _analyzer() -> SentimentAnalyzer:
    from cinerec.nlp.sentiment import SentimentAnalyzer

    return SentimentAnalyzer(settings().nlp_dir)


@app.command("train-sentiment")
def train_sentiment(
    language: str = typer.Option(..., "--lang", help="en | zh"),
    corpus: list[Path] = typer.Option(None, "--corpus", help="labelled corpus folder (repeatable); default: the "
                                      "known corpora of LANG under $CINEREC_DATA_DIR/reviews"),
    holdout: float = typer.Option(0.2, help="held-out share for the reported figures"),
    seed: int = typer.Option(42, help="random_state of the split"),
    no_refit: bool = typer.Option(False, "--no-refit", help="save the model fitted on the training part only"),
    out: Path | None = typer.Option(None, help="artefact path (default: the NLP folder the product reads)"),
    check_prior: float = typer.Option(0.87, "--check-prior", min=0.01, max=0.99,
                                      help="positive share of the held-out slice the calibration is checked on"),
) -> None:
    """Train the light sentiment model of LANG, print held-out figures per corpus and a calibration check, save it.

    Per corpus: accuracy, macro-F1 and ROC AUC of the calibrated model, its
    expected calibration error (ECE) before and after Platt scaling, and the
    lexicon and majority-class baselines. Then the held-out texts resampled
    to --check-prior positive: accuracy and ECE before calibration, after it,
    and after estimating the slice's prior by EM, against always-positive.
    """
    from cinerec.nlp.sentiment import SentimentAnalyzer
    from cinerec.nlp.training import default_corpora
    from cinerec.nlp.training import train_sentiment as run

    if language not in ("en", "zh"):
        raise InvalidParameter(f"--lang must be en or zh, not {language!r}")
    s = settings()
    folders = list(corpus or [])
    if not folders:
        if s.data_dir is None:
            raise InvalidParameter("give --corpus FOLDER or set CINEREC_DATA_DIR to a folder holding reviews/")
        folders = default_corpora(s.data_dir, language)  # type: ignore[arg-type]
        if not folders:
            raise InvalidParameter(f"no {language} sentiment corpus under {s.data_dir}/reviews; pass --corpus")
    target = out or SentimentAnalyzer.model_path(s.nlp_dir, language)
    with console.status(f"training the {language} sentiment model on {', '.join(f.name for f in folders)}"):
        _, report = run(folders, language, out=target, holdout=holdout, refit=not no_refit,  # type: ignore[arg-type]
                        random_state=seed, check_prior=check_prior)
    t = Table(title=f"{language} sentiment, held-out {holdout:.0%} (seed {seed}), fit {report.fit_seconds:.1f} s")
    for col in ("corpus", "n test", "accuracy", "macro F1", "AUC", "ECE raw", "ECE", "lexicon acc", "lexicon F1",
                "majority"):
        t.add_column(col, justify="left" if col == "corpus" else "right", no_wrap=True)
    for c in report.scores:
        t.add_row(c.corpus, str(c.n_test), f"{c.accuracy:.4f}", f"{c.f1:.4f}", f"{c.auc:.4f}", f"{c.ece_raw:.4f}",
                  f"{c.ece:.4f}", f"{c.lexicon_accuracy:.4f}", f"{c.lexicon_f1:.4f}", f"{c.majority:.4f}")
    _out().print(t)
    ps = report.prior_shift
    if ps is not None:
        shift = Table(title=f"held-out texts resampled to {ps.prior:.0%} positive: n {ps.n}, AUC {ps.auc:.4f}, "
                      f"always-positive {ps.always_positive:.4f}")
        for col in ("probabilities", "prior used", "accuracy", "macro F1", "ECE"):
            shift.add_column(col, justify="left" if col == "probabilities" else "right", no_wrap=True)
        shift.add_row("logistic regression", "training", f"{ps.accuracy_raw:.4f}", f"{ps.f1_raw:.4f}", f"{ps.ece_raw:.4f}")
        shift.add_row("Platt-calibrated", "training", f"{ps.accuracy_calibrated:.4f}", f"{ps.f1_calibrated:.4f}",
                      f"{ps.ece_calibrated:.4f}")
        shift.add_row("calibrated + EM prior", f"{ps.estimated_prior:.4f} (est.)", f"{ps.accuracy_adjusted:.4f}",
                      f"{ps.f1_adjusted:.4f}", f"{ps.ece_adjusted:.4f}")
        _out().print(shift)
    size = target.stat().st_size / 1e6
    typer.echo(f"saved {target} ({size:.1f} MB){'' if no_refit else ', refitted on all rows'}")


@app.command()
def sentiment(text: str = typer.Argument(..., help="text to analyse")) -> None:
    """Print the language and sentiment of TEXT as JSON."""
    from dataclasses import asdict

    a = _analyzer()
    typer.echo(json.dumps(asdict(a.analyze(text)), ensure_ascii=False))


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="CSV with user_id,movie_id,text[,rating][,timestamp]"),
    source: str = typer.Option(..., "--source", help="the dataset whose raw ids the file uses, e.g. ml-latest-small"),
    strict: bool = typer.Option(False, help="refuse the whole file if any row is rejected"),
) -> None:
    """Import reviews keyed by a dataset's ids, scoring their sentiment on the way."""
    from cinerec.service.reviews import import_reviews

    ensure_schema()
    a = _analyzer()
    with console.status("importing reviews"):
        r = import_reviews(engine(), path, source, a, strict=strict)
    t = Table(title=f"reviews for {r.source} in {r.seconds:.1f} s")
    t.add_column("what")
    t.add_column("rows", justify="right")
    t.add_row("read", str(r.read))
    t.add_row("inserted (new)", str(r.inserted))
    for m, n in r.methods.items():
        t.add_row(f"sentiment by {m}", str(n))
    for reason, n in r.rejected.items():
        t.add_row(f"rejected: {reason}", str(n))
    _out().print(t)
    for p in r.problems[:20]:
        typer.echo(f"  {p}", err=True)


@app.command()
def score(rescore: bool = typer.Option(False, help="re-score every review (after training a new model)")) -> None:
    """Fill in language and sentiment of reviews that lack them (resumable)."""
    from cinerec.service.reviews import score_reviews

    ensure_schema()
    a = _analyzer()
    with console.status("scoring reviews") as st:
        n = score_reviews(engine(), a, rescore=rescore, progress=lambda d, _: st.update(f"scored {d} reviews"))
    typer.echo(f"scored {n} reviews")


@app.command()
def keywords(n: int = typer.Option(10, min=1, max=50, help="keywords per film and polarity")) -> None:
    """Recompute every film's keywords from its public reviews."""
    from cinerec.service.reviews import refresh_keywords

    ensure_schema()
    with console.status("extracting keywords"):
        films = refresh_keywords(engine(), n=n)
    typer.echo(f"keywords for {films} films")


@app.command()
def insights(movie_id: int = typer.Argument(..., help="database movie id")) -> None:
    """Print a film's audience insights (sentiment summary and keywords) as JSON."""
    from dataclasses import asdict

    from cinerec.service.reviews import audience_insights
    from cinerec.store.db import transaction

    ensure_schema()
    with transaction(engine(), write=False) as session:
        from cinerec.store.repos.movies import get

        get(session, movie_id)
        ins = audience_insights(session, movie_id)
    typer.echo(json.dumps({"summary": asdict(ins.summary), "keywords": ins.keywords}, ensure_ascii=False))
