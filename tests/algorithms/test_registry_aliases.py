"""Algorithm names: canonical names, class names and short aliases in any case and punctuation."""

from __future__ import annotations

import pytest

from cinerec.algorithms import registry
from cinerec.algorithms.mf import BiasedMF
from cinerec.errors import InvalidParameter


@pytest.mark.parametrize(("spelling", "name"), [
    ("biased-mf", "biased-mf"), ("BiasedMF", "biased-mf"), ("biased_mf", "biased-mf"), ("Biased MF", "biased-mf"),
    ("BIASED-MF", "biased-mf"), ("bayesianmf", "bayesian-mf"), ("BayesianMF", "bayesian-mf"), ("bpmf", "bayesian-mf"),
    ("ItemKNN", "item-knn"), ("item_knn", "item-knn"), ("implicit_als", "implicit-als"), ("ALS", "implicit-als"),
    ("SVD++", "svdpp"), ("SVDpp", "svdpp"), ("BiasBaseline", "bias"), ("WeightedHybrid", "hybrid"),
    ("NeuralRecommender", "neural"), ("  ease ", "ease"),
])
def test_aliases_resolve_to_the_canonical_name(spelling: str, name: str) -> None:
    assert registry.canonical(spelling) == name
    assert registry.get_class(spelling) is registry.get_class(name)
    assert registry.create(spelling).name == name


def test_every_name_and_class_name_round_trips() -> None:
    for name in registry.names():
        cls = registry.get_class(name)
        assert cls.name == name
        for spelling in (name, name.upper(), name.replace("-", "_"), name.replace("-", ""), cls.__name__,
                         *registry.aliases(name)):
            assert registry.canonical(spelling) == name, spelling


def test_no_alias_is_ambiguous() -> None:
    """Two algorithms never share a normalised spelling (the table would silently pick one)."""
    seen: dict[str, str] = {}
    for name in registry.names():
        for spelling in (name, registry.get_class(name).__name__, *registry.aliases(name)):
            key = registry.normalise_name(spelling)
            assert seen.setdefault(key, name) == name, f"{spelling!r} names both {seen[key]} and {name}"


def test_aliases_exclude_the_name_itself() -> None:
    assert registry.aliases("BiasedMF") == ["BiasedMF", "funksvd", "mf"]
    assert "implicit-als" not in registry.aliases("implicit-als")


def test_create_with_alias_takes_params() -> None:
    model = registry.create("BiasedMF", lr=0.01, n_factors=7)
    assert isinstance(model, BiasedMF)
    assert model.get_params()["lr"] == 0.01 and model.get_params()["n_factors"] == 7


@pytest.mark.parametrize(("typo", "suggestion"), [("biasd-mf", "biased-mf"), ("ItemKN", "item-knn"), ("implict-als", "implicit-als")])
def test_unknown_name_suggests_close_ones(typo: str, suggestion: str) -> None:
    with pytest.raises(InvalidParameter, match=f"unknown algorithm '{typo}'; did you mean {suggestion}") as info:
        registry.canonical(typo)
    assert "choose one of" in str(info.value) and "svdpp" in str(info.value)


def test_unknown_name_without_close_match_lists_all() -> None:
    with pytest.raises(InvalidParameter) as info:
        registry.get_class("zzzz")
    text = str(info.value)
    assert "did you mean" not in text
    assert all(n in text for n in registry.names())


def test_cli_params_accept_aliases_on_either_side() -> None:
    from cinerec.cli._common import algo_names, parse_params, runtime_params

    algos = algo_names("BiasedMF, item_knn,ALS")
    assert algos == ["biased-mf", "item-knn", "implicit-als"]
    params = parse_params(["BiasedMF.lr=0.01", "biased_mf.n_factors=8", "ItemKNN.k=20"], ["Biased-MF", "ItemKNN"])
    assert params == {"biased-mf": {"lr": 0.01, "n_factors": 8}, "item-knn": {"k": 20}}
    assert runtime_params("BiasedMF", params["biased-mf"], None, progress=False) == {"lr": 0.01, "n_factors": 8}
    with pytest.raises(InvalidParameter, match="not among --algo"):
        parse_params(["ease.regularization=10"], ["BiasedMF"])
    with pytest.raises(InvalidParameter, match="unknown algorithm 'biasdmf'"):
        parse_params(["biasdmf.lr=0.1"], ["BiasedMF"])
