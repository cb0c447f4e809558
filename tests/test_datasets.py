"""The datasets package: format registry, VideoGen-RewardBench's CSV, dimensions as data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import make_dataset, write_video
from judges.core.errors import DataError
from judges.core.types import Dimension
from judges.datasets import detect_format, formats, load_dataset, summarize

ROOT = Path(__file__).resolve().parents[1]

HEADER = (
    "path_A,path_B,A_model,B_model,prompt,fps_A,fps_B,num_frames_A,num_frames_B,VQ,MQ,TA,Overall"
)


def make_vgrb(root: Path, rows: list[tuple[str, ...]] | None = None) -> Path:
    """A small dataset in VideoGen-RewardBench's layout: the CSV plus videos/<model>/<file>."""
    rng = np.random.default_rng(3)
    for model in ("kling", "minimax", "gen3"):
        for i in range(3):
            frames = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(6)]
            write_video(root / "videos" / model / f"{model}_{i:05d}.avi", frames)
    rows = rows or [
        ("kling", "minimax", 0, "a red ball rolls", "A", "B", "same", "A"),
        ("kling", "gen3", 0, "a red ball rolls", "B", "B", "A", "same"),
        ("minimax", "gen3", 1, "a cat jumps", "A", "A", "A", "A"),
        ("gen3", "kling", 2, "waves at night", "same", "B", "B", "B"),
    ]
    lines = [HEADER]
    for a, b, i, prompt, vq, mq, ta, overall in rows:
        lines.append(
            f'videos/{a}/{a}_{i:05d}.avi,videos/{b}/{b}_{i:05d}.avi,{a},{b},"{prompt}",'
            f"8,8,6,6,{vq},{mq},{ta},{overall}"
        )
    csv = root / "videogen-rewardbench.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def test_registry_detects_each_format(tmp_path):
    assert {"safesora", "videogen-rewardbench"} <= set(formats())
    assert detect_format(make_dataset(tmp_path / "s", n_pairs=1)).name == "safesora"
    csv = make_vgrb(tmp_path / "v")
    assert detect_format(csv).name == "videogen-rewardbench"
    assert detect_format(csv.parent).name == "videogen-rewardbench"  # the dataset folder
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a dataset format this toolkit reads"):
        detect_format(other)
    with pytest.raises(DataError, match="unknown dataset format 'nope'; known: safesora"):
        load_dataset(csv, format="nope")


def test_videogen_rewardbench_pairs_labels_and_ties(tmp_path):
    csv = make_vgrb(tmp_path)
    ds = load_dataset(csv)
    assert ds.format == "videogen-rewardbench" and len(ds.pairs) == 4
    first = ds.pairs[0]
    vq, mq, ta, overall = (
        Dimension(n) for n in ("visual_quality", "motion_quality", "text_alignment", "overall")
    )
    assert first.pair_id == "videos/kling/kling_00000.avi-vs-videos/minimax/minimax_00000.avi"
    assert first.video_0.video_id == first.video_0.source == "videos/kling/kling_00000.avi"
    assert first.video_0.path == (tmp_path / "videos/kling/kling_00000.avi").resolve()
    assert first.video_0.generated_from == "kling"
    assert first.labels == {vq: "video_0", mq: "video_1", overall: "video_0"}
    assert first.ties == frozenset({ta})
    # Pairs of one prompt share a prompt id (clustering by prompt works on this data).
    assert ds.pairs[0].prompt_id == ds.pairs[1].prompt_id != ds.pairs[2].prompt_id
    assert overall.criterion == "overall_quality" and vq.criterion == "visual_quality"
    s = summarize(ds.pairs)
    assert s["labels"]["text_alignment"] == {
        "labeled": 3,
        "video_0": 2,
        "video_1": 1,
        "video_0_share": 2 / 3,
        "ties": 1,
    }
    assert s["labels"]["helpfulness"]["labeled"] == 0  # SafeSora's dimensions still listed


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace(",VQ,", ",Visual,"), None),  # VQ column gone: other labels remain
        (lambda t: t.replace("path_B", "path_b"), "missing column"),
        (lambda t: t.replace(",A,B,same,A", ",A,C,same,A"), r"line 2: column 'MQ' is 'C'"),
        (lambda t: t.replace('"a cat jumps"', '""'), "line 4: column 'prompt' is empty"),
    ],
)
def test_videogen_rewardbench_errors_name_the_line(tmp_path, edit, message):
    csv = make_vgrb(tmp_path)
    csv.write_text(edit(csv.read_text()))
    if message is None:
        ds = load_dataset(csv)
        assert all(Dimension("visual_quality") not in p.labels for p in ds.pairs)
        return
    with pytest.raises(DataError, match=message):
        load_dataset(csv)


def test_missing_videos_listed_for_any_format(tmp_path):
    csv = make_vgrb(tmp_path)
    (tmp_path / "videos/gen3/gen3_00002.avi").unlink()
    with pytest.raises(DataError, match=r"1 video file\(s\) missing, used by 1 pair"):
        load_dataset(csv)
    assert len(load_dataset(csv, skip_missing=True).pairs) == 3


def test_dimensions_are_data():
    custom = Dimension.define("test_smoothness", criterion="motion_quality")
    assert Dimension.parse("Test-Smoothness") is custom and custom == "test_smoothness"
    assert custom not in list(Dimension)  # iteration stays SafeSora's six
    assert custom in Dimension.known()
    with pytest.raises(ValueError, match="judged by criterion 'motion_quality' already"):
        Dimension.define("test_smoothness", criterion="aesthetics")
    with pytest.raises(ValueError, match="unknown dimension 'beauty'"):
        Dimension.parse("beauty")


def agreement(*args, cwd):
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "agreement.py"), "--quiet", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_agreement_run_on_videogen_rewardbench(tmp_path):
    csv = make_vgrb(tmp_path / "d")
    args = ["--judge", "psnr", "--data", csv, "--dims", "all", "--frames", "1,4"]
    run = agreement(*args, "--out", tmp_path / "r", "--run-id", "v", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    table = pl.read_csv(tmp_path / "r/v/agreement.csv", infer_schema_length=0)
    assert sorted(set(table["dimension"])) == [
        "motion_quality",
        "overall",
        "text_alignment",
        "visual_quality",
    ]
    # A human tie is left out of agreement (3 labeled pairs of 4) and scored by tie-aware
    # accuracy, whose in-sample optimum is checked here by brute force over thresholds.
    ta = table.filter(pl.col("dimension") == "text_alignment")
    assert set(ta["n_labeled"]) == {"3"} and set(ta["n_human_ties"]) == {"1"}
    assert set(ta["n_unlabeled"]) == {"0"}
    verdicts = pl.read_parquet(tmp_path / "r/v/verdicts.parquet").filter(
        (pl.col("dimension") == "text_alignment") & (pl.col("frames") == 1)
    )
    rows = verdicts.select("winner", "human", "score_0", "score_1").rows()
    best = 0.0
    for eps in [None, *(abs(a - b) for _, _, a, b in rows)]:
        hits = sum(
            ("tie" if eps is not None and w != "tie" and abs(a - b) <= eps else w) == h
            for w, h, a, b in rows
        )
        best = max(best, hits / len(rows))
    assert float(ta["accuracy_ties_optimistic"][0]) == pytest.approx(best)
    info = json.loads((tmp_path / "r/v/run.json").read_text())
    assert info["data"]["summary"]["labels"]["text_alignment"]["ties"] == 1
    # The psnr judge's own dimension is not labeled here: refused in one line.
    refused = agreement("--judge", "psnr", "--data", csv, "--out", tmp_path / "r", cwd=tmp_path)
    assert refused.returncode == 2
    assert "no pair has a human label for 'informativeness'" in refused.stderr
    assert "labeled dimensions: visual_quality, motion_quality, text_alignment, overall" in (
        refused.stderr
    )


def test_vlm_prompts_carry_each_dimension_criterion():
    from judges.judge.registry import get_judge

    judge = get_judge("vlm", api_key_env="none")
    mq = Dimension("motion_quality")
    system = judge.prompts.system(mq)
    assert "Dimension: motion quality." in system and "instruction following" not in system
    judge.check_dimensions([mq, Dimension.AESTHETICS])  # both have criteria
    unknown = Dimension.define("test_unknown_criterion")
    with pytest.raises(Exception, match="no criteria for test_unknown_criterion"):
        judge.check_dimensions([unknown])


def test_videogen_rewardbench_csv_saved_with_a_byte_order_mark(tmp_path):
    csv = make_vgrb(tmp_path)
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    assert len(load_dataset(csv).pairs) == 4


def write_shared_names(root: Path, rows: list[str]) -> Path:
    """A VGRB-format CSV whose two models name their files alike (modelA/0001.mp4...)."""
    rng = np.random.default_rng(5)
    for model in ("modelA", "modelB"):
        for i in (1, 2):
            frames = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(5)]
            write_video(root / model / f"{i:04d}.avi", frames)
    csv = root / "videogen-rewardbench.csv"
    csv.write_text("path_A,path_B,prompt,Overall\n" + "\n".join(rows) + "\n")
    return csv


def test_videogen_rewardbench_ids_never_collide_across_models(tmp_path):
    csv = write_shared_names(
        tmp_path,
        [
            "modelA/0001.avi,modelB/0001.avi,a red ball,A",
            "modelA/0002.avi,./modelB/0002.avi,a cat,B",
            "modelA/0001.avi,modelB/0001.avi,a red ball,B",  # the same two videos again
        ],
    )
    ds = load_dataset(csv)
    ids = [(p.pair_id, p.video_0.video_id, p.video_1.video_id) for p in ds.pairs]
    assert ids == [
        ("modelA/0001.avi-vs-modelB/0001.avi", "modelA/0001.avi", "modelB/0001.avi"),
        ("modelA/0002.avi-vs-modelB/0002.avi", "modelA/0002.avi", "modelB/0002.avi"),
        ("modelA/0001.avi-vs-modelB/0001.avi#2", "modelA/0001.avi", "modelB/0001.avi"),
    ]
    assert ds.pairs[1].video_1.source == "./modelB/0002.avi"  # as written, for the scores judge
    # Both rows comparing the same videos are kept, and counted as a content duplicate.
    from judges.cache.store import file_sha256
    from judges.datasets.duplicates import content_duplicates

    dup = content_duplicates(ds.pairs, file_sha256)
    assert (dup["pairs"], dup["distinct_contents"], dup["repeating_pairs"]) == (3, 2, 1)
    assert dup["examples"] == [[ids[0][0], ids[2][0]]]


def test_a_video_id_naming_two_files_fails_naming_both_records(tmp_path):
    # On Linux 'modelA\\0001.avi' is another file than 'modelA/0001.avi', with the same id.
    csv = write_shared_names(
        tmp_path, ["modelA/0001.avi,modelB/0001.avi,x,A", "modelA\\0001.avi,modelB/0002.avi,y,A"]
    )
    with pytest.raises(
        DataError,
        match=r"video id 'modelA/0001.avi' names two files: .*modelA/0001\.avi \(line 2\) and "
        r".*modelA\\0001\.avi \(line 3\)",
    ):
        load_dataset(csv)
    # SafeSora records: two different files under one id (file names repeat across folders).
    config = make_dataset(tmp_path / "s", n_pairs=2)
    records = json.loads(config.read_text())
    records[1]["video_0"]["video_id"] = records[0]["video_1"]["video_id"]
    config.write_text(json.dumps(records))
    with pytest.raises(
        DataError,
        match=r"video id 'p0_v1' names two files: .*p0_v1\.avi \(record #0\) and "
        r".*p1_v0\.avi \(record #1\)",
    ):
        load_dataset(config)
    # Without ids, SafeSora videos are named by their path as written (not the file name).
    for r in records:
        for side in ("video_0", "video_1"):
            r[side].pop("video_id")
            r[side]["video_path"] = r[side]["video_path"].replace("/p0/", "/p1/../p0/")
    config.write_text(json.dumps(records))
    pairs = load_dataset(config).pairs
    assert pairs[0].video_0.video_id == "videos/p1/../p0/p0_v0.avi"
