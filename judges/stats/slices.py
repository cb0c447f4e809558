"""Agreement by slice (generator, prompt type, any field), and a test of heterogeneity.

A slice is a set of pairs sharing a value of some field. A pair may belong to several slices
(its two generators; a list of categories), so the input is one row per (verdict, slice): the
verdict table with a ``slice`` column, rows repeated for each slice they belong to. Each slice
gets the agreement row of :func:`judges.stats.agreement.agreement_table` (same definitions:
counts, agreement with its Wilson and clustered intervals, accuracy, design effect). The
cluster bootstrap resamples the whole data's prompts once and reads every slice off every
resample, so slices' intervals are paired; one product per slice, over its own prompts, serves
every setting (settings over the same pairs share their labelled-pair column).

**Heterogeneity** (is agreement different between slices beyond chance?): a Wald test that all
slices' agreements are equal, with a cluster-robust (sandwich) covariance of the slice
agreements, clusters = prompts (Liang & Zeger 1986; the same as a linear probability model
of "match" on slice indicators with CR1 standard errors, Cameron & Miller 2015). Because the
covariance comes from the clusters, it holds when slices share prompts and when a pair sits in
two slices. ``W = (L p)' (L V L')^+ (L p)`` with ``L`` the contrasts against the last slice,
``V = C / (C - 1) * sum_c u_c u_c'``, ``u_cs = sum_{i in c, s} (match_i - p_s) / n_s``. The
p-value reads ``W / q`` against an F distribution with ``q = rank(L V L')`` and ``C - 1`` degrees
of freedom (the few-cluster correction Cameron & Miller 2015 recommend; with thousands of
prompts it is the chi-squared test). Slices with fewer than the minimum of labelled pairs
are shown but left out of the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from judges.stats.agreement import GROUP, PAPER_DIMENSION_ORDER, cluster_column
from judges.stats.bootstrap import (
    BootstrapConfig,
    ClusterResampler,
    design_effect,
    ratio,
)
from judges.stats.classic import wilson_intervals
from judges.stats.cluster_intervals import as_pair, proportion_interval
from judges.stats.first_seen import first_seen_codes

MIN_SLICE_PAIRS = 30
SLICE_COLUMNS = (
    "n_labeled",
    "n_decided",
    "n_matches",
    "agreement",
    "agreement_cluster_lo",
    "agreement_cluster_hi",
    "agreement_lo",
    "agreement_hi",
    "accuracy",
    "design_effect",
    "n_clusters",
)


@dataclass(frozen=True)
class Heterogeneity:
    """A Wald test that agreement is the same in every slice.

    Attributes:
        statistic: The Wald chi-squared statistic.
        df: Its degrees of freedom.
        p_value: ``P(F(df, clusters - 1) >= statistic / df)``; nan when fewer than two slices
            are tested.
        slices: Slices tested (those with enough labelled pairs).
        clusters: Clusters (prompts) behind the covariance.

    """

    statistic: float
    df: int
    p_value: float
    slices: int
    clusters: int


def heterogeneity(
    match: np.ndarray, slice_codes: np.ndarray, cluster_codes: np.ndarray
) -> Heterogeneity:
    """Cluster-robust Wald test of equal agreement across slices (see the module docstring).

    Args:
        match: One entry per (labelled pair, slice): did the judge pick the people's video.
        slice_codes: The slice of each entry, ``0..S-1``.
        cluster_codes: The cluster (prompt) of each entry, ``0..C-1``.

    Example:
        >>> m = np.array([1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)
        >>> s = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> round(heterogeneity(m, s, np.arange(8)).statistic, 4)
        2.3333

    """
    match = np.asarray(match, dtype=np.float64)
    _, s = np.unique(slice_codes, return_inverse=True)
    _, c = np.unique(cluster_codes, return_inverse=True)
    n_s, n_c = int(s.max(initial=-1)) + 1, int(c.max(initial=-1)) + 1
    if n_s < 2 or n_c < 2:
        return Heterogeneity(math.nan, 0, math.nan, n_s, n_c)
    size = np.bincount(s, minlength=n_s).astype(np.float64)
    p = np.bincount(s, weights=match, minlength=n_s) / size
    u = np.zeros((n_c, n_s))
    np.add.at(u, (c, s), (match - p[s]) / size[s])
    v = n_c / (n_c - 1) * (u.T @ u)
    contrast = np.hstack([np.eye(n_s - 1), -np.ones((n_s - 1, 1))])
    diff = contrast @ p
    cov = contrast @ v @ contrast.T
    df = int(np.linalg.matrix_rank(cov))
    if df == 0:
        return Heterogeneity(math.nan, 0, math.nan, n_s, n_c)
    # The F survival function that scipy.stats.f.sf calls, without importing scipy.stats.
    from scipy.special import fdtrc

    stat = float(diff @ np.linalg.pinv(cov) @ diff)
    # A statistic rounded below 0 is 0: f.sf gives 1 there, fdtrc nan.
    return Heterogeneity(stat, df, float(fdtrc(df, n_c - 1, max(stat / df, 0.0))), n_s, n_c)


def slice_table(
    rows: pl.DataFrame,
    bootstrap: BootstrapConfig | None = None,
    min_pairs: int = MIN_SLICE_PAIRS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Agreement per (judge, dimension, frames, slice), and a heterogeneity test per setting.

    Columns as :func:`~judges.stats.agreement.agreement_table` defines them (pairs people
    called even left out); see the module docstring for the bootstrap.

    Args:
        rows: Verdict-table rows (``judge, dimension, frames, winner, human``, the cluster's
            id columns) with a ``slice`` column (String), one row per (verdict, slice).
        bootstrap: Cluster, resamples and seed of the intervals (default: by prompt).
        min_pairs: Slices with fewer labelled pairs are marked ``small`` and left out of the
            test.

    Returns:
        The slice table (group columns, ``slice``, :data:`SLICE_COLUMNS`, ``small``) and the
        tests (group columns, ``slices``, ``clusters``, ``statistic``, ``df``, ``p_value``).

    """
    config = bootstrap or BootstrapConfig()
    rows = rows.filter(pl.col("human").is_in(["video_0", "video_1"]))
    if rows.is_empty():
        return pl.DataFrame(), pl.DataFrame()
    settings = rows.select(*GROUP).unique(maintain_order=True)
    sid = rows.join(
        settings.with_row_index("_sid"), on=list(GROUP), how="left", nulls_equal=True,
        maintain_order="left",
    )["_sid"].to_numpy().astype(np.int64)  # fmt: skip
    names = rows["slice"].cast(pl.String).unique(maintain_order=True).sort().to_list()
    slice_code = rows["slice"].cast(pl.String).replace_strict(
        {n: i for i, n in enumerate(names)}, return_dtype=pl.Int64
    ).to_numpy()  # fmt: skip
    keys = rows.select(cluster_column(rows, config.cluster)).to_series()
    codes = first_seen_codes(keys)  # polars' categorical codes depend on the process's past
    match = (rows["winner"] == rows["human"]).fill_null(False).to_numpy()
    decided = rows["winner"].is_in(["video_0", "video_1"]).fill_null(False).to_numpy()
    n_set, n_sl = settings.height, len(names)
    cell = sid * n_sl + slice_code
    n = np.bincount(cell, minlength=n_set * n_sl)
    k = np.bincount(cell, weights=match, minlength=n_set * n_sl)
    d = np.bincount(cell, weights=decided, minlength=n_set * n_sl)
    n_clusters = int(codes.max()) + 1
    seen = np.bincount(cell * n_clusters + codes, minlength=n.size * n_clusters)
    clusters = (seen.reshape(n.size, n_clusters) > 0).sum(axis=1)
    resampled = _resampled(codes, sid, slice_code, match, (n, k), n_sl, config)
    a_lo, a_hi = wilson_intervals(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = {
            "n_labeled": n,
            "n_decided": d.astype(np.int64),
            "n_matches": k.astype(np.int64),
            "agreement": np.where(n > 0, k / n, np.nan),
            **resampled,
            "agreement_lo": a_lo,
            "agreement_hi": a_hi,
            "accuracy": np.where(d > 0, k / d, np.nan),
            "n_clusters": clusters,
        }
    grid = settings.select(pl.all().repeat_by(n_sl).explode()).with_columns(
        pl.Series("slice", names * n_set)
    )
    table = grid.with_columns(pl.Series(c, v) for c, v in columns.items()).filter(
        pl.col("n_labeled") > 0
    )
    order = {dim.value: i for i, dim in enumerate(PAPER_DIMENSION_ORDER)}
    table = (
        table.select(*GROUP, "slice", *SLICE_COLUMNS)
        .with_columns((pl.col("n_labeled") < min_pairs).alias("small"))
        .with_columns(
            pl.col("dimension").replace_strict(order, default=len(order)).alias("_d"),
            pl.col("frames").is_null().alias("_a"),
        )
        .sort("judge", "_d", "_a", "frames", "slice")
        .drop("_d", "_a")
    )
    big = n >= min_pairs
    tests = []
    for i, setting in enumerate(settings.iter_rows()):
        keep = (sid == i) & big[cell]
        result = heterogeneity(match[keep], slice_code[keep], codes[keep])
        tests.append((*setting, result.slices, result.clusters, result.statistic, result.df,
                      result.p_value))  # fmt: skip
    schema = {
        "judge": pl.String,
        "dimension": pl.String,
        "frames": pl.Int64,
        "slices": pl.Int64,
        "clusters": pl.Int64,
        "statistic": pl.Float64,
        "df": pl.Int64,
        "p_value": pl.Float64,
    }
    return table, pl.DataFrame(tests, schema=schema, orient="row")


def _resampled(
    codes: np.ndarray,
    sid: np.ndarray,
    slice_code: np.ndarray,
    match: np.ndarray,
    counts: tuple[np.ndarray, np.ndarray],
    n_sl: int,
    config: BootstrapConfig,
) -> dict[str, np.ndarray]:
    """Clustered intervals and design effect of every (setting, slice), one product per slice."""
    labelled, matches = counts
    size = labelled.size
    n_set = size // n_sl
    out = {c: np.full(size, np.nan) for c in _CLUSTERED}
    if not config.resamples:
        return out
    n_clusters = int(codes.max()) + 1
    # Clusters x resamples, so a slice's prompts are rows read in one sweep.
    by_cluster = np.ascontiguousarray(
        ClusterResampler.from_codes(codes, n_clusters, config).weights.T
    )
    for s in range(n_sl):
        rows = slice_code == s
        mine = codes[rows]
        present = np.flatnonzero(np.bincount(mine, minlength=n_clusters))
        local = _dense(mine)
        # Per cluster of the slice and setting: matches, then labelled pairs.
        flat = local * (2 * n_set) + sid[rows] * 2
        sums = np.bincount(flat, weights=match[rows], minlength=len(present) * 2 * n_set)
        sums += np.bincount(flat + 1, minlength=sums.size)
        # Settings over the same pairs share their labelled-pair column: resample it once.
        unique, back = np.unique(sums.reshape(len(present), 2 * n_set), axis=1, return_inverse=True)
        totals = (unique.T.astype(np.float32) @ by_cluster[present].astype(np.float32)).T
        totals = totals[:, back.ravel()].astype(np.float64)
        for i in range(n_set):
            m, lab = totals[:, 2 * i], totals[:, 2 * i + 1]
            if not lab.any():
                continue
            c = i * n_sl + s
            agree = ratio(m, lab)
            n = int(labelled[c])
            # the toolkit's clustered interval on this slice's prompts (none below 5)
            out["agreement_cluster_lo"][c], out["agreement_cluster_hi"][c] = as_pair(
                proportion_interval(agree, float(matches[c] / n), n, len(present), config.level)
            )
            out["design_effect"][c] = design_effect(agree, float(matches[c] / n), n)
    return out


def _dense(keys: np.ndarray) -> np.ndarray:
    """Codes ``0..C-1`` for non-negative integer keys, in key order (a bincount, not a sort)."""
    present = np.bincount(keys) > 0
    return (np.cumsum(present) - 1)[keys]


_CLUSTERED = ("agreement_cluster_lo", "agreement_cluster_hi", "design_effect")
