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
        {"judge": ["j", "j"], "dimension": ["aesthetics", "helpfulness"], "agreement": [0.6, 0.7]}
    )
    ceiling = pl.DataFrame({"dimension": ["aesthetics"], "annotator": ["all"], "agreement": [0.8]})
    out = with_ceiling(table, ceiling)
    assert out["agreement_of_ceiling"].to_list()[0] == pytest.approx(0.75)
    assert out["human_agreement"].to_list()[1] is None
