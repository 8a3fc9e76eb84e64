"""Sentence embeddings: shape, normalisation, empty texts, and one encoding per text inside ``reuse_embeddings``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cinerec.errors import InvalidParameter
from cinerec.nlp import embeddings
from cinerec.nlp.embeddings import encode, reuse_embeddings


class _Counting:
    """A stand-in encoder: a text's vector is made from its characters; every text it is asked for is recorded."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def encode(self, batch: list[str], **_: Any) -> np.ndarray:
        self.asked.extend(batch)
        return np.array([[len(t), sum(map(ord, t)) % 97 + 1.0, 1.0] + [0.0] * 381 for t in batch])


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> _Counting:
    model = _Counting()
    monkeypatch.setattr(embeddings, "_load", lambda name: model)
    return model


def test_rows_are_unit_length_and_empty_texts_zero(counting: _Counting) -> None:
    v = encode(["good film", "", "  ", "bad"], "minilm")
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v[[0, 3]], axis=1), 1.0, rtol=1e-6)
    assert not v[[1, 2]].any() and counting.asked == ["good film", "bad"]


def test_reuse_encodes_each_text_once_and_only_inside_the_block(counting: _Counting) -> None:
    texts = ["a fine film", "dull", "a fine film"]
    with reuse_embeddings():
        first = encode(texts, "minilm")
        again = encode(["dull", "new one", "a fine film"], "minilm")
    assert counting.asked == ["a fine film", "dull", "a fine film", "new one"]  # the repeat in one call is cheap
    np.testing.assert_array_equal(again[[0, 2]], first[[1, 0]])
    np.testing.assert_array_equal(again[1], encode(["new one"], "minilm")[0])
    encode(["dull"], "minilm")  # the block has ended: nothing is kept
    assert counting.asked[-2:] == ["new one", "dull"]


def test_unknown_encoder_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="unknown text encoder 'bert'"):
        encode(["x"], "bert")
