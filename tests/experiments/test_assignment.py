"""A1 and A2 of TESTPLAN.md: GrowthBook-compatible assignment, balance, independence, ramps."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from scipy import stats

from cinerec.errors import InvalidParameter
from cinerec.experiments.assignment import (
    Experiment,
    Variant,
    bucket_ranges,
    choose_variation,
    fnv1a32,
    hash,
)

CASES = json.loads((Path(__file__).parent / "data" / "growthbook_cases.json").read_text("utf-8"))
ROOT = Path(__file__).resolve().parents[2]
N_IDS = 100_000


def _ab(seed: str, weights: tuple[float, ...] = (0.5, 0.5), traffic: float = 1.0) -> Experiment:
    names = ["control", "treatment", "third"][: len(weights)]
    return Experiment(
        name=f"exp-{seed}",
        seed=seed,
        variants=[Variant(n, w) for n, w in zip(names, weights, strict=True)],
        traffic=traffic,
    )


def test_case_file_names_its_source() -> None:
    src = CASES["source"]
    assert src["repository"].endswith("growthbook/growthbook")
    assert src["path"] == "packages/sdk-js/test/cases.json"
    assert len(src["commit"]) == 40
    assert "MIT" in src["licence"]
    assert len(CASES["hash"]) >= 10 and len(CASES["getBucketRange"]) >= 10


@pytest.mark.parametrize(
    ("text", "expected"),
    # FNV-1a 32 reference values (the FNV authors' test suite): the offset basis, "a", "foobar".
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],
)
def test_fnv1a32_reference_values(text: str, expected: int) -> None:
    assert fnv1a32(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    # Non-ASCII: GrowthBook hashes JavaScript's UTF-16 code units (charCodeAt), so a character
    # outside the BMP counts as two surrogates. Values from node (FNV-1a over charCodeAt, Math.imul).
    [("é", 1812687940), ("张三", 603732418), ("😀", 3409036472)],
)
def test_fnv1a32_hashes_utf16_code_units_like_javascript(text: str, expected: int) -> None:
    assert fnv1a32(text) == expected


def test_a1_growthbook_hash_vectors() -> None:
    for seed, value, version, expected in CASES["hash"]:
        assert hash(seed, value, version) == expected, (seed, value, version)
    assert ["seed", "a", 2, 0.0505] in CASES["hash"]  # the TESTPLAN example
    assert hash("seed", "a", 2) == 0.0505


def test_a1_growthbook_bucket_ranges() -> None:
    for name, (n, coverage, weights), expected in CASES["getBucketRange"]:
        got = bucket_ranges(n, coverage, weights)
        assert len(got) == len(expected), name
        for (start, end), (exp_start, exp_end) in zip(got, expected, strict=True):
            assert start == pytest.approx(exp_start, abs=1e-9), name
            assert end == pytest.approx(exp_end, abs=1e-9), name


def test_choose_variation_edges() -> None:
    ranges = bucket_ranges(2, 0.5)  # [0, 0.25), [0.5, 0.75)
    assert choose_variation(0.0, ranges) == 0
    assert choose_variation(0.2499, ranges) == 0
    assert choose_variation(0.25, ranges) == -1  # end is exclusive
    assert choose_variation(0.5, ranges) == 1
    assert choose_variation(0.75, ranges) == -1
    assert choose_variation(0.9999, ranges) == -1
    assert choose_variation(0.3, []) == -1


def test_a1_experiment_uses_growthbook_v2_of_seed_and_member_id() -> None:
    # GrowthBook's case ("90850943850283058242805", "123", 2) -> 0.7516.
    exp = _ab("90850943850283058242805")
    assert exp.bucket(123) == 0.7516
    assert exp.assign(123) == "treatment"  # 0.7516 in [0.5, 1)
    assert exp.with_traffic(0.5).assign(123) is None  # ranges [0, .25), [.5, .75): outside
    assert exp.with_traffic(0.6).assign(123) == "treatment"  # [.5, .8)


_CHILD = """
import json, sys
from cinerec.experiments.assignment import Experiment, Variant
specs = json.loads(sys.argv[1])
out = []
for seed, weights, traffic in specs:
    names = ["control", "treatment", "third"][: len(weights)]
    exp = Experiment(name="exp-" + seed, seed=seed,
                     variants=[Variant(n, w) for n, w in zip(names, weights)], traffic=traffic)
    out.append(exp.assign_many(range(1, 1001)))
print(json.dumps(out))
"""


def test_a1_same_variant_in_another_process() -> None:
    specs = [("homepage-ranker", [0.5, 0.5], 1.0), ("ease-vs-pop", [0.8, 0.2], 0.3),
             ("three-arms", [0.2, 0.3, 0.5], 0.7)]
    here = [_ab(seed, tuple(w), t).assign_many(range(1, 1001)) for seed, w, t in specs]
    # A fresh interpreter with a different str-hash salt: nothing may depend on Python's hash().
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(specs)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=120)
    there = json.loads(out.stdout)
    assert there == here
    assert {v for row in here for v in row} >= {"control", "treatment", "third", None}


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.8, 0.2)], ids=["50/50", "80/20"])
def test_a2_split_and_independence(weights: tuple[float, float]) -> None:
    ids = range(N_IDS)
    first = _ab("rec-exp-1", weights).assign_many(ids)
    counts = Counter(first)
    assert None not in counts  # traffic 1.0: everyone is in
    observed = [counts["control"], counts["treatment"]]
    expected = [N_IDS * w for w in weights]
    srm = stats.chisquare(observed, f_exp=expected)
    assert srm.pvalue > 0.001, (observed, srm)

    # A second experiment with another seed: its draw is independent of the first.
    second = _ab("rec-exp-2", (0.5, 0.5)).assign_many(ids)
    table = [[0, 0], [0, 0]]
    index = {"control": 0, "treatment": 1}
    for a, b in zip(first, second, strict=True):
        assert a is not None and b is not None
        table[index[a]][index[b]] += 1
    chi2, p, dof, _ = stats.chi2_contingency(table)
    assert dof == 1
    assert p > 0.001, (table, chi2, p)
    # and the two experiments do not simply copy each other
    assert sum(a == b for a, b in zip(first, second, strict=True)) < 0.9 * N_IDS


def test_a2_partial_traffic_share() -> None:
    ids = range(N_IDS)
    got = Counter(_ab("traffic-share", (0.8, 0.2), traffic=0.3).assign_many(ids))
    observed = [got["control"], got["treatment"], got[None]]
    expected = [N_IDS * 0.3 * 0.8, N_IDS * 0.3 * 0.2, N_IDS * 0.7]
    assert stats.chisquare(observed, f_exp=expected).pvalue > 0.001, observed


def test_ramping_traffic_up_never_reassigns() -> None:
    ids = range(20_000)
    base = _ab("ramp", (0.2, 0.3, 0.5), traffic=0.2)
    at = {t: base.with_traffic(t).assign_many(ids) for t in (0.2, 0.5, 1.0)}
    in_at_02 = [i for i in ids if at[0.2][i] is not None]
    assert 0.15 * len(ids) < len(in_at_02) < 0.25 * len(ids)
    for t in (0.5, 1.0):
        assert all(at[t][i] == at[0.2][i] for i in in_at_02), t
    in_at_05 = [i for i in ids if at[0.5][i] is not None]
    assert all(at[1.0][i] == at[0.5][i] for i in in_at_05)
    assert set(in_at_02) < set(in_at_05)
    assert None not in at[1.0]
    # Ramping down drops members out but never moves one to another variant.
    for before, after in zip(at[1.0], at[0.2], strict=True):
        assert after is None or after == before


def test_same_seed_same_assignment_across_instances() -> None:
    a = _ab("sticky").assign_many(range(500))
    b = _ab("sticky").assign_many(range(500))
    assert a == b


def test_ranges_follow_weights_and_traffic() -> None:
    exp = _ab("r", (0.2, 0.3, 0.5), traffic=0.2)
    for (start, end), expected in zip(exp.ranges, [(0, 0.04), (0.2, 0.26), (0.5, 0.6)], strict=True):
        assert math.isclose(start, expected[0], abs_tol=1e-12)
        assert math.isclose(end, expected[1], abs_tol=1e-12)
    assert exp.variant_names == ["control", "treatment", "third"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variants": []}, "at least two variants"),
        ({"variants": [Variant("control", 1.0)]}, "at least two variants"),
        ({"variants": [Variant("a", 0.5), Variant("a", 0.5)]}, "duplicate variant names: a"),
        ({"variants": [Variant("a", 0.4), Variant("b", 0.5)]}, "weights must sum to 1"),
        ({"variants": [Variant("a", 0.7), Variant("b", 0.6)]}, "weights must sum to 1"),
        ({"traffic": -0.1}, "traffic must be between 0 and 1"),
        ({"traffic": 1.5}, "traffic must be between 0 and 1"),
        ({"traffic": float("nan")}, "traffic must be between 0 and 1"),
        ({"traffic": "0.5"}, "traffic must be a number"),
        ({"traffic": True}, "traffic must be a number"),
        ({"seed": ""}, "seed must be a non-empty string"),
        ({"name": " "}, "non-empty name"),
    ],
)
def test_experiment_validation(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "name": "exp", "seed": "s", "variants": [Variant("a", 0.5), Variant("b", 0.5)], "traffic": 1.0,
    }
    args.update(kwargs)
    with pytest.raises(InvalidParameter, match=message):
        Experiment(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "weight", "message"),
    [("", 0.5, "non-empty name"), ("a", 0.0, "greater than 0"), ("a", -0.2, "between 0 and 1"),
     ("a", 1.2, "between 0 and 1"), ("a", None, "must be a number")],
)
def test_variant_validation(name: str, weight: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        Variant(name, weight)  # type: ignore[arg-type]


def test_ramp_validates_and_member_ids_are_integers() -> None:
    exp = _ab("v")
    with pytest.raises(InvalidParameter, match="traffic"):
        exp.with_traffic(2.0)
    with pytest.raises(InvalidParameter, match="member id must be an integer"):
        exp.assign("12")  # type: ignore[arg-type]
    assert exp.assign(12) in {"control", "treatment"}


def test_unknown_hash_version_is_none_and_growthbook_ranges_forgive() -> None:
    assert hash("abc", "def", 99) is None
    assert hash("abc", "def", 0) is None
    assert bucket_ranges(0, 1.0) == []
    assert bucket_ranges(2, None) == [(0.0, 0.5), (0.5, 1.0)]


@pytest.mark.parametrize("seed", ["", "exp-1", "homepage-rail.v2", "种子-seed", "x" * 40])
def test_hash_many_equals_hash(seed: str) -> None:
    import numpy as np

    from cinerec.experiments.assignment import hash_many

    rng = np.random.default_rng(len(seed))
    ids = np.concatenate([
        rng.integers(0, 1_000_000, 5_000),
        rng.integers(-(10**15), 10**15, 5_000),
        np.array([0, 1, 9, 10, 99, 100, -1, -10, 2**31, 2**32, 2**62], dtype=np.int64),
    ])
    for version in (1, 2):
        fast = hash_many(seed, ids, version)
        slow = [hash(seed, str(i), version) for i in ids.tolist()]
        assert fast.tolist() == slow, (seed, version)


def test_assign_array_equals_assign() -> None:
    import numpy as np

    exp = Experiment("arr", "arr-seed", [Variant("a", 0.2), Variant("b", 0.5), Variant("c", 0.3)], traffic=0.7)
    ids = np.arange(-50, 10_000, dtype=np.int64)
    got = exp.assign_array(ids)
    want = exp.assign_many(ids.tolist())
    assert [None if i < 0 else exp.variant_names[i] for i in got.tolist()] == want
    assert got.dtype == np.int64 and set(got.tolist()) == {-1, 0, 1, 2}


def test_hash_many_rejects_what_an_array_cannot_hold() -> None:
    import numpy as np

    from cinerec.experiments.assignment import hash_many

    with pytest.raises(InvalidParameter, match="integer ids"):
        hash_many("s", np.array(["a", "b"]))
    with pytest.raises(InvalidParameter, match="version"):
        hash_many("s", np.arange(3), 3)
    assert hash_many("s", np.zeros(0, dtype=np.int64)).shape == (0,)
