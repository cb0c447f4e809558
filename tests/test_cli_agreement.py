"""The agreement command end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from conftest import FETV_DEV, make_dataset, write_broken_videos

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


def run_in_process(capsys, *args) -> tuple[int, str, str]:
    """agreement.py's main in this process (exit code, stdout, stderr): the options as a user
    gives them, without a second interpreter's start-up."""
    import importlib.util

    from judges.cli import run_main

    spec = importlib.util.spec_from_file_location("cmd_agreement", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    code = run_main(module.main, ["--quiet", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


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
    records = json.loads(data.read_text())
    del records[3]["helpfulness"]  # one pair without a helpfulness label
    data.write_text(json.dumps(records))
    (tmp_path / "d/videos/p1/p1_v1.avi").unlink()
    failing = cli("--judge", "psnr", "--data", data, "--out", tmp_path / "r", cwd=tmp_path)
    assert failing.returncode == 2
    assert failing.stderr.startswith("error: ") and "p1_v1.avi" in failing.stderr
    assert "Traceback" not in failing.stderr
    args = ["--judge", "psnr", "--data", data, "--skip-missing", "--frames", "1,2"]
    ok = cli(*args, "--dims", "information,helpfulness", "--out", tmp_path / "r", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "skipped 1 pair(s) with missing video files" in ok.stderr
    assert "helpfulness 1" in ok.stderr  # the pair without a label, not judged
    run = only_run_dir(tmp_path / "r")
    info = json.loads((run / "run.json").read_text())
    assert info["data"]["skipped_missing"][0]["pair_id"] == "pair-1"
    assert info["unlabeled_not_judged"]["psnr"] == {"helpfulness": 1}
    # The table counts them where it says it does (it used to print 0 for every group).
    table = pl.read_csv(run / "agreement.csv")
    counts = {
        (r["dimension"], str(r["frames"])): r["n_unlabeled"] for r in table.iter_rows(named=True)
    }
    assert counts == {
        ("informativeness", "1"): 0,
        ("informativeness", "2"): 0,
        ("helpfulness", "1"): 1,
        ("helpfulness", "2"): 1,
    }
    # A dimension no pair is labeled for is refused before any work, in one line.
    res = cli(*args, "--dims", "information,correctness", "--out", tmp_path / "r2", cwd=tmp_path)
    assert res.returncode == 2
    assert "no pair has a human label for 'correctness'" in res.stderr
    assert "labeled dimensions: helpfulness, informativeness" in res.stderr
    assert not (tmp_path / "r2").exists() or not list((tmp_path / "r2").iterdir())


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


@pytest.mark.fetv_dev
def test_fetv_dev_real_videos(tmp_path):
    res = cli(
        "--judge",
        "psnr",
        "--data",
        FETV_DEV,
        "--frames",
        "1,8,all",
        "--dims",
        "information,aesthetics",
        "--votes",
        FETV_DEV / "votes.csv",
        "--seed",
        "3",
        "--out",
        tmp_path / "r",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "FAILURES" not in res.stderr and "WARNING" not in res.stderr
    assert (
        "[95% cluster bootstrap by prompt (B=2000; Wilson on the effective sample size, t on "
        "(G-1)/(1-1/deff) df)]" in res.stdout
    )
    assert "| human (leave-one-out) | informativeness |" in res.stdout
    run = only_run_dir(tmp_path / "r")
    info = json.loads((run / "run.json").read_text())
    assert info["statistics"] | {"method": None, "intervals": None} == {
        "cluster": "prompt",
        "resamples": 2000,
        "seed": 3,
        "level": 0.95,
        "method": None,
        "min_clusters": 5,
        "intervals": None,
    }
    # Each table's clustered interval is named with its method.
    assert any(
        k.startswith("agreement.csv") and "t on (G-1)/(1-1/deff) df" in v
        for k, v in info["statistics"]["intervals"].items()
    )
    assert info["votes"]["votes"] == 828 and info["votes"]["annotators"] == [
        "rater0",
        "rater1",
        "rater2",
    ]
    ceiling = pl.read_csv(run / "ceiling.csv").filter(pl.col("annotator") == "all")
    assert ceiling.height == 4  # every voted dimension, judged or not
    long = pl.read_csv(run / "agreement.csv")
    # Like with like, recomputed here from votes.csv and the verdicts with plain loops: each
    # annotator's vote against the others' majority, the judge's winner against the same one.
    votes = defaultdict(dict)
    for r in csv.DictReader((FETV_DEV / "votes.csv").open()):
        dim = {"information": "informativeness"}.get(r["dimension"], r["dimension"])
        votes[r["pair_id"], dim][r["annotator"]] = r["choice"]
    winners = {
        (r["pair_id"], r["dimension"], r["frames"]): r["winner"]
        for r in pl.read_parquet(run / "verdicts.parquet").iter_rows(named=True)
    }
    for row in long.iter_rows(named=True):
        judge_hits = human_hits = n = 0
        for (pair_id, dim), by_annotator in votes.items():
            frames = None if row["frames"] == "all" else int(row["frames"])
            key = (pair_id, row["dimension"], frames)
            if dim != row["dimension"] or key not in winners:
                continue
            for annotator, choice in by_annotator.items():
                others = [c for a, c in by_annotator.items() if a != annotator]
                margin = others.count("video_0") - others.count("video_1")
                if margin == 0:
                    continue
                reference = "video_0" if margin > 0 else "video_1"
                n += 1
                judge_hits += winners[key] == reference
                human_hits += choice == reference
        assert row["loo_n"] == n
        assert row["loo_agreement"] == pytest.approx(judge_hits / n)
        assert row["agreement_of_ceiling"] == pytest.approx(judge_hits / human_hits)
        assert row["n_clusters"] == 12  # fetv-dev's prompts
    assert "## Human ceiling (leave one annotator out)" in (run / "agreement.md").read_text()
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    assert verdicts.filter(pl.col("status") == "error").height == 0
    table = pl.read_csv(run / "agreement.csv")
    info_rows = table.filter(pl.col("dimension") == "informativeness")
    records = json.loads((FETV_DEV / "config-test.json").read_text())
    labeled = sum((r.get("sub_preferences") or {}).get("information") is not None for r in records)
    assert info_rows["n_labeled"].to_list() == [labeled] * 3
    assert info_rows["frames"].to_list() == ["1", "8", "all"]


def _with_broken_videos(root: Path, n_broken: int) -> Path:
    """A 4-pair dataset whose first ``n_broken`` pairs have a broken video_1."""
    data = make_dataset(root, n_pairs=4)
    broken = list(write_broken_videos(root / "broken").items())
    records = json.loads(data.read_text())
    for record, (_, path) in zip(records[:n_broken], broken, strict=False):
        record["video_1"]["video_path"] = str(path)
    data.write_text(json.dumps(records))
    return data


def test_failures_are_seen_everywhere_and_set_the_exit_code(tmp_path):
    data = _with_broken_videos(tmp_path / "d", 3)
    res = cli(
        "--judge", "psnr", "--data", data, "--frames", "1,4", "--out", tmp_path / "r", cwd=tmp_path
    )
    # More than half of the judge's verdicts failed: everything is written, then exit 4.
    assert res.returncode == 4, res.stderr
    run = only_run_dir(tmp_path / "r")
    assert {p.name for p in run.iterdir()} >= {"verdicts.parquet", "run.json", "agreement.md"}
    # The console ends with the failure summary: counts per reason, files named, no FFmpeg noise.
    err = res.stderr
    assert "FAILURES: 6 of 8 verdicts failed" in err
    assert "psnr: 6 of 8 (75.0%): empty_file 2, not_a_video 2, truncated 2" in err
    for name in ("image.mp4", "zero.mp4", "cut.avi"):
        assert name in err
    assert "moov" not in err and "ffv1" not in err.lower()
    assert err.rstrip().splitlines()[-1].startswith("exit 4:")
    # The console table shows n, the interval and the warning next to each agreement.
    # One prompt per pair, 4 pairs: too few clusters for a clustered interval, and it says so.
    assert "0.250 [no interval: 4 clusters] n=4 ⚠ 3 errors" in res.stdout
    assert "pairs in fewer than 5 clusters (n_clusters = 4): no clustered interval" in res.stdout
    info = json.loads((run / "run.json").read_text())
    psnr = info["failures"]["psnr"]
    assert (psnr["verdicts"], psnr["failed"]) == (8, 6)
    assert psnr["by_reason"] == {"empty_file": 2, "not_a_video": 2, "truncated": 2}
    assert [e["reason"] for e in psnr["examples"]] == ["not_a_video", "empty_file", "truncated"]
    md = (run / "agreement.md").read_text()
    assert "⚠ **Failed judgements in 2 group(s)**" in md
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    assert verdicts.filter(pl.col("status") == "ok").height == 2
    assert set(verdicts["error_kind"].drop_nulls()) == {"empty_file", "not_a_video", "truncated"}


def test_a_few_failures_are_reported_without_failing_the_run(tmp_path):
    data = _with_broken_videos(tmp_path / "d", 1)
    res = cli(
        "--judge", "psnr", "--data", data, "--frames", "1", "--out", tmp_path / "r", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert "FAILURES: 1 of 4 verdicts failed" in res.stderr
    assert "image.mp4: not a video: the file is a PNG image" in res.stderr
    verdicts = pl.read_parquet(only_run_dir(tmp_path / "r") / "verdicts.parquet")
    ok = verdicts.filter(pl.col("status") == "ok")
    assert set(ok["confidence_kind"]) == {"margin"}  # psnr's confidence is a dB margin
    assert verdicts.filter(pl.col("status") == "error")["confidence_kind"].to_list() == [None]


def test_undefined_setting_refused_before_work(tmp_path):
    res = cli(
        "--judge",
        "psnr",
        "--keyframes",
        "uniform",
        "--frames",
        "1,2",
        "--out",
        tmp_path / "r",
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "keeps frame 0 alone" in res.stderr
    assert not (tmp_path / "r").exists()


def test_pairs_repeating_video_content_are_reported(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=4)
    records = json.loads(data.read_text())
    # pair-1 and pair-2 show copies (other file names) of pair-0's two videos, one swapped.
    for i, swap in ((1, False), (2, True)):
        for side, source in (("video_0", "video_0"), ("video_1", "video_1")):
            src = tmp_path / "d" / records[0][source]["video_path"]
            dst = tmp_path / "d" / f"copy{i}_{side}.avi"
            dst.write_bytes(src.read_bytes())
            target = side if not swap else ("video_1" if side == "video_0" else "video_0")
            records[i][target]["video_path"] = dst.name
    data.write_text(json.dumps(records))
    res = cli(
        "--judge", "psnr", "--data", data, "--frames", "1", "--out", tmp_path / "r", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert (
        "2 of 4 pairs repeat the video content of another pair (2 distinct contents)" in res.stderr
    )
    info = json.loads((only_run_dir(tmp_path / "r") / "run.json").read_text())
    dup = info["data"]["content_duplicates"]
    assert (dup["repeating_pairs"], dup["distinct_contents"]) == (2, 2)
    assert dup["examples"] == [["pair-0", "pair-1", "pair-2"]]


# Three annotators' helpfulness votes on make_dataset's four pairs (one prompt each); "user3"'s
# come from a Label Studio export, which also holds one cancelled annotation.
CRAFTED_VOTES = {  # pair: (a, b, user3)
    "pair-0": ("video_1", "video_1", "video_0"),
    "pair-1": ("video_0", "video_0", "video_0"),
    "pair-2": ("tie", "video_1", "video_1"),
    "pair-3": ("video_0", "video_1", "tie"),
}


def _label_studio_export(choices: dict[str, str]) -> list[dict]:
    tasks = []
    for k, (pair_id, choice) in enumerate(choices.items()):
        result = [{"from_name": "preference", "value": {"choices": [choice]}}]
        annotations = [{"id": 10 + k, "completed_by": 3, "result": result}]
        if pair_id == "pair-1":
            annotations.append({"id": 99, "completed_by": 4, "result": [], "was_cancelled": True})
        tasks.append(
            {
                "id": k,
                "data": {"pair_id": pair_id, "dimension": "helpfulness"},
                "annotations": annotations,
            }
        )
    return tasks


def assert_checkout_commit(commit: str | None) -> None:
    """run.json's git_commit is HEAD of the checkout the library runs from (-dirty with changes
    to tracked files), or None outside a git checkout (an unpacked archive)."""
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(
        ["git", "-C", root, "log", "-1", "--format=%H"], capture_output=True, text=True
    )
    if head.returncode != 0:
        assert commit is None
        return
    clean = subprocess.run(["git", "-C", root, "diff", "HEAD", "--quiet"]).returncode == 0
    assert commit == head.stdout.strip() + ("" if clean else "-dirty")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)


def test_crafted_votes_give_the_hand_counted_ceiling_and_alpha(tmp_path, capsys):
    """The whole ceiling pipeline (votes from CSV and Label Studio, ceiling.csv, alpha,
    agreement_of_ceiling, run.json votes) on votes counted by hand, no shared data needed; and
    the run's recorded git commit."""
    from scipy.stats import binomtest

    data = make_dataset(tmp_path / "d", n_pairs=4)
    votes_csv = tmp_path / "votes.csv"
    votes_csv.write_text(
        "pair_id,dimension,annotator,choice\n"
        + "".join(
            f"{p},helpfulness,{who},{c[i]}\n"
            for p, c in CRAFTED_VOTES.items()
            for i, who in enumerate("ab")
        )
    )
    export = tmp_path / "export.json"
    export.write_text(json.dumps(_label_studio_export({p: c[2] for p, c in CRAFTED_VOTES.items()})))
    code, _, err = run_in_process(
        capsys,
        "--judge", "psnr", "--data", data, "--frames", "2", "--dims", "helpfulness",
        "--votes", votes_csv, "--votes", export, "--bootstrap", "200",
        "--out", tmp_path / "r", "--run-id", "r",
    )  # fmt: skip
    assert code == 0, err
    run = tmp_path / "r" / "r"
    ceiling = pl.read_csv(run / "ceiling.csv")
    # Leave one out, by hand. pair-0: a's and b's others split (v1, v0): no reference; user3's
    # others say v1, user3 said v0: miss. pair-1: everyone's others say v0: 3 hits. pair-2: a's
    # others v1: a's tie is a miss (and leaves accuracy); b's and user3's others (tie, v1) say
    # v1: 2 hits. pair-3: a's others (v1, tie) say v1: miss; b's (v0, tie) say v0: miss;
    # user3's (v0, v1) split. a: 1 of 3 (accuracy 1 of 2); b: 2 of 3; user3: 2 of 3.
    per = {r["annotator"]: r for r in ceiling.iter_rows(named=True)}
    assert set(per) == {"a", "b", "user3", "all"}
    for who, refs, hits, acc in [
        ("a", 3, 1, 1 / 2),
        ("b", 3, 2, 2 / 3),
        ("user3", 3, 2, 2 / 3),
        ("all", 9, 5, 5 / 8),
    ]:
        row = per[who]
        assert (row["dimension"], row["n_reference"]) == ("helpfulness", refs), who
        assert row["agreement"] == pytest.approx(hits / refs), who
        assert row["accuracy"] == pytest.approx(acc), who
    ci = binomtest(5, 9).proportion_ci(method="wilson")
    assert (per["all"]["agreement_lo"], per["all"]["agreement_hi"]) == pytest.approx(
        (ci.low, ci.high)
    )
    # Krippendorff's nominal alpha by hand (v0=0, v1=1, tie=2; every unit has 3 values, so each
    # ordered pair of values weighs 1/2): coincidences o00=3, o11=2, o01=o10=1.5, o12=o21=1.5,
    # o02=o20=0.5; n=12, n0=5, n1=5, n2=2. alpha = 1 - (n-1) * 7 / (n^2 - 25 - 25 - 4) = 13/90.
    assert per["all"]["krippendorff_alpha"] == pytest.approx(13 / 90)
    assert per["all"]["n_annotators"] == 3
    # The judge like with like, on the same nine units by hand: pair-0 (user3, reference v1),
    # pair-1 (three units, v0), pair-2 (three units, v1), pair-3 (a: v1; b: v0).
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    w = dict(zip(verdicts["pair_id"], verdicts["winner"], strict=True))
    hits = (
        (w["pair-0"] == "video_1")
        + 3 * (w["pair-1"] == "video_0")
        + 3 * (w["pair-2"] == "video_1")
        + (w["pair-3"] == "video_1")
        + (w["pair-3"] == "video_0")
    )
    (row,) = pl.read_csv(run / "agreement.csv").iter_rows(named=True)
    assert row["human_agreement"] == pytest.approx(5 / 9)
    assert (row["loo_n"], row["loo_agreement"]) == (9, pytest.approx(hits / 9))
    assert row["loo_human_agreement"] == pytest.approx(5 / 9)  # every pair judged: the same units
    assert row["agreement_of_ceiling"] == pytest.approx((hits / 9) / (5 / 9))
    assert_checkout_commit(json.loads((run / "run.json").read_text())["git_commit"])
    info = json.loads((run / "run.json").read_text())["votes"]
    assert info["votes"] == 12 and info["annotators"] == ["a", "b", "user3"]
    assert info["per_dimension"] == {"helpfulness": 12}
    assert info["skipped"] == [f"{export}: task 1 annotation 99: cancelled (skipped) by user4"]


def test_summary_prints_the_counts_and_exits(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n_pairs=6)
    code, stdout, err = run_in_process(capsys, "--summary", "--data", data, "--out", tmp_path / "r")
    assert code == 0, err
    # make_dataset: pair i is helpfulness video_0 when i is odd, informativeness video_0
    # when i % 3 == 0 (pairs 0 and 3); every pair its own prompt, two videos each.
    lines = stdout.splitlines()
    assert lines[0] == str(data)
    assert lines[1] == "6 pairs, 6 prompts, 12 videos"
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["helpfulness"] == ["6", "3", "3", "0"]
    assert rows["informativeness"] == ["6", "2", "4", "0"]
    assert not (tmp_path / "r").exists()  # nothing judged, nothing written


def test_no_cache_neither_reads_nor_writes_the_cache(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", n_pairs=3)
    cache = tmp_path / "cache"
    args = ["--judge", "psnr", "--data", data, "--frames", "1,2", "--cache-dir", cache]
    code, _, err = run_in_process(capsys, *args, "--out", tmp_path / "r", "--run-id", "a")
    assert code == 0, err
    info = json.loads((tmp_path / "r" / "a" / "run.json").read_text())
    assert (info["judges"][0]["computed"], info["judges"][0]["cached"]) == (6, 0)
    cached_files = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert cached_files  # the normal run wrote its cache
    # --no-cache: everything computed again although the cache holds it, and nothing written.
    code, _, err = run_in_process(
        capsys, *args, "--no-cache", "--out", tmp_path / "r", "--run-id", "b"
    )
    assert code == 0, err
    info = json.loads((tmp_path / "r" / "b" / "run.json").read_text())
    assert (info["judges"][0]["computed"], info["judges"][0]["cached"]) == (6, 0)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == cached_files
