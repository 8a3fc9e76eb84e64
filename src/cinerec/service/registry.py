"""Versioned model artifacts with an atomically swapped ``active`` pointer.

Layout under the models folder::

    versions/<version>/manifest.json, arrays.npz, attachments.npz
    active.json        {"version": ..., "previous": [...]}  (replaced atomically)
    .tmp-*             partial writes; removed by the next publish

A version folder appears only after its artifact is fully written and
verified (write to ``.tmp-*``, fsync, rename), and the pointer only ever
names complete versions, so a training run killed at any point leaves the
active model serving.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cinerec.algorithms.base import RecommenderBase
from cinerec.algorithms.persist import load, load_attachments, read_manifest, save, verify
from cinerec.errors import Conflict, DataFormatError, NotFound
from cinerec.fileio import atomic_write

POINTER = "active.json"
#: Versions held out of pruning, with their holders (``{version: [holder, ...]}``).
HELD = "held.json"


@dataclass(frozen=True)
class VersionInfo:
    """A published model version."""

    version: str
    algo: str
    created_at: str
    path: Path
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (no filesystem path)."""
        return {"version": self.version, "algo": self.algo, "created_at": self.created_at, **self.extra}


class ModelRegistry:
    """Publish, activate, roll back and list model versions in a folder.

    Args:
        root: the models folder.
        keep: how many previous versions to keep besides the active one.
        mmap: load versions' arrays as copy-on-write memory maps of their
            files (shared by every process serving the same version, see
            :mod:`cinerec.algorithms.persist`) or read them into memory;
            ``None``: the ``CINEREC_MMAP_ARTIFACTS`` setting (on by default).
    """

    def __init__(self, root: Path, keep: int = 2, *, mmap: bool | None = None) -> None:
        self.root = Path(root)
        self.keep = keep
        self.versions_dir = self.root / "versions"
        self._mmap = mmap

    @property
    def mmap(self) -> bool:
        """Whether :meth:`load` maps the arrays (the argument, else the setting)."""
        if self._mmap is not None:
            return self._mmap
        from cinerec.config import get_settings

        return get_settings().mmap_artifacts

    # -------------------------------------------------------------- queries
    def info(self, version: str) -> VersionInfo:
        """Details of one version.

        Raises:
            NotFound: unknown version.
        """
        path = self.versions_dir / version
        if not (path / "manifest.json").is_file():
            raise NotFound(f"model version {version!r} does not exist")
        m = read_manifest(path)
        return VersionInfo(version, m["algo"], m["created_at"], path, m.get("extra", {}))

    def versions(self) -> list[VersionInfo]:
        """Complete versions, newest first."""
        if not self.versions_dir.is_dir():
            return []
        out = []
        for p in self.versions_dir.iterdir():
            if p.is_dir() and (p / "manifest.json").is_file():
                try:
                    out.append(self.info(p.name))
                except DataFormatError:
                    continue
        return sorted(out, key=lambda v: v.version, reverse=True)

    def _pointer(self) -> dict[str, Any]:
        p = self.root / POINTER
        if not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def pointer_stamp(self) -> tuple[int, int] | None:
        """``(mtime_ns, inode)`` of the active pointer (``None`` if absent): changes whenever it is replaced."""
        try:
            st = (self.root / POINTER).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino

    def active_version(self) -> str | None:
        """The active version name, or ``None`` before the first activation."""
        v = self._pointer().get("version")
        return v if isinstance(v, str) else None

    def previous_versions(self) -> list[str]:
        """Earlier active versions, most recent first (:meth:`rollback` restores the first that still exists)."""
        return [v for v in self._pointer().get("history", []) if isinstance(v, str)]

    # ------------------------------------------------------------- mutation
    def _write_pointer(self, data: dict[str, Any]) -> None:
        atomic_write(self.root / POINTER, json.dumps(data).encode())

    def clean_partial(self) -> list[Path]:
        """Remove leftovers of interrupted publishes; returns what was removed."""
        removed = []
        for pattern in (".tmp-*", f".{POINTER}.*"):
            for p in [*self.root.glob(pattern), *self.versions_dir.glob(pattern)] if self.root.is_dir() else []:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    def publish(
        self,
        model: RecommenderBase,
        *,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        extra: dict[str, Any] | None = None,
        activate: bool = True,
    ) -> VersionInfo:
        """Write a fitted model as a new version (and by default make it active).

        Args:
            model: a fitted model.
            user_ids, item_ids: the raw (database) ids of the model's dense indices.
            extra: metadata recorded in the manifest (dataset, metrics, counts).
            activate: switch the pointer to it.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.versions_dir.mkdir(exist_ok=True)
        self.clean_partial()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        version = f"{stamp}-{model.name}-{secrets.token_hex(3)}"
        tmp = self.versions_dir / f".tmp-{version}"
        save(model, tmp, extra=extra, attachments={"user_ids": np.asarray(user_ids), "item_ids": np.asarray(item_ids)})
        verify(tmp)
        final = self.versions_dir / version
        os.replace(tmp, final)
        info = self.info(version)
        if activate:
            self.activate(version)
        return info

    def activate(self, version: str) -> VersionInfo:
        """Point ``active`` at ``version`` after verifying its artifact.

        Raises:
            NotFound: unknown version.
            DataFormatError: the artifact is corrupt or incomplete (nothing changes).
        """
        info = self.info(version)
        verify(info.path)
        load(info.path, mmap=True)  # refuse what cannot be loaded, before the flip (mapped: no copy of the arrays)
        ptr = self._pointer()
        current = ptr.get("version")
        history = [v for v in ptr.get("history", []) if v != version]
        if current and current != version:
            history.insert(0, current)
        self._write_pointer({"version": version, "history": history, "activated_at": datetime.now(UTC).isoformat()})
        self._prune(version, history)
        return info

    def rollback(self) -> VersionInfo:
        """Re-activate the previously active version.

        Raises:
            Conflict: there is no previous version.
        """
        history = [v for v in self._pointer().get("history", []) if (self.versions_dir / v / "manifest.json").is_file()]
        if not history:
            raise Conflict("there is no previous model version to roll back to")
        return self.activate(history[0])

    def held(self) -> dict[str, list[str]]:
        """Versions kept whatever gets activated (e.g. an experiment's variants), with who holds them."""
        p = self.root / HELD
        try:
            data = json.loads(p.read_text("utf-8")) if p.is_file() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(v): [str(h) for h in hs] for v, hs in data.items() if isinstance(hs, list)}

    def hold(self, version: str, holder: str) -> None:
        """Keep ``version`` out of pruning until ``holder`` releases it.

        Raises:
            NotFound: unknown version.
        """
        self.info(version)
        data = self.held()
        if holder not in data.setdefault(version, []):
            data[version].append(holder)
        atomic_write(self.root / HELD, json.dumps(data).encode())

    def release(self, holder: str) -> None:
        """Drop ``holder``'s holds (the versions are pruned again like any other)."""
        data = {v: [h for h in hs if h != holder] for v, hs in self.held().items()}
        atomic_write(self.root / HELD, json.dumps({v: hs for v, hs in data.items() if hs}).encode())

    def _prune(self, active: str, history: list[str]) -> None:
        keep = {active, *history[: self.keep], *self.held()}
        for info in self.versions():
            if info.version not in keep:
                shutil.rmtree(info.path, ignore_errors=True)

    def load(self, version: str) -> tuple[RecommenderBase, dict[str, np.ndarray], VersionInfo]:
        """Load a version's model and attachments (checksums verified; arrays mapped when :attr:`mmap`).

        Raises:
            NotFound: unknown version.
            DataFormatError: the artifact is corrupt or incomplete.
        """
        info = self.info(version)
        mmap = self.mmap
        model = load(info.path, mmap=mmap)
        return model, load_attachments(info.path, mmap=mmap), info
