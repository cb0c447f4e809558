from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from scipy import stats

from conftest import bare_env
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
    assert table["family"].to_list() == [2, 2]
    assert "(95%, not adjusted for the 2 comparisons)" in table["sentence"][0]


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
        "x @8 vs x @1 (aesthetics, n=300): -0.031 [-0.07, 0.01] (95%), p = 0.21: "
        "no evidence of a difference"
    )


def test_sentence_in_a_family_says_the_interval_is_unadjusted_and_concludes_on_holm():
    # The case: an interval excluding 0 beside a Holm p of 1.00 must not read as a
    # contradiction.
    row = {
        "a": "psnr @4",
        "b": "psnr @1",
        "dimension": "instruction_following",
        "n": 54,
        "difference": -0.130,
        "lo": -0.21,
        "hi": -0.04,
        "p_value": 0.02,
        "p_holm": 1.0,
    }
    assert sentence(row, family=84) == (
        "psnr @4 vs psnr @1 (instruction_following, n=54): -0.130 [-0.21, -0.04] "
        "(95%, not adjusted for the 84 comparisons), p = 0.02, Holm-adjusted p = 1.00: "
        "no evidence of a difference once all 84 are accounted for"
    )
    row["p_holm"] = 0.03
    assert sentence(row, family=84).endswith(": psnr @1 agrees with people more often")


def test_arms_parse_and_errors():
    assert Arm.parse("gpt4o@run1@all") == Arm("gpt4o@run1", None)
    with pytest.raises(ConfigError, match="JUDGE@FRAMES"):
        parse_comparison("gpt4o vs psnr")
    with pytest.raises(
        ConfigError, match=r"no arm g@4 in these runs \(did you mean g@8\?\); arms: g @1, g @8"
    ):
        compare(_verdicts(), [parse_comparison("g@4 vs g@1")], ["aesthetics"])
    v = _verdicts().with_columns(pl.lit("psnr").alias("judge"))
    with pytest.raises(
        ConfigError, match=r"no arm psnrr@8 in these runs \(did you mean psnr@8\?\)"
    ):
        compare(v, [parse_comparison("psnrr@8 vs psnr@1")])


def test_default_family_frames_then_judges():
    v = pl.concat([_verdicts(), _verdicts().with_columns(pl.lit("h").alias("judge"))])
    family = [f"{a} vs {b}" for a, b in default_family(v)]
    assert family == ["g @8 vs g @1", "h @8 vs h @1", "g @8 vs h @8", "g @1 vs h @1"]
    # h's verdicts do not depend on frames: h @8 vs h @1 is equal by construction, left out
    family = [f"{a} vs {b}" for a, b in default_family(v, frame_free={"h"})]
    assert family == ["g @8 vs g @1", "g @8 vs h @8", "g @1 vs h @1"]


def test_compare_command_on_a_demo_run(tmp_path):
    env_cache = bare_env()
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


def test_reports_and_comparisons_name_arms_alike_and_skip_frame_free_judges(tmp_path):
    from conftest import make_dataset

    data = make_dataset(tmp_path / "d", n_pairs=6)
    ids = [f"p{i}_v{s}" for i in range(6) for s in (0, 1)]
    scores = tmp_path / "s.csv"
    pl.DataFrame({"video_id": ids, "score": [float(i % 5) for i in range(12)]}).write_csv(scores)
    env = bare_env()
    for run_id in ("a", "b"):
        res = subprocess.run(
            [sys.executable, str(ROOT / "experiments/agreement.py"), "--judge", "psnr",
             "--judge", "scores", "--judge-arg", f"file={scores}", "--dims", "information",
             "--frames", "1,2", "--data", str(data), "--out", str(tmp_path / "r"),
             "--run-id", run_id, "--quiet", "--bootstrap", "100"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
    runs = [str(tmp_path / "r" / "a"), str(tmp_path / "r" / "b")]
    res = subprocess.run(
        [sys.executable, str(ROOT / "experiments/compare.py"), *runs,
         "--out", str(tmp_path / "c"), "--bootstrap", "100"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    table = pl.read_csv(tmp_path / "c" / "comparisons.csv")
    pairs = set(zip(table["a"], table["b"], strict=True))
    # psnr at 2 vs 1 in each run; scores never against itself at another frame count
    assert ("psnr@a @2", "psnr@a @1") in pairs and ("psnr@b @2", "psnr@b @1") in pairs
    assert not any(a.startswith("scores") and b.startswith(a.split(" ")[0]) for a, b in pairs)
    assert table["family"].to_list() == [table.height] * table.height
    # the merged report's names work in --compare
    report = subprocess.run(
        [sys.executable, str(ROOT / "experiments/report.py"), *runs, "--out",
         str(tmp_path / "rep"), "--compare", "psnr@a@2 vs psnr@b@2"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    merged = pl.read_csv(tmp_path / "rep" / "comparison.csv")
    assert {"psnr@a", "psnr@b", "scores@a", "scores@b"} == set(merged["judge"])
    assert "psnr@a @2 vs psnr@b @2" in report.stdout


def test_a_large_family_is_drawn_on_pages(tmp_path):
    from judges.report.comparisons import FOREST_ROWS, write_comparisons

    row = {"a": "x @8", "b": "x @1", "dimension": "aesthetics", "n": 10, "difference": 0.1,
           "lo": -0.1, "hi": 0.3, "p_value": 0.5, "p_holm": 1.0, "sentence": "s"}  # fmt: skip
    table = pl.DataFrame([row] * (FOREST_ROWS + 5))
    pngs = write_comparisons(table, tmp_path / "many")
    assert [p.name for p in pngs] == ["forest-1.png", "forest-2.png"]
    assert all(p.is_file() for p in pngs) and not (tmp_path / "many" / "forest.png").exists()
    assert [p.name for p in write_comparisons(table.head(3), tmp_path / "few")] == ["forest.png"]
