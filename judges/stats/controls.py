"""Statistics of controls: does a judge's verdict move when its inputs are broken on purpose?

For each judge x dimension x frame count and each control (:mod:`judges.judge.controls`), from
the verdicts of the normal run (``control == "none"``) and of the control, joined on the pair:

- ``agreement`` under the control: matches / labelled pairs (a verdict naming no video counts as
  a disagreement, as in :mod:`judges.stats.agreement`), with the clustered interval;
- ``sensitivity``: the share of pairs whose verdict (winner, ``None`` included) changed against
  the normal run, with the clustered interval (:meth:`ClusterResampler.interval`), over the
  pairs neither run failed on (an error verdict, such as a timed-out request, says nothing about
  the control; ``n_errors`` counts the pairs left out); a judge that ignores what the control
  removes has sensitivity 0 exactly;
- the paired comparison control vs normal on the labelled pairs both judged: the difference in
  agreement with the paired cluster interval and McNemar's exact test
  (:func:`judges.stats.paired.compare_arms`).

A control under which every verdict is an error (a judge undefined there) gets its count of
errors and no statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from judges.core.errors import ConfigError
from judges.core.types import CHOICES
from judges.stats.agreement import cluster_column
from judges.stats.bootstrap import BootstrapConfig, ClusterResampler
from judges.stats.paired import Arm, compare_arms

GROUP = ("judge", "dimension", "frames")
CONTROL_SCHEMA: dict[str, Any] = {
    "judge": pl.String,
    "dimension": pl.String,
    "frames": pl.Int64,
    "control": pl.String,
    "n_pairs": pl.Int64,
    "n_errors": pl.Int64,
    "n_changed": pl.Int64,
    "sensitivity": pl.Float64,
    "sensitivity_lo": pl.Float64,
    "sensitivity_hi": pl.Float64,
    "n_labeled": pl.Int64,
    "agreement_normal": pl.Float64,
    "agreement": pl.Float64,
    "agreement_lo": pl.Float64,
    "agreement_hi": pl.Float64,
    "difference": pl.Float64,
    "difference_lo": pl.Float64,
    "difference_hi": pl.Float64,
    "only_control_right": pl.Int64,
    "only_normal_right": pl.Int64,
    "p_value": pl.Float64,
    "note": pl.String,
}
"""Columns of the controls table (``controls.csv``); ``difference`` is control - normal."""


def changed_verdicts(normal: pl.Series, control: pl.Series) -> np.ndarray:
    """Whether each pair's verdict changed (a winner against ``None`` counts as a change).

    Example:
        >>> normal = pl.Series(["video_0", "tie", None])
        >>> control = pl.Series(["video_0", None, None])
        >>> changed_verdicts(normal, control)
        array([False,  True, False])

    """
    return normal.ne_missing(control).fill_null(False).to_numpy().astype(bool)


def _one(normal: pl.DataFrame, control: pl.DataFrame, config: BootstrapConfig) -> dict[str, Any]:
    """The statistics of one control of one judge setting (rows: that setting's verdicts)."""
    both = normal.select(
        "pair_id",
        "prompt_id",
        "video_0_id",
        "video_1_id",
        "human",
        "winner",
        pl.col("status").alias("_ns"),
    ).join(
        control.select("pair_id", pl.col("winner").alias("_c"), pl.col("status").alias("_s")),
        on="pair_id",
        how="inner",
    )
    n = both.height
    failed = ((both["_s"] == "error") | (both["_ns"] == "error")).fill_null(False).to_numpy()
    out: dict[str, Any] = {"n_pairs": n, "n_errors": int(failed.sum()), "note": ""}
    if n == 0 or int((both["_s"] == "error").sum()) == n:
        first = control.filter(pl.col("status") == "error")["error"].drop_nulls()
        reason = first[0] if len(first) else "no pair judged both ways"
        return {**out, "note": f"undefined: every verdict is an error ({reason})"}
    resampler = ClusterResampler(
        both.select(cluster_column(both, config.cluster)).to_series(), config
    )
    changed = changed_verdicts(both["winner"], both["_c"]) & ~failed
    judged = int((~failed).sum())
    out["n_changed"] = int(changed.sum())
    out["sensitivity"] = out["n_changed"] / judged if judged else float("nan")
    if config.resamples and judged:
        out["sensitivity_lo"], out["sensitivity_hi"] = resampler.interval(
            changed.astype(np.float64), (~failed).astype(np.float64)
        )
        # An estimate of exactly 0 (or 1) is its interval's end, without rounding noise.
        if out["n_changed"] in (0, judged):
            key = "sensitivity_lo" if out["n_changed"] == 0 else "sensitivity_hi"
            out[key] = out["sensitivity"]
    if out["n_changed"] == 0:
        out["note"] = "no verdict changed"
    labeled = both["human"].is_in(list(CHOICES)).fill_null(False).to_numpy()
    out["n_labeled"] = int(labeled.sum())
    if not labeled.any():
        return out
    hit = (both["_c"] == both["human"]).fill_null(False).to_numpy().astype(np.float64)
    out["agreement"] = float(hit[labeled].mean())
    if config.resamples:
        out["agreement_lo"], out["agreement_hi"] = resampler.interval(
            np.where(labeled, hit, 0.0), labeled.astype(np.float64)
        )
    arms = pl.concat(
        [
            normal.with_columns(judge=pl.lit("normal")),
            control.with_columns(judge=pl.lit("control")).select(normal.columns),
        ]
    )
    frames = normal["frames"][0]
    try:
        paired = compare_arms(
            arms, Arm("control", frames), Arm("normal", frames), normal["dimension"][0], config
        )
    except ConfigError:
        return out
    return {
        **out,
        "agreement_normal": paired["agreement_b"],
        "difference": paired["difference"],
        "difference_lo": paired["lo"],
        "difference_hi": paired["hi"],
        "only_control_right": paired["b_only"],
        "only_normal_right": paired["c_only"],
        "p_value": paired["p_value"],
    }


def control_table(verdicts: pl.DataFrame, config: BootstrapConfig | None = None) -> pl.DataFrame:
    """One row per judge x dimension x frames x control (``none`` excluded): see the module.

    Args:
        verdicts: A verdict table (:func:`judges.report.run_folder.verdict_table`'s columns)
            with a ``control`` column holding the normal run (``none``) and the controls.
        config: Cluster, resamples, seed and level of the intervals.

    Returns:
        :data:`CONTROL_SCHEMA` columns, in the order of the verdicts' settings and controls.

    Example:
        >>> control_table(pl.DataFrame(schema={**{c: pl.String for c in
        ...     ("pair_id", "judge", "dimension", "control")}, "frames": pl.Int64})).height
        0

    """
    config = config or BootstrapConfig()
    rows: list[dict[str, Any]] = []
    if verdicts.is_empty():
        return pl.DataFrame(schema=CONTROL_SCHEMA)
    controls = [c for c in verdicts["control"].unique(maintain_order=True) if c != "none"]
    normal_all = verdicts.filter(pl.col("control") == "none")
    for key, normal in normal_all.group_by(list(GROUP), maintain_order=True):
        judge, dimension, frames = key
        same = (
            (pl.col("judge") == judge)
            & (pl.col("dimension") == dimension)
            & (pl.col("frames").is_null() if frames is None else pl.col("frames") == frames)
        )
        for control in controls:
            part = verdicts.filter(same & (pl.col("control") == control))
            if part.is_empty():
                continue
            stats = _one(normal, part, config)
            rows.append(
                {"judge": judge, "dimension": dimension, "frames": frames, "control": control}
                | stats
            )
    filled = [{k: r.get(k) for k in CONTROL_SCHEMA} for r in rows]
    table = pl.DataFrame(filled, schema=CONTROL_SCHEMA, orient="row")
    return table.with_columns(
        pl.col(c).fill_nan(None) for c, t in CONTROL_SCHEMA.items() if t == pl.Float64
    )
