"""Save and load fitted models as artifact folders, never as pickles.

An artifact folder holds ``manifest.json`` (algorithm name, parameters,
scalar state, checksums) and ``arrays.npz`` (every learned array, sparse
matrices as their CSR components), read with ``allow_pickle=False``. The
manifest is written last, so a folder without one is incomplete. Loading
verifies the SHA-256 of every file the manifest names.

**Memory-mapped loading.** The ``.npz`` files are uncompressed zip archives
whose members start on 64-byte boundaries (a padding record in each local
header's extra field, as Android's ``zipalign`` does; the files stay plain
``.npz`` that :func:`numpy.load` reads). :func:`read_npz` maps such a file
once, copy-on-write (``mmap.ACCESS_COPY``), and returns each member as an
ndarray over the mapping instead of reading it into fresh memory: every
process that loads the same artifact shares one copy of the arrays in the
page cache, and a process writing into an array gets a private copy of that
page, never changing the file or another process's view. A member that
cannot be a view (compressed, misaligned as in artifacts written before
alignment, or any read with ``mmap=False``) is read by :func:`numpy.load`
into memory, which is the same array, unshared. Artifacts are never changed
in place (a version folder is written once and removed whole), which is what
makes a long-lived mapping safe.

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
import io
import json
import mmap as mmap_module
import re
import struct
import zipfile
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


#: Byte boundary on which every member's data starts (numpy pads ``.npy`` headers to the same).
NPZ_ALIGN = 64
#: Header id of the zip extra-field record that pads a local header (the one ``zipalign`` uses).
_PAD_RECORD = 0xD935
#: Fixed part of a zip local file header, and of the zip64 extra record ``numpy.savez`` forces.
_LOCAL_HEADER = 30
_ZIP64_EXTRA = 20


def _padding(offset: int) -> bytes:
    """An extra-field record that makes the data after a local header of ``offset`` bytes start aligned."""
    gap = -offset % NPZ_ALIGN
    if 0 < gap < 4:  # a record is at least its 4-byte id and size
        gap += NPZ_ALIGN
    return struct.pack("<HH", _PAD_RECORD, gap - 4) + bytes(gap - 4) if gap else b""


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as an uncompressed, aligned ``.npz`` (atomically); returns its SHA-256.

    The same archive :func:`numpy.savez` writes (``<name>.npy`` members,
    zip64 headers, no pickles), except that each member's data start on a
    :data:`NPZ_ALIGN`-byte boundary of the file, so :func:`read_npz` can map
    them as arrays.
    """
    with atomic_open(path) as fh, zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            arr = np.asanyarray(value)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            name_len = len(info.filename.encode("utf-8"))
            info.extra = _padding(fh.tell() + _LOCAL_HEADER + name_len + _ZIP64_EXTRA)
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)
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


def load(path: str | Path, *, mmap: bool = True) -> RecommenderBase:
    """Load a model saved by :func:`save`, verifying checksums first.

    Args:
        path: the artifact folder.
        mmap: map the arrays from the file, copy-on-write, instead of reading
            them into memory (see the module docstring); the model behaves the
            same either way.

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
    arrays = read_npz(folder / ARRAYS, mmap=mmap)
    sparse_keys = {k.rsplit(".", 1)[0] for k in arrays if k.endswith(".indptr")}
    for key in sparse_keys:
        shape = tuple(int(x) for x in arrays.pop(f"{key}.shape"))
        # scipy keeps the given arrays (mapped ones included) when their index dtype is the one it picks;
        # it would copy int64 indices that fit int32, which save() never writes (it stores scipy's own choice)
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
        setattr(model, MEMBERS, [load(folder / MEMBER_DIR.format(k), mmap=mmap) for k in members])
    load_extra = getattr(model, "_load_extra", None)
    if load_extra is not None:
        load_extra(folder)
    return model


def load_attachments(path: str | Path, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """The arrays saved with ``attachments=`` (empty if none), mapped like :func:`load`'s; call after :func:`verify`.

    Raises:
        DataFormatError: the file cannot be read as an ``.npz``.
    """
    att = Path(path) / ATTACHMENTS
    if not att.is_file():
        return {}
    return read_npz(att, mmap=mmap)


def read_npz(path: Path, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` by name, as views of a copy-on-write mapping of the file where possible.

    With ``mmap`` the file is mapped once and each stored (uncompressed),
    aligned, non-object member becomes an ndarray over its bytes (found from
    the member's own local header and ``.npy`` header); any other member,
    and every member without ``mmap``, is read by :func:`numpy.load`. Pickled
    (object) arrays are refused either way.

    Raises:
        DataFormatError: not a readable ``.npz``, a member is truncated, or it holds pickled objects.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            if not mmap:
                return {k: z[k] for k in z.files}
            with path.open("rb") as fh:  # the mapping keeps its own reference to the file
                mapped = mmap_module.mmap(fh.fileno(), 0, access=mmap_module.ACCESS_COPY)
            out: dict[str, np.ndarray] = {}
            for info in z.zip.infolist():
                key = info.filename.removesuffix(".npy")
                view = _member_view(mapped, info)
                out[key] = view if view is not None else z[key]
            return out
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, struct.error) as exc:
        raise DataFormatError(f"cannot read arrays: {exc}", path=path) from None


def _member_view(mapped: mmap_module.mmap, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The array a stored ``.npy`` member holds, as a view of ``mapped``; ``None`` when it cannot be one.

    The data offset comes from the member's local header (its name and extra
    field lengths may differ from the central directory's), then from the
    ``.npy`` header that follows.

    Raises:
        ValueError: a malformed header or a member shorter than its array.
    """
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or not info.filename.endswith(".npy"):
        return None
    start = info.header_offset
    header = mapped[start:start + _LOCAL_HEADER]
    if len(header) != _LOCAL_HEADER or header[:4] != b"PK\x03\x04":
        raise ValueError(f"{info.filename}: bad local file header")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    npy_start = start + _LOCAL_HEADER + name_len + extra_len
    npy_end = npy_start + info.file_size
    if npy_end > len(mapped):
        raise ValueError(f"{info.filename}: the member is truncated")
    stream = io.BytesIO(mapped[npy_start:npy_start + min(info.file_size, 1 << 16)])
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        return None  # 3.0 (UTF-8 field names): numpy.load knows it
    if dtype.hasobject:
        raise ValueError(f"{info.filename} holds Python objects, which are never loaded (allow_pickle=False)")
    offset = npy_start + stream.tell()
    count = int(np.prod(shape, dtype=np.int64))
    if offset + count * dtype.itemsize > npy_end:
        raise ValueError(f"{info.filename}: the member is truncated")
    if offset % dtype.alignment:
        return None  # written before members were aligned: numpy.load reads it into memory
    # one array of exactly the member's size under the returned view: scipy copies a view of a much
    # larger base (its _prune_array), and the mapping object has no array size of its own
    flat = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")
