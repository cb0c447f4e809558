from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
from scipy import stats

from judges.core.types import Dimension, Pair, Verdict, Video
from judges.report.run_folder import verdict_table
from judges.report.tables import paper_table, to_markdown
from judges.stats.agreement import agreement_table
from judges.stats.classic import wilson_interval


def rows(judge, dim, frames, winners_humans_statuses):
    return [
        {"judge": judge, "dimension": dim, "frames": frames, "winner": w, "human": h, "status": s}
        for w, h, s in winners_humans_statuses
    ]


def frame(data):
    return pl.DataFrame(
        data,
        schema={
            "judge": pl.String,
            "dimension": pl.String,
            "frames": pl.Int64,
            "winner": pl.String,
            "human": pl.String,
            "status": pl.String,
        },
    )


def test_hand_built_table_with_ties_and_undecided():
    data = rows(
        "j",
        "aesthetics",
        1,
        [
            ("video_0", "video_0", "ok"),
            ("video_1", "video_1", "ok"),
            ("video_1", "video_0", "ok"),
            ("tie", "video_0", "tie"),
            (None, "video_1", "refused"),
            (None, "video_1", "error"),
            ("video_0", "video_0", "ok"),
            ("video_0", "video_0", "ok"),
            ("video_0", None, "ok"),  # unlabeled: counted, not scored
        ],
    )
    t = agreement_table(frame(data))
    assert t.height == 1
    r = t.row(0, named=True)
    assert r["n_labeled"] == 8 and r["n_unlabeled"] == 1
    assert r["n_decided"] == 5 and r["n_matches"] == 4
    assert r["agreement"] == 4 / 8
    assert r["accuracy"] == 4 / 5
    assert r["coverage"] == 5 / 8
    assert (r["agreement_lo"], r["agreement_hi"]) == wilson_interval(4, 8)
    assert (r["accuracy_lo"], r["accuracy_hi"]) == wilson_interval(4, 5)
    assert r["p_value"] == stats.binomtest(4, 8, 0.5).pvalue
    assert r["accuracy_p_value"] == stats.binomtest(4, 5, 0.5).pvalue
    assert r["tie_rate"] == 1 / 8
    assert r["refused_rate"] == 1 / 8
    assert r["error_rate"] == 1 / 8
    assert r["unparsed_rate"] == 0.0
    # kappa by hand: judge categories over labeled rows
    judge = ["video_0", "video_1", "video_1", "u", "u", "u", "video_0", "video_0"]
    human = ["video_0", "video_1", "video_0", "video_0", "video_1", "video_1", "video_0", "video_0"]
    po = 4 / 8
    pe = (3 * 5 + 2 * 3) / 64
    # The hand numbers, recounted from the category lists.
    assert sum(a == b for a, b in zip(judge, human, strict=True)) / 8 == po
    cats = set(judge) | set(human)
    assert sum(judge.count(c) * human.count(c) for c in cats) / 64 == pe
    assert r["kappa"] == pytest.approx((po - pe) / (1 - pe))


def test_groups_sorted_in_paper_order_and_paper_shape():
    data = []
    for dim in ("harmlessness", "aesthetics", "instruction_following"):
        for frames in (None, 8, 1, 2, 4):
            data += rows(
                "gpt", dim, frames, [("video_0", "video_0", "ok"), ("video_1", "video_0", "ok")]
            )
    data += rows("psnr", "informativeness", 1, [("video_0", "video_0", "ok")])
    t = agreement_table(frame(data))
    assert t.filter(pl.col("judge") == "gpt")["dimension"].unique(
        maintain_order=True
    ).to_list() == ["instruction_following", "aesthetics", "harmlessness"]
    assert t.filter(pl.col("judge") == "gpt")["frames"].to_list()[:5] == [1, 2, 4, 8, None]
    wide = paper_table(t)
    assert wide.columns == ["judge", "dimension", "1", "2", "4", "8", "all"]
    assert wide.height == 4
    psnr_row = wide.filter(pl.col("judge") == "psnr").row(0, named=True)
    assert psnr_row["1"] == 1.0 and psnr_row["2"] is None
    md = to_markdown(wide)
    assert md.splitlines()[0] == "| judge | dimension | 1 | 2 | 4 | 8 | all |"
    assert "| gpt | instruction_following | 0.500 | 0.500 | 0.500 | 0.500 | 0.500 |" in md


def test_dimension_without_labels_gives_nan_not_crash():
    t = agreement_table(frame(rows("j", "correctness", 4, [("video_0", None, "ok")])))
    r = t.row(0, named=True)
    assert r["n_labeled"] == 0 and r["n_unlabeled"] == 1
    assert math.isnan(r["agreement"]) and math.isnan(r["p_value"])
    assert "—" in to_markdown(t)


def test_verdict_table_joins_human_labels():
    verdicts = [
        Verdict("a", "psnr", Dimension.INFORMATIVENESS, 2, "video_0"),
        Verdict("b", "psnr", Dimension.INFORMATIVENESS, 2, None, status="error", error="x"),
    ]
    video = Video("v", Path("v.mp4"), "p", "p")
    pairs = [
        Pair("a", "p", "p", video, video, {Dimension.INFORMATIVENESS: "video_0"}),
        Pair("b", "p", "p", video, video, {}),
    ]
    df = verdict_table(verdicts, pairs)
    assert df["human"].to_list() == ["video_0", None]
    t = agreement_table(df)
    assert t.row(0, named=True)["agreement"] == 1.0
    assert t.row(0, named=True)["n_unlabeled"] == 1


def test_missing_columns_rejected():
    with pytest.raises(ValueError, match="human"):
        agreement_table(
            pl.DataFrame(
                {
                    "judge": ["j"],
                    "dimension": ["d"],
                    "frames": [1],
                    "winner": ["video_0"],
                    "status": ["ok"],
                }
            )
        )
