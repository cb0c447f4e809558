"""failure_summary counts by columns (no Python string per row): the same counts and examples."""

from __future__ import annotations

import polars as pl
import pytest

from judges.report.failures import failure_summary


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical])
def test_failures_per_judge_in_table_order_with_reasons_and_distinct_examples(dtype):
    rows = [  # (judge, status, error, error_kind, pair_id, dimension, frames)
        ("gpt", "ok", None, None, "p1", "aesthetics", 1),
        ("psnr", "error", "cut.avi: truncated", "truncated", "p1", "aesthetics", 1),
        ("gpt", "error", "HTTP 500", "api_error", "p2", "aesthetics", None),
        ("psnr", "error", "cut.avi: truncated", "truncated", "p2", "aesthetics", 4),
        ("psnr", "error", "zero.mp4: empty", None, "p3", "helpfulness", 1),
        ("clip", "ok", None, None, "p1", "aesthetics", 1),
        ("psnr", "ok", None, None, "p4", "aesthetics", 1),
        ("psnr", "error", "image.mp4: not a video", "not_a_video", "p5", "aesthetics", 1),
    ]
    names = ["judge", "status", "error", "error_kind", "pair_id", "dimension", "frames"]
    table = pl.DataFrame(rows, schema=names, orient="row").with_columns(
        pl.col("judge", "status", "error", "error_kind").cast(dtype)
    )
    summary = failure_summary(table, examples=2)
    assert list(summary) == ["gpt", "psnr", "clip"]  # first seen first
    assert summary["clip"] == {
        "verdicts": 1, "failed": 0, "failed_share": 0.0, "by_reason": {}, "examples": []
    }  # fmt: skip
    assert summary["gpt"]["verdicts"] == 2 and summary["gpt"]["failed"] == 1
    assert summary["gpt"]["examples"] == [
        {"pair_id": "p2", "dimension": "aesthetics", "frames": "all", "reason": "api_error",
         "error": "HTTP 500"}
    ]  # fmt: skip
    psnr = summary["psnr"]
    assert (psnr["verdicts"], psnr["failed"], psnr["failed_share"]) == (5, 4, 0.8)
    assert psnr["by_reason"] == {"truncated": 2, "error": 1, "not_a_video": 1}
    # Two distinct messages, in table order: the repeated truncation is shown once.
    assert [(e["pair_id"], e["reason"]) for e in psnr["examples"]] == [
        ("p1", "truncated"),
        ("p3", "error"),
    ]
