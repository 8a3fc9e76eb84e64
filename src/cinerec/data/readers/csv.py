"""Reader for delimited ratings files of any shape: with or without a header, any separator, any scale.

One reader serves the generic CSV, LibRec-style (headerless, whitespace-separated
``user item rating [time]``) and FilmTrust (headerless ``user item rating``,
0.5-4 stars) files; the format names only preset its options. What is not
given is found from the file's content: the separator (``::``, tab, comma,
semicolon, pipe, spaces), whether the first line is a header, and the encoding
(UTF-8 first, then Latin-1).
"""

from __future__ import annotations

import csv as _csv
from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.readers._dataset import (
    Dataset,
    RatingScale,
    dedupe_ratings,
    parse_timestamps,
    split_title,
)
from cinerec.data.readers._table import (
    WHITESPACE,
    Problems,
    check_range,
    decode_bytes,
    parse_numbers,
    read_table,
)
from cinerec.errors import DataFormatError

#: Header names recognised for each role, compared case-insensitively.
ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "userid", "user_id", "uid"),
    "item": ("item", "itemid", "item_id", "movie", "movieid", "movie_id", "iid"),
    "rating": ("rating", "score", "stars", "value"),
    "time": ("timestamp", "time", "ts", "date"),
    "title": ("title", "movie_title", "name"),
}

#: Separators tried, in order, when none is given (``" "`` is runs of spaces or tabs).
SEPARATORS = ("::", "\t", ",", ";", "|", WHITESPACE)

_SEP_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": WHITESPACE,
              "spaces": WHITESPACE, "whitespace": WHITESPACE, " ": WHITESPACE}

#: The scale FilmTrust's site used: 0.5-4 stars in half steps.
FILMTRUST_SCALE = RatingScale(0.5, 4.0, 0.5)

#: Bytes looked at to find the separator and the header.
_SNIFF_BYTES = 256 * 1024
_SNIFF_LINES = 200


def parse_columns_option(spec: str | None) -> dict[str, str | int]:
    """Parse ``--columns``: ``user=uid,item=mid,rating=r`` (header names) or ``user=0,item=1,rating=2,time=3`` (0-based positions).

    Returns:
        role -> header name (``str``) or field position (``int``).

    Raises:
        DataFormatError: on an unknown or repeated role, a malformed pair, a
            negative position, or two roles on one position.
    """
    if not spec:
        return {}
    out: dict[str, str | int] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise DataFormatError(f"--columns expects role=column pairs (user=0 or user=userId), got {part!r}")
        role, name = (s.strip() for s in part.split("=", 1))
        if role not in ALIASES:
            raise DataFormatError(f"--columns: unknown role {role!r}; use {', '.join(ALIASES)}")
        if role in out:
            raise DataFormatError(f"--columns: role {role!r} is given twice")
        if not name:
            raise DataFormatError(f"--columns: role {role!r} has no column")
        out[role] = int(name) if name.isdigit() else name
    positions = [v for v in out.values() if isinstance(v, int)]
    if len(set(positions)) != len(positions):
        raise DataFormatError(f"--columns: two roles share one position in {spec!r}")
    return out


def parse_sep_option(spec: str | None) -> str | None:
    """Parse ``--sep``: a literal separator (``,`` ``::`` ``;``), or ``tab``, ``\\t``, ``space``, ``whitespace``.

    ``space`` and ``whitespace`` both mean runs of spaces or tabs.

    Raises:
        DataFormatError: an empty separator, or one with a quote or a line break.
    """
    if spec is None:
        return None
    sep = _SEP_NAMES.get(spec.lower() if spec.strip() else spec, spec)
    if sep == "" or any(c in sep for c in "\"\r\n") or (sep not in (WHITESPACE, "\t") and sep.strip() != sep):
        raise DataFormatError(f"--sep {spec!r} is not a usable separator; give e.g. ',' '::' 'tab' or 'whitespace'")
    return sep


def _split(line: str, sep: str) -> list[str]:
    if sep == WHITESPACE:
        return line.split()
    if sep == ",":
        try:
            return next(_csv.reader([line]), [])
        except _csv.Error:
            return line.split(",")
    return line.split(sep)


def _head_lines(path: Path) -> list[str]:
    """The first non-blank lines of ``path`` (at most ``_SNIFF_LINES``), decoded as the reader will."""
    with path.open("rb") as fh:
        raw = fh.read(_SNIFF_BYTES)
    if len(raw) == _SNIFF_BYTES and b"\n" in raw:
        raw = raw[: raw.rindex(b"\n")]  # no half line, no half character
    text, _ = decode_bytes(raw, "auto", path)
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    return [ln for ln in lines if ln.strip()][:_SNIFF_LINES]


def sniff_sep(lines: list[str]) -> str:
    """The first of :data:`SEPARATORS` that splits every sampled line into the same number (>= 2) of fields.

    Falls back to the first separator found in the first line (the table
    reader then names the line that does not fit), else ``,``.
    """
    for sep in SEPARATORS:
        counts = {len(_split(ln, sep)) for ln in lines}
        if len(counts) == 1 and min(counts) >= 2:
            return sep
    first = lines[0] if lines else ""
    return next((s for s in SEPARATORS if s != WHITESPACE and s in first), ",")


def _is_number(text: str) -> bool:
    try:
        return bool(np.isfinite(float(text)))
    except ValueError:
        return False


def sniff_header(lines: list[str], sep: str) -> bool:
    """Whether the first line is a header.

    It is when a field that holds a number on the second line does not hold
    one on the first (``rating`` above ``4``); a one-line file is a header
    only if none of its fields is a number.
    """
    if not lines:
        return True
    first = [f.strip() for f in _split(lines[0], sep)]
    if len(lines) < 2:
        return not any(_is_number(f) for f in first)
    second = [f.strip() for f in _split(lines[1], sep)]
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))


def _as_ids(s: pd.Series) -> np.ndarray:
    v = s.str.strip()
    num = pd.to_numeric(v, errors="coerce")
    # integers that fit int64 exactly become ints; anything else stays a string id
    if num.notna().all() and (num == np.floor(num)).all() and (num.abs() < 2**53).all():
        return np.asarray(num.to_numpy(), dtype=np.int64)
    return np.asarray(v.to_numpy(dtype=object), dtype=object)


def _describe_sep(sep: str) -> str:
    return {"\t": "tab", WHITESPACE: "whitespace", ",": "comma"}.get(sep, repr(sep))


def _header_columns(path: Path, names: list[str], columns: dict[str, str | int]) -> dict[str, str]:
    """role -> header column, from ``--columns`` (names or positions) and the header aliases."""
    out: dict[str, str] = {}
    for role, col in columns.items():
        if isinstance(col, int):
            if col >= len(names):
                raise DataFormatError(
                    f"--columns {role}={col}: the file has {len(names)} fields per line (positions 0-{len(names) - 1})",
                    path=path, line=1,
                )
            out[role] = names[col]
        else:
            out[role] = col
    lower = {c.lower(): c for c in names}
    for role, aliases in ALIASES.items():
        if role not in out:
            hit = next((lower[n] for n in aliases if n in lower), None)
            if hit and hit not in out.values():
                out[role] = hit
    missing = [r for r in ("user", "item", "rating") if r not in out or out[r] not in names]
    if missing:
        raise DataFormatError(
            f"cannot find the {'/'.join(missing)} column(s) in header {names}; name them with "
            "--columns user=...,item=...,rating=... (names or 0-based positions), or pass --no-header "
            "if the first line is data",
            path=path, line=1,
        )
    return out


def _positions(path: Path, columns: dict[str, str | int], n_fields: int) -> dict[str, int]:
    """role -> 0-based field of a headerless file: ``--columns`` positions, else ``user item rating [time]``."""
    named = [f"{r}={c}" for r, c in columns.items() if not isinstance(c, int)]
    if named:
        raise DataFormatError(
            f"--columns {','.join(named)} names header columns, but the file has no header; "
            "give 0-based positions instead (user=0,item=1,rating=2[,time=3])", path=path,
        )
    pos = {r: int(c) for r, c in columns.items()}
    if not pos:
        if n_fields not in (3, 4):
            raise DataFormatError(
                f"the file has no header and {n_fields} fields per line; say which is which with "
                "--columns user=0,item=1,rating=2[,time=3]", path=path, line=1,
            )
        pos = {"user": 0, "item": 1, "rating": 2, **({"time": 3} if n_fields == 4 else {})}
    missing = [r for r in ("user", "item", "rating") if r not in pos]
    if missing:
        raise DataFormatError(f"--columns must give the {'/'.join(missing)} position(s) too", path=path)
    beyond = {r: k for r, k in pos.items() if k >= n_fields}
    if beyond:
        r, k = next(iter(beyond.items()))
        raise DataFormatError(
            f"--columns {r}={k}: the file has {n_fields} fields per line (positions 0-{n_fields - 1})", path=path, line=1,
        )
    return pos


def read_ratings_csv(
    path: Path,
    columns: dict[str, str | int] | None = None,
    name: str | None = None,
    *,
    sep: str | None = None,
    header: bool | None = None,
    scale: RatingScale | None = None,
    fmt: str = "csv",
) -> Dataset:
    """Read a delimited ratings file: ``user``, ``item``, ``rating`` and optional ``time`` and ``title``.

    Args:
        path: the file.
        columns: role -> header name or 0-based position; roles not given are
            found by header name (``userId``, ``movie_id``, ``rating``...) or,
            without a header, taken as ``user item rating [time]`` in order.
        name: the source tag (default: the file name, or the folder name for
            ``ratings.*`` files).
        sep: the separator (:data:`~cinerec.data.readers._table.WHITESPACE`
            for runs of spaces or tabs); found from the content when ``None``.
        header: whether the first line names the columns; found from the
            content when ``None``.
        scale: the dataset's rating scale: ratings outside it (or off its
            step) are rejected rows; ``None`` accepts any finite number and
            infers the scale from the data.
        fmt: the format name recorded on the dataset (``csv``, ``librec``, ``filmtrust``).

    Raises:
        DataFormatError: on a structural problem, an undecodable file or a
            missing column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("file not found", path=path)
    if path.stat().st_size == 0:
        raise DataFormatError("the file is empty (0 bytes)", path=path)
    columns = dict(columns or {})
    lines = _head_lines(path)
    if not lines:
        raise DataFormatError("the file has no data lines", path=path)
    sep = sep if sep is not None else sniff_sep(lines)
    sniffed_header = header is None
    header = sniff_header(lines, sep) if header is None else header
    n_fields = len(_split(lines[0], sep))
    if header:
        table = read_table(path, columns=[], sep=sep, required=[], encoding="auto")
        roles = _header_columns(path, [c for c in table.columns if c != "_line"], columns)
        shown: dict[str, str | int] = dict(roles)
    else:
        pos = _positions(path, columns, n_fields)
        by_pos = {k: r for r, k in pos.items()}
        names = [by_pos.get(k, f"field {k}") for k in range(n_fields)]
        table = read_table(path, columns=names, sep=sep, header=False, encoding="auto")
        roles = {r: r for r in pos}
        shown = dict(pos)
    notes = [f"{path.name}: {table.attrs.get('encoding', 'utf-8')}, {_describe_sep(sep)}-separated, "
             f"{'a header' if header else 'no header'}{' (found from the content)' if sniffed_header else ''}; "
             + ", ".join(f"{r}={c!r}" for r, c in shown.items())]
    problems = Problems()
    u, i = _as_ids(table[roles["user"]]), _as_ids(table[roles["item"]])
    for role, arr in (("user", u), ("item", i)):
        empty = pd.Series(arr).astype(str).str.strip().eq("").to_numpy()
        if empty.any():
            k = int(np.argmax(empty))
            raise DataFormatError(f"empty {role} id", path=path, line=int(table["_line"].iloc[k]), field=roles[role])
    r, ok = parse_numbers(table, roles["rating"], path, problems, reason="rating is not a number")
    if scale is not None:
        ok = check_range(table, roles["rating"], r, ok, scale.low, scale.high, path, problems, step=scale.step)
    if "time" in roles:
        ts, tok = parse_timestamps(table, roles["time"], path, problems)
        ts_arr = ts.to_numpy()
        ok &= tok
    else:
        ts_arr = np.zeros(len(table), dtype=np.int64)
    ratings = pd.DataFrame({"user": u, "item": i, "rating": r, "timestamp": ts_arr, "_line": table["_line"].to_numpy()})[ok]
    ratings = dedupe_ratings(ratings.reset_index(drop=True), problems)
    movies = None
    if "title" in roles:
        t = pd.DataFrame({"item": i, "title": table[roles["title"]].to_numpy()}).drop_duplicates("item")
        parsed = [split_title(x) for x in t["title"]]
        movies = pd.DataFrame({"item": t["item"].to_numpy(), "title": [p[0] for p in parsed],
                               "year": pd.array([p[1] for p in parsed], dtype="Int64"),
                               "genres": [[] for _ in parsed]})
    stem = path.stem.lower()
    default = path.parent.name.lower() if stem in ("ratings", "rating", "data") and path.parent.name else stem
    return Dataset(name or default, fmt, ratings, movies=movies, problems=problems, files=[path], scale=scale,
                   ratings_read=len(table), notes=notes)


def looks_like_filmtrust(lines: list[str], sep: str) -> bool:
    """Headerless ``user item rating`` lines whose ratings sit on FilmTrust's 0.5-4 half-star grid and reach 4."""
    rows = [_split(ln, sep) for ln in lines]
    if not rows or any(len(r) != 3 for r in rows) or sniff_header(lines, sep):
        return False
    try:
        vals = np.array([float(r[2]) for r in rows])
    except ValueError:
        return False
    on_grid = np.allclose(np.round(vals * 2) / 2, vals)
    return bool(on_grid and vals.min() >= 0.5 and vals.max() == 4.0 and (vals % 1 != 0).any())


def sniff_delimited(path: Path) -> tuple[str, str]:
    """``(format, why)`` of a delimited ratings file from its content: ``filmtrust``, ``librec`` or ``csv``."""
    lines = _head_lines(path)
    if not lines:
        return "csv", "empty"
    sep = sniff_sep(lines)
    if (path.parent / "trust.txt").is_file() and path.name == "ratings.txt":
        return "filmtrust", "ratings.txt beside trust.txt"
    if looks_like_filmtrust(lines, sep):
        return "filmtrust", "headerless user item rating lines on a 0.5-4 half-star scale"
    if sep == WHITESPACE and not sniff_header(lines, sep):
        return "librec", "headerless, whitespace-separated"
    return "csv", f"{_describe_sep(sep)}-separated"

