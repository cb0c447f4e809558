"""The population check behind the pre-labelling promise: distances and cluster permutations."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from conftest import FETV_DEV
from judges.stats.classic import holm
from judges.stats.shift import (
    cluster_permutation_p,
    ks_distance,
    share_distance,
    shift_checks,
)


def test_ks_distance_equals_scipy():
    rng = np.random.default_rng(3)
    for n, m in ((5, 7), (40, 25), (200, 300)):
        a, b = rng.normal(size=n), rng.normal(0.3, 1.2, size=m)
        assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-15)


def test_share_distance_by_hand():
    # shares x: 3/4 vs 1/4, y: 1/4 vs 1/2, z: 0 vs 1/4 -> (1/2 + 1/4 + 1/4) / 2
    assert share_distance(["x", "x", "x", "y"], ["x", "y", "y", "z"]) == 0.5
    assert share_distance(["a"], ["a"]) == 0.0


def test_one_pair_per_prompt_is_the_exact_ks_permutation_test():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=9), rng.normal(0.9, 1, size=8)
    values = np.concatenate([a, b])
    prompts = [f"p{i}" for i in range(len(values))]
    side = [False] * 9 + [True] * 8
    stat, p = cluster_permutation_p(values, prompts, side, ks_distance, permutations=20000)
    exact = stats.ks_2samp(a, b, method="exact").pvalue
    assert stat == pytest.approx(stats.ks_2samp(a, b).statistic)
    assert p == pytest.approx(exact, abs=0.01)


def test_cluster_p_value_equals_full_enumeration_of_prompt_assignments():
    # 4 prompts per set, 3 pairs each: the null distribution is the C(8, 4) = 70 ways to
    # choose which prompts are "batch"; enumerate them as the independent reference.
    rng = np.random.default_rng(5)
    centres = [0.0, 0.2, 0.1, 0.4, 0.9, 1.1, 0.5, 1.3]
    values = np.concatenate([rng.normal(c, 0.1, size=3) for c in centres])
    prompt_of = np.repeat(np.arange(8), 3)
    side = prompt_of >= 4
    observed = ks_distance(values[~side], values[side])
    extremes = 0
    for chosen in itertools.combinations(range(8), 4):
        flip = np.isin(prompt_of, chosen)
        extremes += ks_distance(values[~flip], values[flip]) >= observed - 1e-12
    exact = extremes / 70
    _, p = cluster_permutation_p(
        values, [f"p{i}" for i in prompt_of], side, ks_distance, permutations=20000
    )
    assert p == pytest.approx(exact, abs=0.01)
    # pairs treated as independent would call it far more significant than prompts allow
    assert stats.ks_2samp(values[~side], values[side]).pvalue < exact / 3


def test_checks_warn_on_a_shift_and_stay_quiet_without_one():
    rng = np.random.default_rng(11)
    prompts_a = [f"a{i // 3}" for i in range(60)]
    prompts_b = [f"b{i // 3}" for i in range(60)]
    same = shift_checks(
        {"confidence": rng.uniform(size=60).tolist(), "generators": ["x", "y"] * 30},
        {"confidence": rng.uniform(size=60).tolist(), "generators": ["y", "x"] * 30},
        prompts_a,
        prompts_b,
    )
    assert same["warning"] is None and same["shifted"] == []
    moved = shift_checks(
        {"confidence": rng.uniform(size=60).tolist(), "generators": ["x", "y"] * 30},
        {"confidence": (rng.uniform(size=60) + 0.8).tolist(), "generators": ["z"] * 60},
        prompts_a,
        prompts_b,
    )
    assert moved["shifted"] == ["confidence", "generators"]
    p = [c["p_value"] for c in moved["checks"]]
    assert [c["p_holm"] for c in moved["checks"]] == holm(p)
    assert "beyond chance in confidence (KS distance" in moved["warning"]
    generators = moved["checks"][1]
    assert generators["statistic"] == 1.0 and generators["batch"] == {"x": 0.0, "y": 0.0, "z": 1.0}


def test_undecided_pairs_and_unknown_fields_are_left_out():
    out = shift_checks(
        {"confidence": [0.1, None, float("nan"), 0.4], "prompt_type": [None] * 4},
        {"confidence": [0.2, 0.3], "prompt_type": ["a", "b"]},
        ["p", "p", "q", "q"],
        ["r", "s"],
    )
    (check,) = out["checks"]  # prompt_type: no calibration value, not compared
    assert check["what"] == "confidence" and check["n"] == [2, 2] and check["prompts"] == [2, 2]


@pytest.mark.fetv_dev
def test_prelabel_warns_when_calibrated_on_real_videos_and_run_on_the_demo(tmp_path):
    script = Path(__file__).resolve().parents[1] / "experiments" / "prelabel.py"
    args = [sys.executable, str(script), "--judge", "psnr", "--dimension", "information",
            "--frames", "4", "--calibration", str(FETV_DEV), "--min-prompts", "5",
            "--min-kept", "10", "--quiet"]  # fmt: skip
    shifted = subprocess.run([*args, "--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert shifted.returncode == 0, shifted.stderr
    assert (
        "warning: the new batch differs from the calibration set beyond chance in generators"
        in (shifted.stdout)
    )
    assert "(no threshold passed," in shifted.stdout and "None" not in shifted.stdout
    same = subprocess.run(
        [*args, "--data", str(FETV_DEV), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )
    assert same.returncode == 0, same.stderr
    assert "warning" not in same.stdout
    import json

    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["population_check"]["shifted"] == []
    assert {c["what"] for c in summary["population_check"]["checks"]} == {
        "confidence",
        "generators",
    }
