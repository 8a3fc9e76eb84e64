"""atomic_write / atomic_open: the whole new file or the old one, never a partial write."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from cinerec.fileio import atomic_open, atomic_write


def test_writes_and_replaces_with_readable_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    assert atomic_write(target, b"one") == target
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "arrays.npz"
    atomic_write(target, b"old")
    with pytest.raises(RuntimeError, match="disk gone"), atomic_open(target) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("disk gone")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["arrays.npz"]


def test_streams_numpy_archives(tmp_path: Path) -> None:
    target = tmp_path / "x.npz"
    with atomic_open(target) as fh:
        np.savez(fh, a=np.arange(3))
    with np.load(target, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["a"], np.arange(3))


def test_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nope" / "a.json", b"x")
