"""A cached rerun does only what it must (issue #28): no plotting or scipy.stats import when the
figures are reused, the same files as a first run, and every reused piece redone when an input
changes or a kept copy is damaged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from judges.report.figure_reuse import figures_key, keep_figures, reuse_figures

pytestmark = pytest.mark.figures  # these runs draw, unless a test says --figures none

HEAVY = ("matplotlib", "seaborn", "pandas", "scipy.stats", "torch", "ray")
SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"

# The command's own main in a fresh interpreter, then the heavy modules it loaded.
RUN = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("cmd", sys.argv[1])
cmd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmd)
code = cmd.main(sys.argv[2:])
heavy = {HEAVY!r}
print(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))
"""


def run(tmp_path: Path, run_id: str, *extra: str) -> tuple[Path, list[str]]:
    args = ["--judge", "psnr", "--quiet", "--cache-dir", tmp_path / "cache"]
    args += ["--out", tmp_path / "out", "--run-id", run_id, "--profile", *extra]
    res = subprocess.run(
        [sys.executable, "-c", RUN, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    code, loaded = json.loads(res.stdout.strip().splitlines()[-1])
    assert code == 0
    assert "stage times" in res.stderr and "report.html" in res.stderr  # --profile
    return tmp_path / "out" / run_id, loaded


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_rerun_reuses_figures_and_thumbnails_without_heavy_imports(tmp_path):
    first, loaded_first = run(tmp_path, "a")
    # The check can fail: a run that draws loads matplotlib and seaborn.
    assert {"matplotlib", "seaborn"} <= set(loaded_first)
    rerun, loaded = run(tmp_path, "b")
    assert loaded == []
    # The same figures and thumbnails, byte for byte, under the same names.
    for part in ("figures", "report_files/keyframes"):
        got, want = files(rerun / part), files(first / part)
        assert got == want and len(want) >= 6, part
    for table in ("agreement.csv", "verdicts.parquet", "pairs.parquet"):
        assert (rerun / table).read_bytes() == (first / table).read_bytes()
    # Another seed changes the intervals, so figures would be drawn again: not with
    # --figures none (no plotting import, no figure, the same tables and a page) ...
    bare, loaded_bare = run(tmp_path, "c", "--seed", "1", "--figures", "none")
    assert not {"matplotlib", "seaborn", "pandas"} & set(loaded_bare)
    assert not list((bare / "figures").glob("*"))
    assert json.loads((bare / "run.json").read_text())["figures"] == "none"
    assert (bare / "report.html").is_file()
    # ... and by default they are.
    drawn, loaded_seed = run(tmp_path, "d", "--seed", "1")
    assert "matplotlib" in loaded_seed and list((drawn / "figures").glob("*.svg"))
    assert json.loads((drawn / "run.json").read_text())["figures"] == "all"
    tables = [*drawn.glob("*.csv"), *drawn.glob("*.md")]
    assert "agreement.csv" in {p.name for p in tables}
    for table in tables:
        assert (bare / table.name).read_bytes() == table.read_bytes(), table.name


def test_a_wrong_figures_setting_in_the_environment_is_one_line_exit_2(tmp_path):
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--judge", "psnr", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JUDGES_FIGURES": "pngs"},
    )
    assert res.returncode == 2
    assert "$JUDGES_FIGURES='pngs': choose all or none" in res.stderr
    assert not (tmp_path / "out").exists()


def test_thumbnails_kept_reused_and_made_again_when_damaged(tmp_path):
    import numpy as np

    from judges.datasets.demo import write_video
    from judges.report.thumbnails import keyframe_thumbnails

    rng = np.random.default_rng(0)
    video = tmp_path / "v.mp4"
    write_video(video, [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(6)])
    cache = tmp_path / "cache"

    def thumbs(name: str) -> tuple[dict, dict[str, bytes]]:
        out = tmp_path / name / "report_files" / "keyframes"
        out.mkdir(parents=True)
        kf = keyframe_thumbnails(video, [1, 2], "diff", out, tmp_path / name, cache)
        return kf, files(out)

    made, made_files = thumbs("a")
    assert set(made["by_count"]) == {"1", "2"} and len(made_files) == len(made["thumbs"]) >= 2
    assert all(u.startswith("report_files/keyframes/") for u in made["thumbs"].values())
    assert thumbs("b") == (made, made_files)  # from the cache, the same names and bytes
    (entry,) = (cache / "thumbnails").iterdir()
    next(entry.glob("*.jpg")).unlink()  # damaged: made again, and kept again
    assert thumbs("c") == (made, made_files)
    assert len(list(entry.glob("*.jpg"))) == len(made["thumbs"])


def _staged(folder: Path, agreement: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agreement.csv").write_text(agreement)
    (folder / "run.json").write_text(json.dumps({"started": agreement}))
    return folder


def test_figure_key_follows_the_tables_and_settings_not_run_json(tmp_path):
    a = figures_key(_staged(tmp_path / "a", "x,1\n"), {"mark": None})
    same = _staged(tmp_path / "b", "x,1\n")
    (same / "run.json").write_text('{"started": "later"}')
    (same / "figures").mkdir()
    (same / "figures" / "old.png").write_bytes(b"drawn")
    assert figures_key(same, {"mark": None}) == a
    assert figures_key(same, {"mark": "demo data"}) != a
    assert figures_key(_staged(tmp_path / "c", "x,2\n"), {"mark": None}) != a
    (same / "votes.parquet").write_bytes(b"votes")
    assert figures_key(same, {"mark": None}) != a


def test_damaged_kept_figures_are_drawn_again(tmp_path):
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    (drawn / "a.png").write_bytes(b"png bytes")
    (drawn / "a.svg").write_text("<svg/>")
    store = tmp_path / "store"
    keep_figures(store, "k", drawn)
    assert reuse_figures(store, "k", tmp_path / "one")
    assert files(tmp_path / "one") == files(drawn)
    (store / "k" / "a.png").write_bytes(b"png")  # cut short
    assert not reuse_figures(store, "k", tmp_path / "two")
    (store / "k" / "manifest.json").write_text("{not json")
    assert not reuse_figures(store, "k", tmp_path / "three")
    keep_figures(store, "k", drawn)  # drawn again: the damaged copy is replaced
    assert reuse_figures(store, "k", tmp_path / "four")
    assert files(tmp_path / "four") == files(drawn)
    # Only the newest entries are kept.
    for i in range(4):
        keep_figures(store, f"n{i}", drawn, keep=2)
    assert sorted(p.name for p in store.iterdir()) == ["n2", "n3"]


def test_the_python_api_takes_its_figures_default_from_the_environment(monkeypatch):
    from judges.core.errors import ConfigError
    from judges.run.agreement import AgreementConfig, JudgeRequest

    monkeypatch.setenv("JUDGES_FIGURES", "none")
    assert AgreementConfig([JudgeRequest("psnr")]).figures is False
    assert AgreementConfig([JudgeRequest("psnr")], figures=True).figures is True  # asked
    monkeypatch.setenv("JUDGES_FIGURES", "all")
    assert AgreementConfig([JudgeRequest("psnr")]).figures is True
    monkeypatch.setenv("JUDGES_FIGURES", "")  # set but empty: as unset
    assert AgreementConfig([JudgeRequest("psnr")]).figures is True
    monkeypatch.setenv("JUDGES_FIGURES", "pngs")
    with pytest.raises(ConfigError, match=r"\$JUDGES_FIGURES='pngs': choose all or none"):
        AgreementConfig([JudgeRequest("psnr")])
