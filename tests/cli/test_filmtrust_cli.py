"""FilmTrust from the command line: `data import --format filmtrust`, `data fetch filmtrust`, `evaluate` with trust-svd."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cinerec.cli.evaluate import split_algo_option
from cinerec.errors import InvalidParameter
from tests.cli.test_import_formats import cli, env

__all__ = ["env"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.e2e


@pytest.mark.slow  # imports FilmTrust twice in subprocesses
def test_import_folder_with_trust_is_idempotent(env: dict[str, str], datasets: Path) -> None:
    folder = datasets / "filmtrust"
    n_edges = sum(1 for ln in (folder / "trust.txt").read_text().split("\n") if ln.strip())
    r = cli("data", "import", str(folder), "--format", "filmtrust", env=env)
    assert r.returncode == 0, r.stderr
    assert f"trust.txt: {n_edges} trust edges of {n_edges} lines" in r.stderr
    follows = [ln for ln in r.stdout.splitlines() if "│ follows " in ln]
    assert len(follows) == 1 and str(n_edges) in follows[0]
    r2 = cli("data", "import", str(folder), "--format", "filmtrust", env=env)
    assert r2.returncode == 0 and [ln for ln in r2.stdout.splitlines() if "│ follows " in ln] == follows


def test_import_with_a_broken_trust_line_exits_2_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    d = tmp_path / "ft"
    d.mkdir()
    (d / "ratings.txt").write_text("1,10,3.5\n2,10,4\n")
    (d / "trust.txt").write_text("1 2 1\n2 1 x\n")
    r = cli("data", "import", str(d), "--format", "filmtrust", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "error: trust.txt:2: field 'value': trust value 'x' is not a number"


def test_fetch_filmtrust_from_a_local_folder_verifies_checksums(env: dict[str, str], datasets: Path,
                                                                tmp_path: Path) -> None:
    e = {**env, "CINEREC_DATA_DIR": str(tmp_path / "empty")}
    r = cli("data", "fetch", "filmtrust", "--path", str(datasets / "filmtrust"), env=e)
    assert r.returncode == 0, r.stderr
    out = Path(r.stdout.strip())
    assert out.name == "filmtrust" and (out / "trust.txt").read_bytes() == (datasets / "filmtrust" / "trust.txt").read_bytes()
    bad = tmp_path / "bad"
    shutil.copytree(datasets / "filmtrust", bad)
    with (bad / "ratings.txt").open("a") as fh:
        fh.write("9999,1,4\n")
    r = cli("data", "fetch", "filmtrust", "--path", str(bad), env=e)
    assert r.returncode == 8 and "checksum mismatch for filmtrust ratings.txt" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow  # cross-validates three models on FilmTrust
def test_evaluate_trust_svd_with_and_without_the_graph(env: dict[str, str], datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = cli("evaluate", "--data", str(datasets / "filmtrust"), "--format", "filmtrust", "--split", "kfold:2",
            "--algo", "bias,trust-svd[n_epochs=10],trust-svd[use_trust=false;n_epochs=10]", "--json", str(out), env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    labels = [s["algo"] for s in doc["summary"]]
    assert labels == ["bias", "trust-svd[n_epochs=10]", "trust-svd[n_epochs=10,use_trust=False]"]
    assert "trust-svd[n_epochs=10,use_trust=False]" in r.stdout  # escaped, not eaten as rich markup
    learned = {row["algo"]: row["learned"] for row in doc["results"] if row["fold"] == "fold-1"}
    assert learned["trust-svd[n_epochs=10]"]["trust_edges"] > 0
    assert learned["trust-svd[n_epochs=10,use_trust=False]"]["trust_edges"] == 0
    assert all(s["rmse"] is not None and s["rmse"] < 1.0 for s in doc["summary"])


def test_split_algo_option() -> None:
    assert split_algo_option("bias, trust-svd[use_trust=false;reg=0.5;note=x] ,ease") == [
        ("bias", {}), ("trust-svd", {"use_trust": False, "reg": 0.5, "note": "x"}), ("ease", {})]
    assert split_algo_option("hybrid[members=\"bias,item-knn\"]") == [("hybrid", {"members": "bias,item-knn"})]
    for bad in ("bias]", "trust-svd[reg=1", "trust-svd[reg]", "trust-svd[reg=1]x"):
        with pytest.raises(InvalidParameter):
            split_algo_option(bad)
