"""Agreement by slice and its heterogeneity test (judges.stats.slices)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import f as f_dist

from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import BootstrapConfig, resample_weights
from judges.stats.cluster_intervals import proportion_interval
from judges.stats.slices import heterogeneity, slice_table


def ols_cluster_wald(match, slices, clusters):
    """Linear probability model on slice dummies, CR1 cluster-robust covariance, Wald test."""
    s_vals, s = np.unique(slices, return_inverse=True)
    c_vals, c = np.unique(clusters, return_inverse=True)
    x = np.eye(len(s_vals))[s]
    y = match.astype(float)
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    e = y - x @ beta
    meat = sum(
        np.outer(x[c == k].T @ e[c == k], x[c == k].T @ e[c == k]) for k in range(len(c_vals))
    )
    g = len(c_vals)
    cov = g / (g - 1) * bread @ meat @ bread
    r = np.hstack([np.eye(len(s_vals) - 1), -np.ones((len(s_vals) - 1, 1))])
    d = r @ beta
    stat = float(d @ np.linalg.inv(r @ cov @ r.T) @ d)
    q = len(s_vals) - 1
    return stat, float(f_dist.sf(stat / q, q, g - 1))


@pytest.mark.parametrize("seed", range(4))
def test_heterogeneity_equals_cluster_robust_regression(seed):
    rng = np.random.default_rng(seed)
    n = 400
    clusters = rng.integers(0, 60, size=n)
    slices = rng.integers(0, 4, size=n)
    match = rng.random(n) < np.array([0.5, 0.6, 0.55, 0.7])[slices]
    got = heterogeneity(match, slices, clusters)
    stat, p = ols_cluster_wald(match, slices, clusters)
    assert got.statistic == pytest.approx(stat, rel=1e-9)
    assert got.p_value == pytest.approx(p, rel=1e-9)
    assert got.df == 3 and got.clusters == 60


def test_heterogeneity_by_hand():
    # Two slices, 4 pairs each, every pair its own prompt: p = 3/4 and 1/4; each slice's
    # cluster variance sum((m - p)^2) / n^2 = 0.75 / 16, times C/(C-1) = 8/7.
    m = np.array([1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)
    got = heterogeneity(m, np.array([0] * 4 + [1] * 4), np.arange(8))
    var = 2 * 0.75 / 16 * 8 / 7
    assert got.statistic == pytest.approx(0.5**2 / var)
    assert got.p_value == pytest.approx(f_dist.sf(0.5**2 / var, 1, 7))


def test_one_slice_is_not_testable():
    got = heterogeneity(np.array([True, False]), np.array([0, 0]), np.array([0, 1]))
    assert np.isnan(got.p_value) and got.df == 0


def test_slice_rows_equal_independent_computations():
    rng = np.random.default_rng(5)
    n = 240
    rows = pl.DataFrame(
        {
            "judge": ["j"] * n,
            "dimension": ["aesthetics"] * n,
            "frames": [4] * n,
            "pair_id": [f"p{i}" for i in range(n)],
            "prompt_id": [f"q{rng.integers(0, 80)}" for _ in range(n)],
            "winner": rng.choice(["video_0", "video_1", "tie"], size=n).tolist(),
            "status": ["ok"] * n,
            "human": rng.choice(["video_0", "video_1"], size=n).tolist(),
            "slice": rng.choice(["a", "b", "c"], size=n).tolist(),
        }
    )
    config = BootstrapConfig(resamples=300, seed=2)
    table, tests = slice_table(rows, config, min_pairs=70)
    # The bootstrap resamples the whole data's prompts (codes by first appearance) and reads
    # each slice off every resample.
    first: dict[str, int] = {}
    codes = np.array([first.setdefault(q, len(first)) for q in rows["prompt_id"]])
    weights = resample_weights(len(first), 300, 2, dtype=np.uint8).astype(float)
    for value in ("a", "b", "c"):
        part = rows.filter(pl.col("slice") == value).drop("slice")
        direct = agreement_table(part, None, config).row(0, named=True)
        got = table.filter(pl.col("slice") == value).row(0, named=True)
        for column in ("n_labeled", "n_decided", "agreement", "accuracy", "agreement_lo"):
            assert got[column] == pytest.approx(direct[column])
        assert got["small"] == (direct["n_labeled"] < 70)
        inside = (rows["slice"] == value).to_numpy()
        match = (rows["winner"] == rows["human"]).to_numpy() & inside
        top = weights @ np.bincount(codes, weights=match, minlength=len(first))
        bottom = weights @ np.bincount(codes, weights=inside, minlength=len(first))
        # the toolkit's clustered interval (tests/test_cluster_intervals.py checks it by hand)
        # on these replayed draws, with G = the slice's prompts
        g = len(set(rows.filter(pl.col("slice") == value)["prompt_id"]))
        lo, hi = proportion_interval(
            top / bottom, direct["agreement"], direct["n_labeled"], g, 0.95
        )
        assert (got["agreement_cluster_lo"], got["agreement_cluster_hi"]) == pytest.approx(
            (float(lo), float(hi))
        )
        assert got["n_clusters"] == direct["n_clusters"]
    labelled = rows.filter(pl.col("slice").is_in(table.filter(~pl.col("small"))["slice"].to_list()))
    expect = heterogeneity(
        (labelled["winner"] == labelled["human"]).to_numpy(),
        labelled["slice"].to_numpy(),
        labelled["prompt_id"].to_numpy(),
    )
    assert tests["p_value"][0] == pytest.approx(expect.p_value)
