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
from tests.algorithms.contract import low_rank, two_groups


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
    assert {"weights", "validation_ndcg", "mixture_gain", "mixture_gain_se", "rating_weights", "intercept",
            "rating_gain", "rating_gain_se"} <= set(summary) <= {*summary, "fallback", "rating_fallback"}
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
    m = WeightedHybrid(members=["item-knn", {"algo": "content-knn", "params": {"n_components": 0}}], switch_below=2,
                       weights=[0.7, 0.3]).fit(data)
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


def _grid_pick(per_user_gain: np.ndarray, min_gain_se: float = 1.0) -> WeightedHybrid:
    """A hybrid of two members whose grid search saw ``per_user_gain`` for the 50/50 mixture over member 0."""
    m = WeightedHybrid(members="ease,popularity", grid_step=0.5, min_gain_se=min_gain_se)
    grid = np.array([(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)])
    base = np.linspace(0.2, 0.6, len(per_user_gain))
    m._choose_weights(grid, np.vstack([base - 0.1, base + per_user_gain, base]))
    return m


def test_a_mixture_needs_a_gain_beyond_its_paired_standard_error() -> None:
    rng = np.random.default_rng(0)
    clear = _grid_pick(0.02 + rng.normal(scale=0.05, size=400))  # gain 0.02, standard error 0.0025
    assert clear.fallback_index_ == -1 and clear.weights_.tolist() == [0.5, 0.5]
    assert clear.mixture_gain_ > 4 * clear.mixture_gain_se_ > 0
    noise = rng.normal(scale=0.05, size=400)
    noisy = _grid_pick(noise - noise.mean() + 0.001)  # the arg-max mixture, by 0.4 standard errors: noise
    assert noisy.fallback_index_ == 0 and noisy.weights_.tolist() == [1.0, 0.0]
    assert noisy.mixture_gain_ == pytest.approx(0.001) and noisy.validation_ndcg_ == pytest.approx(0.4)
    assert _grid_pick(noise - noise.mean() + 0.001, min_gain_se=0).fallback_index_ == -1  # 0: the plain arg-max


def test_the_stacker_is_kept_only_if_it_beats_the_best_member_out_of_sample() -> None:
    rng = np.random.default_rng(1)
    best = rng.uniform(1.5, 4.5, size=3000)
    truth = best + rng.normal(scale=0.3, size=3000)
    users = rng.integers(0, 300, size=3000)
    m = WeightedHybrid(members="bias,item-knn")
    m.min_rating_, m.max_rating_ = 1.0, 5.0
    # one member predicts the expected rating, the other is noise: stacking can only copy the first
    m._stack_ratings(np.column_stack([best, rng.uniform(1, 5, 3000)]), truth, users)
    assert m.rating_fallback_index_ == 0 and m.rating_weights_.tolist() == [1.0, 0.0] and m.intercept_ == 0.0
    # two halves of the signal: their sum is far better than either
    half = rng.normal(scale=0.6, size=3000)
    m._stack_ratings(np.column_stack([3 + half, truth - half]), truth, users)
    assert m.rating_fallback_index_ == -1 and m.rating_gain_ > 5 * m.rating_gain_se_
    np.testing.assert_allclose(m.rating_weights_, [1.0, 1.0], atol=0.05)


def test_fallback_to_the_clearly_better_member_keeps_only_that_member(tmp_path: Path) -> None:
    data, _ = two_groups()
    m = WeightedHybrid(members=["popularity", "ease"]).fit(data)
    summary = m.learned_summary()
    assert summary["fallback"] == "ease" and summary["weights"] == {"popularity": 0.0, "ease": 1.0}
    assert summary["mixture_gain"] < summary["mixture_gain_se"]
    assert [x.name for x in m.members_] == ["ease"] and m.member_index_.tolist() == [1]  # popularity: not refitted
    users = np.arange(data.n_users)
    np.testing.assert_allclose(m.score(users), normalise_rows(m.members_[0].score(users), "zscore"))
    folder = save(m, tmp_path / "fallback")
    assert not any(f.startswith("member-1/") for f in json.loads((folder / "manifest.json").read_text())["files"])
    np.testing.assert_allclose(load(folder).score(users), m.score(users), rtol=1e-9)
    # the old rule (the arg-max, min_gain_se=0) takes a mixture that is better, but by less than 1 standard error
    close = WeightedHybrid(members=["item-knn", "ease"]).fit(data).learned_summary()
    assert close["fallback"] == "ease" and 0 < close["mixture_gain"] < close["mixture_gain_se"]
    assert "fallback" not in WeightedHybrid(members=["item-knn", "ease"], min_gain_se=0).fit(data).learned_summary()


def test_a_mixture_that_clearly_helps_is_kept_and_reported() -> None:
    data = low_rank(n_users=300, n_items=80)
    m = WeightedHybrid(members=["bias", "item-knn"]).fit(data)
    summary = m.learned_summary()
    assert "fallback" not in summary and summary["mixture_gain"] > summary["mixture_gain_se"] > 0
    assert 0 < summary["weights"]["bias"] < 1 and len(m.members_) == 2
    assert "rating_fallback" not in summary and summary["rating_gain"] > 3 * summary["rating_gain_se"]
    with pytest.raises(InvalidParameter, match="validation_folds"):
        WeightedHybrid(members=["bias", "item-knn"], validation_folds=0).fit(data)


@pytest.mark.parametrize("module", ["base", "persist", "registry", "hybrid", "_validation"])
def test_each_module_imports_on_its_own(module: str) -> None:
    # a fresh interpreter: an import circle shows up as an ImportError on a partly initialised module
    subprocess.run([sys.executable, "-c", f"import cinerec.algorithms.{module}"], check=True)
