"""`cinerec data import` and `cinerec evaluate` on files that are not MovieLens: summaries, exit codes, scales."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.data import shapes
from tests.data.test_formats import filmtrust_truth

pytestmark = pytest.mark.e2e


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cinerec", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path, datasets: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_")}
    e["CINEREC_HOME"] = str(tmp_path / "home")
    e["CINEREC_DATA_DIR"] = str(datasets)
    e["COLUMNS"] = "200"
    return e


def movietweetings_like(root: Path, n_users: int = 80, per_user: int = 20, bad: int = 0) -> Path:
    """A MovieTweetings-shaped folder with 0-10 ratings; ``bad`` ratings of 11 at the end."""
    rng = np.random.default_rng(3)
    d = root / "mt"
    d.mkdir(parents=True)
    items = [f"{k:07d}" for k in range(100, 160)]
    (d / "movies.dat").write_text("".join(f"{m}::Film {m} (2010)::Drama\n" for m in items), encoding="utf-8")
    lines = [f"{u}::{m}::{rng.integers(0, 11)}::{1_500_000_000 + k}"
             for u in range(1, n_users + 1) for k, m in enumerate(rng.choice(items, per_user, replace=False))]
    lines += [f"{n_users + 1}::{items[k]}::11::1500000000" for k in range(bad)]
    (d / "ratings.dat").write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.slow
def test_filmtrust_imports_and_evaluates_on_its_scale(env: dict[str, str], datasets: Path, tmp_path: Path) -> None:
    f = datasets / "filmtrust" / "ratings.txt"
    rows, pairs, users, items, _ = filmtrust_truth(f)
    r = cli("data", "import", str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert f"filmtrust (filmtrust): {pairs} ratings kept of {rows} rows in ratings.txt; 0 rejected" in r.stderr
    assert "dropped (not an error): duplicate row" in r.stderr and "format filmtrust" in r.stderr
    # the trust.txt beside ratings.txt comes along: its people are users too (some rated nothing), its edges follows
    trust = [ln.split()[:2] for ln in (f.parent / "trust.txt").read_text().split("\n") if ln.strip()]
    raters = {ln.split(",")[0] for ln in f.read_text().split("\n") if ln.strip()}
    assert len(raters) == users
    people = len(raters | {u for e in trust for u in e})
    assert "│ ratings " in r.stdout and str(pairs) in r.stdout and str(items) in r.stdout and str(people) in r.stdout
    assert "│ follows " in r.stdout and str(len(trust)) in r.stdout
    assert "rating scale 0.5-4 in steps of 0.5: stored as stars unchanged" in r.stdout
    out = tmp_path / "r.json"
    r = cli("evaluate", "--data", str(f), "--split", "stratified:0.75", "--algo", "bias", "--json", str(out), env=env)
    assert r.returncode == 0, r.stderr
    assert f"{pairs} ratings kept of {rows} rows" in r.stderr
    rmse = json.loads(out.read_text())["summary"][0]["rmse"]
    assert 0.5 < rmse < 1.2  # on 0.5-4 stars; MovieLens-scale clipping would not leave it here


@pytest.mark.slow
def test_movietweetings_rejected_rows_refuse_then_import_mapped(env: dict[str, str], tmp_path: Path) -> None:
    d = shapes.movietweetings(tmp_path)
    r = cli("data", "import", str(d), env=env)
    assert r.returncode == 2
    assert "ratings.dat:6: field 'rating': rating out of range (not in 0-10 in steps of 1) ('11')" in r.stderr
    assert "rejected: rating out of range (not in 0-10 in steps of 1): 1" in r.stderr
    assert "1 of 6 rating rows (16.7%) were rejected, more than the 1% allowed" in r.stderr
    r = cli("data", "import", str(d), "--max-rejected", "0.2", env=env)
    assert r.returncode == 0, r.stderr
    assert "rating scale 0-10 in steps of 1: mapped linearly onto 0.5-5 stars" in r.stdout
    assert "movies.dat: utf-8" in r.stderr


@pytest.mark.slow
def test_nothing_imported_exits_non_zero_and_says_why(env: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "ten.csv"
    f.write_text("7,70,9\n8,70,10\n9,71,6\n")
    r = cli("data", "import", str(f), "--scale", "1:5", "--max-rejected", "1", env=env)
    assert r.returncode == 2
    assert "3 rejected (100.00%)" in r.stderr and "ten.csv:1: field 'rating'" in r.stderr
    assert "error: ten.csv: nothing to import: none of the 3 rating rows was kept" in r.stderr
    # the same file with its own scale: every row, the first one included
    r = cli("data", "import", str(f), "--sep", ",", "--no-header", "--columns", "user=0,item=1,rating=2", "--scale", "0:10", env=env)
    assert r.returncode == 0, r.stderr
    assert "3 ratings kept of 3 rows" in r.stderr and "placeholder movies (no title) │    2" in r.stdout


@pytest.mark.slow
def test_evaluate_prints_rejections_and_refuses_above_the_share(env: dict[str, str], tmp_path: Path) -> None:
    d = movietweetings_like(tmp_path, bad=40)
    out = tmp_path / "r.json"
    args = ("evaluate", "--data", str(d), "--split", "stratified:0.75", "--algo", "bias", "--json", str(out))
    r = cli(*args, env=env)
    assert r.returncode == 2 and not out.exists()
    assert "40 rejected (2.44%); rating scale 0-10 in steps of 1" in r.stderr
    assert "more than the 1% allowed" in r.stderr and "Traceback" not in r.stderr
    r = cli(*args, "--max-rejected", "0.05", env=env)
    assert r.returncode == 0, r.stderr
    rmse = json.loads(out.read_text())["summary"][0]["rmse"]
    assert 2.0 < rmse < 5.0  # uniform 0-10 ratings: about 3.2 on their own scale
