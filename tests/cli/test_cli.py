"""The CLI end to end in subprocesses: exit codes, one-line errors, summaries, evaluate JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import DatasetCounts

pytestmark = pytest.mark.e2e


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cinerec", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path, datasets: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_")}
    e["CINEREC_HOME"] = str(tmp_path / "home")
    e["CINEREC_DATA_DIR"] = str(datasets)
    return e


def test_fetch_offline_gives_one_paragraph_and_no_traceback(env: dict[str, str], tmp_path: Path) -> None:
    e = {**env, "CINEREC_DATA_DIR": str(tmp_path / "empty"), "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    r = cli("data", "fetch", "ml-1m", env=e, timeout=120)
    assert r.returncode == 8
    assert "Traceback" not in r.stderr
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in r.stderr
    assert "--path" in r.stderr


def test_fetch_uses_data_dir_and_local_archive_checksum(env: dict[str, str], tmp_path: Path) -> None:
    r = cli("data", "fetch", "ml-100k", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ml-100k")
    bogus = tmp_path / "ml-100k.zip"
    import zipfile

    with zipfile.ZipFile(bogus, "w") as z:
        z.writestr("ml-100k/u.data", "1\t1\t5\t1\n")
    r = cli("data", "fetch", "ml-100k", "--path", str(bogus), env=env)
    assert r.returncode == 8 and "checksum mismatch for ml-100k" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow  # imports ML-100K twice in subprocesses
def test_import_summary_and_idempotent(env: dict[str, str], datasets: Path, ml100k_counts: DatasetCounts) -> None:
    r = cli("data", "import", str(datasets / "ml-100k"), env=env)
    assert r.returncode == 0, r.stderr
    assert all(str(n) in r.stdout for n in (ml100k_counts.ratings, ml100k_counts.users, ml100k_counts.movies))
    r2 = cli("data", "import", str(datasets / "ml-100k"), env=env)
    assert r2.returncode == 0


def test_import_malformed_file_exit_code_and_message(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,2,3\n1,2\n4,5,3,9\n")
    r = cli("data", "import", str(bad), env=env)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: bad.csv:4: expected 3 fields, found 4; check the delimiter and quoting"


def test_db_upgrade_and_current(env: dict[str, str]) -> None:
    from alembic.script import ScriptDirectory

    from cinerec.store.migrate import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None and head >= "0006"
    r = cli("db", "upgrade", env=env)
    assert r.returncode == 0 and f"revision {head}" in r.stdout
    assert cli("db", "current", env=env).stdout.strip() == head


@pytest.mark.slow  # cross-validates on ML-100K
def test_evaluate_json_contract(env: dict[str, str], datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.json"
    r = cli("evaluate", "--data", str(datasets / "ml-100k"), "--split", "kfold:2", "--algo", "bias,popularity",
            "--param", "bias.reg_item=5", "--k", "5", "--json", str(out), "--report", str(tmp_path / "rep"), env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["split"] == "kfold:2" and doc["k"] == 5 and doc["dataset"] == "ml-100k"
    keys = {"algo", "params", "fold", "rmse", "mae", "precision@k", "recall@k", "ndcg@k", "map@k", "coverage", "fit_seconds", "predict_seconds"}
    assert all(keys <= set(row) for row in doc["results"])
    assert len(doc["results"]) == 4
    pop = next(s for s in doc["summary"] if s["algo"] == "popularity")
    assert pop["rmse"] is None and pop["ndcg@k"] > 0
    bias = next(s for s in doc["summary"] if s["algo"] == "bias")
    assert bias["params"]["reg_item"] == 5 and 0.9 < bias["rmse"] < 1.0 and bias["rmse_std"] is not None
    assert (tmp_path / "rep" / "summary.png").stat().st_size > 1000


def test_evaluate_other_rating_scales(env: dict[str, str], tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    f = tmp_path / "ten.csv"
    lines = ["user,item,rating,timestamp"] + [f"{u},{i},{rng.integers(0, 11)},{1000 + i}" for u in range(60) for i in rng.choice(80, 25, replace=False)]
    f.write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.json"
    r = cli("evaluate", "--data", str(f), "--split", "stratified:0.75", "--algo", "biased-mf", "--json", str(out), env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(out.read_text())["summary"][0]
    assert 0 < s["rmse"] < 6


@pytest.mark.parametrize(("args", "needle"), [
    (("evaluate", "--data", "X", "--algo", "nope"), "unknown algorithm 'nope'"),
    (("evaluate", "--data", "X", "--algo", "ease", "--param", "ease.bogus=1"), "ease has no parameter 'bogus'"),
    (("evaluate", "--data", "X", "--algo", "ease", "--split", "weird:3"), "unknown split 'weird:3'"),
])
def test_evaluate_bad_arguments(env: dict[str, str], datasets: Path, args: tuple[str, ...], needle: str) -> None:
    args = tuple(str(datasets / "ml-100k") if a == "X" else a for a in args)
    r = cli(*args, env=env)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow  # imports ML-100K and trains twice
def test_train_and_models(env: dict[str, str], datasets: Path) -> None:
    assert cli("data", "import", str(datasets / "ml-100k"), env=env).returncode == 0
    r = cli("train", "--algo", "item-knn", env=env)
    assert r.returncode == 0 and "published" in r.stdout, r.stderr
    r = cli("train", "--algo", "popularity", env=env)
    assert r.returncode == 0
    listed = cli("models", "list", env=env).stdout
    assert listed.count("\n") == 2 and "* " in listed
    r = cli("models", "rollback", env=env)
    assert r.returncode == 0 and "item-knn" in r.stdout


@pytest.mark.slow  # trains the zh sentiment model and imports ML-100K
def test_reviews_commands(env: dict[str, str], datasets: Path, tmp_path: Path) -> None:
    r = cli("reviews", "train-sentiment", "--lang", "zh", env=env)
    assert r.returncode == 0, r.stderr
    assert "douban-short-comments" in r.stdout and "accuracy" in r.stdout
    assert (tmp_path / "home" / "nlp" / "sentiment-zh.npz").is_file()
    out = json.loads(cli("reviews", "sentiment", "剧情拖沓，浪费时间", env=env).stdout)
    assert out == {**out, "language": "zh", "method": "model", "label": "negative"}
    r = cli("reviews", "sentiment", "x" * 60_000, env=env)
    assert r.returncode != 0 and "limit is 50,000" in r.stderr and "Traceback" not in r.stderr
    r = cli("reviews", "train-sentiment", "--lang", "fr", env=env)
    assert r.returncode != 0 and "--lang must be en or zh" in r.stderr
    r = cli("reviews", "train-sentiment", "--lang", "en", "--corpus", str(datasets / "reviews" / "douban-short-comments"), env=env)
    assert r.returncode != 0 and "is a zh corpus, not en" in r.stderr
    assert cli("data", "import", str(datasets / "ml-100k"), env=env).returncode == 0
    f = tmp_path / "reviews.csv"
    f.write_text("user_id,movie_id,text\n1,1,太好看了，强烈推荐\n2,1,A joyless and tedious film\n3,1,\n", encoding="utf-8")
    r = cli("reviews", "import", str(f), "--source", "ml-100k", env=env)
    assert r.returncode == 0, r.stderr
    assert "inserted (new)" in r.stdout and "rejected: empty review" in r.stdout and "reviews.csv:4" in r.stderr
    assert cli("reviews", "score", "--rescore", env=env).stdout.strip() == "scored 2 reviews"
    assert cli("reviews", "keywords", env=env).stdout.strip() == "keywords for 1 films"
    ins = json.loads(cli("reviews", "insights", "1", env=env).stdout)
    assert ins["summary"]["n_reviews"] == 2 and ins["summary"]["positive"] == 0.5
    r = cli("reviews", "insights", "999999", env=env)
    assert r.returncode != 0 and "movie 999999 does not exist" in r.stderr


@pytest.mark.slow  # imports ml-latest-small and TMDB, builds the map
def test_import_metadata_and_enrich_arguments(env: dict[str, str], datasets: Path) -> None:
    assert cli("data", "import", str(datasets / "ml-latest-small"), env=env).returncode == 0
    r = cli("data", "import-metadata", str(datasets / "tmdb-5000"), env=env)
    assert r.returncode == 0, r.stderr
    assert "films matched" in r.stdout and "overviews" in r.stdout
    r = cli("data", "import-metadata", str(datasets / "ml-100k"), env=env)
    assert r.returncode != 0 and "not movie metadata" in r.stderr and "Traceback" not in r.stderr
    r = cli("data", "enrich", "--tmdb-api-key", " ", env=env)
    assert r.returncode != 0 and "TMDB API key is needed" in r.stderr
    assert cli("map", env=env).stdout.startswith("mapped ")
