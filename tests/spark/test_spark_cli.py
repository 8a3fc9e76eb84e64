"""``cinerec train --engine spark`` in subprocesses on a small site: publishes a served model; clear one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cinerec.config import Settings
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from tests.service.test_worker import build_site, child_env, fresh

pytestmark = [pytest.mark.spark, pytest.mark.e2e]


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cinerec", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Settings:
    """150 members of ml-latest-small with an active item-kNN model."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install 'cinerec[spark]'")
    return build_site(tmp_path_factory.mktemp("spark-site"), datasets)


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], site: Settings,
             *args: str) -> tuple[int, str, str]:
    """The real entry point in-process on ``site``: exit code, stdout, stderr (cheap: no interpreter, no JVM)."""
    from cinerec.cli import main
    from cinerec.config import get_settings

    for key, value in child_env(site).items():
        if key.startswith("CINEREC_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["cinerec", *args])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as info:
            main()
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def assert_one_line_error(code: int, out: str, err: str, *words: str) -> None:
    assert code != 0 and out == ""
    assert "Traceback" not in err and "Py4J" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("error: ") and all(w in line for w in words), line


@pytest.mark.parametrize(("master", "words"), [
    ("sprak://127.0.0.1:7077", ("is not a Spark master URL", "local[N]")),
    ("spark://127.0.0.1:9", ("no Spark master answers at 127.0.0.1:9",)),
])
def test_bad_master_url_is_one_line_and_leaves_the_active_model(
        site: Settings, master: str, words: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    active = ModelRegistry(site.models_dir).active_version()
    code, out, err = run_main(monkeypatch, capsys, site, "train", "--engine", "spark", "--master", master)
    assert_one_line_error(code, out, err, *words)
    assert code == 2
    assert ModelRegistry(site.models_dir).active_version() == active


def test_missing_java_is_one_line_and_leaves_the_active_model(
        site: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    active = ModelRegistry(site.models_dir).active_version()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # the venv's bin: python, no java
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark"),
                          "Java 17", "JAVA_HOME=", "no bin/java")
    monkeypatch.delenv("JAVA_HOME")
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark", "--algo", "als"),
                          "Java 17", "no java is on PATH")
    assert ModelRegistry(site.models_dir).active_version() == active


def test_missing_pyspark_names_the_extra(site: Settings, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark"),
                          "pip install 'cinerec[spark]'")


def test_unknown_spark_parameter_and_algorithm(site: Settings, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark", "--param", "als.rnk=8"),
                          "unknown Spark ALS parameter(s) rnk")
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark", "--algo", "ease"),
                          "--engine spark trains --algo als, implicit-als (Spark MLlib ALS) or item-knn")
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark", "--algo", "item-knn",
                                    "--param", "knn.kk=8"), "unknown Spark item-kNN parameter(s) kk", "known: ")
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark", "--algo", "item-knn",
                                    "--param", "als.rank=8"), "with --algo item-knn the parameters are knn.KEY=value")
    assert_one_line_error(*run_main(monkeypatch, capsys, site, "train", "--engine", "spark", "--algo", "item-knn",
                                    "--param", "knn.k=0"), "k and max_neighbors must be >= 1")
    code, _, err = run_main(monkeypatch, capsys, site, "train", "--data", "x.parquet")
    assert code == 2 and "--data and --conf need --engine spark" in err


def test_train_on_spark_from_the_database_publishes_a_served_model(site: Settings, tmp_path: Path) -> None:
    s = fresh(site, tmp_path)
    env = child_env(s)
    before = ModelRegistry(s.models_dir).active_version()
    r = cli("train", "--engine", "spark", "--master", "local[2]", "--algo", "als", "--param", "als.rank=8",
            "--param", "als.iters=5", "--param", "als.reg=0.1", "--conf", "spark.sql.shuffle.partitions=2", env=env)
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.strip().splitlines()
    assert line.startswith("published ") and "biased-mf from Spark ALS on local[2]" in line and "holdout rmse" in line
    assert "activated" in line and "Traceback" not in r.stderr
    reg = ModelRegistry(s.models_dir)
    version = reg.active_version()
    assert version is not None and version != before and version in line
    extra = reg.info(version).extra
    assert extra["engine"] == "spark" and extra["spark_conf"] == {"spark.sql.shuffle.partitions": "2"}
    assert extra["rating_id_max"] > 0 and "data_as_of" in extra  # the snapshot's watermark, as in-process training
    assert 0.7 < extra["holdout"]["rmse"] < 1.3
    svc = RecommenderService(reg)
    member = int(reg.load(version)[1]["user_ids"][0])
    recs = svc.recommend(member, 5)
    assert recs.algo == "biased-mf" and len(recs.items) == 5
    # the previous model is one `models activate` away, nothing Spark-specific involved
    r = cli("models", "activate", str(before), env=env)
    assert r.returncode == 0 and ModelRegistry(s.models_dir).active_version() == before
