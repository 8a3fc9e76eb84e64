"""B3: a Hypothesis harness on each reader: mutated real files raise only DataFormatError.

Each reader gets ``CINEREC_FUZZ_EXAMPLES`` inputs (default 200 in the normal
run; the closing note reports a 100k-input run: ``CINEREC_FUZZ_EXAMPLES=25000``
over the four readers).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinerec.data.readers import Dataset, read_dataset
from cinerec.errors import DataFormatError

N = int(os.environ.get("CINEREC_FUZZ_EXAMPLES", "200"))
SPECIAL = [b",", b"\t", b"|", b"::", b'"', b"\n", b"\r\n", b"\xef\xbb\xbf", b"\xc2\x85", b"\xe9", b"\x00", b"-1", b"1e308",
           b"99999999999999999999",
           b"nan", b"", b"9" * 30, b"\xff\xfe"]


def _slice(path: Path, n: int = 25) -> bytes:
    with path.open("rb") as fh:
        return b"".join(fh.readline() for _ in range(n))


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        pos = draw(st.integers(0, max(len(data), 1) - 1)) if data else 0
        if op == "insert":
            chunk = draw(st.one_of(st.sampled_from(SPECIAL), st.binary(max_size=8)))
            data[pos:pos] = chunk
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def _check(layout: dict[str, bytes], fmt: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        for name, content in layout.items():
            (tmp / name).write_bytes(content)
        try:
            with warnings.catch_warnings():
                # a numeric RuntimeWarning (overflowing cast) means silently corrupted ids
                warnings.simplefilter("error", RuntimeWarning)
                ds = read_dataset(tmp if fmt != "csv" else tmp / "ratings.csv", fmt)
        except DataFormatError as exc:
            assert str(exc)
            return
        assert isinstance(ds, Dataset)
        assert ds.ratings["rating"].notna().all()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


FUZZ = settings(max_examples=N, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("target", ["ratings.csv", "movies.csv"])
def test_fuzz_ml_latest(ml_small: Path, target: str) -> None:
    files = {n: _slice(ml_small / n) for n in ("ratings.csv", "movies.csv", "tags.csv", "links.csv")}

    @FUZZ
    @given(mutated(files[target]))
    def run(content: bytes) -> None:
        _check({**files, target: content}, "ml-latest")

    run()


def test_fuzz_ml100k(ml100k: Path) -> None:
    files = {"u.data": _slice(ml100k / "u.data"), "u.item": (ml100k / "u.item").read_bytes()}

    @FUZZ
    @given(mutated(files["u.data"]), mutated(_slice(ml100k / "u.item", 40)))
    def run(data: bytes, item: bytes) -> None:
        _check({"u.data": data, "u.item": item}, "ml-100k")

    run()


def test_fuzz_ml1m() -> None:
    ratings = b"1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n"
    movies = "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n".encode("latin-1")

    @FUZZ
    @given(mutated(ratings), mutated(movies))
    def run(r: bytes, m: bytes) -> None:
        _check({"ratings.dat": r, "movies.dat": m}, "ml-1m")

    run()


def test_fuzz_generic_csv(ml_small: Path) -> None:
    base = _slice(ml_small / "ratings.csv")

    @FUZZ
    @given(mutated(base))
    def run(content: bytes) -> None:
        _check({"ratings.csv": content}, "csv")

    run()
