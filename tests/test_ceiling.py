from __future__ import annotations

import csv
from collections import defaultdict

import krippendorff
import numpy as np
import polars as pl
import pytest

from conftest import FETV_DEV
from judges.datasets import load_dataset
from judges.datasets.votes import collect_votes
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.ceiling import (
    ceiling_table,
    judge_vs_loo,
    krippendorff_alpha,
    leave_one_out,
    pooled,
    with_ceiling,
)
from judges.stats.classic import wilson_interval


def _votes(rows):
    return pl.DataFrame(rows, schema=["pair_id", "dimension", "annotator", "choice"], orient="row")


def test_leave_one_out_reference_by_hand():
    v = _votes(
        [
            ("p", "a", "x", "video_0"),
            ("p", "a", "y", "video_1"),
            ("p", "a", "z", "video_1"),
            ("q", "a", "x", "video_0"),
            ("q", "a", "y", "tie"),
            ("q", "a", "z", "video_1"),
        ]
    )
    out = leave_one_out(v)
    # p: x's others (y, z) both video_1 -> reference video_1; y's and z's others split
    # evenly -> no reference. q: x's others (tie, v1) -> video_1; y's others split evenly;
    # z's others (v0, tie) -> video_0.
    assert out["reference"].to_list() == ["video_1", None, None, "video_1", None, "video_0"]
    assert out["hit"].to_list() == [False, None, None, False, None, False]


def test_alpha_matches_the_package_and_is_one_when_all_agree():
    rows = [
        (f"p{i}", "a", r, c)
        for i, c in enumerate(["video_0", "video_1", "tie", "video_0"])
        for r in ("x", "y")
    ]
    assert krippendorff_alpha(_votes(rows)) == 1.0
    rows[1] = ("p0", "a", "y", "video_1")
    rows.append(("p4", "a", "x", "tie"))  # a unit with one vote only: not pairable
    data = np.array(
        [[0, 1, 2, 0, 2], [1, 1, 2, 0, np.nan]], dtype=float
    )  # x and y over p0..p4 with video_0=0, video_1=1, tie=2
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha(_votes(rows)) == pytest.approx(expected)


@pytest.mark.fetv_dev
def test_fetv_ceiling_equals_an_independent_count():
    pairs = load_dataset(FETV_DEV).pairs
    votes = collect_votes(pairs, [FETV_DEV / "votes.csv"])
    table = ceiling_table(votes.table, pairs, BootstrapConfig(resamples=500))
    # Independent computation straight from the CSV, with plain dictionaries.
    by_unit = defaultdict(dict)
    with open(FETV_DEV / "votes.csv") as f:
        for r in csv.DictReader(f):
            by_unit[(r["pair_id"], r["dimension"])][r["annotator"]] = r["choice"]
    for dim_key, dim in [("information", "informativeness"), ("aesthetics", "aesthetics")]:
        hits = refs = not_tie = hits_nt = 0
        for (_, d), voters in by_unit.items():
            if d != dim_key:
                continue
            for annotator, choice in voters.items():
                others = [c for a, c in voters.items() if a != annotator]
                m = others.count("video_0") - others.count("video_1")
                if m == 0:
                    continue
                ref = "video_0" if m > 0 else "video_1"
                refs += 1
                hits += choice == ref
                if choice != "tie":
                    not_tie += 1
                    hits_nt += choice == ref
        row = pooled(table).filter(pl.col("dimension") == dim).row(0, named=True)
        assert (row["n_reference"], row["agreement"]) == (refs, hits / refs)
        assert row["accuracy"] == hits_nt / not_tie
        assert (row["agreement_lo"], row["agreement_hi"]) == wilson_interval(hits, refs)
        assert row["agreement_cluster_lo"] <= row["agreement"] <= row["agreement_cluster_hi"]
        assert row["n_annotators"] == 3
    per_annotator = table.filter(pl.col("annotator") != "all")
    assert per_annotator.group_by("dimension").len()["len"].to_list() == [3] * 4


def test_with_ceiling_adds_the_share_and_invents_nothing():
    table = pl.DataFrame(
        {
            "judge": ["j", "j"],
            "dimension": ["aesthetics", "helpfulness"],
            "frames": [1, 1],
            "agreement": [0.6, 0.7],
        }
    )
    ceiling = pl.DataFrame({"dimension": ["aesthetics"], "annotator": ["all"], "agreement": [0.8]})
    loo = pl.DataFrame(
        {"judge": ["j"], "dimension": ["aesthetics"], "frames": [1], "loo_agreement": [0.6],
         "loo_human_agreement": [0.75]}
    )  # fmt: skip
    out = with_ceiling(table, ceiling, loo)
    # the share compares like with like: judge and annotators on the same votes
    assert out["agreement_of_ceiling"].to_list() == [pytest.approx(0.8), None]
    assert out["human_agreement"].to_list() == [0.8, None]


def test_judge_scored_against_the_ceilings_own_references_by_hand():
    # p1: x v0, y v0, z v1 -> only z has a majority among the others (v0), z misses it.
    # p2: x v1, y v1, z tie -> x and y each have v1 (the other v1, z's tie counts for
    #     neither) and hit; z has v1 and misses (an own tie is a miss).
    votes = pl.DataFrame(
        {
            "pair_id": ["p1"] * 3 + ["p2"] * 3,
            "dimension": ["aesthetics"] * 6,
            "annotator": ["x", "y", "z"] * 2,
            "choice": ["video_0", "video_0", "video_1", "video_1", "video_1", "tie"],
        }
    )
    verdicts = pl.DataFrame(
        {
            "judge": ["J", "J", "J", "J", "K"],
            "dimension": ["aesthetics"] * 5,
            "frames": [1, 1, 2, 2, 1],
            "pair_id": ["p1", "p2", "p1", "p2", "p1"],  # K did not judge p2
            "prompt_id": ["q1", "q2", "q1", "q2", "q1"],
            "winner": ["video_0", "tie", "video_1", "video_1", "video_0"],
        }
    )
    out = judge_vs_loo(verdicts, votes, BootstrapConfig(resamples=0))
    rows = {(r["judge"], r["frames"]): r for r in out.iter_rows(named=True)}
    # J@1: p1's unit hit, p2's three units missed (a judge tie is a miss) -> 1/4
    assert (rows["J", 1]["loo_n"], rows["J", 1]["loo_agreement"]) == (4, 0.25)
    assert rows["J", 1]["loo_human_agreement"] == 0.5  # x and y of p2
    assert (rows["J", 2]["loo_n"], rows["J", 2]["loo_agreement"]) == (4, 0.75)
    # K judged p1 only: scored on z's unit, where the annotator missed
    assert (rows["K", 1]["loo_n"], rows["K", 1]["loo_agreement"]) == (1, 1.0)
    assert rows["K", 1]["loo_human_agreement"] == 0.0
    assert rows["J", 1]["loo_agreement_lo"] == pytest.approx(wilson_interval(1, 4)[0])
    table = verdicts.select("judge", "dimension", "frames").unique(maintain_order=True)
    pooled_human = pl.DataFrame(
        {"dimension": ["aesthetics"], "annotator": ["all"], "agreement": [0.5]}
    )
    shares = with_ceiling(table.with_columns(pl.lit(0.0).alias("agreement")), pooled_human, out)
    assert shares["agreement_of_ceiling"].to_list() == [0.5, 1.5, None]  # K: no share of 0
