"""The agreement command end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import FETV_DEV, make_dataset

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"


def cli(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--quiet", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def test_demo_run_end_to_end_and_rerun_from_cache(tmp_path):
    out = tmp_path / "results"
    first = cli(
        "--judge", "psnr", "--frames", "1,2,4,8", "--out", out, "--run-id", "a", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "DEMO DATA" in first.stdout and "says nothing about real judges" in first.stdout
    assert "| judge | dimension | 1 | 2 | 4 | 8 |" in first.stdout
    assert "psnr: 192 computed, 0 from cache (ok" in first.stdout
    run = out / "a"
    for name in ("verdicts.parquet", "agreement.csv", "agreement.md", "run.json"):
        assert (run / name).stat().st_size > 0
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    assert verdicts.height == 48 * 4
    assert set(verdicts["frames"].unique()) == {1, 2, 4, 8}
    assert verdicts["human"].null_count() == 0
    assert verdicts.filter(pl.col("match") != (pl.col("winner") == pl.col("human"))).height == 0
    table = pl.read_csv(run / "agreement.csv")
    assert table.height == 4 and set(table["dimension"]) == {"informativeness"}
    for row in table.iter_rows(named=True):  # the table is computed from the verdicts
        sub = verdicts.filter(pl.col("frames") == row["frames"])
        assert row["agreement"] == pytest.approx(sub["match"].mean())
    info = json.loads((run / "run.json").read_text())
    assert info["demo"] is True
    assert info["frames"] == ["1", "2", "4", "8"]
    assert (
        info["judges"][0]["judge"] == "psnr"
        and info["judges"][0]["settings"]["safesora_compat"] is False
    )
    config = Path(info["data"]["path"])
    assert info["data"]["sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    assert info["keyframes"]["decodes"] <= 48  # each video decoded once for all frame counts
    assert "git_commit" in info and info["started"] <= info["finished"]
    assert "DEMO DATA" in (run / "agreement.md").read_text()

    second = cli(
        "--judge", "psnr", "--frames", "1,2,4,8", "--out", out, "--run-id", "b", cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr
    assert "psnr: 0 computed, 192 from cache" in second.stdout
    assert pl.read_csv(out / "b" / "agreement.csv").equals(table)


def test_two_labelled_judges_and_all_frames(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=4)
    res = cli(
        "--judge",
        "psnr",
        "--judge",
        "psnr",
        "--judge-arg",
        "name=psnr-ref",
        "--judge-arg",
        "safesora_compat=true",
        "--frames",
        "2,all",
        "--data",
        data,
        "--dims",
        "information,helpfulness",
        "--out",
        tmp_path / "r",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "DEMO" not in res.stdout
    run = only_run_dir(tmp_path / "r")
    table = pl.read_csv(run / "agreement.csv")
    assert sorted(set(table["judge"])) == ["psnr", "psnr-ref"]
    assert table.height == 2 * 2 * 2
    info = json.loads((run / "run.json").read_text())
    assert [j["settings"]["safesora_compat"] for j in info["judges"]] == [False, True]
    assert "| psnr-ref | informativeness |" in (run / "agreement.md").read_text()


def test_skip_missing_and_unlabeled_reported(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=4)
    (tmp_path / "d/videos/p1/p1_v1.avi").unlink()
    failing = cli("--judge", "psnr", "--data", data, "--out", tmp_path / "r", cwd=tmp_path)
    assert failing.returncode == 2
    assert failing.stderr.startswith("error: ") and "p1_v1.avi" in failing.stderr
    assert "Traceback" not in failing.stderr
    ok = cli(
        "--judge",
        "psnr",
        "--data",
        data,
        "--skip-missing",
        "--dims",
        "information,correctness",
        "--frames",
        "1",
        "--out",
        tmp_path / "r",
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert "skipped 1 pair(s) with missing video files" in ok.stderr
    assert "correctness 3" in ok.stderr  # pairs without a correctness label, not judged
    info = json.loads((only_run_dir(tmp_path / "r") / "run.json").read_text())
    assert info["data"]["skipped_missing"][0]["pair_id"] == "pair-1"
    assert info["unlabeled_not_judged"]["psnr"] == {"correctness": 3}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--judge", "psnrr"], "unknown judge 'psnrr'; did you mean psnr?"),
        (["--judge", "psnr", "--frames", "0"], "frame counts must be >= 1"),
        (["--judge", "psnr", "--frames", "two"], "'two' is not a whole number"),
        (["--judge", "psnr", "--judge-arg", "nope=1"], "has no option 'nope'"),
        (["--judge", "psnr", "--dims", "beauty"], "unknown dimension 'beauty'"),
        (["--judge", "psnr", "--data", "/nonexistent/x.json"], "no such file or folder"),
        ([], "no judge given"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, args, message):
    res = cli(*args, "--out", tmp_path / "r", cwd=tmp_path)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert len([line for line in res.stderr.splitlines() if line.startswith("error")]) == 1


def test_judge_arg_needs_a_judge_and_list(tmp_path):
    res = cli("--judge-arg", "a=1", cwd=tmp_path)
    assert res.returncode == 2 and "put it after the --judge" in res.stderr
    listing = cli("--list-judges", cwd=tmp_path)
    assert listing.returncode == 0
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    assert {"psnr", "gpt4o", "gpt4o-mini", "gpt4o-0806"} <= set(names)


@pytest.mark.skipif(not FETV_DEV.is_dir(), reason="../shared/data/fetv-dev not present")
def test_fetv_dev_real_videos(tmp_path):
    res = cli(
        "--judge",
        "psnr",
        "--data",
        FETV_DEV,
        "--frames",
        "1,8,all",
        "--dims",
        "information,aesthetics,correctness",
        "--out",
        tmp_path / "r",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    run = only_run_dir(tmp_path / "r")
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    assert verdicts.filter(pl.col("status") == "error").height == 0
    table = pl.read_csv(run / "agreement.csv")
    info_rows = table.filter(pl.col("dimension") == "informativeness")
    records = json.loads((FETV_DEV / "config-test.json").read_text())
    labeled = sum((r.get("sub_preferences") or {}).get("information") is not None for r in records)
    assert info_rows["n_labeled"].to_list() == [labeled] * 3
    assert "correctness 69" in res.stderr  # fetv-dev has no correctness labels
