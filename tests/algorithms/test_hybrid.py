"""WeightedHybrid beyond the contract: typed members, ranking-only predict, switching, old artifacts, saving."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cinerec.algorithms import hybrid as hybrid_module
from cinerec.algorithms import load, save
from cinerec.algorithms.hybrid import (
    DEFAULT_MEMBERS,
    MemberSpec,
    WeightedHybrid,
    normalise_rows,
    parse_members,
)
from cinerec.algorithms.registry import create, validate_params
from cinerec.cli._common import parse_params, runtime_params
from cinerec.errors import InvalidParameter
from tests.algorithms.contract import two_groups


def test_members_as_names_configs_or_the_old_string() -> None:
    listed = parse_members(["ItemKNN", {"algo": "content_knn", "params": {"n_components": 0}}])
    assert listed == [MemberSpec("item-knn", {}), MemberSpec("content-knn", {"n_components": 0})]
    assert parse_members("item-knn, content-knn") == [MemberSpec("item-knn", {}), MemberSpec("content-knn", {})]
    assert [s.algo for s in parse_members(None)] == list(DEFAULT_MEMBERS)
    assert [s.as_config() for s in listed] == ["item-knn", {"algo": "content-knn", "params": {"n_components": 0}}]


@pytest.mark.parametrize(("members", "message"), [
    ([], "one or more members"),
    ("", "one or more members"),
    (["item-knn", "hybrid"], "cannot be a member"),
    (["item-nn"], "did you mean item-knn"),
    ([{"algo": "item-knn", "parms": {"k": 5}}], "member 0 must be a name or"),
    ([{"algo": "item-knn", "params": {"kk": 5}}], "member 0: item-knn has no parameter 'kk'"),
    (["popularity", {"algo": "item-knn", "params": {"similarity": "cos"}}], "member 1: item-knn: parameter 'similarity'"),
    ([3], "must be a name"),
])
def test_invalid_members_are_refused_before_fitting(members: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_members(members)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=message):
        WeightedHybrid(members=members).fit(two_groups()[0])  # type: ignore[arg-type]


def test_parameters_are_validated_by_the_signature() -> None:
    assert validate_params("item-knn", {"k": 40.0, "similarity": "cosine"}) == {"k": 40, "similarity": "cosine"}
    with pytest.raises(InvalidParameter, match="parameter 'k'"):
        create("item-knn", k="many")
    with pytest.raises(InvalidParameter, match="hybrid: parameter 'normalization'"):
        create("hybrid", normalization="minmax")


def test_members_are_built_once_per_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = hybrid_module.create

    def counting(name: str, **params: object) -> object:
        built.append(name)
        return real(name, **params)

    monkeypatch.setattr(hybrid_module, "create", counting)
    m = WeightedHybrid(members=["item-knn", "popularity"])
    assert not m.needs_features and not built
    m.fit(two_groups()[0])
    assert built == ["item-knn", "popularity"]
    m.recommend(np.arange(3), 2)
    assert not m.needs_features and built == ["item-knn", "popularity"]


def test_ranking_only_hybrid_refuses_predict_naming_the_member() -> None:
    data, _ = two_groups()
    m = WeightedHybrid(members=["bias", "item-knn", "popularity"]).fit(data)
    assert not m.predicts_ratings
    with pytest.raises(InvalidParameter, match="member popularity cannot predict ratings"):
        m.predict(np.array([0]), np.array([1]))
    rated = WeightedHybrid(members="bias,item-knn").fit(data)
    assert rated.predicts_ratings
    assert np.isfinite(rated.predict(np.array([0, 1]), np.array([3, 4]))).all()
    summary = rated.learned_summary()
    assert set(summary) == {"weights", "validation_ndcg", "rating_weights", "intercept"}
    assert sum(summary["weights"].values()) == pytest.approx(1.0)  # ranking weights from the NDCG grid


def test_short_histories_use_the_switch_member() -> None:
    data, _ = two_groups()
    m = WeightedHybrid(members=["item-knn", {"algo": "content-knn", "params": {"n_components": 0}}],
                       weights=[0.5, 0.5], switch_below=3, switch_member="ContentKNN").fit(data)
    content = m.members_[1]
    short = (np.array([0, 1]), np.array([5.0, 4.0]))
    expected = normalise_rows(content.score_history(*short)[None, :], "zscore")[0]
    np.testing.assert_allclose(m.score_history(*short), expected)
    long = (np.array([0, 1, 2, 3]), np.array([5.0, 4.0, 5.0, 4.5]))
    assert not np.allclose(m.score_history(*long), normalise_rows(content.score_history(*long)[None, :], "zscore")[0])
    reasons = m.explain_history(*short, item=5, n=2)
    assert reasons and reasons == content.explain_history(*short, item=5, n=2)


def test_history_of_a_trained_user_ranks_like_the_user() -> None:
    data, _ = two_groups()
    m = WeightedHybrid(members=["item-knn", "popularity"]).fit(data)
    items, values = m.training_history(4)
    np.testing.assert_array_equal(m.recommend_history(items, values, 5).items[0], m.recommend(np.array([4]), 5).items[0])


def test_members_saved_as_sub_artifacts_and_old_artifacts_still_load(tmp_path: Path) -> None:
    data, _ = two_groups()
    m = WeightedHybrid(members=["item-knn", {"algo": "content-knn", "params": {"n_components": 0}}], switch_below=2).fit(data)
    folder = save(m, tmp_path / "new")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"member-0/manifest.json", "member-0/arrays.npz", "member-1/manifest.json"} <= set(manifest["files"])
    users = np.arange(data.n_users)
    np.testing.assert_allclose(load(folder).score(users), m.score(users), rtol=1e-9)
    # the layout of hybrids saved before members were a list: a string plus member_params, no
    # switch_index_ / rating_weights_ in the state; the member folders are the same
    manifest["params"]["members"] = "item-knn,content-knn"
    manifest["params"]["member_params"] = {"content-knn": {"n_components": 0}}
    for key in ("switch_index_", "rating_weights_"):
        manifest["state"].pop(key, None)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    old = load(folder)
    assert isinstance(old, WeightedHybrid)
    assert old.members == ["item-knn", {"algo": "content-knn", "params": {"n_components": 0}}]
    assert old.switch_index_ == 1
    np.testing.assert_allclose(old.score(users), m.score(users), rtol=1e-9)


def test_cli_comma_string_and_device_reach_the_members() -> None:
    params = parse_params(["hybrid.members=ease,implicit-als"], ["hybrid"])["hybrid"]
    assert params == {"members": "ease,implicit-als"}
    assert runtime_params("hybrid", params, None, progress=False) == {"members": ["ease", "implicit-als"]}
    neural = runtime_params("hybrid", {"members": ["ease", {"algo": "neural", "params": {"n_factors": 8}}]}, "cpu", progress=False)
    assert neural["members"] == ["ease", {"algo": "neural", "params": {"device": "cpu", "n_factors": 8}}]
    with pytest.raises(InvalidParameter, match="none among hybrid members"):
        runtime_params("hybrid", params, "cpu", progress=False)


@pytest.mark.parametrize("module", ["base", "persist", "registry", "hybrid", "_validation"])
def test_each_module_imports_on_its_own(module: str) -> None:
    # a fresh interpreter: an import circle shows up as an ImportError on a partly initialised module
    subprocess.run([sys.executable, "-c", f"import cinerec.algorithms.{module}"], check=True)
