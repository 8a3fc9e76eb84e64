"""A Hypothesis harness over the delimited-file options and the new formats.

1. Round trip: any ratings table, written with any separator, with or without
   a header, in any column order (plus a column nobody asked for), in UTF-8 or
   Latin-1, reads back exactly, both with the options given (``--sep``,
   ``--header/--no-header``, positional ``--columns``) and, for the default
   column order, with nothing given (everything found from the content).
2. Mutated MovieTweetings, FilmTrust and LibRec-style files raise only
   :class:`DataFormatError`, and whatever reads has finite ratings.

``CINEREC_FUZZ_EXAMPLES`` sets the number of examples (default 200).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinerec.data.readers import parse_sep_option, read_dataset
from cinerec.errors import DataFormatError
from tests.data import shapes
from tests.data.test_fuzz_readers import mutated

N = int(os.environ.get("CINEREC_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=N, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SEPS = {",": ",", "\t": "tab", ";": ";", "|": "|", "::": "::", " ": "whitespace"}


@st.composite
def tables(draw: st.DrawFn) -> dict[str, object]:
    """A ratings table and how to write it."""
    n = draw(st.integers(2, 30))
    string_ids = draw(st.booleans())
    pairs = draw(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 80)), min_size=n, max_size=n, unique=True))
    step = draw(st.sampled_from([1.0, 0.5, 0.25]))
    ratings = [draw(st.integers(0, 40)) * step for _ in pairs]
    times = [draw(st.integers(0, 2_000_000_000)) for _ in pairs]
    with_time = draw(st.booleans())
    roles = ["user", "item", "rating"] + (["time"] if with_time else [])
    order = draw(st.permutations(roles + (["extra"] if draw(st.booleans()) else [])))
    return {
        "rows": [(f"u{u}" if string_ids else u, f"m{i}" if string_ids else i, r, t)
                 for (u, i), r, t in zip(pairs, ratings, times, strict=True)],
        "with_time": with_time, "order": order, "sep": draw(st.sampled_from(list(SEPS))),
        "header": draw(st.booleans()), "encoding": draw(st.sampled_from(["utf-8", "latin-1"])),
        "pad": draw(st.booleans()),
    }


def _write(t: dict[str, object], path: Path) -> None:
    sep, order = str(t["sep"]), list(t["order"])  # type: ignore[call-overload]
    join = (" " * 2 if t["pad"] else " ") if sep == " " else sep
    names = {"user": "userId", "item": "movieId", "rating": "rating", "time": "timestamp", "extra": "note"}
    lines = [join.join(names[c] for c in order)] if t["header"] else []
    for u, i, r, ts in t["rows"]:  # type: ignore[attr-defined]
        val = {"user": u, "item": i, "rating": f"{r:g}", "time": ts, "extra": "é"}
        lines.append(join.join(str(val[c]) for c in order))
    path.write_bytes(("\n".join(lines) + "\n").encode(str(t["encoding"])))


def _expected(t: dict[str, object]) -> list[tuple[object, ...]]:
    return sorted((u, i, float(r), ts if t["with_time"] else 0) for u, i, r, ts in t["rows"])  # type: ignore[attr-defined]


def _got(path: Path, **kwargs: object) -> list[tuple[object, ...]]:
    ds = read_dataset(path, **kwargs)  # type: ignore[arg-type]
    assert ds.rejected_ratings() == 0, ds.rejection_summary()
    assert ds.ratings_read == len(ds.ratings)
    return sorted(map(tuple, ds.ratings[["user", "item", "rating", "timestamp"]].to_numpy().tolist()))


@FUZZ
@given(tables())
def test_any_layout_reads_back_exactly(t: dict[str, object]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-fmt-"))
    try:
        f = tmp / "data.txt"
        _write(t, f)
        order = list(t["order"])  # type: ignore[call-overload]
        spec = {r: order.index(r) for r in ("user", "item", "rating", "time") if r in order}
        explicit = _got(f, fmt="csv", columns=spec, sep=parse_sep_option(SEPS[str(t["sep"])]), header=bool(t["header"]))
        assert explicit == _expected(t)
        if t["header"] or order == ["user", "item", "rating", "time"][: len(order)]:
            # nothing given: separator, header, columns (by header name or position) and encoding found from the content
            assert _got(f) == _expected(t)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check(layout: dict[str, bytes], target: str, fmt: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-fmt-"))
    try:
        for name, content in layout.items():
            (tmp / name).write_bytes(content)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                ds = read_dataset(tmp / target if target else tmp, fmt)
        except DataFormatError as exc:
            assert str(exc)
            return
        assert ds.ratings["rating"].notna().all()
        assert 0 <= ds.rejected_share() <= 1
        ds.rejection_summary()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_fuzz_movietweetings(tmp_path: Path) -> None:
    d = shapes.movietweetings(tmp_path)
    files = {n: (d / n).read_bytes() for n in ("ratings.dat", "movies.dat", "users.dat")}

    @FUZZ
    @given(st.sampled_from(list(files)), st.data(), st.sampled_from(["auto", "movietweetings"]))
    def run(target: str, data: st.DataObject, fmt: str) -> None:
        _check({**files, target: data.draw(mutated(files[target]))}, "", fmt)

    run()


def test_fuzz_filmtrust_and_librec(tmp_path: Path) -> None:
    ft = shapes.filmtrust(tmp_path).read_bytes()
    lr = shapes.librec(tmp_path).read_bytes()

    @FUZZ
    @given(st.sampled_from([ft, lr]), st.data(), st.sampled_from(["auto", "filmtrust", "librec", "csv"]))
    def run(base: bytes, data: st.DataObject, fmt: str) -> None:
        _check({"ratings.txt": data.draw(mutated(base))}, "ratings.txt", fmt)

    run()
