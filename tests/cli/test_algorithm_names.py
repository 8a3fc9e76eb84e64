"""Algorithm aliases on the command line: `cinerec models algorithms` and `evaluate --algo/--param`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cinerec.algorithms.registry import get_class, names
from cinerec.cli import main


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the real entry point in-process; return its exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["cinerec", *args])
    code: int = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_models_algorithms_lists_names_classes_aliases_and_predictions(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(monkeypatch, capsys, "models", "algorithms")
    assert code == 0, err
    header = next(line for line in out.splitlines() if "name" in line and "class" in line)
    assert all(h in header for h in ("aliases", "predicts"))
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    assert sorted(rows) == names()
    assert "BiasedMF" in rows["biased-mf"] and "ratings + ranking" in rows["biased-mf"]
    assert "als" in rows["implicit-als"] and "ImplicitALS" in rows["implicit-als"]
    for name, line in rows.items():
        assert get_class(name).__name__ in line
        assert ("ratings" in line) == (name in {"hybrid"} or get_class(name).predicts_ratings is True), line


def test_evaluate_accepts_aliases_in_algo_and_param(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = {(int(u), int(i)) for u, i in zip(rng.integers(1, 40, 900), rng.integers(1, 60, 900), strict=True)}
    csv = tmp_path / "ratings.csv"
    csv.write_text("user,item,rating\n" + "".join(f"{u},{i},{1 + (u * i) % 5}\n" for u, i in sorted(rows)))
    monkeypatch.setenv("CINEREC_HOME", str(tmp_path / "home"))
    out_json = tmp_path / "out.json"
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "--data", str(csv), "--split", "stratified:0.8",
                            "--algo", "BiasedMF,Popularity", "--param", "biased_mf.n_epochs=3",
                            "--param", "BiasedMF.n_factors=4", "--json", str(out_json))
    assert code == 0, err
    results = json.loads(out_json.read_text())["results"]
    assert {r["algo"] for r in results} == {"biased-mf", "popularity"}
    mf = next(r for r in results if r["algo"] == "biased-mf")
    assert mf["params"]["n_epochs"] == 3 and mf["params"]["n_factors"] == 4


def test_unknown_algorithm_on_the_command_line_suggests(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(monkeypatch, capsys, "train", "--algo", "biasd_mf")
    assert code == 2
    assert err.startswith("error: unknown algorithm 'biasd_mf'; did you mean biased-mf")
    assert "Traceback" not in err
