"""Algorithm names -> classes, for the CLI, configuration and artifacts.

The registry imports no model module: classes are found by dotted path and
imported on first use. So the modules that need names -> classes (the hybrid
building its members, :mod:`cinerec.algorithms.persist` loading an artifact)
depend on the registry without an import circle back to themselves, and
listing names never imports torch.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import typing
from collections.abc import Mapping
from typing import Any

from cinerec.algorithms.base import RecommenderBase
from cinerec.errors import InvalidParameter

#: Registered name -> ``module:Class``; each class's ``name`` equals its key.
_PATHS: dict[str, str] = {
    "popularity": "cinerec.algorithms.baseline:Popularity",
    "bias": "cinerec.algorithms.baseline:BiasBaseline",
    "item-knn": "cinerec.algorithms.knn:ItemKNN",
    "user-knn": "cinerec.algorithms.knn:UserKNN",
    "biased-mf": "cinerec.algorithms.mf:BiasedMF",
    "svdpp": "cinerec.algorithms.mf:SVDpp",
    "trust-svd": "cinerec.algorithms.social:TrustSVD",
    "bayesian-mf": "cinerec.algorithms.mf:BayesianMF",
    "autorec": "cinerec.algorithms.autorec:AutoRec",
    "implicit-als": "cinerec.algorithms.implicit_mf:ImplicitALS",
    "bpr": "cinerec.algorithms.implicit_mf:BPR",
    "ease": "cinerec.algorithms.item_item:EASE",
    "slim": "cinerec.algorithms.item_item:SLIM",
    "rp3beta": "cinerec.algorithms.item_item:RP3beta",
    "content-knn": "cinerec.algorithms.content:ContentKNN",
    "neural": "cinerec.algorithms.neural:NeuralRecommender",
    "vae": "cinerec.algorithms.vae:MultVAE",
    "hybrid": "cinerec.algorithms.hybrid:WeightedHybrid",
}


@functools.cache
def _classes() -> dict[str, type[RecommenderBase]]:
    out: dict[str, type[RecommenderBase]] = {}
    for name, path in _PATHS.items():
        module, _, attr = path.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, RecommenderBase) and cls.name == name):
            raise TypeError(f"registry entry {name!r} -> {path} is not a RecommenderBase named {name!r}")
        out[name] = cls
    return out


# Common short names beyond the normalised canonical and class names.
_EXTRA_ALIASES: dict[str, str] = {"i-autorec": "autorec",
                                  "als": "implicit-als", "bpmf": "bayesian-mf", "svd++": "svdpp", "mf": "biased-mf",
                                  "funksvd": "biased-mf", "baseline": "bias", "pop": "popularity", "twotower": "neural",
                                  "mult-vae": "vae", "multvae": "vae"}


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


def validate_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``params`` against the ``__init__`` signature of algorithm ``name``: names and types.

    Each value is validated against its annotation (pydantic, lax mode: JSON
    ``300`` is accepted for a ``float``, ``"cosine"`` must be one of a
    ``Literal``'s values), so a mistyped parameter fails before any fitting.

    Args:
        name: any accepted spelling of the algorithm.
        params: keyword arguments for its ``__init__``.

    Returns:
        The parameters with values converted to their annotated types.

    Raises:
        InvalidParameter: a name ``__init__`` does not take, or a value of the wrong type.
    """
    from pydantic import TypeAdapter, ValidationError
    from pydantic.errors import PydanticUserError

    cls = get_class(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidParameter(f"{cls.name} has no parameter {', '.join(map(repr, unknown))}; it takes {', '.join(accepted)}")
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation that cannot be resolved: names are still checked
        hints = {}
    out = dict(params)
    for key, value in params.items():
        if key not in hints:
            continue
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(hints[key])
        except PydanticUserError:  # a type pydantic cannot validate (arrays): the model checks it itself
            continue
        try:
            out[key] = adapter.validate_python(value)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
            raise InvalidParameter(f"{cls.name}: parameter {key!r} got {value!r}: {reason}") from None
    return out


def create(name: str, **params: object) -> RecommenderBase:
    """Instantiate ``name`` with ``params``, validated first by :func:`validate_params`.

    Raises:
        InvalidParameter: unknown algorithm, unknown parameter or a value of the wrong type.
    """
    cls = get_class(name)
    model = cls()
    model.set_params(**validate_params(name, params))
    return model
