"""The repeats statistics (judges/stats/repeats.py) on verdict tables counted by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from judges.stats.bootstrap import BootstrapConfig, resample_weights
from judges.stats.cluster_intervals import proportion_interval
from judges.stats.repeats import majority, repeats_table


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["video_1", "video_1", "tie"], ("ok", "video_1", 2 / 3)),
        (["tie", "tie", "video_0"], ("tie", "tie", None)),  # a majority of ties is a tie
        (["video_0", "video_1"], ("tie", "tie", None)),
        (["video_0", "video_1", "tie"], ("tie", "tie", None)),  # three-way tie
        (["unparsed", "video_1"], ("ok", "video_1", 1.0)),  # non-answers do not vote
        (["unparsed", "unparsed"], ("unparsed", None, None)),
        (["unparsed", "refused"], ("refused", None, None)),
    ],
)
def test_majority(outcomes, expected):
    status, winner, share = majority(outcomes)
    assert (status, winner) == expected[:2]
    assert share == pytest.approx(expected[2]) if expected[2] is not None else share is None


def _row(pair, prompt, judge, samples, winner, human, frames=4):
    raw = json.dumps({"samples": samples}) if samples is not None else json.dumps({"x": 1})
    return {
        "pair_id": pair, "prompt_id": prompt, "judge": judge, "dimension": "aesthetics",
        "frames": frames, "winner": winner, "human": human, "raw": raw,
    }  # fmt: skip


def test_table_by_hand():
    v0, v1 = "video_0", "video_1"
    rows = [
        _row("a", "p1", "g", [v0, v0], v0, v0),  # consistent; both samples right
        _row("b", "p1", "g", [v0, v1], "tie", v1),  # sample 1 right only
        _row("c", "p2", "g", [v1, v1], v1, None),  # unlabelled: consistency only
        _row("d", "p3", "g", [v1, "unparsed"], v1, "tie"),  # people tied: not scored
        _row("e", "p3", "g", None, None, v0),  # failed call: counted, left out
        _row("f", "p4", "other", None, v0, v0),  # a judge asked once: no row
    ]
    table = repeats_table(pl.DataFrame(rows), BootstrapConfig(resamples=0))
    assert table.height == 1
    row = table.row(0, named=True)
    assert (row["judge"], row["frames"], row["n_without_samples"]) == ("g", 4, 1)
    assert (row["n_pairs"], row["n_labeled"], row["repeats"]) == (4, 2, 2)
    assert row["self_consistency"] == 0.5  # a, c of a, b, c, d
    assert row["majority_agreement"] == 0.5  # a right, b a tie
    # sample 0: a right, b wrong -> 0.5; sample 1: a right, b right -> 1.0
    assert row["sample_agreements"] == "0.5000 1.0000"
    assert row["sample_agreement_mean"] == 0.75
    assert row["sample_agreement_sd"] == pytest.approx(math.sqrt(0.125))
    assert row["self_consistency_lo"] is None  # no bootstrap asked


def test_self_consistency_interval_is_the_clustered_one():
    # 6 prompts, 2 pairs each; pairs 0, 1, 2, 5, 7, 8, 11 consistent.
    consistent = [1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1]
    rows = [
        _row(
            f"q{i}", f"p{i // 2}", "g", ["video_0", "video_0" if c else "video_1"], "video_0", None
        )
        for i, c in enumerate(consistent)
    ]
    config = BootstrapConfig(resamples=500, seed=3)
    row = repeats_table(pl.DataFrame(rows), config).row(0, named=True)
    # Independently: resample the 6 prompts with the same weights, take the share per draw.
    weights = resample_weights(6, 500, 3).astype(np.float64)  # B x 6 cluster counts
    per_prompt = np.array(consistent, dtype=float).reshape(6, 2).sum(axis=1)
    draws = (weights @ per_prompt) / (weights @ np.full(6, 2.0))
    lo, hi = proportion_interval(draws, 7 / 12, 12, 6)
    assert row["self_consistency"] == pytest.approx(7 / 12)
    assert (row["self_consistency_lo"], row["self_consistency_hi"]) == pytest.approx(
        (float(lo), float(hi)), rel=1e-5
    )
