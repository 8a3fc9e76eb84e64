"""Shared parsing for delimited files: encodings, line numbers, typed columns.

Every reader goes through :func:`read_table`, so every structural problem is
reported the same way: a :class:`~cinerec.errors.DataFormatError` naming the
file, the 1-based line and the field. Row-level problems (a rating out of
range, an unknown movie) are not fatal: they are collected as
:class:`Problem` records and the row is rejected.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from cinerec.errors import DataFormatError

#: Upper bound for a plausible unix timestamp (year 2100).
MAX_TIMESTAMP = 4_102_444_800


@dataclass(frozen=True)
class Problem:
    """One rejected row: where it is and why.

    Attributes:
        path: the file name.
        line: 1-based line number.
        field: the offending column.
        reason: a short, stable reason ("rating out of range", ...).
        value: the offending raw value.
    """

    path: str
    line: int
    field: str
    reason: str
    value: str = ""

    def __str__(self) -> str:
        return f"{Path(self.path).name}:{self.line}: field '{self.field}': {self.reason} ({self.value!r})"


@dataclass
class Problems:
    """An accumulating list of :class:`Problem` with counts by reason."""

    items: list[Problem] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)

    def add_many(self, path: Path, lines: npt.ArrayLike, fld: str, reason: str, values: npt.ArrayLike) -> None:
        """Record one problem per (line, value)."""
        for ln, v in zip(np.asarray(lines).tolist(), np.asarray(values).tolist(), strict=True):
            self.items.append(Problem(str(path), int(ln), fld, reason, str(v)))

    def count_dropped(self, reason: str, n: int) -> None:
        """Count rows removed by cleaning that are not errors (exact duplicates...)."""
        if n:
            self.dropped[reason] += n

    def by_reason(self) -> dict[str, int]:
        """Rejected and dropped row counts by reason."""
        c = Counter(p.reason for p in self.items)
        c.update(self.dropped)
        return dict(sorted(c.items()))

    def rejected_lines(self, path: Path | str | None = None) -> int:
        """Number of distinct rows rejected (only those of ``path`` when given).

        A row with two bad fields is one rejected row.
        """
        want = None if path is None else str(path)
        return len({(p.path, p.line) for p in self.items if want is None or p.path == want})

    def summary_lines(self, *, limit: int = 5) -> list[str]:
        """The first ``limit`` problems as ``file:line: field ...`` lines, then counts by reason.

        Returns an empty list when nothing was rejected or dropped.
        """
        out = [f"  {p}" for p in self.items[:limit]]
        if len(self.items) > limit:
            out.append(f"  ... and {len(self.items) - limit} more")
        rejected = Counter(p.reason for p in self.items)
        for reason, n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  rejected: {reason}: {n}")
        for reason, n in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  dropped (not an error): {reason}: {n}")
        return out

    def __len__(self) -> int:
        return len(self.items)


def _first_bad_utf8(path: Path) -> tuple[int, int, int]:
    """(line, column, byte) of the first byte sequence that is not UTF-8."""
    line = 1
    with path.open("rb") as fh:
        for raw in fh:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return line, exc.start + 1, raw[exc.start]
            line += 1
    return line, 0, 0


def _first_ragged_line(text: str, sep: str, quoting: int) -> tuple[int, int, int]:
    """(line, expected, found) of the first row whose field count differs from the first row's."""
    want = -1
    line = 0
    reader = csv.reader(io.StringIO(text), delimiter=sep, quoting=quoting)  # type: ignore[arg-type]
    try:
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if want < 0:
                want = len(row)
            elif len(row) != want:
                return line, want, len(row)
    except csv.Error:
        return reader.line_num, max(want, 0), 0
    return max(line, 1), max(want, 0), max(want, 0)


def decode_bytes(raw: bytes, encoding: str, path: Path) -> tuple[str, str]:
    """Decode a file's bytes; ``encoding="auto"`` tries UTF-8 first, then Latin-1.

    A UTF-8 byte-order mark is dropped. Latin-1 decodes any byte, so ``auto``
    never fails; a file that is valid UTF-8 is always read as UTF-8.

    Returns:
        The text and the encoding used (``utf-8`` or ``latin-1``).

    Raises:
        DataFormatError: with ``encoding="utf-8"``, the line, column and value
            of the first byte that is not UTF-8.
    """
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf-8", "utf8", "auto"):
        body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            if enc == "auto":
                return raw.decode("latin-1"), "latin-1"
            ln, col, byte = _first_bad_utf8(path)
            raise DataFormatError(
                f"byte 0x{byte:02x} at column {col} is not valid UTF-8; "
                "save the file as UTF-8 (or choose the dataset's own format)",
                path=path, line=ln,
            ) from None
    return raw.decode(encoding), enc


#: ``sep`` value meaning "one or more spaces or tabs" (LibRec-style files).
WHITESPACE = " "


def read_table(
    path: Path,
    *,
    columns: Sequence[str],
    sep: str = ",",
    header: bool = True,
    encoding: str = "utf-8",
    required: Sequence[str] | None = None,
    optional: Sequence[str] = (),
    skip_lines: int = 0,
) -> pd.DataFrame:
    """Parse a delimited file into string columns plus a ``_line`` column.

    Args:
        path: the file.
        columns: without a header, the names of the fields in order; with a
            header, the columns that must be present (``required`` overrides).
        sep: the delimiter; multi-character separators such as ``::`` work;
            :data:`WHITESPACE` (a single space) means runs of spaces or tabs.
        header: whether the first line names the columns.
        encoding: ``utf-8`` (a BOM is accepted), ``latin-1``, or ``auto``
            (UTF-8 when the whole file decodes as UTF-8, else Latin-1).
        required: columns that must exist (defaults to ``columns``).
        optional: further columns kept when present.
        skip_lines: physical lines to ignore at the top (a broken header);
            reported line numbers still count them.

    Returns:
        A frame of ``str`` values (missing values as ``""``) with the 1-based
        physical line number of each row in ``_line``; blank lines skipped.
        ``frame.attrs["encoding"]`` names the encoding used.

    Raises:
        DataFormatError: empty file, undecodable bytes, a missing column, or
            a line with too many or too few fields.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("file not found", path=path)
    if path.stat().st_size == 0:
        raise DataFormatError("the file is empty (0 bytes)", path=path)
    text, used = decode_bytes(path.read_bytes(), encoding, path)
    # Only \n (and \r\n) end a line: U+0085 and friends stay inside fields.
    text = text.replace("\r\n", "\n")
    if skip_lines:
        text = "\n".join(text.split("\n")[skip_lines:])
    if not text.strip():
        raise DataFormatError("the file has no data lines", path=path)
    if sep == WHITESPACE:
        text = re.sub(r"^[ \t]+|[ \t]+$", "", text, flags=re.MULTILINE)
        text = re.sub(r"[ \t]+", "\t", text)
        sep = "\t"
    elif len(sep) > 1:
        if "\t" in text:
            # a tab would be mistaken for the replacement separator below
            raise DataFormatError(f"unexpected tab character; fields must be separated by '{sep}'", path=path)
        text = text.replace(sep, "\t")
        sep = "\t"
    quoting = csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE
    try:
        with warnings.catch_warnings():
            # a row longer than the header is truncated with a mere warning: make it an error
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                io.StringIO(text), sep=sep, header=0 if header else None,
                dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False,
                quoting=quoting, engine="c", lineterminator="\n", on_bad_lines="error",
                index_col=False,
            )
    except pd.errors.ParserWarning:
        ln, want, got = _first_ragged_line(text, sep, quoting)
        raise DataFormatError(f"expected {want} fields, found {got}; check the delimiter and quoting", path=path, line=ln) from None
    except pd.errors.ParserError as exc:
        msg = str(exc)
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise DataFormatError(
                f"expected {m.group(1)} fields, found {m.group(3)}; check the delimiter and quoting",
                path=path, line=int(m.group(2)),
            ) from None
        m = re.search(r"line (\d+)", msg)
        raise DataFormatError(
            f"cannot parse: {msg.splitlines()[0]}", path=path, line=int(m.group(1)) if m else None
        ) from None
    except (pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        raise DataFormatError(f"cannot parse: {exc}", path=path) from None
    if header:
        df.columns = [str(c).strip() for c in df.columns]
        if len(set(df.columns)) != len(df.columns):
            raise DataFormatError(f"duplicated column names in the header: {list(df.columns)}", path=path, line=1)
        need = list(required if required is not None else columns)
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise DataFormatError(
                f"missing column(s) {missing}; the header has {list(df.columns)}", path=path, line=1
            )
        if columns:
            wanted = set(columns) | set(optional) | set(need)
            df = df[[c for c in df.columns if c in wanted]]
    else:
        want = len(columns)
        if df.shape[1] != want:
            # pandas takes the field count from the first line: that line is the odd one
            ln = 1 + next((k for k, line in enumerate(text.split("\n")) if line.strip()), 0)
            raise DataFormatError(
                f"expected {want} fields, found {df.shape[1]}; check the delimiter", path=path, line=ln
            )
        df.columns = list(columns)
    first = (2 if header else 1) + skip_lines
    df.insert(len(df.columns), "_line", np.arange(first, first + len(df), dtype=np.int64))
    data_cols = [c for c in df.columns if c != "_line"]
    if df.empty:
        raise DataFormatError("the file has a header but no data lines", path=path)
    cells = df[data_cols]
    blank = (cells == "").all(axis=1).to_numpy()
    if blank.any():
        df = df[~blank]
    if df.empty:
        raise DataFormatError("the file has no data lines", path=path)
    # pandas pads short rows with "": re-check rows whose last field is empty
    if len(data_cols) > 1:
        suspects = df["_line"].to_numpy()[(df[data_cols[-1]] == "").to_numpy()]
        if len(suspects):
            lines = text.split("\n")
            for ln in suspects[:10_000].tolist():
                try:
                    fields = next(csv.reader([lines[ln - 1]], delimiter=sep, quoting=quoting), [])  # type: ignore[arg-type]
                except csv.Error as exc:
                    raise DataFormatError(f"cannot parse: {exc}", path=path, line=int(ln)) from None
                if len(fields) < len(data_cols):
                    raise DataFormatError(
                        f"expected {len(data_cols)} fields, found {len(fields)}", path=path, line=int(ln)
                    )
    out = df.reset_index(drop=True)
    out.attrs["encoding"] = used
    return out


def parse_numbers(
    df: pd.DataFrame, col: str, path: Path, problems: Problems, *, reason: str, integer: bool = False
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Parse a string column as numbers; unparseable cells become problems.

    Returns:
        The values (NaN where invalid) and a boolean mask of valid rows.
    """
    s = df[col].str.strip()
    vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(vals)
    if integer:
        ok &= np.equal(np.floor(np.where(ok, vals, 0)), np.where(ok, vals, 0))
    bad = ~ok
    if bad.any():
        problems.add_many(path, df["_line"].to_numpy()[bad], col, reason, s.to_numpy()[bad])
    return vals, ok


def check_range(
    df: pd.DataFrame, col: str, vals: npt.NDArray[np.float64], ok: npt.NDArray[np.bool_],
    lo: float, hi: float, path: Path, problems: Problems, *, step: float | None = None,
) -> npt.NDArray[np.bool_]:
    """Reject values outside ``[lo, hi]`` (or off the ``step`` grid); returns the new mask."""
    inrange = ok & (vals >= lo) & (vals <= hi)
    if step:
        grid = np.isclose(np.round(vals / step) * step, vals)
        inrange &= grid
    bad = ok & ~inrange
    if bad.any():
        what = f"not in {lo:g}-{hi:g}" + (f" in steps of {step:g}" if step else "")
        problems.add_many(path, df["_line"].to_numpy()[bad], col, f"rating out of range ({what})", df[col].to_numpy()[bad])
    return inrange
