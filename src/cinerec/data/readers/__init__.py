"""Dataset readers: MovieLens 100K / 1M / latest / 25M, MovieTweetings, FilmTrust, LibRec-style and generic ratings files.

:func:`read_dataset` detects the format of a folder, file or zip archive from
the files' content and returns a cleaned :class:`Dataset`; every structural
problem is a :class:`~cinerec.errors.DataFormatError` naming file, line and
field, and every rejected row is a :class:`Problem` in ``dataset.problems``.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path

from cinerec.data.readers._dataset import (
    MAX_REJECTED_SHARE,
    Dataset,
    RatingScale,
    normalise_genre,
    split_title,
)
from cinerec.data.readers._table import WHITESPACE, Problem, Problems, read_table
from cinerec.data.readers.csv import (
    FILMTRUST_SCALE,
    parse_columns_option,
    parse_sep_option,
    read_ratings_csv,
    sniff_delimited,
)
from cinerec.data.readers.movielens import (
    read_ml1m,
    read_ml100k,
    read_ml_latest,
    read_movietweetings,
)
from cinerec.data.readers.trust import TRUST_FILE, TrustNetwork, read_trust
from cinerec.errors import DataFormatError

FORMATS = ("auto", "ml-100k", "ml-1m", "ml-latest", "movietweetings", "filmtrust", "librec", "csv")

#: Formats read by the one delimited-file reader; ``--sep``, ``--no-header``, ``--columns`` and ``--scale`` apply to them.
DELIMITED = ("csv", "librec", "filmtrust")

#: Limits applied before unpacking an archive (zip bombs, member floods).
MAX_ARCHIVE_BYTES = 2 * 1024**3
MAX_ARCHIVE_MEMBERS = 1000

#: Rating files looked for in a folder without a MovieLens layout, in order.
_RATING_FILES = ("ratings.csv", "ratings.txt", "ratings.tsv", "ratings.dat", "ratings")

__all__ = [
    "DELIMITED",
    "FORMATS",
    "MAX_REJECTED_SHARE",
    "TRUST_FILE",
    "WHITESPACE",
    "Dataset",
    "Problem",
    "Problems",
    "RatingScale",
    "TrustNetwork",
    "detect_format",
    "normalise_genre",
    "parse_columns_option",
    "parse_sep_option",
    "read_dataset",
    "read_ratings_csv",
    "read_table",
    "read_trust",
    "safe_extract",
    "split_title",
]


def _dat_flavour(folder: Path) -> str:
    """``movietweetings`` or ``ml-1m`` for a folder of ``::``-separated files, from their content.

    MovieTweetings shows itself by a two-field ``users.dat`` (``user::twitter_id``,
    where ML-1M has five fields), zero-padded seven-digit IMDb numbers as movie
    ids, or ratings outside 1-5 stars among the first lines.
    """
    def head(name: str, n: int) -> list[list[str]]:
        f = folder / name
        if not f.is_file():
            return []
        with f.open("rb") as fh:
            lines = [fh.readline() for _ in range(n)]
        return [ln.decode("latin-1").strip().split("::") for ln in lines if ln.strip()]

    users = head("users.dat", 5)
    if users and len(users[0]) == 2:
        return "movietweetings"
    movies = head("movies.dat", 5)
    if movies and re.fullmatch(r"0\d{6,}", movies[0][0]):
        return "movietweetings"
    for row in head("ratings.dat", 5000):
        if len(row) >= 3:
            try:
                v = float(row[2])
            except ValueError:
                continue
            if v > 5 or v < 0.5:
                return "movietweetings"
    return "ml-1m"


def _delimited(path: Path) -> tuple[str, Path]:
    fmt, _ = sniff_delimited(path)
    return fmt, path


def detect_format(path: Path) -> tuple[str, Path]:
    """Guess the format of ``path`` from its files' names and content, and the folder or file to read.

    A folder holding ``u.data`` is ML-100K; ``ratings.dat`` + ``movies.dat``
    is ML-1M or MovieTweetings (told apart by content, see
    :func:`_dat_flavour`); ``ratings.csv`` + ``movies.csv`` is ML-latest; a
    single folder inside the given one (as archives unpack) is looked into;
    any other ratings file is a delimited file whose content says whether it
    is FilmTrust (headerless ``user item rating`` on 0.5-4 stars, or
    ``ratings.txt`` beside ``trust.txt``; read with that ``trust.txt`` into
    ``Dataset.trust``), LibRec-style (headerless,
    whitespace-separated) or a generic CSV.

    Raises:
        DataFormatError: if nothing readable is found.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError("no such file or folder", path=path)
    if path.is_file():
        if path.name == "u.data":
            return "ml-100k", path.parent
        if path.name == "ratings.dat" and (path.parent / "movies.dat").is_file():
            return _dat_flavour(path.parent), path.parent
        if path.name == "ratings.csv" and (path.parent / "movies.csv").is_file():
            return "ml-latest", path.parent
        return _delimited(path)
    if (path / "u.data").is_file():
        return "ml-100k", path
    if (path / "ratings.dat").is_file() and (path / "movies.dat").is_file():
        return _dat_flavour(path), path
    if (path / "ratings.csv").is_file() and (path / "movies.csv").is_file():
        return "ml-latest", path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    files = [path / n for n in _RATING_FILES if (path / n).is_file()]
    if len(subdirs) == 1 and not files:
        return detect_format(subdirs[0])
    if files:
        return _delimited(files[0])
    raise DataFormatError(
        "no dataset found: expected u.data (ML-100K), ratings.dat + movies.dat (ML-1M, MovieTweetings), "
        "ratings.csv + movies.csv (ML-latest/25M) or a ratings file (ratings.csv, ratings.txt...); "
        "or give the ratings file itself",
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
    columns: dict[str, str | int] | None = None,
    name: str | None = None,
    sep: str | None = None,
    header: bool | None = None,
    scale: RatingScale | None = None,
) -> Dataset:
    """Read a dataset folder, file or zip archive.

    Args:
        path: folder (MovieLens or MovieTweetings layout), ratings file, or ``.zip``.
        fmt: one of :data:`FORMATS`; ``auto`` looks at the files' content.
        columns: for delimited files, role -> header name or 0-based position
            (see ``--columns``).
        name: the source tag recorded with imported rows (default: folder name).
        sep: for delimited files, the separator (found from the content when ``None``).
        header: for delimited files, whether the first line is a header
            (found from the content when ``None``).
        scale: for delimited files, the rating scale; ratings outside it are
            rejected rows (``None``: the format's own, else inferred).

    Raises:
        DataFormatError: unknown format, options that do not apply to the
            format, missing files, malformed content.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise DataFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if path.is_file() and path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="cinerec-unzip-") as tmp:
            return read_dataset(safe_extract(path, Path(tmp)), fmt, columns=columns, name=name or path.stem.lower(),
                                sep=sep, header=header, scale=scale)
    options = columns or sep is not None or header is not None or scale is not None
    if fmt == "auto":
        detected, target = detect_format(path)
        if options and detected not in DELIMITED:
            if not path.is_file():
                raise DataFormatError(
                    f"--sep, --no-header, --columns and --scale apply to a delimited ratings file, and this folder "
                    f"reads as {detected}: give the ratings file's path, or leave the options out", path=path,
                )
            detected, target = "csv", path
    else:
        detected, target = fmt, path
        if options and detected not in DELIMITED:
            raise DataFormatError(
                f"--sep, --no-header, --columns and --scale apply to {', '.join(DELIMITED)} files, not to {detected}"
            )
    if detected not in DELIMITED and target.is_file():
        target = target.parent
    if detected in DELIMITED and target.is_dir():
        found = [target / n for n in _RATING_FILES if (target / n).is_file()]
        if not found:
            raise DataFormatError(f"no ratings file ({', '.join(_RATING_FILES)}) in this folder", path=target)
        target = found[0]
    if detected == "ml-100k":
        ds = read_ml100k(target)
    elif detected == "ml-1m":
        ds = read_ml1m(target)
    elif detected == "movietweetings":
        ds = read_movietweetings(target)
    elif detected == "ml-latest":
        ds = read_ml_latest(target)
    elif detected == "librec":
        ds = read_ratings_csv(target, columns, sep=WHITESPACE if sep is None else sep,
                              header=False if header is None else header, scale=scale, fmt="librec")
    elif detected == "filmtrust":
        ds = read_ratings_csv(target, columns, sep=sep, header=False if header is None else header,
                              scale=scale or FILMTRUST_SCALE, fmt="filmtrust")
        trust = target.parent / TRUST_FILE
        if trust.is_file():
            ds.trust = read_trust(trust, ds.problems)
            ds.files.append(trust)
            ds.notes.append(ds.trust.note())
    else:
        ds = read_ratings_csv(target, columns, sep=sep, header=header, scale=scale)
    if fmt == "auto":
        ds.notes.insert(0, f"format {detected}, found from the files' content")
    if name:
        ds.name = name
    return ds
