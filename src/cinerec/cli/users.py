"""``cinerec users``: member accounts from the shell (the first admin, in particular)."""

from __future__ import annotations

import sys

import typer

from cinerec.cli._common import engine, ensure_schema
from cinerec.errors import InvalidParameter

app = typer.Typer(no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    """The password from standard input (first line) or asked twice on the terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise InvalidParameter("no password on standard input")
        return password
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("password (again)", hide_input=True) != first:
        raise InvalidParameter("the two passwords differ")
    return str(first)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="username: 3-32 letters, digits, '_', '.' or '-'"),
    admin: bool = typer.Option(False, "--admin", help="make the account an admin"),
    email: str | None = typer.Option(None, "--email", help="email address (optional)"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from standard input"),
) -> None:
    """Create an account; asks for the password (same policy as sign-up: 8+ characters, not a common one)."""
    from cinerec.service.accounts import create_user

    ensure_schema()
    password = _read_password(password_stdin)
    user = create_user(engine(), name, password, email=email, is_admin=admin)
    typer.echo(f"created {'admin' if user.is_admin else 'member'} {user.username} (id {user.id})")
