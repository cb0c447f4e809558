"""Every command answers a user's mistake with exit 2 and one line naming the fix, never a
traceback. Table-driven: each row is a command, its arguments and the message expected.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from conftest import make_dataset
from judges.cli import run_main
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _command(name: str):
    spec = importlib.util.spec_from_file_location(f"cmd_{name}", EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A dataset, one finished run of it, and a plain file to misuse as a folder."""
    root = tmp_path_factory.mktemp("world")
    data = make_dataset(root / "d", n_pairs=3)
    run_agreement(
        AgreementConfig(
            [JudgeRequest("psnr")],
            frames=[1, 2],
            data=data,
            out=root / "results",
            run_id="done",
            progress=False,
        )
    )
    (root / "a-file").write_text("not a folder")
    (root / "votes.csv").write_text(
        "pair_id,dimension,annotator,choice\npair-0,aesthetics,a,video_0\n"
        "pair-9,aesthetics,a,video_1\n"
    )
    return {
        "VOTES": str(root / "votes.csv"),
        "DATA": str(data),
        "RUN": str(root / "results" / "done"),
        "FILE": str(root / "a-file"),
        "OUT": str(root / "results"),
    }


CASES = [
    # agreement.py
    ("agreement", ["--frames", "1"], "no judge given"),
    ("agreement", ["--judge", "psnrr"], "unknown judge 'psnrr'; did you mean psnr?"),
    ("agreement", ["--judge", "psnr", "--limit", "0"], "--limit must be >= 1"),
    ("agreement", ["--judge", "psnr", "--workers", "0"], "--workers must be >= 1"),
    ("agreement", ["--judge", "psnr", "--concurrency", "0"], "--concurrency must be >= 1"),
    ("agreement", ["--judge", "psnr", "--max-cost", "-1"], "--max-cost must be >= 0"),
    ("agreement", ["--judge", "psnr", "--frames", "0"], "frame counts must be >= 1"),
    ("agreement", ["--judge", "psnr", "--frames", ","], "give at least one frame count"),
    ("agreement", ["--judge", "psnr", "--dims", "beauty"], "unknown dimension 'beauty'"),
    (
        "agreement",
        ["--judge", "psnr", "--dims", "aesthetic"],
        "unknown dimension 'aesthetic' (did you mean 'aesthetics'?); dimensions by format: "
        "safesora: helpfulness, harmlessness, instruction_following, correctness, "
        "informativeness, aesthetics; videogen-rewardbench: visual_quality",
    ),
    (
        "agreement",
        ["--judge", "psnr", "--dims", "correctness", "--data", "DATA"],
        "no pair has a human label for 'correctness'",
    ),
    ("agreement", ["--judge", "psnr", "--judge-arg", "tie_tolerance=abc"], "expected a number"),
    ("agreement", ["--judge", "psnr", "--judge", "psnr"], "two judges are labelled 'psnr'"),
    ("agreement", ["--judge", "psnr", "--data", "FILE"], "not a dataset format this toolkit reads"),
    (
        "agreement",
        ["--judge", "psnr", "--data", "DATA", "--video-dir", "/nonexistent"],
        "--video-dir /nonexistent: no such folder",
    ),
    (
        "agreement",
        ["--judge", "psnr", "--keyframes", "uniform", "--frames", "1,4"],
        "keeps frame 0 alone",
    ),
    ("agreement", ["--judge", "psnr", "--out", "FILE"], "is a file, not a folder"),
    ("agreement", ["--judge", "psnr", "--out", "FILE/sub"], "cannot write there"),
    ("agreement", ["--judge", "psnr", "--cache-dir", "FILE"], "--cache-dir"),
    ("agreement", ["--judge", "psnr", "--out", "OUT", "--run-id", "done"], "exists already"),
    ("agreement", ["--judge", "psnr", "--run-id", "../elsewhere"], "give a plain folder name"),
    ("agreement", ["--judge", "psnr", "--run-id", ""], "give a plain folder name"),
    ("agreement", ["--summary", "--data", "/nonexistent"], "no such file or folder"),
    (
        "agreement",
        ["--judge", "psnr", "--data", "DATA", "--votes", "VOTES"],
        "votes.csv: line 3: pair_id 'pair-9' is not a pair of the dataset",
    ),
    ("agreement", ["--judge", "psnr", "--votes", "/nonexistent.csv"], "no such file"),
    ("agreement", ["--judge", "psnr", "--bootstrap", "-1"], "--bootstrap must be >= 0"),
    (
        "agreement",
        ["--judge", "psnr", "--control", "shuffled_frames", "--control-seed", "-1"],
        "--control-seed -1: give a whole number >= 0",
    ),
    # compare.py
    ("compare", ["/nonexistent"], "not a run folder"),
    ("compare", ["RUN", "--compare", "psnr vs psnr@2"], "is not JUDGE@FRAMES"),
    (
        "compare",
        ["RUN", "--compare", "psnr@8 vs psnr@1"],
        "no arm psnr@8 in these runs (did you mean psnr@2?); arms: psnr @1, psnr @2",
    ),
    (
        "compare",
        ["RUN", "--compare", "psnr@2 vs psnr@1", "--dims", "aesthetics"],
        "psnr @2 did not judge aesthetics in these runs; judged: psnr @1, psnr @2",
    ),
    ("compare", ["RUN", "--out", "FILE"], "is a file, not a folder"),
    (
        "compare",
        ["RUN", "--out", "OUT"],
        "exists already; choose another --out, or pass --overwrite to replace it",
    ),
    # report.py
    ("report", ["/nonexistent"], "not a run folder"),
    ("report", ["OUT"], "not a run folder"),
    ("report", ["RUN", "--disagreements", "psnr:aesthetic:4"], "unknown dimension 'aesthetic'"),
    ("report", ["RUN", "--disagreements", "psnr"], "expected JUDGE:DIMENSION"),
    (
        "report",
        ["RUN", "--disagreements", "psnr:informativeness"],
        "at several frame settings (1, 2); add one, e.g. psnr:informativeness:1",
    ),
    ("report", ["RUN", "--disagreements", "nope:informativeness:1"], "the run has: psnr:"),
    ("report", ["RUN", "--disagreements", "psnr:informativeness:8"], "the run has: psnr:"),
    ("report", ["RUN", "--disagreements", "psnr:informativeness:x"], "not a whole number"),
    ("report", ["RUN", "--limit", "0"], "--limit must be >= 1"),
    ("report", ["RUN", "--out", "FILE"], "is a file, not a folder"),
    (
        "report",
        ["RUN", "--out", "OUT"],
        "exists already; choose another --out, or pass --overwrite to replace it",
    ),
    (
        "report",
        ["RUN", "--disagreements", "psnr:informativeness:1", "--out", "RUN"],
        "exists already; choose another --out, or pass --overwrite to replace it",
    ),
    # prelabel.py
    ("prelabel", ["--dimension", "aesthetics"], "give exactly one --judge (got 0)"),
    ("prelabel", ["--judge", "psnr"], "--dimension is required"),
    (
        "prelabel",
        ["--judge", "psnr", "--judge", "psnr", "--dimension", "aesthetics"],
        "give exactly one --judge (got 2)",
    ),
    ("prelabel", ["--judge", "psnr", "--dimension", "beauty"], "unknown dimension 'beauty'"),
    (
        "prelabel",
        ["--judge", "psnr", "--dimension", "aesthetics", "--frames", "1,2"],
        "--frames takes one value",
    ),
    (
        "prelabel",
        ["--judge", "psnr", "--dimension", "aesthetics", "--target-agreement", "2"],
        "between 0 and 1",
    ),
    (
        "prelabel",
        ["--judge", "psnr", "--dimension", "aesthetics", "--calibration", "/nonexistent"],
        "no such file or folder",
    ),
    (
        "prelabel",
        ["--judge", "psnr", "--dimension", "aesthetics", "--out", "FILE"],
        "is a file, not a folder",
    ),
    (
        "prelabel",
        ["--judge", "psnr", "--dimension", "aesthetics", "--concurrency", "0"],
        "--concurrency must be >= 1",
    ),
    (
        "prelabel",
        ["--judge", "psnr", "--dimension", "aesthetics", "--seconds-per-pair", "-1"],
        "--seconds-per-pair must be >= 0",
    ),
    (
        "prelabel",
        ["--judge", "psnr", "--dimension", "aesthetics", "--min-kept", "0"],
        "--min-kept and --min-prompts must be >= 1",
    ),
    # harm.py
    ("harm", ["--frames", "1"], "no judge given"),
    ("harm", ["--judge", "nope"], "unknown judge 'nope'"),
    (
        "harm",
        ["--judge", "psnr"],
        "judges pair tasks, this command harm tasks; run it with agreement.py",
    ),
    ("harm", ["--judge", "gpt4o-harm", "--frames", "0"], "frame counts must be >= 1"),
    ("harm", ["--judge", "gpt4o-harm", "--concurrency", "0"], "--concurrency must be >= 1"),
    ("harm", ["--judge", "gpt4o-harm", "--max-cost", "-1"], "--max-cost must be >= 0"),
    ("harm", ["--judge", "harm-scores"], "judge 'harm-scores' needs file=PATH"),
    (
        "harm",
        ["--judge", "harm-scores", "--judge-arg", "file=/nonexistent.csv", "--data", "DATA"],
        "/nonexistent.csv: scores file not found",
    ),
    (
        "harm",
        ["--judge", "gpt4o-harm", "--judge-arg", "api_key_env=none", "--data", "FILE"],
        "not a dataset format this toolkit reads",
    ),
    (
        "harm",
        ["--judge", "gpt4o-harm", "--judge-arg", "api_key_env=T2V_UNSET_KEY"],
        "environment variable T2V_UNSET_KEY is not set",
    ),
    # batches.py
    ("batches", ["list", "--cache-dir", "/nonexistent"], "no cache at /nonexistent/cache.sqlite"),
    ("batches", ["follow", "--cache-dir", "FILE"], "pass the --cache-dir the runs used"),
]


@pytest.mark.parametrize(("command", "args", "message"), CASES)
def test_bad_arguments_exit_2_with_one_line(
    world, tmp_path, monkeypatch, capsys, command, args, message
):
    monkeypatch.chdir(tmp_path)
    argv = [a for arg in args for a in [_fill(arg, world)]]
    if command not in ("report", "compare", "batches"):
        argv.append("--quiet")
    code = run_main(_command(command), argv)  # an uncaught exception (a traceback) fails here
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert "Traceback" not in err


def _fill(arg: str, world: dict[str, str]) -> str:
    for key, value in world.items():
        arg = arg.replace(key, value) if arg.split("/")[0] == key else arg
    return arg


@pytest.mark.parametrize(
    ("command", "abbreviated"),
    [
        ("agreement", ["--frame", "1"]),
        ("harm", ["--frame", "1"]),
        ("prelabel", ["--dim", "aesthetics"]),
        ("report", ["RUN", "--disagreement", "psnr:informativeness:1"]),
        ("compare", ["RUN", "--dim", "informativeness"]),
        ("batches", ["list", "--judg", "gpt4o"]),
    ],
)
def test_options_are_never_guessed_from_a_prefix(command, abbreviated, capsys):
    # argparse takes --frame for --frames by default: a typo would silently mean something
    with pytest.raises(SystemExit) as info:
        _command(command)(abbreviated)
    assert info.value.code == 2
    assert f"unrecognized arguments: {abbreviated[-2]}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", ["agreement", "prelabel", "report", "compare", "harm", "batches"]
)
def test_argparse_errors_exit_2(command, capsys):
    with pytest.raises(SystemExit) as info:
        _command(command)(
            ["list", "--no-such-option"]
            if command == "batches"
            else ["RUN", "--no-such-option"]
            if command in ("report", "compare")
            else ["--no-such-option"]
        )
    assert info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "defaults"),
    [
        (
            "agreement",
            ["(default: 1,2,4,8)", "(default: diff)", "(default: results)", "(default: 8)"],
        ),
        ("prelabel", ["(default: 8)", "(default: 0.8)", "(default: 30.0)"]),
        ("report", ["(default: 50)"]),
    ],
)
def test_help_shows_defaults(command, defaults, capsys):
    with pytest.raises(SystemExit):
        _command(command)(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in defaults:
        assert default in text, default
    if command == "prelabel":
        assert "repeatable" not in text.split("--judge-arg")[0]  # one judge only


def test_subprocess_mistake_prints_no_traceback(tmp_path):
    import subprocess

    res = subprocess.run(
        [sys.executable, str(EXPERIMENTS / "report.py"), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
