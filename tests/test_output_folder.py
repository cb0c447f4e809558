"""Output folders of reports and comparisons: claimed up front, never replaced unasked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from judges.core.errors import ConfigError
from judges.report.output_folder import claim_output, staged

ROOT = Path(__file__).resolve().parents[1]


def test_a_named_folder_that_exists_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.csv").write_text("old")
    with pytest.raises(ConfigError, match="exists already; choose another --out, or pass"):
        claim_output(out, tmp_path / "unused")
    assert (out / "old.csv").read_text() == "old"
    folder = claim_output(out, tmp_path / "unused", overwrite=True)
    with staged(folder) as tmp:
        (tmp / "new.csv").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # nothing staged is left


def test_an_empty_named_folder_is_taken_over(tmp_path):
    (tmp_path / "made-for-it").mkdir()
    with staged(claim_output(tmp_path / "made-for-it", tmp_path / "unused")) as tmp:
        (tmp / "a.csv").write_text("x")
    assert (tmp_path / "made-for-it" / "a.csv").read_text() == "x"


def test_default_names_that_exist_get_a_suffix(tmp_path):
    default = tmp_path / "results" / "report-20261207-101500"
    paths = []
    for i in range(3):
        folder = claim_output(None, default)
        with staged(folder) as tmp:
            (tmp / "i.txt").write_text(str(i))
        paths.append(folder.path)
    assert [p.name for p in paths] == [default.name, f"{default.name}-2", f"{default.name}-3"]
    assert [(p / "i.txt").read_text() for p in paths] == ["0", "1", "2"]


def test_a_failure_leaves_no_folder(tmp_path):
    folder = claim_output(tmp_path / "out", tmp_path / "unused")
    with pytest.raises(RuntimeError, match="disk full"), staged(folder) as tmp:
        (tmp / "half.csv").write_text("x")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_commands_started_together_each_keep_their_own_folder(tmp_path):
    """Four processes claim one default name, then publish at the same instant."""
    go = tmp_path / "go"
    default = tmp_path / "results" / "compare-20261207-101500"
    code = (
        "import sys, time; from pathlib import Path; "
        "from judges.report.output_folder import claim_output, staged; "
        f"folder = claim_output(None, Path({str(default)!r}))\n"
        "with staged(folder) as tmp:\n"
        "    (tmp / 'who.txt').write_text(sys.argv[1])\n"
        f"    while not Path({str(go)!r}).exists(): time.sleep(0.01)\n"
        "print(folder.path.name)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(i)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for i in range(4)
    ]
    go.write_text("")
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    names = sorted(p.name for p in default.parent.iterdir())
    assert names == sorted([default.name] + [f"{default.name}-{k}" for k in (2, 3, 4)])
    assert sorted(outs) == names
    # Each process's file is in the folder it reported, once.
    assert {(default.parent / o / "who.txt").read_text() for o in outs} == {"0", "1", "2", "3"}


def test_a_suffixed_name_taken_meanwhile_goes_on_to_the_next_number(tmp_path):
    # The default name and -2 exist: this command picks -3; another takes -3 before it
    # publishes: it goes on to -4 (it had become "-3-2": a race seen in CI).
    from judges.report.run_folder import RunFolder

    default = "compare-20261207-101500"
    for name in (default, f"{default}-2"):
        (tmp_path / name).mkdir()
    folder = RunFolder(tmp_path, default, explicit=False)
    assert folder.run_id == f"{default}-3"
    folder.staging.mkdir()
    (tmp_path / f"{default}-3").mkdir()
    assert folder.publish() == tmp_path / f"{default}-4"
