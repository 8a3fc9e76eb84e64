"""Train/test splits over :class:`Interactions`, all seeded and vocabulary-preserving.

Each splitter returns ``(train, test)`` pairs that share the full user and
item vocabularies, so indices line up between them; a test item never seen
in training is simply a column with no training data (a cold item).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary
from cinerec.errors import DataFormatError, InvalidParameter


@dataclass(frozen=True)
class Split:
    """One train/test pair.

    Attributes:
        train: interactions to fit on.
        test: held-out interactions (same vocabularies).
        name: e.g. ``fold-1``, ``u3``.
    """

    train: Interactions
    test: Interactions
    name: str


def _rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    return random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)


def kfold_split(data: Interactions, n_folds: int = 5, *, random_state: int | None = 42) -> Iterator[Split]:
    """Random k-fold over interactions: each rating is in exactly one test fold."""
    if n_folds < 2:
        raise InvalidParameter("kfold needs at least 2 folds")
    if len(data) < n_folds:
        raise InvalidParameter(f"cannot make {n_folds} folds of {len(data)} interactions")
    perm = _rng(random_state).permutation(len(data))
    folds = np.array_split(perm, n_folds)
    for k, test_idx in enumerate(folds):
        mask = np.zeros(len(data), dtype=bool)
        mask[test_idx] = True
        yield Split(data.subset(~mask), data.subset(mask), f"fold-{k + 1}")


def _per_user_rank(users: npt.NDArray[np.int64], keys: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rank of each interaction within its user by ``keys`` (0 = first), and the user's count."""
    order = np.lexsort((keys, users))
    su = users[order]
    starts = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
    counts = np.diff(np.r_[starts, len(su)])
    rank_sorted = np.arange(len(su)) - np.repeat(starts, counts)
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    return rank, np.repeat(counts, counts)[np.argsort(order)]


def stratified_split(
    data: Interactions, train_fraction: float = 0.75, *, min_train: int = 1, random_state: int | None = 42
) -> Split:
    """Per-user stratified holdout: a random ``1 - train_fraction`` of each user's interactions is tested.

    Users keep at least ``min_train`` training interactions; users with a
    single interaction stay entirely in training.
    """
    if not 0 < train_fraction < 1:
        raise InvalidParameter("train_fraction must be in (0, 1)")
    keys = _rng(random_state).random(len(data))
    rank, count = _per_user_rank(data.users, keys)
    n_train = np.maximum(np.round(count * train_fraction).astype(np.int64), min_train)
    test = rank >= n_train
    return Split(data.subset(~test), data.subset(test), f"stratified-{train_fraction:g}")


def temporal_split(data: Interactions, train_fraction: float = 0.8) -> Split:
    """Global time cut: the earliest ``train_fraction`` of interactions train, the rest test."""
    if data.timestamps is None:
        raise DataFormatError("a temporal split needs timestamps")
    if not 0 < train_fraction < 1:
        raise InvalidParameter("train_fraction must be in (0, 1)")
    order = np.argsort(data.timestamps, kind="stable")
    cut = round(len(data) * train_fraction)
    test = np.zeros(len(data), dtype=bool)
    test[order[cut:]] = True
    return Split(data.subset(~test), data.subset(test), f"temporal-{train_fraction:g}")


def leave_last_n_split(data: Interactions, n: int = 1, *, min_train: int = 1) -> Split:
    """Per-user temporal holdout: each user's ``n`` most recent interactions are tested."""
    if data.timestamps is None:
        raise DataFormatError("leave-last-n needs timestamps")
    rank, count = _per_user_rank(data.users, -data.timestamps.astype(np.float64))
    test = (rank < n) & (rank < count - min_train)
    return Split(data.subset(~test), data.subset(test), f"last-{n}")


def predefined_split(
    train: Interactions | pd.DataFrame, test: Interactions | pd.DataFrame, name: str = "predefined"
) -> Split:
    """Join given train and test sets onto shared vocabularies (raw ids preserved)."""
    tr = train.to_frame() if isinstance(train, Interactions) else train
    te = test.to_frame() if isinstance(test, Interactions) else test
    uv = Vocabulary.from_values(np.concatenate([tr["user"].to_numpy(), te["user"].to_numpy()]))
    iv = Vocabulary.from_values(np.concatenate([tr["item"].to_numpy(), te["item"].to_numpy()]))
    tcol = "timestamp" if "timestamp" in tr and "timestamp" in te else None
    return Split(
        Interactions.from_frame(tr, user_vocab=uv, item_vocab=iv, time_col=tcol),
        Interactions.from_frame(te, user_vocab=uv, item_vocab=iv, time_col=tcol),
        name,
    )


def ml100k_folds(folder: Path | str, which: str = "u") -> Iterator[Split]:
    """The predefined MovieLens 100K folds: ``u1..u5`` (``which='u'``) or ``ua``/``ub``."""
    from cinerec.data.readers._table import read_table

    folder = Path(folder)
    names = [f"u{k}" for k in range(1, 6)] if which == "u" else [which]
    cols = ["user", "item", "rating", "timestamp"]
    for nm in names:
        parts = []
        for suffix in ("base", "test"):
            df = read_table(folder / f"{nm}.{suffix}", columns=cols, sep="\t", header=False)
            parts.append(pd.DataFrame({
                "user": df["user"].astype(np.int64).to_numpy(), "item": df["item"].astype(np.int64).to_numpy(),
                "rating": df["rating"].astype(np.float64).to_numpy(), "timestamp": df["timestamp"].astype(np.int64).to_numpy(),
            }))
        yield predefined_split(parts[0], parts[1], nm)
