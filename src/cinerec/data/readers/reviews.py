"""Readers for labelled review corpora (sentiment training and evaluation)
and for review files imported into the platform.

Labelled corpora come back as one frame with columns ``text``, ``label``
(1 positive, 0 negative) and ``corpus``:

- ``rt-polarity``: Pang & Lee's sentence polarity data (two Latin-1 files,
  one sentence per line).
- ``uci-imdb-labelled``: Kotzias et al.'s labelled IMDb sentences
  (``text<TAB>label``; some lines hold U+0085, so lines are split on ``\\n``
  only, never with :meth:`str.splitlines`).
- ``douban-short-comments``: Douban short comments with 1-5 stars; binary as
  in DMSC: 1-2 stars negative, 4-5 positive, 3 stars and unrated dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cinerec.data.readers._table import MAX_TIMESTAMP, Problems, read_table
from cinerec.errors import DataFormatError

#: Corpora :func:`read_sentiment_corpus` knows, by folder name.
SENTIMENT_CORPORA: dict[str, str] = {
    "rt-polarity": "en",
    "uci-imdb-labelled": "en",
    "douban-short-comments": "zh",
}


def _lines(path: Path, encoding: str) -> list[tuple[int, str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFormatError(f"{path.name}:{line}: not valid {encoding}", path=str(path), line=line) from exc
    return [(i, s.strip()) for i, s in enumerate(text.split("\n"), start=1) if s.strip()]


def read_rt_polarity(folder: Path) -> pd.DataFrame:
    """Pang & Lee sentence polarity v1.0: ``rt-polarity.pos`` and ``rt-polarity.neg``."""
    frames = []
    for name, label in (("rt-polarity.pos", 1), ("rt-polarity.neg", 0)):
        rows = _lines(folder / name, "latin-1")
        frames.append(pd.DataFrame({"text": [s for _, s in rows], "label": label}))
    return pd.concat(frames, ignore_index=True).assign(corpus="rt-polarity")


def read_uci_imdb(folder: Path) -> pd.DataFrame:
    """Kotzias et al.'s ``imdb_labelled.txt``: ``sentence<TAB>0|1`` per line."""
    path = folder / "imdb_labelled.txt"
    texts, labels = [], []
    for line, s in _lines(path, "utf-8"):
        text, sep, label = s.rpartition("\t")
        if not sep or label.strip() not in ("0", "1"):
            raise DataFormatError(f"{path.name}:{line}: field 'label': expected a tab and 0 or 1 at the end of the line",
                                  path=str(path), line=line, field="label")
        texts.append(text.strip())
        labels.append(int(label))
    return pd.DataFrame({"text": texts, "label": labels, "corpus": "uci-imdb-labelled"})


def read_douban(folder: Path) -> pd.DataFrame:
    """Douban short comments (``time,rating,comment,votes`` per film file) as binary labels.

    Also keeps ``film`` (the file's short name) and ``stars``.
    """
    frames = []
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise DataFormatError(f"no Douban comment files (*.csv) in {folder}", path=str(folder))
    for path in files:
        df = read_table(path, columns=["rating", "comment"], optional=["time", "votes"])
        stars = pd.to_numeric(df["rating"], errors="coerce")
        bad = stars.isna() | ~stars.between(0, 5)
        if bad.any():
            row = df[bad].iloc[0]
            raise DataFormatError(f"{path.name}:{row['_line']}: field 'rating': expected 0-5 stars, got {row['rating']!r}",
                                  path=str(path), line=int(row["_line"]), field="rating")
        frames.append(pd.DataFrame({"text": df["comment"].str.strip(), "stars": stars.astype(int),
                                    "film": path.stem.split("_")[0]}))
    df = pd.concat(frames, ignore_index=True)
    df = df[df["stars"].isin([1, 2, 4, 5]) & (df["text"] != "")]
    return df.assign(label=(df["stars"] >= 4).astype(int), corpus="douban-short-comments").reset_index(drop=True)


def read_sentiment_corpus(folder: Path | str) -> pd.DataFrame:
    """Read a labelled corpus, chosen by its folder name (see :data:`SENTIMENT_CORPORA`).

    Raises:
        DataFormatError: unknown corpus, missing files, bad lines.
    """
    folder = Path(folder)
    readers = {"rt-polarity": read_rt_polarity, "uci-imdb-labelled": read_uci_imdb,
               "douban-short-comments": read_douban}
    reader = readers.get(folder.name)
    if reader is None:
        raise DataFormatError(f"{folder}: not a known sentiment corpus (expected a folder named one of "
                              f"{', '.join(readers)})", path=str(folder))
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: no such folder", path=str(folder))
    return reader(folder)


#: Largest review text accepted, in characters (a long essay-length review is ~30,000).
MAX_REVIEW_CHARS = 50_000


def read_reviews_csv(path: Path | str) -> tuple[pd.DataFrame, Problems]:
    """A reviews file to import: ``user_id,movie_id,text[,rating][,timestamp]``.

    Ids are the dataset's raw ids (as in its ratings file). Rows with a bad id,
    empty text, text over :data:`MAX_REVIEW_CHARS`, a rating outside 0.5-5 or
    a bad timestamp are rejected and reported with line and field.

    Returns:
        ``(frame, problems)`` with columns user, item, text, rating (NaN when
        absent), timestamp (NaN when absent) and ``_line``.
    """
    path = Path(path)
    df = read_table(path, columns=["user_id", "movie_id", "text"], optional=["rating", "timestamp"])
    problems = Problems()
    lines = df["_line"].astype(int)
    bad = pd.Series(False, index=df.index)

    def reject(mask: pd.Series, col: str, reason: str, values: pd.Series) -> None:
        nonlocal bad
        problems.add_many(path, lines[mask & ~bad], col, reason, values[mask & ~bad].astype(str).str.slice(0, 40))
        bad |= mask

    def number(col: str) -> tuple[pd.Series, pd.Series]:
        raw = df[col] if col in df else pd.Series("", index=df.index)
        return pd.to_numeric(raw, errors="coerce"), raw.str.strip() != ""

    out = pd.DataFrame({"_line": lines})
    for col, name in (("user_id", "user"), ("movie_id", "item")):
        ids, _ = number(col)
        reject(ids.isna() | (ids < 0) | (ids != ids.round()) | (ids > 2**31 - 1), col, "not an id", df[col])
        out[name] = ids
    text = df["text"].str.strip()
    reject(text == "", "text", "empty review", text)
    reject(text.str.len() > MAX_REVIEW_CHARS, "text", f"longer than {MAX_REVIEW_CHARS} characters", text)
    out["text"] = text
    rating, given = number("rating")
    reject(given & (rating.isna() | ~rating.between(0.5, 5)), "rating", "rating out of range", df.get("rating", text))
    out["rating"] = rating.where(given)
    ts, given = number("timestamp")
    reject(given & (ts.isna() | (ts < 0) | (ts > MAX_TIMESTAMP)), "timestamp", "not a unix timestamp",
           df.get("timestamp", text))
    out["timestamp"] = ts.where(given)
    out = out[~bad].astype({"user": np.int64, "item": np.int64})
    return out.reset_index(drop=True), problems
