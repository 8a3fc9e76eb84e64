"""The ``cinerec`` command line (Typer). Errors print one line and exit non-zero."""

from __future__ import annotations

import sys

import typer

from cinerec.errors import CinerecError

app = typer.Typer(help="cinerec: movie sharing and recommendation platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def _register() -> None:
    from cinerec.cli import data, db, evaluate, models, reviews, serve

    app.add_typer(data.app, name="data", help="Fetch and import datasets.")
    app.add_typer(db.app, name="db", help="Database schema migrations.")
    app.add_typer(reviews.app, name="reviews", help="Sentiment models, review import, keywords, insights.")
    app.add_typer(models.app, name="models", help="List, activate and roll back model versions.")
    app.command("train")(models.train)
    app.command("evaluate")(evaluate.evaluate)
    app.command("serve")(serve.serve)
    app.command("demo")(serve.demo)
    app.command("map")(serve.catalogue_map)


_register()


def main() -> None:
    """Entry point: run the app, turning cinerec errors into one line and an exit code."""
    try:
        app(standalone_mode=False)
    except CinerecError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.Abort):
            typer.echo("aborted", err=True)
            sys.exit(1)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
