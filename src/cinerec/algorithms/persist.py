"""Save and load fitted models as artifact folders, never as pickles.

An artifact folder holds ``manifest.json`` (algorithm name, parameters,
scalar state, checksums) and ``arrays.npz`` (every learned array, sparse
matrices as their CSR components), read with ``allow_pickle=False``. The
manifest is written last, so a folder without one is incomplete. Loading
verifies the SHA-256 of every file the manifest names.

:func:`save` and :func:`load` are the one way in and out. A composite model
(the hybrid) keeps its fitted sub-models as a list in ``members_``; each is
saved as a nested artifact folder ``member-<k>`` and loaded back into that
list, so the composite needs no persistence code of its own. A model class
may define ``_upgrade_params(params) -> params`` to read the parameters of
artifacts written by older versions of itself, and ``_save_extra(folder)`` /
``_load_extra(folder)`` for state that is not a learned attribute (neural's
network weights).

Names are turned into classes through :mod:`cinerec.algorithms.registry`,
imported when loading, so importing this module imports no model module.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms.base import RecommenderBase
from cinerec.errors import DataFormatError
from cinerec.fileio import atomic_open, atomic_write

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"
ATTACHMENTS = "attachments.npz"
#: The attribute in which a composite model keeps its fitted sub-models.
MEMBERS = "members_"
MEMBER_DIR = "member-{}"
_MEMBER_FILE = re.compile(r"member-(\d+)/")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_of(model: RecommenderBase) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split a model's learned state into arrays and JSON scalars."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for key, value in vars(model).items():
        if not key.endswith("_") or key.startswith("_") or key == MEMBERS:
            continue
        if sp.issparse(value):
            m = sp.csr_matrix(value)
            arrays[f"{key}.data"] = m.data
            arrays[f"{key}.indices"] = m.indices
            arrays[f"{key}.indptr"] = m.indptr
            arrays[f"{key}.shape"] = np.asarray(m.shape, dtype=np.int64)
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"{key} is an object array and cannot be saved safely")
            arrays[key] = value
        elif isinstance(value, (bool, int, float, str)) or value is None:
            scalars[key] = value
        elif isinstance(value, np.generic):
            scalars[key] = value.item()
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
            scalars[key] = list(value)
        else:
            raise TypeError(f"{type(model).__name__}.{key} ({type(value).__name__}) has no safe serialisation")
    return arrays, scalars


def save(
    model: RecommenderBase,
    path: str | Path,
    *,
    extra: dict[str, Any] | None = None,
    attachments: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``model`` to the folder ``path`` (created; must not hold another artifact).

    Args:
        model: a fitted model.
        path: destination folder.
        extra: additional JSON metadata for the manifest (dataset, metrics...).
        attachments: further arrays stored beside the model (e.g. the id
            vocabularies the service needs), checksummed like the rest.

    Returns:
        The folder.

    Raises:
        NotFittedError: the model is not fitted.
        TypeError: a learned attribute has no safe serialisation.
    """
    model._check_fitted()
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    arrays, scalars = state_of(model)
    files = {ARRAYS: _write_npz(folder / ARRAYS, arrays)}
    if attachments:
        files[ATTACHMENTS] = _write_npz(folder / ATTACHMENTS, attachments)
    for k, member in enumerate(getattr(model, MEMBERS, None) or []):
        sub = save(member, folder / MEMBER_DIR.format(k))
        files.update({f"{sub.name}/{name}": digest for name, digest in read_manifest(sub)["files"].items()})
        files[f"{sub.name}/{MANIFEST}"] = sha256_file(sub / MANIFEST)
    dump_extra = getattr(model, "_save_extra", None)
    if dump_extra is not None:
        files.update(dump_extra(folder))
    manifest = {
        "format": FORMAT_VERSION,
        "algo": model.name,
        "class": type(model).__name__,
        "params": model.get_params(),
        "state": scalars,
        "files": files,
        "created_at": datetime.now(UTC).isoformat(),
        "extra": extra or {},
    }
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    return folder


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as an uncompressed ``.npz`` (atomically); returns its SHA-256."""
    with atomic_open(path) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return sha256_file(path)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of an artifact folder.

    Raises:
        DataFormatError: missing or unreadable manifest.
    """
    mpath = Path(path) / MANIFEST
    if not mpath.is_file():
        raise DataFormatError("not a complete model artifact (no manifest.json)", path=path)
    try:
        data = json.loads(mpath.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"unreadable manifest: {exc}", path=mpath) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION or "algo" not in data:
        raise DataFormatError("unsupported or corrupt manifest", path=mpath)
    return data


def verify(path: str | Path) -> dict[str, Any]:
    """Check every file's checksum against the manifest; returns the manifest.

    Raises:
        DataFormatError: a file is missing or its checksum differs.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    for name, digest in manifest.get("files", {}).items():
        f = folder / name
        if not f.is_file():
            raise DataFormatError(f"artifact file {name} is missing", path=folder)
        if sha256_file(f) != digest:
            raise DataFormatError(f"checksum mismatch for {name}: the artifact is corrupt", path=folder)
    return manifest


def load(path: str | Path) -> RecommenderBase:
    """Load a model saved by :func:`save`, verifying checksums first.

    Raises:
        DataFormatError: corrupt, incomplete or unknown artifact.
    """
    from cinerec.algorithms.registry import get_class

    folder = Path(path)
    manifest = verify(folder)
    cls = get_class(manifest["algo"])
    params = manifest["params"]
    upgrade = getattr(cls, "_upgrade_params", None)
    if upgrade is not None:
        params = upgrade(params)
    try:
        model = cls(**params)
    except TypeError as exc:
        raise DataFormatError(f"the artifact's parameters do not fit {cls.__name__}: {exc}", path=folder) from None
    try:
        with np.load(folder / ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read arrays: {exc}", path=folder) from None
    sparse_keys = {k.rsplit(".", 1)[0] for k in arrays if k.endswith(".indptr")}
    for key in sparse_keys:
        shape = tuple(int(x) for x in arrays.pop(f"{key}.shape"))
        m = sp.csr_matrix((arrays.pop(f"{key}.data"), arrays.pop(f"{key}.indices"), arrays.pop(f"{key}.indptr")), shape=shape)
        setattr(model, key, m)
    for key, value in arrays.items():
        setattr(model, key, value)
    for key, value in manifest.get("state", {}).items():
        setattr(model, key, value)
    members = sorted({int(m.group(1)) for name in manifest.get("files", {}) if (m := _MEMBER_FILE.match(name))})
    if members:
        if members != list(range(len(members))):
            raise DataFormatError(f"member folders {members} are not numbered 0..{len(members) - 1}", path=folder)
        setattr(model, MEMBERS, [load(folder / MEMBER_DIR.format(k)) for k in members])
    load_extra = getattr(model, "_load_extra", None)
    if load_extra is not None:
        load_extra(folder)
    return model


def load_attachments(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays saved with ``attachments=`` (empty if none); call after :func:`verify`."""
    att = Path(path) / ATTACHMENTS
    if not att.is_file():
        return {}
    with np.load(att, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
