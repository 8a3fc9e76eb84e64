"""``cinerec db``: schema migrations."""

from __future__ import annotations

import typer

from cinerec.cli._common import settings

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Apply migrations (SQLite by default; CINEREC_DATABASE_URL for PostgreSQL)."""
    from cinerec.store.migrate import current
    from cinerec.store.migrate import upgrade as up

    url = settings().resolved_database_url
    up(url, revision)
    typer.echo(f"database at revision {current(url)}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="target revision, e.g. base")) -> None:
    """Revert migrations down to REVISION."""
    from cinerec.store.migrate import current
    from cinerec.store.migrate import downgrade as down

    url = settings().resolved_database_url
    down(url, revision)
    typer.echo(f"database at revision {current(url)}")


@app.command()
def current() -> None:
    """Show the database's revision."""
    from cinerec.store.migrate import current as cur

    typer.echo(cur(settings().resolved_database_url) or "(empty database: run `cinerec db upgrade`)")
