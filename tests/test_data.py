from __future__ import annotations

import gzip
import json

import pytest

from conftest import FETV_DEV, make_dataset
from judges.core.errors import DataError
from judges.core.types import Dimension
from judges.datasets import format_summary, load_dataset, load_pairs, summarize
from judges.datasets.safesora import find_config


def records(config):
    return json.loads(config.read_text())


def rewrite(config, data):
    config.write_text(json.dumps(data))
    return config


def test_loads_json_and_resolves_relative_paths(tmp_path):
    config = make_dataset(tmp_path, n_pairs=3)
    pairs = load_pairs(config)
    assert [p.pair_id for p in pairs] == ["pair-0", "pair-1", "pair-2"]
    p = pairs[1]
    assert p.video_0.path == (tmp_path / "videos/p1/p1_v0.avi").resolve()
    assert p.labels == {Dimension.HELPFULNESS: "video_0", Dimension.INFORMATIVENESS: "video_1"}
    assert p.video_0.video_text == "a red ball"
    assert load_pairs(tmp_path)[0].pair_id == "pair-0"  # the folder works too


def test_gzip_and_jsonl(tmp_path):
    config = make_dataset(tmp_path, n_pairs=2)
    data = records(config)
    gz = tmp_path / "c.json.gz"
    with gzip.open(gz, "wt") as fh:
        json.dump(data, fh)
    jl = tmp_path / "c.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in data) + "\n\n")
    for path in (gz, jl):
        assert [p.pair_id for p in load_pairs(path)] == ["pair-0", "pair-1"]


def test_video_dir_uses_safesora_layout(tmp_path):
    config = make_dataset(tmp_path, n_pairs=1)
    data = records(config)
    # Move the layout to <video_dir>/<prompt_id>/<video_id>.mp4
    vd = tmp_path / "elsewhere"
    for side in ("video_0", "video_1"):
        v = data[0][side]
        target = vd / v["prompt_id"] / f"{v['video_id']}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / v["video_path"]).rename(target)
    rewrite(config, data)
    with pytest.raises(DataError, match="missing"):
        load_pairs(config)
    pairs = load_pairs(config, video_dir=vd)
    assert pairs[0].video_1.path == (vd / "p0" / "p0_v1.mp4").resolve()


def test_missing_video_path_falls_back_to_videos_folder(tmp_path):
    config = make_dataset(tmp_path, n_pairs=1)
    data = records(config)
    for side in ("video_0", "video_1"):
        v = data[0][side]
        target = tmp_path / "videos" / v["prompt_id"] / f"{v['video_id']}.mp4"
        (tmp_path / v.pop("video_path")).rename(target)
    rewrite(config, data)
    assert load_pairs(config)[0].video_0.path.name == "p0_v0.mp4"


def test_null_and_missing_labels_are_absent(tmp_path):
    config = make_dataset(tmp_path, n_pairs=1)
    data = records(config)
    data[0]["helpfulness"] = None
    data[0]["harmlessness"] = "video_1"
    data[0]["sub_preferences"] = {"aesthetics": "video_0", "correctness": None}
    rewrite(config, data)
    p = load_pairs(config)[0]
    assert p.labels == {Dimension.HARMLESSNESS: "video_1", Dimension.AESTHETICS: "video_0"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: {"not": "a list"}, "expected a JSON list of pair records, found dict"),
        (lambda d: [*d[:1], 5], r"record #1 must be an object"),
        (
            lambda d: [{**d[0], "video_1": None}],
            r"pair_id 'pair-0' \(record #0\): required field 'video_1'",
        ),
        (
            lambda d: [{**d[0], "helpfulness": "both"}],
            r"pair_id 'pair-0'.*field 'helpfulness' is 'both'",
        ),
        (
            lambda d: [{**d[0], "sub_preferences": {"information": "video_2"}}],
            r"field 'sub_preferences.information' is 'video_2'",
        ),
        (
            lambda d: [d[0], {**d[1], "pair_id": "pair-0"}],
            r"duplicate pair_id 'pair-0' in records #0 and #1",
        ),
        (lambda d: [{**d[0], "video_1": d[0]["video_0"]}], "video_0 and video_1 are the same file"),
        (
            lambda d: [
                {
                    **d[0],
                    "prompt_text": None,
                    "video_0": {**d[0]["video_0"], "prompt_text": None},
                    "video_1": {**d[0]["video_1"], "prompt_text": None},
                }
            ],
            "'prompt_text' is missing",
        ),
        (lambda d: [{**d[0], "video_0": {"prompt_id": "p0"}}], "needs 'video_id' or 'video_path'"),
        # Keys that differ from SafeSora's only by case or separators would drop every label.
        (
            lambda d: [{**d[0], "Helpfulness": "video_0"}],
            r"pair_id 'pair-0' \(record #0\): key 'Helpfulness' .* did you mean 'helpfulness'",
        ),
        (
            lambda d: [{**d[0], "Sub_Preferences": {"information": "video_0"}}],
            r"key 'Sub_Preferences' .* did you mean 'sub_preferences'",
        ),
        (
            lambda d: [{**d[0], "sub_preferences": {"Instruction-Following": "video_0"}}],
            r"key 'sub_preferences.Instruction-Following' .* 'instruction_following'",
        ),
        (
            lambda d: [{**d[0], "sub_preferences": {"informativeness": "video_0"}}],
            r"key 'sub_preferences.informativeness' .* did you mean 'information'",
        ),
        (
            lambda d: [{**d[0], "video_1": {**d[0]["video_1"], "videoPath": "x.mp4"}}],
            r"key 'video_1.videoPath' .* did you mean 'video_path'",
        ),
    ],
)
def test_invalid_records_name_the_record_and_field(tmp_path, mutate, message):
    config = make_dataset(tmp_path, n_pairs=2)
    rewrite(config, mutate(records(config)))
    with pytest.raises(DataError, match=message):
        load_pairs(config)


def test_invalid_json_and_jsonl_lines(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('[{"pair_id": 1,')
    with pytest.raises(DataError, match="invalid JSON"):
        load_pairs(bad)
    jl = tmp_path / "c.jsonl"
    jl.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(DataError, match="line 2: invalid JSON"):
        load_pairs(jl)
    csv = tmp_path / "pairs.csv"
    csv.write_text("pair_id\n")
    with pytest.raises(DataError, match=r"pairs\.csv: not a dataset format this toolkit reads"):
        load_pairs(csv)


def test_missing_videos_all_listed_or_skipped(tmp_path):
    config = make_dataset(tmp_path, n_pairs=4)
    (tmp_path / "videos/p1/p1_v0.avi").unlink()
    (tmp_path / "videos/p3/p3_v1.avi").unlink()
    (tmp_path / "videos/p3/p3_v0.avi").unlink()
    with pytest.raises(DataError) as err:
        load_pairs(config)
    text = str(err.value)
    assert "3 video file(s) missing, used by 2 pair(s)" in text
    for name in ("p1_v0.avi", "p3_v0.avi", "p3_v1.avi"):
        assert name in text
    assert "--skip-missing" in text
    ds = load_dataset(config, skip_missing=True)
    assert [p.pair_id for p in ds.pairs] == ["pair-0", "pair-2"]
    assert [pid for pid, _ in ds.skipped] == ["pair-1", "pair-3"]


def test_find_config_in_folder(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        find_config(tmp_path / "nope")
    with pytest.raises(DataError, match="no pairs file found"):
        find_config(tmp_path)
    (tmp_path / "config-train.json.gz").write_bytes(b"")
    (tmp_path / "config-test.json.gz").write_bytes(b"")
    with pytest.raises(DataError, match="several pairs files"):
        find_config(tmp_path)


def test_pair_id_derived_when_absent(tmp_path):
    config = make_dataset(tmp_path, n_pairs=1)
    data = records(config)
    del data[0]["pair_id"]
    rewrite(config, data)
    assert load_pairs(config)[0].pair_id == "p0:p0_v0-vs-p0_v1"


def test_summary_counts(tmp_path):
    config = make_dataset(tmp_path, n_pairs=4)
    s = summarize(load_pairs(config))
    assert (s["pairs"], s["prompts"], s["videos"]) == (4, 4, 8)
    assert s["labels"]["helpfulness"] == {
        "labeled": 4,
        "video_0": 2,
        "video_1": 2,
        "video_0_share": 0.5,
        "ties": 0,
    }
    assert s["labels"]["informativeness"]["labeled"] == 4
    assert s["labels"]["correctness"]["labeled"] == 0
    assert "4 pairs, 4 prompts, 8 videos" in format_summary(s)


@pytest.mark.fetv_dev
def test_fetv_dev_loads():
    ds = load_dataset(FETV_DEV)
    assert len(ds.pairs) == 69
    s = summarize(ds.pairs)
    assert s["videos"] == 48 and s["prompts"] == 12
    assert s["labels"]["correctness"]["labeled"] == 0
    assert all(p.video_0.path.is_file() for p in ds.pairs)


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    raw = gzip.compress(json.dumps([{"pair_id": "x"}] * 50).encode())
    for name, data in [("trunc.json.gz", raw[:-20]), ("garbage.json.gz", b"not gzip at all")]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError, match=rf"{name}: cannot read"):
            load_pairs(path)
