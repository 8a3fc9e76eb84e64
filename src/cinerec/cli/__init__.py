"""The ``cinerec`` command line (Typer). Errors print one line and exit non-zero."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from cinerec.config import describe_invalid
from cinerec.errors import CinerecError

app = typer.Typer(help="cinerec: movie sharing and recommendation platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def _register() -> None:
    from cinerec.cli import (
        data,
        db,
        evaluate,
        experiment,
        models,
        reviews,
        serve,
        social,
        users,
        worker,
    )

    data.app.command("seed-social")(social.seed_social)

    app.add_typer(data.app, name="data", help="Fetch and import datasets.")
    app.add_typer(db.app, name="db", help="Database schema migrations.")
    app.add_typer(reviews.app, name="reviews", help="Sentiment models, review import, keywords, insights.")
    app.add_typer(models.app, name="models", help="List, activate and roll back model versions.")
    app.add_typer(users.app, name="users", help="Member accounts (create the first admin).")
    app.add_typer(experiment.app, name="experiment", help="A/B experiments between model versions, and the simulator.")
    app.command("train")(models.train)
    app.command("evaluate")(evaluate.evaluate)
    app.command("serve")(serve.serve)
    app.command("worker")(worker.worker)
    app.command("demo")(serve.demo)
    app.command("map")(serve.catalogue_map)


_register()


def _show_cli_error(exc: Exception) -> int:
    """Print a click/Typer error as every CLI does and return its exit code (2 for usage errors).

    Click prints the usage line, a help hint and ``Error: ...`` with its "did
    you mean" suggestion for an unknown command; an unknown option's close
    matches are phrased the same way ("Did you mean --algo?").
    """
    ctx = getattr(exc, "ctx", None)
    possibilities = sorted(getattr(exc, "possibilities", None) or [])
    if ctx is None or not possibilities:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"Error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 1))
    typer.echo(ctx.get_usage(), err=True)
    typer.echo(f"Try '{ctx.command_path} --help' for help.\n", err=True)
    typer.echo(f"Error: {getattr(exc, 'message', exc)}. Did you mean {' or '.join(possibilities)}?", err=True)
    return int(getattr(exc, "exit_code", 2))


def _cli_exception_types() -> tuple[type[Exception], ...]:
    """The exception base classes of the click that Typer runs on (vendored in Typer >= 0.2x, else ``click``)."""
    types: list[type[Exception]] = []
    typer_exception = getattr(typer, "TyperException", None)
    if isinstance(typer_exception, type):
        types.append(typer_exception)
    try:
        import click

        types.append(click.ClickException)
    except ImportError:  # Typer vendors its own click and click is not installed
        pass
    return tuple(types)


def main() -> None:
    """Entry point: run the app, turning cinerec errors into one line and an exit code.

    Usage errors (an unknown command, option or value) print the usage line,
    a help hint and the error with click's "did you mean" suggestion, and exit
    with status 2; :class:`~cinerec.errors.CinerecError` prints ``error: ...``
    and exits with the error's own code; Ctrl-C exits with 130.
    """
    try:
        rv = app(standalone_mode=False, prog_name="cinerec")
    except CinerecError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        typer.echo(f"error: {describe_invalid(exc)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _cli_exception_types() as exc:
        sys.exit(_show_cli_error(exc))
    # Without standalone mode, click returns the code of a ``typer.Exit`` (130 for Ctrl-C) instead of raising it.
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
        if rv == 130:
            typer.echo("interrupted", err=True)
        sys.exit(rv)
