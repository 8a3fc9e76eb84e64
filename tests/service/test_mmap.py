"""Memory-mapped artifacts: loaded arrays are copy-on-write views of the artifact's file, equal to numpy.load's.

Every serving process maps the same file, so the kernel keeps one copy of the arrays in its page cache; a
process that writes into one gets a private page. Corrupt files are refused as before, and members that
cannot be views (compressed, written unaligned by older versions) are read into memory.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from cinerec.algorithms import persist
from cinerec.algorithms.registry import create
from cinerec.errors import DataFormatError
from cinerec.service.recommender import RecommenderService
from cinerec.service.registry import ModelRegistry
from tests.algorithms.contract import low_rank


def mapped_files(arr: np.ndarray) -> set[str]:
    """Paths of the file mappings (``/proc/self/maps``) that hold ``arr``'s first byte."""
    address = arr.__array_interface__["data"][0]
    found = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if lo <= address < hi and len(parts) == 6:
            found.add(parts[5].strip())
    return found


def is_mapping_view(arr: np.ndarray) -> bool:
    """Whether ``arr``'s memory belongs to an ``mmap.mmap`` (through its base chain)."""
    base: Any = arr
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)


@pytest.fixture(scope="module")
def fitted() -> Any:
    data = low_rank(n_users=60, n_items=400, rank=4, density=0.05)
    return data, create("implicit-als", n_factors=8, n_iterations=5).fit(data)


@pytest.fixture
def artifact(tmp_path: Path, fitted: Any) -> Path:
    _, model = fitted
    return persist.save(model, tmp_path / "art", attachments={"item_ids": np.arange(400) + 10_000})


def rewrite_checksums(folder: Path) -> None:
    """Make the manifest agree with the files again, so that a damaged file reaches the reader, not the checksum."""
    manifest = json.loads((folder / persist.MANIFEST).read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / persist.MANIFEST).write_text(json.dumps(manifest))


def test_loaded_arrays_are_views_of_the_artifact_file_equal_to_numpy_load(artifact: Path, fitted: Any) -> None:
    _, model = fitted
    loaded: Any = persist.load(artifact)
    copied: Any = persist.load(artifact, mmap=False)
    npz = str((artifact / persist.ARRAYS).resolve())
    with np.load(artifact / persist.ARRAYS, allow_pickle=False) as z:
        reference = {k: z[k] for k in z.files}
    for key in ("item_factors_", "user_factors_", "seen_values_"):
        arr = getattr(loaded, key)
        assert is_mapping_view(arr), key
        assert mapped_files(arr) == {npz}, key
        assert arr.flags.aligned and arr.flags.writeable
        np.testing.assert_array_equal(arr, reference[key])
        np.testing.assert_array_equal(arr, getattr(copied, key))
        assert not is_mapping_view(getattr(copied, key))
    # the sparse mask is built over the mapped components, not over copies (scipy keeps int32 indices as given)
    for part in ("data", "indices", "indptr"):
        assert mapped_files(getattr(loaded.seen_, part)) == {npz}, part
        np.testing.assert_array_equal(getattr(loaded.seen_, part), reference[f"seen_.{part}"])
    assert (loaded.seen_ != model.seen_).nnz == 0
    ids = persist.load_attachments(artifact)["item_ids"]
    assert mapped_files(ids) == {str((artifact / persist.ATTACHMENTS).resolve())}
    np.testing.assert_array_equal(ids, np.arange(400) + 10_000)


def test_writing_into_a_loaded_array_changes_neither_the_file_nor_another_load(artifact: Path) -> None:
    before = (artifact / persist.ARRAYS).read_bytes()
    first: Any = persist.load(artifact)
    second: Any = persist.load(artifact)
    original = second.item_factors_.copy()
    first.item_factors_[:] = 7.0
    first.seen_.data[:] = 0.0
    assert (first.item_factors_ == 7.0).all()
    np.testing.assert_array_equal(second.item_factors_, original)
    assert (second.seen_.data == 1).all()
    assert (artifact / persist.ARRAYS).read_bytes() == before
    persist.verify(artifact)  # checksums still hold
    again: Any = persist.load(artifact)
    np.testing.assert_array_equal(again.item_factors_, original)


def test_a_mapped_model_folds_in_and_ranks_like_a_copied_one(artifact: Path, fitted: Any) -> None:
    data, model = fitted
    mapped: Any = persist.load(artifact)
    copied: Any = persist.load(artifact, mmap=False)
    items, values = data.matrix[3].indices[:8], np.ones(8)
    np.testing.assert_allclose(mapped.fold_in(items, values), model.fold_in(items, values))
    got, want = mapped.recommend_history(items, values, 10), copied.recommend_history(items, values, 10)
    np.testing.assert_array_equal(got.items, want.items)
    np.testing.assert_allclose(got.scores, want.scores)
    users = np.arange(10)
    np.testing.assert_array_equal(mapped.recommend(users, 5).items, model.recommend(users, 5).items)


def test_registry_maps_unless_told_not_to_and_the_ann_index_loads_from_a_mapping(
        tmp_path: Path, fitted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is part of .[dev]")
    data, model = fitted
    model = create("implicit-als", n_factors=8, n_iterations=5).fit(data)
    model.build_ann_index(nlist=8)
    reg = ModelRegistry(tmp_path / "models")
    info = reg.publish(model, user_ids=data.user_vocab.ids + 100, item_ids=data.item_vocab.ids + 10_000)
    loaded: Any
    loaded, att, _ = reg.load(info.version)
    assert is_mapping_view(loaded.ann_index_) and is_mapping_view(att["item_ids"]) and is_mapping_view(loaded.item_factors_)
    svc = RecommenderService(reg, ann_min_items=1)
    history = [(10_000 + int(i), 1.0) for i in data.matrix[0].indices[:6]]
    got = svc.recommend(999, 10, explain=False, history=history)
    assert got.strategy == "implicit-als:history" and len(got.items) == 10
    assert svc.live.model._ann() is not None  # faiss read its own copy of the index from the mapped bytes
    assert not {r.movie_id for r in got.items} & {m for m, _ in history}
    unmapped: Any = ModelRegistry(tmp_path / "models", mmap=False).load(info.version)[0]
    assert not is_mapping_view(unmapped.item_factors_)
    monkeypatch.setenv("CINEREC_MMAP_ARTIFACTS", "false")
    from cinerec.config import get_settings

    get_settings.cache_clear()
    try:
        from_setting: Any = ModelRegistry(tmp_path / "models").load(info.version)[0]
        assert not is_mapping_view(from_setting.item_factors_)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("damage", ["truncate", "empty", "signature", "npy-header"])
def test_a_damaged_npz_is_refused_with_a_clear_error(artifact: Path, damage: str) -> None:
    target = artifact / persist.ARRAYS
    raw = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as zf:
        member = zf.infolist()[1]
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "empty":
        raw = bytearray()
    elif damage == "signature":  # a member's local header no longer starts where the directory says
        raw[member.header_offset:member.header_offset + 4] = b"XXXX"
    else:  # the member's extra field claims 8 more bytes: its data no longer start with numpy's magic
        at = member.header_offset + 28
        raw[at:at + 2] = (int.from_bytes(raw[at:at + 2], "little") + 8).to_bytes(2, "little")
    target.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        persist.load(artifact)
    rewrite_checksums(artifact)  # a file damaged before its checksum was taken reaches the reader
    with pytest.raises(DataFormatError, match="cannot read arrays") as err:
        persist.load(artifact)
    assert "arrays.npz" in str(err.value)


def test_compressed_and_unaligned_members_are_read_into_memory(tmp_path: Path) -> None:
    arrays: dict[str, np.ndarray] = {"a": np.arange(1000, dtype=np.float64), "b": np.arange(12, dtype=np.int32).reshape(3, 4),
              "c": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    compressed, plain = tmp_path / "z.npz", tmp_path / "p.npz"
    np.savez_compressed(compressed, **arrays)  # type: ignore[arg-type]
    np.savez(plain, **arrays)  # type: ignore[arg-type]  # numpy's own writer: members start wherever they fall
    from_compressed: dict[str, Any] = persist.read_npz(compressed)
    from_plain: dict[str, Any] = persist.read_npz(plain)
    for key, want in arrays.items():
        np.testing.assert_array_equal(from_compressed[key], want)
        np.testing.assert_array_equal(from_plain[key], want)
        assert not is_mapping_view(from_compressed[key])
        assert from_plain[key].flags.aligned  # a view where the member happens to be aligned, else a copy
        assert from_plain[key].flags.f_contiguous == want.flags.f_contiguous


def test_aligned_writer_output_is_a_plain_npz_and_object_arrays_are_refused(tmp_path: Path) -> None:
    arrays = {"x": np.arange(5.0), "m.data": np.ones(3, np.float32), "s": np.array(2.5), "e": np.zeros((0, 4))}
    persist._write_npz(tmp_path / "a.npz", arrays)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert set(z.files) == set(arrays)
        for key, want in arrays.items():
            np.testing.assert_array_equal(z[key], want)
    got = persist.read_npz(tmp_path / "a.npz")
    assert all(is_mapping_view(got[k]) for k in ("x", "m.data", "s"))
    with zipfile.ZipFile(tmp_path / "o.npz", "w") as zf, zf.open("bad.npy", "w") as fh:
        np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match="cannot read arrays"):
        persist.read_npz(tmp_path / "o.npz")
    with pytest.raises(DataFormatError, match="cannot read arrays"):
        persist.read_npz(tmp_path / "o.npz", mmap=False)


def test_sparse_matrix_over_mapped_components_shares_them(tmp_path: Path) -> None:
    """The components keep their dtypes as saved (scipy's own int32 choice), so scipy copies none of them."""
    m = sp.random(50, 40, density=0.1, format="csr", random_state=0)
    persist._write_npz(tmp_path / "s.npz", {"m.data": m.data, "m.indices": m.indices, "m.indptr": m.indptr})
    got = persist.read_npz(tmp_path / "s.npz")
    rebuilt = sp.csr_matrix((got["m.data"], got["m.indices"], got["m.indptr"]), shape=m.shape)
    for part in ("data", "indices", "indptr"):
        assert np.shares_memory(getattr(rebuilt, part), got[f"m.{part}"]), part
    assert (rebuilt != m).nnz == 0


def test_concurrent_first_requests_read_the_ann_index_once(tmp_path: Path, fitted: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each copy faiss makes is private to the process (128 MiB at 500k items): threads must not make one each."""
    pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is part of .[dev]")
    import threading
    import time

    from cinerec.algorithms import _ann

    data, _ = fitted
    model = create("implicit-als", n_factors=8, n_iterations=5).fit(data)
    model.build_ann_index(nlist=8)
    loaded = persist.load(persist.save(model, tmp_path / "art"))
    loaded.ann_min_items = 1
    calls: list[int] = []
    real = _ann.deserialize

    def slow_deserialize(*args: Any) -> Any:
        calls.append(threading.get_ident())
        time.sleep(0.2)  # widen the window in which the other threads find no index yet
        return real(*args)

    monkeypatch.setattr(_ann, "deserialize", slow_deserialize)
    items = data.matrix[0].indices[:5]
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(loaded.recommend_history(items, np.ones(5), 10)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 4
    assert all(np.array_equal(r.items, results[0].items) for r in results)


def test_a_swapped_out_version_releases_its_mapping_without_the_cyclic_collector(tmp_path: Path, fitted: Any) -> None:
    """Servers freeze the collector after start-up (gc.freeze): the old model must go by reference counting alone,
    or every retraining would keep another artifact mapped (and its pruned files' disk space held)."""
    import gc

    data, _ = fitted
    reg = ModelRegistry(tmp_path / "models", keep=0)

    def publish() -> Any:
        model = create("implicit-als", n_factors=8, n_iterations=3).fit(data)
        return reg.publish(model, user_ids=data.user_vocab.ids + 100, item_ids=data.item_vocab.ids + 10_000)

    first = publish()
    svc = RecommenderService(reg)
    history = [(10_000 + int(i), 1.0) for i in data.matrix[0].indices[:5]]
    svc.recommend(100, 5, history=history)
    svc.recommend(100, 5)
    assert first.version in Path("/proc/self/maps").read_text()
    gc.disable()
    try:
        second = publish()
        svc.refresh()
        svc.recommend(100, 5, history=history)
        maps = Path("/proc/self/maps").read_text()
    finally:
        gc.enable()
    assert first.version not in maps and second.version in maps
    assert not first.path.exists()  # pruned (keep=0), and no process holds its pages any more
