"""Training past a model's memory limit is refused with the estimate, the limit and the alternative, never OOM-killed."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from cinerec.algorithms.registry import create
from cinerec.config import Settings, get_settings, parse_size
from cinerec.errors import TrainingRefused
from cinerec.service import memory
from cinerec.service.training import check_memory, data_counts

GiB = 1024**3


def _traced_peak(algo: str, data: Any) -> tuple[int, int]:
    """``(estimate, peak traced bytes)`` of a second fit of ``algo`` (the first compiles kernels and imports)."""
    create(algo).fit(data)
    model = create(algo)
    tracemalloc.start()
    try:
        model.fit(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return model.estimate_fit_bytes(data.n_users, data.n_items, len(data)), peak


@pytest.mark.parametrize("algo", ["ease", "item-knn", "implicit-als"])
def test_estimate_is_within_a_small_factor_of_the_measured_peak(algo: str, ml100k_data: Any) -> None:
    estimate, peak = _traced_peak(algo, ml100k_data)
    # traced on ML-100K: EASE 96 vs 82 MB, item-kNN 38 vs 28 MB, implicit ALS 12.8 vs 3.6 MB; implicit ALS's estimate
    # follows its resident growth at scale (benchmarks/scale.py, about twice what tracemalloc sees)
    upper = 4.5 if algo == "implicit-als" else 3
    assert 0.5 * peak <= estimate <= upper * peak, (algo, estimate, peak)


def test_ease_grows_with_the_square_of_the_catalogue_and_knn_does_not() -> None:
    ease, knn = create("ease"), create("item-knn")
    assert ease.estimate_fit_bytes(1000, 20_000, 10**6) / ease.estimate_fit_bytes(1000, 10_000, 10**6) > 3.5
    assert knn.estimate_fit_bytes(1000, 20_000, 10**6) / knn.estimate_fit_bytes(1000, 10_000, 10**6) < 2.1
    # user-kNN compares members: its neighbour slots follow the members, item-kNN's the films
    user = create("user-knn")
    assert user.estimate_fit_bytes(200_000, 1000, 10**6) > 10 * knn.estimate_fit_bytes(200_000, 1000, 10**6)
    hybrid = create("hybrid", members="implicit-als,ease", weights=[0.5, 0.5])
    assert hybrid.estimate_fit_bytes(1000, 5000, 10**5) >= ease.estimate_fit_bytes(1000, 5000, 10**5)


def test_ease_on_60000_films_is_refused_with_the_alternative() -> None:
    with pytest.raises(TrainingRefused) as err:
        check_memory(create("ease"), 100_000, 60_000, 10_000_000, limit_bytes=16 * GiB)
    msg = err.value.message
    assert msg.startswith("EASE needs about 108 GiB to train on 60,000 films"), msg
    assert "the limit is 16.0 GiB" in msg and "item x item" in msg
    assert "--algo implicit-als" in msg and "cinerec train --engine spark --algo als" in msg
    assert "CINEREC_TRAIN_MEMORY_LIMIT" in msg
    assert err.value.details["estimate_bytes"] > err.value.details["limit_bytes"] == 16 * GiB
    assert err.value.exit_code == 10 and err.value.code == "training_refused"
    check_memory(create("implicit-als"), 100_000, 60_000, 10_000_000, limit_bytes=16 * GiB)  # the alternative fits


@pytest.mark.parametrize(("algo", "what", "instead"), [
    ("slim", "one regression per film", "slim.top_k=100"),
    ("rp3beta", "random-walk blocks", "rp3beta.top_k"),
    ("vae", "encoder and decoder layers", "--algo implicit-als"),
    ("autorec", "dense films x members matrix", "--algo bayesian-mf"),
])
def test_new_models_name_what_fills_their_memory_and_what_to_train_instead(algo: str, what: str, instead: str) -> None:
    with pytest.raises(TrainingRefused) as err:
        check_memory(create(algo), 500_000, 60_000, 50_000_000, limit_bytes=64 * 1024**2)
    assert what in err.value.message and instead in err.value.message, err.value.message


def test_memory_limit_setting_accepts_units_and_rejects_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_size("16G") == 16 * GiB and parse_size("512m") == 512 * 1024**2 and parse_size("1.5GiB") == 3 * GiB // 2
    assert parse_size("1048576") == 1024**2
    assert Settings(train_memory_limit="2G").train_memory_limit == 2 * GiB  # type: ignore[arg-type]
    monkeypatch.setenv("CINEREC_TRAIN_MEMORY_LIMIT", "16X")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="'16X' is not a memory size: give bytes or a number with K, M, G or T"):
            get_settings()
    finally:
        get_settings.cache_clear()
    with pytest.raises(ValueError, match="more than 0 bytes"):
        parse_size("0")


def test_default_limit_reads_meminfo_and_the_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("max\n")
    assert memory.available_bytes(meminfo, cgroup) == 20_000_000 * 1024
    (cgroup / "memory.max").write_text(f"{8 * GiB}\n")
    (cgroup / "memory.current").write_text(f"{2 * GiB}\n")
    assert memory.available_bytes(meminfo, cgroup) == 6 * GiB  # the container's headroom is lower
    assert memory.available_bytes(tmp_path / "missing", tmp_path / "missing") is None
    # this machine: the real /proc/meminfo
    real = memory.meminfo_available()
    assert real is not None and real > 0
    # check_memory's default: 80 % of what the files say
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path / "no-cgroup")
    monkeypatch.delenv("CINEREC_TRAIN_MEMORY_LIMIT", raising=False)
    get_settings.cache_clear()
    try:
        assert memory.default_limit() == int(0.8 * 20_000_000 * 1024)
        with pytest.raises(TrainingRefused, match=r"15\.3 GiB is available \(80% of the free memory\)"):
            check_memory(create("ease"), 1000, 30_000, 10**6)
        monkeypatch.setattr(memory, "MEMINFO", tmp_path / "missing")
        check_memory(create("ease"), 1000, 30_000, 10**6)  # unknown memory: nothing is refused
    finally:
        get_settings.cache_clear()


def test_data_counts_are_the_snapshots_sizes(sqlite_url: str, tmp_path: Path, datasets: Path) -> None:
    from cinerec.data.readers import read_dataset
    from cinerec.store.db import make_engine
    from cinerec.store.importer import import_dataset
    from cinerec.store.migrate import upgrade
    from cinerec.store.snapshot import load_interactions

    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    assert data_counts(eng) == (0, 0, 0)
    import_dataset(eng, read_dataset(_tiny_dataset(tmp_path, datasets)))
    data = load_interactions(eng)
    assert data_counts(eng) == (data.n_users, data.n_items, len(data))


def _tiny_dataset(tmp_path: Path, src: Path) -> Path:
    """The first 2,000 ratings of ml-latest-small with its film list: a small database, quick to import."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    lines = (src / "ml-latest-small" / "ratings.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "ratings.csv").write_text("".join(lines[:2001]), encoding="utf-8")
    (folder / "movies.csv").write_bytes((src / "ml-latest-small" / "movies.csv").read_bytes())
    return folder


@pytest.mark.slow  # imports a small database and starts the CLI four times
def test_cli_train_refuses_with_the_message_and_publishes_nothing(tmp_path: Path, datasets: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEREC_")}
    home = tmp_path / "home"
    env.update(CINEREC_HOME=str(home), CINEREC_DATA_DIR=str(datasets))

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cinerec", *args], env={**env, **extra}, capture_output=True,
                              text=True, timeout=300)

    assert cli("data", "import", str(_tiny_dataset(tmp_path, datasets))).returncode == 0
    r = cli("train", "--algo", "ease", CINEREC_TRAIN_MEMORY_LIMIT="1M")
    assert r.returncode == 10, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("error: EASE needs about ") and "CINEREC_TRAIN_MEMORY_LIMIT is 1.0 MiB" in r.stderr
    assert "--algo implicit-als" in r.stderr
    listed = cli("models", "list")
    assert listed.returncode == 0 and "no model versions yet" in listed.stdout
    r = cli("train", "--algo", "ease", CINEREC_TRAIN_MEMORY_LIMIT="lots")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "CINEREC_TRAIN_MEMORY_LIMIT: 'lots' is not a memory size" in r.stderr


def test_a_refused_admin_job_reports_the_reason(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from cinerec.service.jobs import Job

    log = tmp_path / "job.log"
    script = "import sys; print('loading'); print('error: EASE needs about 2.2 GiB ...', file=sys.stderr); sys.exit(10)"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT)
    proc.wait(timeout=60)
    job = Job("j1", "train", datetime.now(UTC), proc, log)
    assert job.status == "failed" and job.error == "EASE needs about 2.2 GiB ..."
