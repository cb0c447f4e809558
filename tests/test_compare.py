from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from scipy import stats

from judges.core.errors import ConfigError
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.classic import holm
from judges.stats.paired import Arm, compare, default_family, parse_comparison, sentence

ROOT = Path(__file__).resolve().parents[1]


def _verdicts() -> pl.DataFrame:
    # 40 pairs over 20 prompts; arm A right on 30, arm B right on 22; 10 only-A, 2 only-B.
    a = [True] * 30 + [False] * 10
    b = [True] * 20 + [False] * 10 + [True] * 2 + [False] * 8
    rows = []
    for i in range(40):
        for frames, right in ((8, a[i]), (1, b[i])):
            rows.append(
                {
                    "pair_id": f"p{i}",
                    "prompt_id": f"q{i // 2}",
                    "judge": "g",
                    "dimension": "aesthetics",
                    "frames": frames,
                    "winner": "video_0" if right else "video_1",
                    "human": "video_0",
                    "status": "ok",
                }
            )
    return pl.DataFrame(rows)


def test_paired_comparison_counts_discordant_pairs_and_tests_them():
    table = compare(_verdicts(), [parse_comparison("g@8 vs g@1")], config=BootstrapConfig())
    row = table.row(0, named=True)
    assert (row["n"], row["b_only"], row["c_only"]) == (40, 10, 2)
    assert row["difference"] == pytest.approx(0.2)
    assert row["p_value"] == pytest.approx(stats.binomtest(10, 12).pvalue)
    assert row["p_holm"] == row["p_value"]  # a family of one
    assert row["lo"] < 0.2 < row["hi"]
    assert row["sentence"].startswith("g @8 vs g @1 (aesthetics, n=40): +0.200 [")
    assert row["sentence"].endswith("g @8 agrees with people more often")


def test_holm_adjusts_the_family():
    assert holm([0.01, 0.04, 0.03, float("nan")])[:3] == [0.03, 0.06, 0.06]
    table = compare(
        _verdicts(),
        [parse_comparison("g@8 vs g@1"), parse_comparison("g@1 vs g@8")],
        config=BootstrapConfig(resamples=200),
    )
    p = table["p_value"][0]
    assert table["p_holm"].to_list() == [min(1, 2 * p)] * 2


def test_sentence_without_evidence():
    row = {
        "a": "x @8",
        "b": "x @1",
        "dimension": "aesthetics",
        "n": 300,
        "difference": -0.031,
        "lo": -0.07,
        "hi": 0.01,
        "p_value": 0.21,
        "p_holm": 0.42,
    }
    assert sentence(row) == (
        "x @8 vs x @1 (aesthetics, n=300): -0.031 [-0.07, 0.01], p = 0.21 (Holm 0.42): "
        "no evidence of a difference"
    )


def test_arms_parse_and_errors():
    assert Arm.parse("gpt4o@run1@all") == Arm("gpt4o@run1", None)
    with pytest.raises(ConfigError, match="JUDGE@FRAMES"):
        parse_comparison("gpt4o vs psnr")
    with pytest.raises(ConfigError, match="did not judge aesthetics"):
        compare(_verdicts(), [parse_comparison("g@4 vs g@1")], ["aesthetics"])


def test_default_family_frames_then_judges():
    v = pl.concat([_verdicts(), _verdicts().with_columns(pl.lit("h").alias("judge"))])
    family = [f"{a} vs {b}" for a, b in default_family(v)]
    assert family == ["g @8 vs g @1", "h @8 vs h @1", "g @8 vs h @8", "g @1 vs h @1"]


def test_compare_command_on_a_demo_run(tmp_path):
    env_cache = {"JUDGES_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [
            *(sys.executable, str(ROOT / "experiments/agreement.py"), "--judge", "psnr"),
            *("--frames", "1,8", "--out", str(tmp_path / "r"), "--run-id", "x", "--quiet"),
        ],
        capture_output=True,
        text=True,
        env=env_cache,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    res = subprocess.run(
        [
            *(sys.executable, str(ROOT / "experiments/compare.py"), str(tmp_path / "r" / "x")),
            *("--out", str(tmp_path / "c"), "--bootstrap", "300"),
        ],
        capture_output=True,
        text=True,
        env=env_cache,
    )
    assert res.returncode == 0, res.stderr
    assert "psnr @8 vs psnr @1 (informativeness, n=48):" in res.stdout
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {
        "comparisons.csv",
        "comparisons.md",
        "forest.png",
        "forest.svg",
    }
    table = pl.read_csv(tmp_path / "c" / "comparisons.csv")
    assert table.height == 1 and table["n"][0] == 48
