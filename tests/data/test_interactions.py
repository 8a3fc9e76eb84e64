"""What the implicit-feedback models learn from: ``Interactions.confidence`` and whether it carries values."""

from __future__ import annotations

import numpy as np

from cinerec.data.interactions import Interactions
from cinerec.data.vocab import Vocabulary

USERS, ITEMS = np.array([0, 0, 1]), np.array([0, 2, 1])


def _data(ratings: list[float] | None, weights: list[float] | None) -> Interactions:
    return Interactions(USERS, ITEMS, None if ratings is None else np.array(ratings),
                        Vocabulary(np.array([10, 11])), Vocabulary(np.array([5, 6, 7])),
                        weights=None if weights is None else np.array(weights))


def test_ratings_when_asked_for_and_present() -> None:
    d = _data([4.0, 2.5, 5.0], None)
    assert d.confidence(True).toarray().tolist() == [[4.0, 0.0, 2.5], [0.0, 5.0, 0.0]]
    assert d.confidence(False).toarray().tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert d.confidence_has_values(True) and not d.confidence_has_values(False)


def test_implicit_weights_whether_or_not_ratings_are_asked_for() -> None:
    d = _data(None, [3.0, 1.0, 2.0])
    for use_ratings in (True, False):
        assert d.confidence(use_ratings).toarray().tolist() == [[3.0, 0.0, 1.0], [0.0, 2.0, 0.0]]
        assert d.confidence_has_values(use_ratings)
    plain = _data(None, None)
    assert plain.confidence(True).sum() == 3 and not plain.confidence_has_values(True)


def test_the_callers_copy_leaves_the_cached_matrix_alone() -> None:
    d = _data([4.0, 2.5, 5.0], None)
    x = d.confidence(True).astype(np.float64)
    x.data[:] = 0
    assert d.confidence(True).sum() == 11.5
