"""Usage errors: every command and group answers a wrong option or subcommand with usage, a hint and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from cinerec.cli import app, main
from cinerec.errors import InvalidParameter


def _commands() -> list[tuple[tuple[str, ...], bool]]:
    """Every registered command path, with whether it is a group (has subcommands)."""
    root = typer.main.get_command(app)
    out: list[tuple[tuple[str, ...], bool]] = []

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        sub = getattr(cmd, "commands", None)
        out.append((path, sub is not None))
        for name, child in sorted((sub or {}).items()):
            walk(child, (*path, name))

    walk(root, ())
    return out


COMMANDS = _commands()
GROUPS = [p for p, is_group in COMMANDS if is_group]


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the real entry point in-process; return its exit code and everything it printed."""
    monkeypatch.setattr(sys, "argv", ["cinerec", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), captured.out + captured.err


def test_every_command_group_is_covered() -> None:
    names = {p[0] for p in GROUPS if p}
    assert {"data", "db", "models", "reviews"} <= names
    leaves = {p for p, is_group in COMMANDS if not is_group}
    assert {("train",), ("evaluate",), ("serve",), ("models", "algorithms"), ("reviews", "train-sentiment")} <= leaves


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "cinerec")
def test_unknown_option_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                         path: tuple[str, ...]) -> None:
    code, text = run_main(monkeypatch, capsys, *path, "--no-such-option-xyz")
    assert code == 2, text
    assert "Traceback" not in text
    assert "Usage: cinerec" in text
    assert "No such option: --no-such-option-xyz" in text
    assert f"Try 'cinerec{''.join(' ' + p for p in path)} --help' for help." in text


@pytest.mark.parametrize("path", GROUPS, ids=lambda p: " ".join(p) or "cinerec")
def test_unknown_subcommand_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             path: tuple[str, ...]) -> None:
    code, text = run_main(monkeypatch, capsys, *path, "zzqx-not-a-command")
    assert code == 2, text
    assert "Traceback" not in text
    assert "Usage: cinerec" in text
    assert "No such command 'zzqx-not-a-command'" in text


@pytest.mark.parametrize(("args", "hint"), [
    (("modles",), "Did you mean 'models'?"),
    (("evalute",), "Did you mean 'evaluate'?"),
    (("models", "algoritms"), "Did you mean 'algorithms'?"),
    (("reviews", "train-sentimnt"), "Did you mean 'train-sentiment'"),
    (("train", "--algos", "ease"), "Did you mean --algo?"),
    (("evaluate", "--spilt", "kfold:5"), "--split"),
])
def test_near_miss_gets_a_did_you_mean_hint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                            args: tuple[str, ...], hint: str) -> None:
    code, text = run_main(monkeypatch, capsys, *args)
    assert code == 2, text
    hint_line = next((line for line in text.splitlines() if "Did you mean" in line), "")
    assert hint in hint_line, text
    assert "Traceback" not in text


def test_bad_option_value_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_main(monkeypatch, capsys, "reviews", "keywords", "--n", "0")
    assert code == 2, text
    assert "Invalid value for '--n'" in text and "Traceback" not in text


def test_cinerec_errors_still_print_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_main(monkeypatch, capsys, "evaluate", "--data", "ml-100k", "--algo", "no-such-algo")
    assert code == InvalidParameter.exit_code, text
    assert text.startswith("error: ") and "no-such-algo" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1


def test_console_script_entry_point() -> None:
    """The installed entry point, in a subprocess: a mistyped command is one short usage error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_")}
    r = subprocess.run([sys.executable, "-m", "cinerec", "modles"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("Usage: cinerec")
    assert "No such command 'modles'. Did you mean 'models'?" in r.stderr and len(r.stderr.splitlines()) <= 6
