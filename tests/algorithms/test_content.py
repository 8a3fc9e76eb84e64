"""ContentKNN on real metadata: cold items, explanations naming shared attributes, fold-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cinerec.algorithms import ContentKNN
from cinerec.data.features import dataset_features
from cinerec.data.readers import read_dataset
from cinerec.data.readers.metadata import read_metadata
from cinerec.errors import DataFormatError
from tests.algorithms.contract import two_groups


@pytest.fixture(scope="module")
def small_with_features(datasets: Path):  # type: ignore[no-untyped-def]
    ds = read_dataset(datasets / "ml-latest-small")
    it = ds.interactions()
    md = [read_metadata(datasets / "hetrec2011-movielens-2k"), read_metadata(datasets / "tmdb-5000")]
    return ds, it.with_features(dataset_features(it.item_vocab, ds.movies, ds.tags, md))


@pytest.mark.slow  # reads ml-latest-small, HetRec and TMDB and builds every feature block
def test_features_cover_blocks(small_with_features) -> None:  # type: ignore[no-untyped-def]
    _, it = small_with_features
    f = it.item_features
    assert set(f.blocks) == {"genre", "year", "tag", "person", "text"}
    assert f.has_content().mean() > 0.99
    assert "person:John Lasseter" in set(f.names)
    # Toy Story (movieId 1) has its director and plot words
    row = f.matrix[it.item_vocab.index(1)]
    names = set(f.names[row.indices])
    assert "person:John Lasseter" in names and "genre:Animation" in names and any(n.startswith("text:") for n in names)


@pytest.mark.slow  # same fixture; fits ContentKNN twice on ml-latest-small
def test_brand_new_film_is_recommendable_and_explained(small_with_features) -> None:  # type: ignore[no-untyped-def]
    _, it = small_with_features
    toy3 = it.item_vocab.index(78499)  # Toy Story 3
    cold = it.subset(it.items != toy3)  # nobody has rated it: a brand-new film
    assert cold.item_counts()[toy3] == 0
    m = ContentKNN().fit(cold)
    toy = it.item_vocab.index(1)
    fan = int(np.flatnonzero(cold.matrix[:, toy].toarray().ravel() >= 5)[0])
    s = m.score(np.array([fan]))[0]
    assert np.isfinite(s[toy3])
    texts = [r.text for r in m.explain(fan, toy3)]
    assert any(t.startswith("same director/cast:") or t.startswith("genres:") for t in texts)
    # someone whose only rating is Toy Story: the unrated sequel ranks near the top
    profile = m.fold_in(np.array([toy]), np.array([5.0]))
    scores = m.item_vectors_ @ profile
    scores[toy] = -np.inf
    assert (scores > scores[toy3]).sum() < 0.03 * len(scores)
    exact = ContentKNN(n_components=0).fit(cold)
    scores = np.asarray(exact.item_vectors_ @ exact.fold_in(np.array([toy]), np.array([5.0]))).ravel()
    scores[toy] = -np.inf
    assert (scores > scores[toy3]).sum() < 20


def test_needs_features() -> None:
    data, _ = two_groups()
    with pytest.raises(DataFormatError, match="content-knn needs item features"):
        ContentKNN().fit(data.with_features(None))


def test_tmdb_broken_json_names_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "tmdb.csv"
    f.write_text('id,overview,keywords\n1,"A film","[{""id"": 1, ""name"": ""space""}]"\n2,"B","[{""id"": 1, ""name"": "\n')
    with pytest.raises(DataFormatError) as e:
        read_metadata(f)
    assert str(e.value).startswith("tmdb.csv:3: field 'keywords': invalid JSON")
    f.write_text('id,overview,keywords\n1,"A film","[{""id"": 1, ""name"": ""space""}]"\n')
    md = read_metadata(f)
    assert md.texts is not None and md.texts["keywords"].tolist() == [["space"]]


def test_hetrec_header_with_a_space_for_a_tab(datasets: Path) -> None:
    md = read_metadata(datasets / "hetrec2011-movielens-2k")
    assert md.directors is not None and md.directors.iloc[0].tolist() == [1, "John Lasseter"]
    assert md.tags is not None and len(md.tags) > 10_000
