"""Dataset readers: MovieLens 100K / 1M / latest / 25M and generic ratings CSV.

:func:`read_dataset` detects the format of a folder, file or zip archive and
returns a cleaned :class:`Dataset`; every structural problem is a
:class:`~cinerec.errors.DataFormatError` naming file, line and field.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from cinerec.data.readers._dataset import Dataset, normalise_genre, split_title
from cinerec.data.readers._table import Problem, Problems, read_table
from cinerec.data.readers.csv import parse_columns_option, read_ratings_csv
from cinerec.data.readers.movielens import read_ml1m, read_ml100k, read_ml_latest
from cinerec.errors import DataFormatError

FORMATS = ("auto", "ml-100k", "ml-1m", "ml-latest", "csv")

#: Limits applied before unpacking an archive (zip bombs, member floods).
MAX_ARCHIVE_BYTES = 2 * 1024**3
MAX_ARCHIVE_MEMBERS = 1000

__all__ = [
    "FORMATS",
    "Dataset",
    "Problem",
    "Problems",
    "detect_format",
    "normalise_genre",
    "parse_columns_option",
    "read_dataset",
    "read_ratings_csv",
    "read_table",
    "safe_extract",
    "split_title",
]


def detect_format(path: Path) -> tuple[str, Path]:
    """Guess the format of ``path`` and the folder or file to read.

    A folder holding ``u.data`` is ML-100K, ``ratings.dat`` is ML-1M,
    ``ratings.csv`` + ``movies.csv`` is ML-latest; a single folder inside the
    given one (as archives unpack) is looked into; any other file is a
    generic ratings CSV.

    Raises:
        DataFormatError: if nothing readable is found.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError("no such file or folder", path=path)
    if path.is_file():
        if path.name == "u.data":
            return "ml-100k", path.parent
        if path.name == "ratings.dat":
            return "ml-1m", path.parent
        if path.name == "ratings.csv" and (path.parent / "movies.csv").is_file():
            return "ml-latest", path.parent
        return "csv", path
    if (path / "u.data").is_file():
        return "ml-100k", path
    if (path / "ratings.dat").is_file():
        return "ml-1m", path
    if (path / "ratings.csv").is_file() and (path / "movies.csv").is_file():
        return "ml-latest", path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if len(subdirs) == 1:
        return detect_format(subdirs[0])
    if (path / "ratings.csv").is_file():
        return "csv", path / "ratings.csv"
    raise DataFormatError(
        "no dataset found: expected u.data (ML-100K), ratings.dat (ML-1M), "
        "ratings.csv + movies.csv (ML-latest/25M) or a ratings CSV file",
        path=path,
    )


def safe_extract(archive: Path, dest: Path) -> Path:
    """Unpack a zip into ``dest`` after checking its size, member count and paths.

    Raises:
        DataFormatError: not a zip, too large when unpacked, too many members,
            or a member that would land outside ``dest``.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(f"not a readable zip archive ({exc})", path=archive) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise DataFormatError(f"the archive has {len(infos)} members; at most {MAX_ARCHIVE_MEMBERS} are accepted", path=archive)
        total = sum(i.file_size for i in infos)
        if total > MAX_ARCHIVE_BYTES:
            raise DataFormatError(
                f"the archive unpacks to {total / 1024**3:.1f} GiB ({total} bytes); at most {MAX_ARCHIVE_BYTES / 1024**3:.0f} GiB ({MAX_ARCHIVE_BYTES} bytes) are accepted",
                path=archive,
            )
        root = dest.resolve()
        for info in infos:
            target = (dest / info.filename).resolve()
            if root not in target.parents and target != root:
                raise DataFormatError(f"member {info.filename!r} would be written outside the target folder", path=archive)
        try:
            zf.extractall(dest)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataFormatError(f"cannot unpack: {exc}", path=archive) from None
    return dest


def read_dataset(
    path: Path | str,
    fmt: str = "auto",
    *,
    columns: dict[str, str] | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a dataset folder, file or zip archive.

    Args:
        path: folder (MovieLens layout), ratings file, or ``.zip``.
        fmt: one of :data:`FORMATS`.
        columns: for ``csv``, role -> header map (see ``--columns``).
        name: the source tag recorded with imported rows (default: folder name).

    Raises:
        DataFormatError: unknown format, missing files, malformed content.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise DataFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if path.is_file() and path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="cinerec-unzip-") as tmp:
            return read_dataset(safe_extract(path, Path(tmp)), fmt, columns=columns, name=name or path.stem.lower())
    detected, target = detect_format(path) if fmt == "auto" else (fmt, path)
    if detected != "csv" and target.is_file():
        target = target.parent
    if detected == "ml-100k":
        ds = read_ml100k(target)
    elif detected == "ml-1m":
        ds = read_ml1m(target)
    elif detected == "ml-latest":
        ds = read_ml_latest(target)
    else:
        if target.is_dir():
            target = target / "ratings.csv"
        ds = read_ratings_csv(target, columns)
    if name:
        ds.name = name
    return ds
