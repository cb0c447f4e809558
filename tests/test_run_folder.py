"""Run folders: refused before work when they cannot be written, published only when complete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.errors import ConfigError
from judges.report.run_folder import RunFolder, check_writable_dir, read_agreement_csv, write_run
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement
from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import BootstrapConfig


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
