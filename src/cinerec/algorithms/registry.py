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


# Common short names beyond the normalised canonical and class names.
_EXTRA_ALIASES: dict[str, str] = {"als": "implicit-als", "bpmf": "bayesian-mf", "svd++": "svdpp", "mf": "biased-mf",
                                  "funksvd": "biased-mf", "baseline": "bias", "pop": "popularity", "twotower": "neural"}


def normalise_name(text: str) -> str:
    """The lookup key of an algorithm name: lower case without ``-``, ``_``, ``.`` and spaces (``Biased_MF`` -> ``biasedmf``)."""
    return "".join(ch for ch in text.strip().lower() if ch not in "-_. ")


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for name, cls in _classes().items():
        table[normalise_name(name)] = name
        table[normalise_name(cls.__name__)] = name
    for alias, name in _EXTRA_ALIASES.items():
        table.setdefault(normalise_name(alias), name)
    return table


def aliases(name: str) -> list[str]:
    """The accepted spellings of algorithm ``name`` besides itself (its class name and short names).

    Any spelling is also accepted in any case and with ``-``, ``_`` or spaces added or dropped.
    """
    canon = canonical(name)
    out = [get_class(canon).__name__, *sorted(a for a, n in _EXTRA_ALIASES.items() if n == canon)]
    return [a for a in dict.fromkeys(out) if a != canon]


def canonical(name: str) -> str:
    """The registered name for any accepted spelling: ``BiasedMF``, ``biased_mf`` and ``ALS`` -> ``biased-mf``, ``implicit-als``.

    Raises:
        InvalidParameter: no algorithm goes by that name (the message suggests close ones and lists all).
    """
    table = _alias_table()
    found = table.get(normalise_name(name))
    if found is not None:
        return found
    import difflib

    close = difflib.get_close_matches(normalise_name(name), list(table), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(dict.fromkeys(table[c] for c in close))}? " if close else ""
    raise InvalidParameter(f"unknown algorithm {name!r}; {hint}choose one of {', '.join(names())} "
                           "(see `cinerec models algorithms`)")


def names() -> list[str]:
    """All registered algorithm names."""
    return sorted(_classes())


def get_class(name: str) -> type[RecommenderBase]:
    """The class registered under ``name`` or any alias of it (see :func:`canonical`).

    Raises:
        InvalidParameter: unknown name (the message suggests close ones and lists the known ones).
    """
    classes = _classes()
    return classes[name] if name in classes else classes[canonical(name)]


def create(name: str, **params: object) -> RecommenderBase:
    """Instantiate ``name`` with ``params`` (validated against its ``__init__``)."""
    cls = get_class(name)
    model = cls()
    model.set_params(**params)
    return model
