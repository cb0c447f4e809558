"""Agreement by slice (generator, prompt type, any field), and a test of heterogeneity.

A slice is a set of pairs sharing a value of some field. A pair may belong to several slices
(its two generators; a list of categories), so the input is one row per (verdict, slice): the
verdict table with a ``slice`` column, rows repeated for each slice they belong to. Each slice
gets the full agreement row of :func:`judges.stats.agreement.agreement_table` (the same code,
so the same definitions and the same cluster bootstrap, resampling the slice's own prompts).

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

from judges.stats.agreement import PAPER_DIMENSION_ORDER, agreement_table, cluster_column
from judges.stats.bootstrap import BootstrapConfig

MIN_SLICE_PAIRS = 30
_SEP = "\x1f"
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
    "accuracy_cluster_lo",
    "accuracy_cluster_hi",
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
    from scipy.stats import f

    stat = float(diff @ np.linalg.pinv(cov) @ diff)
    return Heterogeneity(stat, df, float(f.sf(stat / df, df, n_c - 1)), n_s, n_c)


def slice_table(
    rows: pl.DataFrame,
    bootstrap: BootstrapConfig | None = None,
    min_pairs: int = MIN_SLICE_PAIRS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Agreement per (judge, dimension, frames, slice), and a heterogeneity test per setting.

    Args:
        rows: Verdict-table rows (see :func:`~judges.stats.agreement.agreement_table`) with a
            ``slice`` column (String), one row per (verdict, slice).
        bootstrap: Cluster, resamples and seed of the intervals (default: by prompt).
        min_pairs: Slices with fewer labelled pairs are marked ``small`` and left out of the
            test.

    Returns:
        The slice table (group columns, ``slice``, :data:`SLICE_COLUMNS`, ``small``) and the
        tests (group columns, ``slices``, ``clusters``, ``statistic``, ``df``, ``p_value``).

    """
    config = bootstrap or BootstrapConfig()
    keyed = rows.with_columns(
        (pl.col("judge") + pl.lit(_SEP) + pl.col("slice").cast(pl.String)).alias("judge")
    )
    table = agreement_table(keyed.drop("slice"), None, config)
    if table.is_empty() or "n_labeled" not in table.columns:
        return pl.DataFrame(), pl.DataFrame()
    keep = [c for c in SLICE_COLUMNS if c in table.columns]
    order = {d.value: i for i, d in enumerate(PAPER_DIMENSION_ORDER)}
    table = (
        table.with_columns(
            pl.col("judge").str.split_exact(_SEP, 1).struct.rename_fields(["_j", "slice"])
        )
        .unnest("judge")
        .rename({"_j": "judge"})
        .select("judge", "dimension", "frames", "slice", *keep)
        .with_columns((pl.col("n_labeled") < min_pairs).alias("small"))
        .with_columns(
            pl.col("dimension").replace_strict(order, default=len(order)).alias("_d"),
            pl.col("frames").is_null().alias("_a"),
        )
        .sort("judge", "_d", "_a", "frames", "slice")
        .drop("_d", "_a")
    )
    big = table.filter(~pl.col("small")).select("judge", "dimension", "frames", "slice")
    labelled = rows.filter(pl.col("human").is_in(["video_0", "video_1"])).join(
        big, on=["judge", "dimension", "frames", "slice"], how="semi", nulls_equal=True
    )
    labelled = labelled.with_columns(
        cluster_column(labelled, config.cluster).alias("_cluster"),
        (pl.col("winner") == pl.col("human")).fill_null(False).alias("_match"),
    )
    tests = []
    for key, group in labelled.group_by(["judge", "dimension", "frames"], maintain_order=True):
        result = heterogeneity(
            group["_match"].to_numpy(),
            group["slice"].cast(pl.Categorical).to_physical().to_numpy(),
            group["_cluster"].cast(pl.Categorical).to_physical().to_numpy(),
        )
        tests.append(
            (*key, result.slices, result.clusters, result.statistic, result.df, result.p_value)
        )
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
