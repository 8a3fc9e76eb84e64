"""FilmTrust with its trust network: the trust reader, the dataset's social graph, splits, and fetch."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from cinerec.data import fetch as fetch_module
from cinerec.data.fetch import DATASETS, fetch
from cinerec.data.readers import detect_format, read_dataset, read_trust
from cinerec.data.readers.trust import DUPLICATE_EDGE, SELF_TRUST, ZERO_TRUST
from cinerec.data.splits import kfold_split, stratified_split
from cinerec.errors import DataFormatError, DownloadError, NotFound


def trust_truth(folder: Path) -> tuple[list[tuple[str, str]], set[str]]:
    """(trust edges as raw-id pairs, users with ratings) of a FilmTrust folder, read with plain Python."""
    edges = [tuple(ln.split()[:2]) for ln in (folder / "trust.txt").read_text().split("\n") if ln.strip()]
    raters = {ln.split(",")[0] for ln in (folder / "ratings.txt").read_text().split("\n") if ln.strip()}
    return [(a, b) for a, b in edges], raters


@pytest.fixture(scope="module")
def filmtrust(datasets: Path) -> Path:
    folder = datasets / "filmtrust"
    if not (folder / "trust.txt").is_file():
        pytest.fail(f"FilmTrust not found at {folder}: set CINEREC_DATA_DIR to the folder holding filmtrust/")
    return folder


def test_real_trust_file_counts_read_from_the_file(filmtrust: Path) -> None:
    edges, _ = trust_truth(filmtrust)
    # the fetch checksum pins these bytes; 1,853 directed edges, none repeated, no self-trust (checked by hand too)
    assert len(edges) == 1853 and len(set(edges)) == len(edges) and all(a != b for a, b in edges)
    net = read_trust(filmtrust / "trust.txt")
    assert len(net.edges) == net.lines == len(edges) and net.dropped == {}
    assert list(zip(net.edges["trustor"].astype(str), net.edges["trustee"].astype(str), strict=True)) == edges
    assert (net.edges["value"] == 1.0).all()
    people = {u for e in edges for u in e}
    assert len(net.users()) == len(people)
    assert net.note() == f"trust.txt: {len(edges)} trust edges of {len(edges)} lines among {len(people)} users"


@pytest.mark.parametrize("path", ["folder", "ratings file"])
def test_filmtrust_dataset_carries_the_graph_into_interactions(filmtrust: Path, path: str) -> None:
    edges, raters = trust_truth(filmtrust)
    target = filmtrust if path == "folder" else filmtrust / "ratings.txt"
    assert detect_format(target)[0] == "filmtrust"
    ds = read_dataset(target)
    assert ds.format == "filmtrust" and ds.trust is not None and len(ds.trust.edges) == len(edges)
    assert ds.files == [filmtrust / "ratings.txt", filmtrust / "trust.txt"]
    assert any(n.startswith("trust.txt: 1853 trust edges") for n in ds.notes)
    data = ds.interactions()
    assert data.social is not None and data.social.shape == (data.n_users, data.n_users)
    among_raters = {(a, b) for a, b in edges if a in raters and b in raters}
    assert data.social.nnz == len(among_raters)  # edges touching people without ratings stay out of the matrix
    rows, cols = data.social.nonzero()
    got = {(str(a), str(b)) for a, b in zip(data.user_vocab.raw(rows), data.user_vocab.raw(cols), strict=True)}
    assert got == among_raters
    assert (data.trust_counts() > 0).sum() == len({a for a, _ in among_raters})


def test_splits_keep_the_whole_graph(filmtrust: Path) -> None:
    data = read_dataset(filmtrust).interactions()
    assert data.social is not None
    for split in [*kfold_split(data, 3, random_state=1), stratified_split(data, 0.8, random_state=1)]:
        for part in (split.train, split.test):
            assert part.social is not None and (part.social != data.social).nnz == 0
    assert data.subset(np.zeros(len(data), dtype=bool)).social is not None


def test_without_trust_file_there_is_no_graph(filmtrust: Path, tmp_path: Path) -> None:
    shutil.copy(filmtrust / "ratings.txt", tmp_path / "ratings.txt")
    ds = read_dataset(tmp_path, "filmtrust")
    assert ds.trust is None and ds.interactions().social is None


def test_librec_space_separated_ratings_beside_trust(tmp_path: Path) -> None:
    (tmp_path / "ratings.txt").write_text("1 10 3.5\n2 10 4\n3 11 0.5\n2 11 2.5\n")
    (tmp_path / "trust.txt").write_text("1 2 1\n2 3 1\n3 1 1\n4 1 1\n")
    ds = read_dataset(tmp_path)
    assert ds.format == "filmtrust" and ds.trust is not None
    data = ds.interactions()
    assert data.social is not None and data.social.nnz == 3  # user 4 has no rating
    i = data.user_vocab.indices(np.array([1, 2, 3]))
    assert data.social[i[0], i[1]] == 1 and data.social[i[1], i[2]] == 1 and data.social[i[2], i[0]] == 1


def test_self_trust_repeats_and_zero_values_are_dropped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "ratings.txt").write_text("1,10,3.5\n2,10,4\n3,11,0.5\n")
    (tmp_path / "trust.txt").write_text("1 2 1\n2 2 1\n1 2 1\n3 1 0\n\n3 2 1\n")
    ds = read_dataset(tmp_path, "filmtrust")
    assert ds.trust is not None
    assert ds.trust.lines == 5 and ds.trust.edges["_line"].tolist() == [1, 6]
    assert ds.trust.dropped == {SELF_TRUST: 1, DUPLICATE_EDGE: 1, ZERO_TRUST: 1}
    assert ds.problems.by_reason() == {DUPLICATE_EDGE: 1, SELF_TRUST: 1, ZERO_TRUST: 1}
    assert len(ds.problems) == 0  # dropped, not rejected: the ratings' rejected share is untouched
    summary = "\n".join(ds.rejection_summary())
    assert "dropped (not an error): trust: self-trust line: 1" in summary
    assert "trust.txt: 2 trust edges of 5 lines among 3 users; 1 dropped (repeated edge); 1 dropped (self-trust line)" in summary


@pytest.mark.parametrize(("body", "line", "field", "needle"), [
    ("1 2 1\n3 4\n", 2, "value", "expected 3 fields (trustor trustee value), found 2"),
    ("1 2 1\n3 4 1 9\n", 2, "line", "found 4"),
    ("1 2 1\n3 4 yes\n", 2, "value", "trust value 'yes' is not a number"),
    ("1 2 1\n3 4 -1\n", 2, "value", "is negative"),
    ("1 2 1\n5 4 1\n3 4x 1\n", 3, "trustee", "user id '4x' is not an integer"),
    ("1 2 1\nq 4 1\n", 2, "trustor", "user id 'q' is not an integer"),
    ("1,2,1\n,4,1\n", 2, "trustor", "empty user id"),
    ("1 2 3 4\n", 1, "line", "2 or 3 fields"),
])
def test_malformed_trust_lines_name_file_line_and_field(tmp_path: Path, body: str, line: int, field: str,
                                                        needle: str) -> None:
    (tmp_path / "ratings.txt").write_text("1,10,3.5\n2,10,4\n")
    (tmp_path / "trust.txt").write_text(body)
    with pytest.raises(DataFormatError) as e:
        read_dataset(tmp_path, "filmtrust")
    assert (Path(e.value.path or "").name, e.value.line, e.value.field) == ("trust.txt", line, field)
    assert needle in str(e.value) and str(e.value).startswith(f"trust.txt:{line}:")


def test_empty_trust_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "trust.txt").write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        read_trust(tmp_path / "trust.txt")


def test_two_field_trust_lines_mean_value_one(tmp_path: Path) -> None:
    (tmp_path / "trust.txt").write_text("1\t2\n2\t3\n")
    net = read_trust(tmp_path / "trust.txt")
    assert net.edges["value"].tolist() == [1.0, 1.0] and net.edges["trustee"].tolist() == [2, 3]


# ------------------------------------------------------------------ fetch


def test_fetch_knows_filmtrust_and_verifies_a_local_copy(filmtrust: Path, tmp_path: Path) -> None:
    ds = DATASETS["filmtrust"]
    assert {f.name for f in ds.files} == {"ratings.txt", "trust.txt", "readme.txt"}
    assert all(f.url.startswith("https://raw.githubusercontent.com/zhanghrswpu/MoGMagicBarrierEstimation/4101959")
               for f in ds.files)
    out = fetch("filmtrust", tmp_path / "cache", archive=filmtrust)
    assert out == tmp_path / "cache" / "filmtrust"
    for f in ds.files:
        assert (out / f.name).read_bytes() == (filmtrust / f.name).read_bytes()
    assert read_dataset(out).trust is not None
    # already in CINEREC_DATA_DIR: used as it is
    assert fetch("filmtrust", tmp_path / "other", data_dir=filmtrust.parent) == filmtrust


def test_fetch_refuses_altered_bytes_and_leaves_no_folder(filmtrust: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(filmtrust, copy)
    (copy / "trust.txt").write_bytes((copy / "trust.txt").read_bytes().replace(b"2 966 1", b"2 967 1", 1))
    with pytest.raises(DownloadError, match=r"checksum mismatch for filmtrust trust\.txt"):
        fetch("filmtrust", tmp_path / "cache", archive=copy)
    assert not (tmp_path / "cache" / "filmtrust").exists()
    (copy / "trust.txt").unlink()
    with pytest.raises(NotFound, match=r"has no trust\.txt"):
        fetch("filmtrust", tmp_path / "cache", archive=copy)


def test_fetch_downloads_each_file_from_its_url(filmtrust: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download path, offline: the same URLs' file names served from a file:// mirror of the local copy."""
    ds = DATASETS["filmtrust"]
    mirror = {f.name: f"file://{filmtrust / f.name}" for f in ds.files}
    local = dataclasses.replace(ds, files=tuple(dataclasses.replace(f, url=mirror[f.name]) for f in ds.files))
    monkeypatch.setitem(fetch_module.DATASETS, "filmtrust", local)
    seen: list[int] = []
    out = fetch("filmtrust", tmp_path / "cache", progress=lambda done, total: seen.append(done))
    assert sorted(p.name for p in out.iterdir()) == ["ratings.txt", "readme.txt", "trust.txt"] and seen
    broken = dataclasses.replace(local, files=(dataclasses.replace(local.files[0], url="file:///nonexistent/ratings.txt"),))
    monkeypatch.setitem(fetch_module.DATASETS, "filmtrust", broken)
    with pytest.raises(DownloadError, match=r"fetch filmtrust --path FOLDER"):
        fetch("filmtrust", tmp_path / "cache2")
