"""Run folders: refused before work when they cannot be written, published only when complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.errors import ConfigError
from judges.report.folders import rename_noreplace
from judges.report.run_folder import RunFolder, check_writable_dir, read_agreement_csv, write_run
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement
from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import BootstrapConfig

AGREEMENT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"


def test_check_writable_dir(tmp_path):
    check_writable_dir(tmp_path / "new" / "deep", "--out")
    assert (tmp_path / "new" / "deep").is_dir()
    assert list((tmp_path / "new" / "deep").iterdir()) == []  # the probe file is gone
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*file\.txt: is a file, not a folder"):
        check_writable_dir(a_file, "--out")
    with pytest.raises(ConfigError, match=r"--cache-dir .*file\.txt/sub: cannot write there"):
        check_writable_dir(a_file / "sub", "--cache-dir")
    with pytest.raises(ConfigError, match="cannot write there"):
        check_writable_dir(Path("/proc/t2v-judges"), "--out")  # not writable, even for root


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write there"):
            check_writable_dir(ro, "--out")
    finally:
        ro.chmod(0o700)


def test_run_folder_refuses_an_existing_run_unless_asked(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep.txt").write_text("earlier run")
    with pytest.raises(ConfigError, match=r"--run-id a: .* exists already; .* --overwrite"):
        RunFolder(tmp_path, "a")
    # An automatic id that happens to exist gets a suffix instead.
    assert RunFolder(tmp_path, "a", explicit=False).path == tmp_path / "a-2"
    folder = RunFolder(tmp_path, "a", overwrite=True)
    folder.staging.mkdir()
    (folder.staging / "new.txt").write_text("new run")
    assert folder.publish() == tmp_path / "a"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no staging or old copy left


def test_publish_never_replaces_a_run_it_was_not_told_to(tmp_path):
    # Two runs pick one automatic name (started in the same second); the first publishes.
    first = RunFolder(tmp_path, "t-psnr", explicit=False)
    second = RunFolder(tmp_path, "t-psnr", explicit=False)
    third = RunFolder(tmp_path, "t-psnr", explicit=False)
    for folder, text in ((first, "first"), (second, "second"), (third, "third")):
        folder.staging.mkdir()
        (folder.staging / "run.json").write_text(json.dumps({"run_id": folder.run_id, "t": text}))
    assert first.publish() == tmp_path / "t-psnr"
    assert second.publish() == tmp_path / "t-psnr-2"
    assert third.publish() == tmp_path / "t-psnr-3"
    for name, text in (("t-psnr", "first"), ("t-psnr-2", "second"), ("t-psnr-3", "third")):
        # Each folder holds its own run, and its run.json names the folder it ended in.
        assert json.loads((tmp_path / name / "run.json").read_text()) == {"run_id": name, "t": text}
    assert (second.run_id, third.run_id) == ("t-psnr-2", "t-psnr-3")
    # A chosen name that appeared meanwhile is refused, and the staged files are kept.
    mine = RunFolder(tmp_path, "chosen")
    mine.staging.mkdir()
    (mine.staging / "run.json").write_text("{}")
    (tmp_path / "chosen").mkdir()
    (tmp_path / "chosen" / "theirs.txt").write_text("someone else's")
    with pytest.raises(ConfigError, match=r"--run-id chosen: .*appeared while this run was"):
        mine.publish()
    assert (mine.staging / "run.json").is_file()
    assert [p.name for p in (tmp_path / "chosen").iterdir()] == ["theirs.txt"]


def test_rename_noreplace_refuses_even_an_empty_folder(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    (tmp_path / "empty").mkdir()  # os.rename would silently replace this one
    assert rename_noreplace(tmp_path / "src", tmp_path / "empty") is False
    assert (tmp_path / "src" / "f").is_file() and not any((tmp_path / "empty").iterdir())
    assert rename_noreplace(tmp_path / "src", tmp_path / "new") is True
    assert (tmp_path / "new" / "f").read_text() == "x" and not (tmp_path / "src").exists()


def test_concurrent_runs_into_one_out_each_keep_their_own_folder(tmp_path):
    """Real commands, at once, with one default run id (as if started in the same second)."""
    out = tmp_path / "results"
    datasets = [make_dataset(tmp_path / f"d{i}", n_pairs=2 + i, seed=i) for i in range(3)]
    # The default id is time + judges; pin the time so all three pick the same name.
    pin = (
        "import runpy, sys, datetime as dt; import judges.report.run_folder as rf; "
        "original = rf.new_run_id; "
        "at = dt.datetime(2026, 1, 2, 3, 4, 5); "
        "rf.new_run_id = lambda names, now=None: original(names, at); "
        f"sys.argv = [{str(AGREEMENT)!r}] + sys.argv[1:]; "
        f"runpy.run_path({str(AGREEMENT)!r}, run_name='__main__')"
    )
    env = {**os.environ, "JUDGES_CACHE_DIR": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                pin,
                "--quiet",
                "--judge",
                "psnr",
                "--frames",
                "1",
                "--data",
                str(d),
                "--out",
                str(out),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in datasets
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    names = sorted(p.name for p in out.iterdir())
    base = "20260102-030405-psnr"
    assert names == [base, f"{base}-2", f"{base}-3"]  # no staging folder left either
    seen = {}
    for name in names:
        info = json.loads((out / name / "run.json").read_text())
        assert info["run_id"] == name
        seen[info["data"]["path"]] = pl.read_parquet(out / name / "verdicts.parquet").height
    # Each dataset's run is there once, with its own verdicts (2, 3 and 4 pairs, psnr's one
    # dimension, one frame count).
    assert seen == {str(d): 2 + i for i, d in enumerate(datasets)}


def test_failed_run_leaves_no_folder(tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "d", n_pairs=2)

    def broken_figures(*args, **kwargs):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr("judges.report.agreement_figures.write_figures", broken_figures)
    config = AgreementConfig(
        [JudgeRequest("psnr")],
        frames=[1],
        data=data,
        out=tmp_path / "r",
        run_id="x",
        progress=False,
        figures=True,  # what breaks
    )
    with pytest.raises(RuntimeError, match="disk full"):
        run_agreement(config)
    assert list((tmp_path / "r").iterdir()) == []  # neither 'x' nor a staging folder


def test_unwritable_output_refused_before_any_verdict(tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "d", n_pairs=2)
    (tmp_path / "out-file").write_text("")
    judged = []
    monkeypatch.setattr(
        "judges.run.task_runner.Runner.run",
        lambda *a, **k: judged.append(1) or pytest.fail("judged"),
    )
    for kwargs, message in (
        ({"out": tmp_path / "out-file"}, "--out .* is a file"),
        ({"cache_dir": tmp_path / "out-file"}, "--cache-dir .* is a file"),
    ):
        config = AgreementConfig(
            [JudgeRequest("psnr")], frames=[1], data=data, progress=False, **kwargs
        )
        with pytest.raises(ConfigError, match=message):
            run_agreement(config)
    assert judged == []


def test_frames_all_reads_all_in_csv_and_round_trips(tmp_path):
    verdicts = pl.DataFrame(
        {
            "judge": ["j"] * 4,
            "dimension": ["aesthetics"] * 4,
            "frames": [4, 4, None, None],
            "winner": ["video_0", "video_1", "video_0", None],
            "status": ["ok", "ok", "ok", "error"],
            "human": ["video_0"] * 4,
        },
        schema_overrides={"frames": pl.Int64},
    )
    # Without the bootstrap, cells show the Wilson interval (independent pairs).
    table = agreement_table(verdicts, bootstrap=BootstrapConfig(resamples=0))
    write_run(tmp_path, verdicts, table, {"run_id": "x"})
    csv = pl.read_csv(tmp_path / "agreement.csv", infer_schema_length=0)
    assert csv["frames"].to_list() == ["4", "all"]
    md = (tmp_path / "agreement.md").read_text()
    assert "| j | aesthetics | 0.500 [0.09, 0.91] n=2 | 0.500 [0.09, 0.91] n=2 ⚠ 1 error |" in md
    assert "Failed judgements in 1 group(s)** (j aesthetics @all: 1 of 2)" in md
    assert "| j | aesthetics | all | 0 | 2 |" in md  # the long table names "all" too
    back = read_agreement_csv(tmp_path / "agreement.csv")
    assert back["frames"].to_list() == [4, None]
    assert back.drop("frames").equals(table.drop("frames"))
    assert json.loads((tmp_path / "run.json").read_text()) == {"run_id": "x"}
