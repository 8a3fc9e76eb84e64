"""Model registry: atomic publish/activate, corrupt artifacts refused, rollback, pruning, partial writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cinerec.algorithms import ItemKNN, Popularity
from cinerec.errors import Conflict, DataFormatError, NotFound
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from tests.algorithms.contract import two_groups


def publish(reg: ModelRegistry, algo: type = Popularity, *, activate: bool = True):  # type: ignore[no-untyped-def]
    data, _ = two_groups()
    return reg.publish(algo().fit(data), user_ids=data.user_vocab.ids + 100, item_ids=data.item_vocab.ids + 1000,
                       activate=activate)


def test_publish_activate_rollback_and_prune(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, keep=2)
    with pytest.raises(Conflict):
        reg.rollback()
    versions = [publish(reg).version for _ in range(5)]
    assert reg.active_version() == versions[-1]
    assert {v.version for v in reg.versions()} == set(versions[-3:])  # active + 2 previous
    assert reg.rollback().version == versions[-2]
    assert reg.active_version() == versions[-2]
    with pytest.raises(NotFound):
        reg.activate("nope")


def test_held_versions_survive_pruning_until_released(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, keep=1)
    base = publish(reg).version
    candidate = publish(reg, activate=False).version  # published beside the active one, e.g. for an A/B test
    reg.hold(candidate, "experiment:x")
    reg.hold(base, "experiment:x")
    reg.hold(base, "experiment:y")
    for _ in range(3):
        publish(reg)
    assert {base, candidate} <= {v.version for v in reg.versions()}
    assert reg.held() == {candidate: ["experiment:x"], base: ["experiment:x", "experiment:y"]}
    reg.release("experiment:x")
    assert reg.held() == {base: ["experiment:y"]}
    publish(reg)
    kept = {v.version for v in reg.versions()}
    assert candidate not in kept and base in kept
    with pytest.raises(NotFound):
        reg.hold("nope", "experiment:z")


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "manifest"])
def test_corrupt_artifact_is_refused_and_old_version_keeps_serving(tmp_path: Path, damage: str) -> None:
    reg = ModelRegistry(tmp_path)
    good = publish(reg)
    bad = reg.publish(ItemKNN().fit(two_groups()[0]), user_ids=np.arange(40), item_ids=np.arange(20), activate=False)
    target = bad.path / ("manifest.json" if damage == "manifest" else "arrays.npz")
    raw = bytearray(target.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "bitflip":
        raw[len(raw) // 2] ^= 0xFF
    else:
        raw = raw[:10]
    target.write_bytes(bytes(raw))
    with pytest.raises((DataFormatError, NotFound)):
        reg.activate(bad.version)
    assert reg.active_version() == good.version
    svc = RecommenderService(reg)
    assert svc.recommend(100, 3).model_version == good.version


def test_partial_writes_are_cleaned_and_never_active(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    good = publish(reg)
    junk = reg.versions_dir / ".tmp-20990101T000000-x"
    junk.mkdir()
    (junk / "arrays.npz").write_bytes(b"partial")
    assert good.version == reg.active_version()
    assert all(not v.version.startswith(".tmp") for v in reg.versions())
    publish(reg)
    assert not junk.exists()


TRAIN_SCRIPT = """
import sys, time, numpy as np
from cinerec.algorithms import persist
from cinerec.algorithms import ItemKNN
from cinerec.service.registry import ModelRegistry
from tests.algorithms.contract import two_groups
stage = sys.argv[2]
orig_save, orig_verify = persist.save, persist.verify
import cinerec.service.registry as R
def slow_save(*a, **k):
    if stage == "write":
        print("AT", flush=True); time.sleep(60)
    return orig_save(*a, **k)
def slow_verify(*a, **k):
    if stage == "flip":
        print("AT", flush=True); time.sleep(60)
    return orig_verify(*a, **k)
R.save, R.verify = slow_save, slow_verify
data, _ = two_groups()
m = ItemKNN().fit(data)
if stage == "fit":
    print("AT", flush=True); time.sleep(60)
ModelRegistry(sys.argv[1]).publish(m, user_ids=data.user_vocab.ids, item_ids=data.item_vocab.ids)
"""


@pytest.mark.parametrize("stage", ["fit", "write", "flip"])
def test_kill_during_train_keeps_active_version(tmp_path: Path, stage: str) -> None:
    reg = ModelRegistry(tmp_path)
    good = publish(reg)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(tmp_path), stage], stdout=subprocess.PIPE, text=True,
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "AT" in line
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert reg.active_version() == good.version
    assert RecommenderService(reg).recommend(100, 3).items
    publish(reg)  # the next run cleans leftovers
    assert not list(reg.versions_dir.glob(".tmp-*"))


def test_service_swaps_atomically_and_falls_back_for_cold_users(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    v1 = publish(reg, ItemKNN)
    svc = RecommenderService(reg)
    first = svc.recommend(100, 5)
    assert first.model_version == v1.version and first.strategy == "item-knn"
    assert all(r.movie_id >= 1000 for r in first.items)
    assert first.items[0].reasons and first.items[0].reasons[0]["movie_id"] >= 1000
    top = first.items[0].movie_id
    assert top not in [r.movie_id for r in svc.recommend(100, 5, exclude=[top, 424242]).items]
    cold = svc.recommend(999_999, 5)
    assert cold.strategy == "onboarding" and len(cold.items) == 5
    assert not svc.refresh()  # nothing changed
    v2 = publish(reg, Popularity)
    assert svc.recommend(100, 5).model_version == v1.version  # requests never load: the watcher or refresh() does
    assert svc.refresh()
    assert svc.recommend(100, 5).model_version == v2.version
    assert svc.recommend(100, 10**9).items  # k is clamped


def test_service_looks_at_the_pointer_stamp_not_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = ModelRegistry(tmp_path)
    v1 = publish(reg, ItemKNN)
    svc = RecommenderService(reg)
    assert svc.recommend(100, 3).model_version == v1.version
    reads = []
    real = reg.active_version
    monkeypatch.setattr(reg, "active_version", lambda: reads.append(1) or real())
    for _ in range(50):  # many polls, pointer unchanged: it is never parsed again
        assert not svc.refresh()
    assert reads == []
    v2 = publish(reg, Popularity)
    assert svc.refresh() and svc.live.version == v2.version and len(reads) == 1


def test_watcher_swaps_in_the_background_and_survives_a_broken_version(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    reg = ModelRegistry(tmp_path)
    v1 = publish(reg, ItemKNN)
    svc = RecommenderService(reg, poll_seconds=0.05)
    assert svc.recommend(100, 3).model_version == v1.version
    svc.watch()
    try:
        v2 = publish(reg, Popularity)
        deadline = time.monotonic() + 5
        while svc.live.version != v2.version and time.monotonic() < deadline:
            time.sleep(0.02)
        assert svc.recommend(100, 3).model_version == v2.version
        # a version that breaks after activation (disk damage): the watcher logs it and v2 keeps serving
        v3 = publish(reg, ItemKNN, activate=False)
        (v3.path / "arrays.npz").write_bytes(b"damaged")
        reg._write_pointer({"version": v3.version, "history": [v2.version, v1.version]})
        with caplog.at_level("ERROR", logger="cinerec.service.recommender"):
            time.sleep(0.5)
        assert svc.recommend(100, 3).model_version == v2.version
        assert sum("could not load" in r.message for r in caplog.records) == 1  # once, not every poll
        reg.activate(v1.version)
        deadline = time.monotonic() + 5
        while svc.live.version != v1.version and time.monotonic() < deadline:
            time.sleep(0.02)
        assert svc.live.version == v1.version
    finally:
        svc.stop()
