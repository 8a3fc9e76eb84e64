"""The quality gate DESIGN.md asks for: ruff, mypy (strict on src/) and the import contracts pass.

Each tool runs from the virtualenv that runs the tests, in the repository root, so
it reads the same configuration (pyproject.toml) as a developer's shell or CI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_tool(name: str, *args: str, timeout: float) -> None:
    """Run ``BIN/name args`` in the repository root and fail with its output unless it exits 0."""
    exe = BIN / name
    if not exe.is_file():
        pytest.fail(f"{exe} not found: install the dev extra (pip install -e '.[dev]')")
    proc = subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"


def test_ruff_clean() -> None:
    run_tool("ruff", "check", "src", "tests", "benchmarks", timeout=300)


@pytest.mark.slow  # a cold mypy run over src/ takes about a minute
def test_mypy_strict_clean() -> None:
    # no arguments: [tool.mypy] in pyproject.toml names src/ and turns strict on
    run_tool("mypy", timeout=1200)


def test_import_contracts_kept() -> None:
    run_tool("lint-imports", timeout=300)
