from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.errors import ConfigError
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.base import Task
from judges.judge.registry import get_judge


@pytest.fixture
def pairs(tmp_path):
    return load_pairs(make_dataset(tmp_path / "d", n_pairs=3))


def table(pairs):
    ids = [v.video_id for p in pairs for v in (p.video_0, p.video_1)]
    return pl.DataFrame(
        {
            "video_id": ids,
            "quality": [float(i) for i in range(len(ids))],
            "motion": [float(-i) for i in range(len(ids))],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_every_format(tmp_path, pairs, suffix):
    df = table(pairs)
    path = tmp_path / f"scores{suffix}"
    {
        ".csv": df.write_csv,
        ".parquet": df.write_parquet,
        ".json": df.write_json,
        ".jsonl": df.write_ndjson,
    }[suffix](path)
    judge = get_judge("scores", file=str(path), column="quality", name="q")
    assert judge.name == "q"
    v = judge.compare(pairs[0], Dimension.AESTHETICS, 4)
    assert (v.score_0, v.score_1, v.winner) == (0.0, 1.0, "video_1")
    low = get_judge("scores", file=str(path), column="quality", higher_is_better="false")
    assert low.compare(pairs[0], Dimension.AESTHETICS, 4).winner == "video_0"


def test_video_without_score_is_an_error_verdict(tmp_path, pairs):
    path = tmp_path / "s.csv"
    table(pairs).filter(pl.col("video_id") != pairs[1].video_0.video_id).write_csv(path)
    judge = get_judge("scores", file=str(path), column="quality")
    v = judge.safe_compare(Task(pairs[1], Dimension.AESTHETICS, 1))
    assert v.status == "error" and v.winner is None
    assert f"no score for video '{pairs[1].video_0.video_id}'" in v.error
    assert judge.safe_compare(Task(pairs[0], Dimension.AESTHETICS, 1)).status == "ok"


def test_bad_files(tmp_path, pairs):
    path = tmp_path / "s.csv"
    table(pairs).write_csv(path)
    with pytest.raises(ConfigError, match="needs file=PATH"):
        get_judge("scores")
    with pytest.raises(ConfigError, match="numeric columns: quality, motion"):
        get_judge("scores", file=str(path))
    with pytest.raises(ConfigError, match="no column 'nope'"):
        get_judge("scores", file=str(path), column="nope")
    with pytest.raises(ConfigError, match="no 'vid' column"):
        get_judge("scores", file=str(path), column="quality", id_column="vid")
    with pytest.raises(ConfigError, match="scores file not found"):
        get_judge("scores", file=str(tmp_path / "x.csv"))
    text = tmp_path / "t.csv"
    text.write_text("video_id,label\na,good\n")
    with pytest.raises(ConfigError, match="'label' is not numeric"):
        get_judge("scores", file=str(text), column="label")
    dup = tmp_path / "d.json"
    dup.write_text(json.dumps([{"video_id": "a", "s": 1}, {"video_id": "a", "s": 2}]))
    with pytest.raises(ConfigError, match="'a' has different scores"):
        get_judge("scores", file=str(dup))


def test_dimensions_option_and_fingerprint(tmp_path, pairs):
    path = tmp_path / "s.csv"
    table(pairs).write_csv(path)
    judge = get_judge(
        "scores", file=str(path), column="motion", dimensions="information,aesthetics"
    )
    assert judge.default_dimensions == (Dimension.INFORMATIVENESS, Dimension.AESTHETICS)
    before = judge.fingerprint()
    table(pairs).with_columns(pl.col("motion") * 2).write_csv(path)
    assert (
        get_judge(
            "scores", file=str(path), column="motion", dimensions="information,aesthetics"
        ).fingerprint()
        != before
    )


def test_a_judge_of_any_dimension_judges_what_the_data_labels(tmp_path):
    # make_dataset labels helpfulness and informativeness only: `--judge scores` without
    # --dims must judge those two, not fail on harmlessness, a dimension nobody asked for.
    import subprocess
    import sys
    from pathlib import Path

    config = make_dataset(tmp_path / "d", n_pairs=3)
    pairs = load_pairs(config)
    scores = tmp_path / "scores.csv"
    table(pairs).write_csv(scores)
    script = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
    res = subprocess.run(
        [sys.executable, str(script), "--judge", "scores", "--judge-arg", f"file={scores}",
         "--judge-arg", "column=quality", "--data", str(config), "--frames", "1",
         "--out", str(tmp_path / "out"), "--run-id", "r", "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    judged = pl.read_csv(tmp_path / "out" / "r" / "agreement.csv")
    assert judged["dimension"].to_list() == ["informativeness", "helpfulness"]  # paper order
    assert judged["n_labeled"].to_list() == [3, 3]


def test_scores_matched_by_path_when_models_share_file_names(tmp_path):
    """VGRB-format data whose two models name files alike: each video gets its own score."""
    from test_datasets import write_shared_names

    csv = write_shared_names(
        tmp_path,
        ["modelA/0001.avi,modelB/0001.avi,a red ball,A", "modelA/0002.avi,./modelB/0002.avi,b,B"],
    )
    pairs = load_pairs(csv)
    scores = tmp_path / "scores.csv"
    # Written as the user's tool wrote them: './' and '\' separators name the same files.
    scores.write_text(
        "path,q\n./modelA/0001.avi,0.9\nmodelB\\0001.avi,0.2\nmodelA/0002.avi,0.1\n"
        "modelB/0002.avi,0.7\n"
    )
    judge = get_judge("scores", file=str(scores), id_column="path")
    first = judge.compare(pairs[0], Dimension("overall"), 1)
    second = judge.compare(pairs[1], Dimension("overall"), 1)
    assert (first.score_0, first.score_1, first.winner) == (0.9, 0.2, "video_0")
    assert (second.score_0, second.score_1, second.winner) == (0.1, 0.7, "video_1")
    # Keyed by path, a verdict's cache inputs name the paths (equal files may score apart).
    task = Task(pairs[0], Dimension("overall"), 1)
    assert judge.cache_inputs(task)["video_0"] == {"path": "modelA/0001.avi"}
    # Keyed by file name, as the old loader named videos, the two 0001 files collide:
    # the ids are the paths now, so an id-keyed file of bare names finds nothing, and says so.
    by_name = tmp_path / "names.csv"
    by_name.write_text("video_id,q\n0001,0.9\n0002,0.1\n")
    missing = get_judge("scores", file=str(by_name)).safe_compare(task)
    assert missing.status == "error" and "no score for video 'modelA/0001.avi'" in missing.error
    absent = tmp_path / "absent.csv"
    absent.write_text("path,q\nmodelA/0001.avi,1.0\n")
    v = get_judge("scores", file=str(absent), id_column="path").safe_compare(task)
    assert (
        v.raw["error_kind"] == "missing_score" and "no score for path 'modelB/0001.avi'" in v.error
    )
