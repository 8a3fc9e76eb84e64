"""Download, verify and unpack the public datasets into a cache folder.

MovieLens comes as one zip archive per release: checksums are recorded here
for the frozen releases (100K, 1M, 25M). ``ml-latest-small`` is republished
by GroupLens from time to time, so it is verified against the ``.md5`` file
GroupLens publishes beside the archive.

FilmTrust comes as loose files (``ratings.txt``, ``trust.txt``,
``readme.txt``), each verified by its SHA-256 before the folder is placed in
the cache. Its origin is LibRec (guoguibing/librec, whose copy is
space-separated); the files and checksums recorded here are those of the
comma-separated copy in the public repository
zhanghrswpu/MoGMagicBarrierEstimation at commit
``4101959011aea60644d49a7b651c1b7ab06bda25``, pinned in the URLs. The
checksums were computed from the copy in ``../shared/data/filmtrust``, whose
DATASOURCE.md records it as a byte copy of those files at that commit; this
machine has no internet, so the download itself was tested only against a
local mirror (``file://`` URLs). The reader takes LibRec's space-separated
original too, but that is not what ``fetch`` downloads.

A dataset already present under ``CINEREC_DATA_DIR`` or in the cache is
used as is.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cinerec.data.readers import detect_format, safe_extract
from cinerec.errors import DataFormatError, DownloadError, NotFound

BASE_URL = "https://files.grouplens.org/datasets/movielens"
#: FilmTrust's files, pinned to one commit of the repository they are taken from (see the module docstring).
FILMTRUST_RAW = ("https://raw.githubusercontent.com/zhanghrswpu/MoGMagicBarrierEstimation/"
                 "4101959011aea60644d49a7b651c1b7ab06bda25")
FILMTRUST_PAGE = "https://github.com/zhanghrswpu/MoGMagicBarrierEstimation/tree/4101959011aea60644d49a7b651c1b7ab06bda25/data/filmtrust"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset published as loose files.

    Attributes:
        name: the file name in the dataset folder.
        url: its address.
        sha256: its recorded SHA-256.
    """

    name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class RemoteDataset:
    """A downloadable dataset.

    Attributes:
        name: the CLI name, e.g. ``ml-100k``.
        url: archive address (for a dataset of loose ``files``, the page they come from).
        md5: recorded checksum of the archive, or ``None`` to use the published ``.md5`` file.
        folder: the folder the archive unpacks into (or the files are placed in).
        files: the loose files of a dataset that has no archive, each checksummed.
    """

    name: str
    url: str
    md5: str | None
    folder: str
    files: tuple[RemoteFile, ...] = ()


DATASETS: dict[str, RemoteDataset] = {
    d.name: d
    for d in (
        RemoteDataset("ml-latest-small", f"{BASE_URL}/ml-latest-small.zip", None, "ml-latest-small"),
        RemoteDataset("ml-100k", f"{BASE_URL}/ml-100k.zip", "0e33842e24a9c977be4e0107933c0723", "ml-100k"),
        RemoteDataset("ml-1m", f"{BASE_URL}/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906", "ml-1m"),
        RemoteDataset("ml-25m", f"{BASE_URL}/ml-25m.zip", "6b51fb2759a8657d3bfcbfc42b592ada", "ml-25m"),
        RemoteDataset("filmtrust", FILMTRUST_PAGE, None, "filmtrust", (
            RemoteFile("ratings.txt", f"{FILMTRUST_RAW}/data/filmtrust/ratings.txt",
                       "15bc987f1176d3d2145930dbd33ae312149d884f18f2f3aa66dda61cbfea2d56"),
            RemoteFile("trust.txt", f"{FILMTRUST_RAW}/data/filmtrust/filmtrust/trust.txt",
                       "64573a033add72b988a0fb140fdbc0ad3464cb9821f940007aff6fda44b09603"),
            RemoteFile("readme.txt", f"{FILMTRUST_RAW}/data/filmtrust/filmtrust/readme.txt",
                       "f814118d8da7f3d84adcde719134ee8ec9169e081af291f7933c369cb7d1a50b"),
        )),
    )
}

Progress = Callable[[int, int | None], None]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _offline_message(ds: RemoteDataset, exc: BaseException, url: str | None = None) -> str:
    what = (f"the files ({', '.join(f.name for f in ds.files)}) into one folder elsewhere and run "
            f"`cinerec data fetch {ds.name} --path FOLDER`" if ds.files else
            f"the archive elsewhere and run `cinerec data fetch {ds.name} --path FILE.zip`")
    return (
        f"Could not download {ds.name} from {url or ds.url} ({exc}). This machine may have no internet access. "
        f"Download {what}, "
        f"or point CINEREC_DATA_DIR at a folder that holds {ds.folder}/ (or pass --data PATH to the command)."
    )


def _download(url: str, dest: Path, progress: Progress | None, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:
        total = getattr(resp, "length", None)  # HTTP responses know it; file:// mirrors do not
        done = 0
        while chunk := resp.read(1 << 16):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)


def _published_md5(ds: RemoteDataset, timeout: float) -> str:
    with urllib.request.urlopen(ds.url + ".md5", timeout=timeout) as resp:
        text: str = resp.read(4096).decode("ascii", errors="replace")
    digest = next((w for w in text.replace("=", " ").split() if len(w) == 32), None)
    if digest is None:
        raise DownloadError(f"cannot read the published checksum at {ds.url}.md5")
    return digest.lower()


def find_local(name: str, data_dir: Path | None, cache_dir: Path) -> Path | None:
    """A folder already holding dataset ``name``, in ``data_dir`` or the cache, else ``None``."""
    for root in (data_dir, cache_dir):
        if root is None:
            continue
        cand = Path(root) / name
        if cand.is_dir():
            try:
                detect_format(cand)
            except DataFormatError:
                continue
            return cand
    return None


def fetch(
    name: str,
    cache_dir: Path,
    *,
    archive: Path | None = None,
    data_dir: Path | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """Make dataset ``name`` available locally and return its folder.

    Args:
        name: one of :data:`DATASETS`.
        cache_dir: where archives are unpacked (``<cache>/<name>/``).
        archive: a local copy of the archive to verify and unpack instead of
            downloading; for a dataset of loose files, a folder holding them.
        data_dir: a folder searched first (``CINEREC_DATA_DIR``).
        progress: called with (bytes done, total or None) while downloading.
        timeout: network timeout in seconds.

    Raises:
        NotFound: unknown dataset name.
        DownloadError: no network (the message names the URL and ``--path``),
            or a checksum mismatch.
    """
    if name not in DATASETS:
        raise NotFound(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    ds = DATASETS[name]
    if archive is None:
        local = find_local(ds.folder, data_dir, cache_dir)
        if local is not None:
            return local
    cache_dir.mkdir(parents=True, exist_ok=True)
    if ds.files:
        return _fetch_files(ds, cache_dir, archive, progress, timeout)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache_dir) as tmp:
        zpath = Path(tmp) / f"{name}.zip"
        try:
            if archive is not None:
                if not archive.is_file():
                    raise NotFound(f"archive {archive} does not exist")
                shutil.copyfile(archive, zpath)
                expected = ds.md5
            else:
                expected = ds.md5 or _published_md5(ds, timeout)
                _download(ds.url, zpath, progress, timeout)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            if isinstance(exc, FileNotFoundError) and archive is not None:
                raise
            raise DownloadError(_offline_message(ds, exc)) from None
        if expected is not None:
            got = _md5(zpath)
            if got != expected:
                raise DownloadError(
                    f"checksum mismatch for {name}: expected md5 {expected}, got {got}; "
                    "the download is corrupt or not the official archive"
                )
        unpack = Path(tmp) / "unpacked"
        unpack.mkdir()
        safe_extract(zpath, unpack)
        _fmt, folder = detect_format(unpack)
        if folder.is_file():
            folder = folder.parent
        target = cache_dir / ds.folder
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)  # same filesystem: atomic
    return target


def _fetch_files(ds: RemoteDataset, cache_dir: Path, local: Path | None, progress: Progress | None,
                 timeout: float) -> Path:
    """Download (or copy from the folder ``local``) each of ``ds.files``, verify it, and place the folder in the cache.

    Nothing reaches ``<cache>/<folder>`` unless every file's SHA-256 matches.

    Raises:
        NotFound: ``local`` is not a folder, or lacks one of the files.
        DownloadError: no network, or a checksum mismatch (naming the file).
    """
    if local is not None and not local.is_dir():
        raise NotFound(f"{local} is not a folder; for {ds.name} give the folder holding "
                       f"{', '.join(f.name for f in ds.files)}")
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache_dir) as tmp:
        folder = Path(tmp) / ds.folder
        folder.mkdir()
        for f in ds.files:
            dest = folder / f.name
            if local is not None:
                if not (local / f.name).is_file():
                    raise NotFound(f"{local} has no {f.name}")
                shutil.copyfile(local / f.name, dest)
            else:
                try:
                    _download(f.url, dest, progress, timeout)
                except (urllib.error.URLError, OSError, TimeoutError) as exc:
                    raise DownloadError(_offline_message(ds, exc, f.url)) from None
            got = _sha256(dest)
            if got != f.sha256:
                raise DownloadError(
                    f"checksum mismatch for {ds.name} {f.name}: expected sha256 {f.sha256}, got {got}; "
                    "the file is corrupt or not the copy this version of cinerec knows"
                )
        target = cache_dir / ds.folder
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)  # same filesystem: atomic
    return target
