"""Slice membership and the run glue of judges.stats.above_pairs (generators, record fields)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from judges.core.errors import ConfigError
from judges.core.types import Pair, Video
from judges.datasets import load_dataset
from judges.stats.above_pairs import check_fields, slice_frame, slice_members


def video(vid: str, gen: str | None, **fields) -> Video:
    return Video(vid, Path(f"{vid}.mp4"), "p", "p", generated_from=gen, fields=fields)


def pair(pid: str, g0: str | None, g1: str | None, **fields) -> Pair:
    return Pair(
        pid, "q", "p", video(f"{pid}a", g0, style="anime"), video(f"{pid}b", g1, style="real"),
        prompt_type="safety_neutral", fields=fields,
    )  # fmt: skip


def test_generator_slices_are_the_pair_and_each_generator():
    found, members = slice_members(pair("x", "b", "a"), "generator")
    assert found and members[0] == ("generator pair", "a vs b")
    assert sorted(members[1:]) == [("generator", "a"), ("generator", "b")]


def test_record_fields_lists_nested_and_missing():
    p = pair("x", "a", "b", categories=["S1", "S4"], meta={"source": "web"})
    assert slice_members(p, "categories") == (True, [("categories", "S1"), ("categories", "S4")])
    assert slice_members(p, "meta.source") == (True, [("meta.source", "web")])
    assert slice_members(p, "prompt_type") == (True, [("prompt_type", "safety_neutral")])
    # A video field: the pair is in each video's slice.
    assert slice_members(p, "style") == (True, [("style", "anime"), ("style", "real")])
    assert slice_members(p, "video_0.style") == (True, [("video_0.style", "anime")])
    q = pair("y", "a", "b")
    assert slice_members(q, "categories") == (False, [("categories", "(missing)")])
    frame = slice_frame(pl.DataFrame({"pair_id": ["x", "y"]}), [p, q], "categories")
    assert frame.sort("slice")["slice"].to_list() == ["(missing)", "S1", "S4"]


def test_unknown_field_is_refused_with_the_fields_present():
    with pytest.raises(ConfigError, match=r"--by nosuch: no pair has this field.*categories"):
        check_fields([pair("x", "a", "b", categories=["S1"])], ["nosuch"])


def test_safesora_loader_keeps_other_record_fields(tmp_path):
    record = {
        "pair_id": "x",
        "prompt_id": "q",
        "prompt_text": "a cat",
        "category": "animals",
        "video_0": {"video_id": "a", "video_path": "a.mp4", "generated_from": "g1", "seed": 7},
        "video_1": {"video_id": "b", "video_path": "b.mp4", "generated_from": "g2"},
        "helpfulness": "video_0",
    }
    config = tmp_path / "config-test.json"
    config.write_text(json.dumps([record]))
    (p,) = load_dataset(config, check_files=False).pairs
    assert p.fields == {"category": "animals"}
    assert p.video_0.fields == {"seed": 7} and p.video_1.fields == {}
    assert slice_members(p, "category") == (True, [("category", "animals")])
