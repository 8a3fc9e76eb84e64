"""The synthetic ratings generator: determinism, shape, star distribution, power laws, planted structure, import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cinerec.algorithms.baseline import BiasBaseline, Popularity
from cinerec.algorithms.implicit_mf import ImplicitALS
from cinerec.algorithms.mf import BiasedMF
from cinerec.data.readers import read_dataset
from cinerec.data.splits import stratified_split
from cinerec.data.synthetic import (
    STAR_SHARES,
    SyntheticRatings,
    default_shape,
    generate,
    parse_size,
)
from cinerec.errors import InvalidParameter
from cinerec.evaluation.metrics import ndcg_at_k, rmse
from cinerec.store.importer import import_dataset, table_counts


@pytest.fixture(scope="module")
def data() -> SyntheticRatings:
    """100k ratings in ML-100K's shape (943 users, 1,682 films)."""
    return generate(100_000, seed=3)


def test_same_seed_same_ratings_other_seed_other_ratings(data: SyntheticRatings) -> None:
    again = generate(100_000, seed=3)
    for name in ("users", "items", "stars", "timestamps", "years"):
        assert np.array_equal(getattr(data, name), getattr(again, name)), name
    assert data.genres == again.genres
    other = generate(100_000, seed=4)
    assert not np.array_equal(data.items, other.items)


def test_shape_count_and_no_repeated_pair(data: SyntheticRatings) -> None:
    assert len(data) == 100_000
    assert (data.n_users, data.n_items) == (943, 1_682) == default_shape(100_000)
    assert np.array_equal(np.unique(data.users), np.arange(943))  # every user has ratings
    keys = data.users.astype(np.int64) * data.n_items + data.items
    assert len(np.unique(keys)) == len(keys)
    assert data.items.min() >= 0 and data.items.max() < data.n_items


def test_stars_look_like_movielens(data: SyntheticRatings) -> None:
    values, counts = np.unique(data.stars, return_counts=True)
    assert np.array_equal(values, np.arange(1, 11) / 2)
    assert np.allclose(counts / len(data), STAR_SHARES, atol=0.002)
    assert 3.45 < float(data.stars.mean()) < 3.6
    assert 0.9 < float(data.stars.std()) < 1.2


def test_activity_and_popularity_are_heavy_tailed(data: SyntheticRatings) -> None:
    per_item = np.sort(np.bincount(data.items, minlength=data.n_items))[::-1]
    top = per_item[: data.n_items // 100].sum() / len(data)
    assert top > 0.05  # the top 1% of films hold over five times their even share
    assert per_item[: data.n_items // 2].sum() / len(data) > 0.75  # and the bottom half under a quarter
    per_user = np.bincount(data.users)
    assert per_user.max() > 10 * np.median(per_user)
    assert per_user.max() <= data.n_items // 2


def test_timestamps_and_films(data: SyntheticRatings) -> None:
    assert data.timestamps.min() >= 946_684_800 and data.timestamps.max() <= 1_704_067_200
    assert len(data.years) == len(data.genres) == data.n_items
    assert all(1 <= len(g) <= 3 for g in data.genres)
    assert data.years.min() >= 1902 and data.years.max() <= 2023


def test_planted_structure_is_learnable(data: SyntheticRatings) -> None:
    split = stratified_split(data.interactions(), 0.8, random_state=0)
    train, test = split.train, split.test
    assert test.ratings is not None and train.ratings is not None
    mean = rmse(np.full(len(test), train.ratings.mean()), test.ratings)
    bias = rmse(BiasBaseline().fit(train).predict(test.users, test.items), test.ratings)
    mf = rmse(BiasedMF(random_state=0).fit(train).predict(test.users, test.items), test.ratings)
    assert mean > 1.0
    assert bias < mean - 0.1  # the planted biases
    assert mf < bias - 0.015  # and the planted factors
    users = np.unique(test.users)
    truth = test.binary[users]
    pop = ndcg_at_k(Popularity().fit(train).recommend(users, 10).items, truth, 10).mean()
    als = ndcg_at_k(ImplicitALS(random_state=0).fit(train).recommend(users, 10).items, truth, 10).mean()
    assert als > 1.1 * pop  # which films a user rates follows the taste groups, not popularity alone


def test_dataset_imports_and_the_csv_folder_reads_back(tmp_path: Path, migrated_engine: Any) -> None:
    small = generate(20_000, 200, 500, seed=1)
    report = import_dataset(migrated_engine, small.dataset("synthetic"))
    assert report.counts["ratings"] == 20_000 and not report.rejected
    counts = table_counts(migrated_engine)
    assert (counts["users"], counts["movies"], counts["ratings"]) == (200, 500, 20_000)
    read = read_dataset(small.write_movielens(tmp_path / "synthetic"))
    assert read.format == "ml-latest" and len(read.ratings) == 20_000 and not len(read.problems)
    back = read.ratings.sort_values(["user", "item"])
    mine = small.ratings_frame().sort_values(["user", "item"])
    for col in ("user", "item", "rating", "timestamp"):
        assert np.array_equal(back[col].to_numpy(), mine[col].to_numpy()), col
    assert read.movies is not None and read.movies["year"].tolist() == small.years.tolist()


def test_save_and_load(tmp_path: Path) -> None:
    small = generate(5_000, 100, 300, seed=2)
    loaded = SyntheticRatings.load(small.save(tmp_path / "s.npz"))
    assert np.array_equal(loaded.stars, small.stars) and loaded.genres == small.genres
    assert (loaded.n_users, loaded.n_items, loaded.seed) == (100, 300, 2)


def test_sizes_and_impossible_shapes() -> None:
    assert [parse_size(s) for s in ("100k", "1M", "2.5M", "250000")] == [100_000, 1_000_000, 2_500_000, 250_000]
    for bad in ("", "ten", "1G", "0"):
        with pytest.raises(InvalidParameter, match="size"):
            parse_size(bad)
    with pytest.raises(InvalidParameter, match="do not fit"):
        generate(1_000, 10, 20)  # at most 10 users x 10 films
