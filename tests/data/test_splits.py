"""Splits: partitions, per-user fractions, time order, predefined ML-100K folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cinerec.data.interactions import Interactions
from cinerec.data.splits import (
    kfold_split,
    leave_last_n_split,
    ml100k_folds,
    stratified_split,
    temporal_split,
)
from cinerec.errors import DataFormatError, InvalidParameter


def pairs(d: Interactions) -> set[tuple[int, int]]:
    return set(zip(d.users.tolist(), d.items.tolist(), strict=True))


def test_kfold_partitions(ml100k_data: Interactions) -> None:
    folds = list(kfold_split(ml100k_data, 5, random_state=1))
    tests = [pairs(f.test) for f in folds]
    assert sum(len(t) for t in tests) == len(ml100k_data)
    assert set().union(*tests) == pairs(ml100k_data)
    for f in folds:
        assert not pairs(f.train) & pairs(f.test)
        assert f.train.user_vocab == ml100k_data.user_vocab
    again = list(kfold_split(ml100k_data, 5, random_state=1))
    assert pairs(again[0].test) == tests[0]


def test_stratified_per_user_fraction(ml100k_data: Interactions) -> None:
    s = stratified_split(ml100k_data, 0.75, random_state=42)
    tr, te = s.train.user_counts(), s.test.user_counts()
    total = tr + te
    assert np.all(np.abs(tr - np.round(total * 0.75)) <= 1)
    assert len(s.train) + len(s.test) == len(ml100k_data)


def test_temporal_global_cut(ml100k_data: Interactions) -> None:
    s = temporal_split(ml100k_data, 0.8)
    assert s.train.timestamps is not None and s.test.timestamps is not None
    assert s.train.timestamps.max() <= s.test.timestamps.min()
    assert len(s.test) == pytest.approx(0.2 * len(ml100k_data), abs=1)


def test_leave_last_n(ml100k_data: Interactions) -> None:
    s = leave_last_n_split(ml100k_data, 2)
    assert s.test.user_counts().max() == 2
    tr = s.train.to_frame().groupby("user")["timestamp"].max()
    te = s.test.to_frame().groupby("user")["timestamp"].min()
    assert (tr.reindex(te.index) <= te).all()


def test_ml100k_predefined_folds(ml100k: Path) -> None:
    folds = list(ml100k_folds(ml100k))
    assert [f.name for f in folds] == ["u1", "u2", "u3", "u4", "u5"]

    def rows(name: str) -> int:
        return sum(1 for line in (ml100k / name).read_text().split("\n") if line.strip())

    for f in folds:
        assert (len(f.train), len(f.test)) == (rows(f"{f.name}.base"), rows(f"{f.name}.test"))
    assert sum(len(f.test) for f in folds) == rows("u.data")  # the five test sets partition the ratings


def test_bad_arguments(ml100k_data: Interactions) -> None:
    with pytest.raises(InvalidParameter):
        stratified_split(ml100k_data, 1.5)
    no_time = Interactions(ml100k_data.users, ml100k_data.items, ml100k_data.ratings, ml100k_data.user_vocab, ml100k_data.item_vocab)
    with pytest.raises(DataFormatError, match="temporal split needs timestamps"):
        temporal_split(no_time)
