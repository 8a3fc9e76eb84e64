"""Algorithm names -> classes, for the CLI, configuration and artifacts."""

from __future__ import annotations

from cinerec.algorithms.base import RecommenderBase
from cinerec.errors import InvalidParameter


def _classes() -> dict[str, type[RecommenderBase]]:
    from cinerec.algorithms.baseline import BiasBaseline, Popularity
    from cinerec.algorithms.content import ContentKNN
    from cinerec.algorithms.hybrid import WeightedHybrid
    from cinerec.algorithms.implicit_mf import BPR, EASE, ImplicitALS
    from cinerec.algorithms.knn import ItemKNN, UserKNN
    from cinerec.algorithms.mf import BayesianMF, BiasedMF, SVDpp
    from cinerec.algorithms.neural import NeuralRecommender

    classes: list[type[RecommenderBase]] = [Popularity, BiasBaseline, ItemKNN, UserKNN, BiasedMF, SVDpp, BayesianMF, ImplicitALS, BPR, EASE, ContentKNN, NeuralRecommender, WeightedHybrid]
    return {c.name: c for c in classes}


def names() -> list[str]:
    """All registered algorithm names."""
    return sorted(_classes())


def get_class(name: str) -> type[RecommenderBase]:
    """The class registered under ``name``.

    Raises:
        InvalidParameter: unknown name (the message lists the known ones).
    """
    classes = _classes()
    if name not in classes:
        raise InvalidParameter(f"unknown algorithm {name!r}; choose one of {', '.join(sorted(classes))}")
    return classes[name]


def create(name: str, **params: object) -> RecommenderBase:
    """Instantiate ``name`` with ``params`` (validated against its ``__init__``)."""
    cls = get_class(name)
    model = cls()
    model.set_params(**params)
    return model
