"""``cinerec train`` and ``cinerec models``: train, list, activate, roll back."""

from __future__ import annotations

import typer

from cinerec.cli._common import engine, parse_params, runtime_params, settings

app = typer.Typer(no_args_is_help=True)


def _registry():  # type: ignore[no-untyped-def]
    from cinerec.service.registry import ModelRegistry

    return ModelRegistry(settings().models_dir)


def train(
    algo: str = typer.Option("implicit-als", "--algo", help="algorithm name (see `cinerec models algorithms`)"),
    param: list[str] | None = typer.Option(None, "--param", help="ALGO.key=value, repeatable"),
    no_activate: bool = typer.Option(False, "--no-activate", help="publish without switching the live model"),
    device: str | None = typer.Option(None, "--device", help="cpu | cuda | auto, for neural models"),
) -> None:
    """Fit ALGO on every rating in the database and publish it as a new model version."""
    import sys

    from cinerec.service.training import train_from_store

    params = runtime_params(algo, parse_params(param, [algo])[algo], device, progress=sys.stderr.isatty())
    info = train_from_store(engine(), _registry(), algo, params, activate=not no_activate,
                            text_encoder=settings().text_encoder)
    typer.echo(f"published {info.version} ({info.algo}, {info.extra.get('ratings')} ratings, "
               f"{info.extra.get('fit_seconds')} s){'' if no_activate else ' and activated it'}")


@app.command("list")
def list_() -> None:
    """Published versions, newest first (* = active)."""
    reg = _registry()
    active = reg.active_version()
    versions = reg.versions()
    if not versions:
        typer.echo("no model versions yet: run `cinerec train`")
    for v in versions:
        typer.echo(f"{'*' if v.version == active else ' '} {v.version}  {v.algo}  {v.created_at}")


@app.command()
def activate(version: str = typer.Argument(..., help="version to serve")) -> None:
    """Serve VERSION (verified before the switch)."""
    info = _registry().activate(version)
    typer.echo(f"active: {info.version}")


@app.command()
def rollback() -> None:
    """Serve the previously active version again."""
    info = _registry().rollback()
    typer.echo(f"active: {info.version}")


@app.command()
def algorithms() -> None:
    """List the registered algorithms and their default parameters."""
    from cinerec.algorithms.registry import create, names

    for n in names():
        typer.echo(f"{n}: {create(n).get_params()}")
