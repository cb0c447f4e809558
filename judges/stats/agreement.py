"""Agreement between judges and human labels, per (judge, dimension, frame count).

Definitions (the paper's, plus what a careful reader needs next to them):

- ``agreement`` = matches / labeled pairs. A verdict that names no video (tie, refusal,
  unparsed reply, error) counts as a disagreement, as in the paper.
- ``accuracy`` = matches / decided pairs: how often the judge is right when it answers.
- ``coverage`` = decided / labeled.
- 95% Wilson intervals for both, the exact binomial p-value of agreement (and of accuracy)
  against 0.5, Cohen's kappa with "undecided" as a category of its own, and the rate of each
  outcome among labeled pairs.

Pairs without a human label for a dimension are counted (``n_unlabeled``) but not scored.
``n_errors`` counts the failed judgements among the labeled pairs; reports flag any group where
it is not zero. When the verdicts carry ``cost_usd`` (API judges), the table adds what each
group cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from judges.core.types import STATUSES, Dimension
from judges.stats.bootstrap import (
    BootstrapConfig,
    ClusterResampler,
    design_effect,
    ratio,
)
from judges.stats.classic import binomial_p_values_half, wilson_interval, wilson_intervals
from judges.stats.cluster_intervals import proportion_interval
from judges.stats.first_seen import by_first_row, first_seen_codes
from judges.stats.ties import NONE, TIE, V0, V1, encode_outcomes, folds_by_cluster, tie_accuracy

PAPER_DIMENSION_ORDER = (
    Dimension.INSTRUCTION_FOLLOWING,
    Dimension.CORRECTNESS,
    Dimension.INFORMATIVENESS,
    Dimension.AESTHETICS,
    Dimension.HARMLESSNESS,
    Dimension.HELPFULNESS,
)
GROUP = ("judge", "dimension", "frames")
_REQUIRED = (*GROUP, "winner", "status", "human")


def agreement_table(
    verdicts: pl.DataFrame,
    unlabeled: Mapping[tuple[str, str], int] | None = None,
    bootstrap: BootstrapConfig | None = None,
) -> pl.DataFrame:
    """Long agreement table: one row per (judge, dimension, frames).

    The counts and independent-pairs statistics are one polars aggregation; the cluster
    bootstrap and the tie-aware accuracy loop over groups only (24 for a full SafeSora run),
    each group one matrix product (see :mod:`judges.stats.bootstrap`).

    Args:
        verdicts: Columns ``judge, dimension, frames, winner, status, human`` (``human`` null
            where the pair has no label for that dimension, ``tie`` where people called it
            even), plus ``pair_id, prompt_id, video_0_id, video_1_id, score_0, score_1`` for the
            clustered intervals and tie thresholds, e.g. from
            :func:`judges.report.run_folder.verdict_table`.
        unlabeled: ``(judge, dimension) -> pairs`` left unjudged for want of a human label
            (a run does not judge them); added to ``n_unlabeled`` of every frame count.
        bootstrap: Cluster, resamples and seed of the bootstrap intervals (default: by prompt,
            B = 2000, seed 0); ``resamples=0`` leaves those columns out.

    Returns:
        Group columns, ``n_unlabeled``, the statistics in the module docstring (pairs with a
        human tie left out), the clustered intervals and design effect, and the tie-aware
        accuracy columns; sorted by judge, the paper's dimension order, then frames (``all``
        last).

    """
    missing = [c for c in _REQUIRED if c not in verdicts.columns]
    if missing:
        raise ValueError(f"verdict table lacks column(s): {', '.join(missing)}")
    if verdicts.is_empty():
        return pl.DataFrame(schema={"judge": pl.String, "dimension": pl.String, "frames": pl.Int64})
    config = bootstrap or BootstrapConfig()
    frame = verdicts
    gid, first = _group_ids(frame)
    groups = len(first)
    grouped = frame[first].select(GROUP)
    if "cost_usd" in frame.columns:
        cost = frame["cost_usd"].cast(pl.Float64)
        has = cost.is_not_null().to_numpy()
        cost = cost.to_numpy()
        total = np.bincount(gid, weights=np.where(has, cost, 0.0), minlength=groups)
        paid = np.bincount(gid, weights=has, minlength=groups) > 0
        grouped = grouped.with_columns(
            pl.Series("_cost", total, dtype=pl.Float64), pl.Series("_has_cost", paid)
        )
    margins = None
    if (frame["human"] == "tie").any():
        # Each group's rows in ascending |score margin| (nan last): the tie-threshold search
        # needs that order and then sorts nothing.
        margins = frame.select(_abs_margin(frame)).to_series().fill_null(np.nan).to_numpy()
    rows_per_group = _rows_per_group(gid, groups, margins)
    # Every count is read off one contingency cube per group, (winner, human, status), made
    # by a single bincount over integer codes: no string comparison per statistic.
    winners, humans = (encode_outcomes(frame[c]) for c in ("winner", "human"))
    status = (
        frame["status"]
        .replace_strict({s: i for i, s in enumerate(STATUSES)}, default=0, return_dtype=pl.Int8)
        .to_numpy()
    )
    key = ((gid * 4 + winners + 1) * 4 + humans + 1) * len(STATUSES) + status
    cube = np.bincount(key, minlength=groups * 16 * len(STATUSES)).reshape(
        groups, 4, 4, len(STATUSES)
    )
    del key, status, gid  # a million-row array each; the bootstrap below needs its own
    labeled = cube[:, :, 1 + V0 : 2 + V1, :]  # human chose a video (ties left out)
    n = labeled.sum(axis=(1, 2, 3)).astype(np.float64)
    k = cube[:, 1 + V0, 1 + V0, :].sum(axis=1) + cube[:, 1 + V1, 1 + V1, :].sum(axis=1)
    d = labeled[:, 1 + V0 : 2 + V1].sum(axis=(1, 2, 3))
    counts = {
        "_unlabeled": cube[:, :, 1 + NONE, :].sum(axis=(1, 2)),
        "n_labeled": n.astype(np.int64),
        "n_decided": d,
        "n_matches": k,
        "n_errors": labeled[..., STATUSES.index("error")].sum(axis=(1, 2)),
        "n_human_ties": cube[:, :, 1 + TIE, :].sum(axis=(1, 2)),
    }
    a_lo, a_hi = wilson_intervals(k, n)
    c_lo, c_hi = wilson_intervals(k, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Cohen's kappa from counts: "undecided" is a judge category people never use.
        expected = sum(
            labeled[:, 1 + c].sum(axis=(1, 2)) * labeled[:, :, c].sum(axis=(1, 2)) for c in (V0, V1)
        ) / (n * n)
        observed = k / n
        kappa = np.where((n > 0) & (expected != 1), (observed - expected) / (1 - expected), np.nan)
        columns: dict[str, Any] = {
            "coverage": np.where(n > 0, d / n, np.nan),
            "agreement": np.where(n > 0, k / n, np.nan),
            "agreement_lo": a_lo,
            "agreement_hi": a_hi,
            "p_value": binomial_p_values_half(k, n),
            "accuracy": np.where(d > 0, k / d, np.nan),
            "accuracy_lo": c_lo,
            "accuracy_hi": c_hi,
            "accuracy_p_value": binomial_p_values_half(k, d),
            "kappa": kappa,
        }
        for i, name in enumerate(STATUSES):
            if name != "ok":
                rate = labeled[..., i].sum(axis=(1, 2)) / n
                columns[f"{name}_rate"] = np.where(n > 0, rate, np.nan)
    grouped = grouped.with_columns(pl.Series(c, v, dtype=pl.Int64) for c, v in counts.items())
    extra = {(j, dim): c for (j, dim), c in (unlabeled or {}).items()}
    table = grouped.select(
        *GROUP,
        (
            pl.col("_unlabeled")
            + pl.struct("judge", "dimension").map_elements(
                lambda r: extra.get((r["judge"], r["dimension"]), 0), return_dtype=pl.Int64
            )
        ).alias("n_unlabeled"),
        *(pl.col(c).cast(pl.Int64) for c in ("n_labeled", "n_decided", "n_matches")),
    ).with_columns(
        pl.Series(name, values) for name, values in columns.items() if "rate" not in name
    )
    table = table.with_columns(grouped["n_errors"].cast(pl.Int64)).with_columns(
        pl.Series(name, values) for name, values in columns.items() if "rate" in name
    )
    table = table.with_columns(grouped["n_human_ties"].cast(pl.Int64))
    if "_cost" in grouped.columns:
        table = table.with_columns(
            pl.when(grouped["_has_cost"]).then(grouped["_cost"]).otherwise(None).alias("cost_usd")
        )
    table = table.with_columns(
        pl.Series(name, values, dtype=pl.Int64 if name == "n_clusters" else pl.Float64)
        for name, values in _resampled(frame, rows_per_group, config, winners, humans).items()
    )
    order = {dim.value: i for i, dim in enumerate(PAPER_DIMENSION_ORDER)}
    return (
        table.with_columns(pl.col("frames").cast(pl.Int64))
        .with_columns(
            pl.col("dimension").replace_strict(order, default=len(order)).alias("_dim"),
            pl.col("frames").is_null().alias("_all"),
        )
        .sort(["judge", "_dim", "_all", "frames"])
        .drop("_dim", "_all")
        .with_columns(pl.col(pl.Categorical).cast(pl.String))  # a run's categorical columns
    )


def cluster_column(verdicts: pl.DataFrame, cluster: str) -> pl.Expr:
    """The cluster key of each verdict row as a polars expression (:mod:`judges.stats.bootstrap`).

    ``prompt``: the prompt id (a row without one is its own cluster); ``video``: the unordered
    pair of video ids; ``none``: the pair id. A table without pair ids makes each row a cluster.
    """
    if "pair_id" not in verdicts.columns:
        return pl.int_range(pl.len()).cast(pl.String)
    pair = pl.col("pair_id").cast(pl.String)
    if cluster == "prompt" and "prompt_id" in verdicts.columns:
        if verdicts["prompt_id"].null_count() == 0:
            return pl.col("prompt_id")  # no fallback string built for a million rows
        return pl.col("prompt_id").fill_null(pl.lit("pair:") + pair)
    if cluster == "video" and {"video_0_id", "video_1_id"} <= set(verdicts.columns):
        a = pl.col("video_0_id").fill_null(pl.lit("?") + pair)
        b = pl.col("video_1_id").fill_null(pl.lit("?") + pair)
        return pl.when(a <= b).then(a + "|" + b).otherwise(b + "|" + a)
    return pair


def _resampled(
    frame: pl.DataFrame,
    rows_per_group: list[np.ndarray],
    config: BootstrapConfig,
    winners: np.ndarray,
    humans: np.ndarray,
) -> dict[str, list[Any]]:
    """Cluster-bootstrap intervals, design effect and tie-aware accuracy, group by group."""
    # Clusters numbered in the order they first appear. (Categorical codes were that order
    # only while one thread built them: a SafeSora-size frame, read in several chunks, got
    # its codes in a different order in each process, and so other intervals.)
    keys = {
        kind: first_seen_codes(frame.select(cluster_column(frame, kind)).to_series())
        for kind in dict.fromkeys((config.cluster, "prompt"))
    }
    codes, n_clusters, _ = _dense(keys[config.cluster])
    resampler = ClusterResampler.from_codes(codes, n_clusters, config)
    # Tie thresholds are cross-fitted over two halves of the prompts, whatever --cluster: a
    # stable hash of each prompt's name (taken from its first row) picks its half.
    prompt_codes, _, first = _dense(keys["prompt"])
    names = frame[first].select(cluster_column(frame, "prompt")).to_series().to_list()
    folds = folds_by_cluster(names)[prompt_codes]
    margins = (
        (frame["score_0"] - frame["score_1"]).fill_null(np.nan).to_numpy()
        if {"score_0", "score_1"} <= set(frame.columns)
        else np.full(frame.height, np.nan)
    )
    out: dict[str, list[Any]] = {name: [] for name in _RESAMPLED}
    columns = []  # each group's (match, lab, dec, hits, with_tie)
    for idx in rows_per_group:
        w, h = winners[idx], humans[idx]
        lab = (h == V0) | (h == V1)
        match = (w == h) & lab
        dec = lab & ((w == V0) | (w == V1))
        with_tie = h != NONE
        ties = tie_accuracy(
            w[with_tie], h[with_tie], margins[idx][with_tie], folds[idx][with_tie], presorted=True
        )
        hits = np.zeros(len(idx), dtype=bool)
        hits[with_tie] = ties.hits
        t_lo, t_hi = wilson_interval(int(ties.hits.sum()), int(with_tie.sum()))
        out["n_clusters"].append(_count_clusters(codes[idx], lab))
        out["accuracy_ties"].append(ties.accuracy)
        out["accuracy_ties_lo"].append(t_lo)
        out["accuracy_ties_hi"].append(t_hi)
        out["tie_threshold"].append(ties.threshold)
        out["accuracy_ties_optimistic"].append(ties.optimistic)
        columns.append((match, lab, dec, hits, with_tie))
    if not config.resamples:
        for name in _CLUSTERED:
            out[name] = [math.nan] * len(rows_per_group)
        return out
    # One matrix product per weight matrix gives every group's resampled totals (paired by
    # resample): the groups share the matrix, so it is read once, not once per group.
    views = [
        (resampler.subset(idx), cols) for idx, cols in zip(rows_per_group, columns, strict=True)
    ]
    all_totals = ClusterResampler.resampled_sums_of_many(views)
    for idx, (match, lab, dec, hits, with_tie), totals in zip(
        rows_per_group, columns, all_totals, strict=True
    ):
        group_codes, n_lab = codes[idx], int(lab.sum())
        agree = ratio(totals[:, 0], totals[:, 1])
        n_ties = int(with_tie.sum())
        # Each proportion over its own pairs and the clusters they fall in (its G).
        parts = {
            "agreement": (agree, int(match.sum()), n_lab, lab),
            "accuracy": (ratio(totals[:, 0], totals[:, 2]), int(match.sum()), int(dec.sum()), dec),
            "accuracy_ties": (ratio(totals[:, 3], totals[:, 4]), int(hits.sum()), n_ties, with_tie),
        }
        for metric, (draws, k, n, rows) in parts.items():
            lo, hi = proportion_interval(
                draws, k / n if n else math.nan, n, _count_clusters(group_codes, rows), config.level
            )
            # Null, not nan, where no interval is given (too few clusters, or no pairs).
            out[f"{metric}_cluster_lo"].append(float(lo) if np.isfinite(lo) else None)
            out[f"{metric}_cluster_hi"].append(float(hi) if np.isfinite(hi) else None)
        estimate = float(match.sum() / n_lab) if n_lab else math.nan
        out["design_effect"].append(design_effect(agree, estimate, n_lab))
    return out


def _count_clusters(codes: np.ndarray, rows: np.ndarray) -> int:
    """Distinct clusters among the rows where ``rows`` is true."""
    return int(np.count_nonzero(np.bincount(codes[rows]))) if rows.any() else 0


def _group_ids(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group (``GROUP``) numbered by first appearance, and each group's first row.

    Integer codes and ``np.unique``: a polars ``group_by`` over a million rows of string keys
    took 400 MB of transient memory at SafeSora's size, more than the table it grouped.
    """
    combined = np.zeros(frame.height, dtype=np.int64)
    for name in GROUP:
        column = frame[name]
        if column.dtype == pl.String or column.dtype == pl.Categorical:
            column = column.cast(pl.Categorical).to_physical().cast(pl.Int64)
        values = column.fill_null(-1).to_numpy()  # null frames ("every frame") are a group
        codes, distinct = _value_codes(values)
        combined = combined * distinct + codes
    return by_first_row(*_value_codes(combined))


def _value_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``np.unique(values, return_inverse=True)``'s codes and their count.

    By counting when the values are small integers (a group's columns hold a few codes; a
    sort of a million rows per column took most of the grouping), else by sorting.
    """
    if len(values) and values.dtype.kind in "iu":
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * len(values) + 1024:
            present = np.bincount(values - low) > 0
            return (np.cumsum(present) - 1)[values - low], int(present.sum())
    uniq, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), len(uniq)


def _rows_per_group(gid: np.ndarray, groups: int, margins: np.ndarray | None) -> list[np.ndarray]:
    """Each group's row indices, ascending (or by ascending ``margins``, nan last, if given)."""
    order = np.argsort(gid, kind="stable") if margins is None else np.lexsort((margins, gid))
    bounds = np.cumsum(np.bincount(gid, minlength=groups))[:-1]
    return np.split(order, bounds)


def _abs_margin(frame: pl.DataFrame) -> pl.Expr:
    """``|score_0 - score_1|``, null where the judge has no scores."""
    if {"score_0", "score_1"} <= set(frame.columns):
        return (pl.col("score_0") - pl.col("score_1")).abs().fill_nan(None)
    return pl.lit(None, dtype=pl.Float64)


def _dense(keys: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Codes ``0..C-1`` for non-negative integer keys, C, and each code's first row (O(n))."""
    present = np.bincount(keys) > 0
    codes = (np.cumsum(present) - 1)[keys]
    first = np.empty(int(present.sum()), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(keys) - 1, -1, -1)  # the last write, the first row
    return codes, len(first), first


_CLUSTERED = (
    "agreement_cluster_lo",
    "agreement_cluster_hi",
    "accuracy_cluster_lo",
    "accuracy_cluster_hi",
    "design_effect",
    "accuracy_ties_cluster_lo",
    "accuracy_ties_cluster_hi",
)
_RESAMPLED = (
    "n_clusters",
    *_CLUSTERED[:5],
    "accuracy_ties",
    "accuracy_ties_lo",
    "accuracy_ties_hi",
    *_CLUSTERED[5:],
    "tie_threshold",
    "accuracy_ties_optimistic",
)
