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
from collections.abc import Mapping, Sequence

import polars as pl

from judges.stats import binomial_p_value, cohen_kappa, wilson_interval
from judges.types import CHOICES, STATUSES, Dimension, frames_label

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


def agreement_stats(
    winners: Sequence[str | None], humans: Sequence[str], statuses: Sequence[str]
) -> dict[str, float | int]:
    """Agreement statistics for one group of labeled verdicts.

    Args:
        winners: The judge's winner per pair (``video_0``, ``video_1``, ``tie`` or ``None``).
        humans: The human choice per pair.
        statuses: The verdict status per pair.

    Example:
        >>> s = agreement_stats(["video_0", "video_1", None, "video_0"],
        ...                     ["video_0", "video_0", "video_1", "video_0"],
        ...                     ["ok", "ok", "refused", "ok"])
        >>> s["agreement"], s["accuracy"], s["coverage"]
        (0.5, 0.6666666666666666, 0.75)

    """
    n = len(humans)
    matches = sum(w == h for w, h in zip(winners, humans, strict=True))
    decided = sum(w in CHOICES for w in winners)
    a_lo, a_hi = wilson_interval(matches, n)
    c_lo, c_hi = wilson_interval(matches, decided)
    judged = [w if w in CHOICES else "undecided" for w in winners]
    out: dict[str, float | int] = {
        "n_labeled": n,
        "n_decided": decided,
        "n_matches": matches,
        "coverage": decided / n if n else math.nan,
        "agreement": matches / n if n else math.nan,
        "agreement_lo": a_lo,
        "agreement_hi": a_hi,
        "p_value": binomial_p_value(matches, n),
        "accuracy": matches / decided if decided else math.nan,
        "accuracy_lo": c_lo,
        "accuracy_hi": c_hi,
        "accuracy_p_value": binomial_p_value(matches, decided),
        "kappa": cohen_kappa(judged, list(humans)),
        "n_errors": sum(s == "error" for s in statuses),
    }
    for status in STATUSES:
        if status != "ok":
            count = sum(s == status for s in statuses)
            out[f"{status}_rate"] = count / n if n else math.nan
    return out


def agreement_table(
    verdicts: pl.DataFrame, unlabeled: Mapping[tuple[str, str], int] | None = None
) -> pl.DataFrame:
    """Long agreement table: one row per (judge, dimension, frames).

    Args:
        verdicts: Columns ``judge, dimension, frames, winner, status, human`` (``human`` null
            where the pair has no label for that dimension), e.g. from
            :func:`judges.runs.verdict_table`.
        unlabeled: ``(judge, dimension) -> pairs`` left unjudged for want of a human label
            (a run does not judge them); added to ``n_unlabeled`` of every frame count.

    Returns:
        Group columns, ``n_unlabeled`` and the statistics of :func:`agreement_stats`, sorted
        by judge, the paper's dimension order, then frames (``all`` last).

    """
    missing = [c for c in _REQUIRED if c not in verdicts.columns]
    if missing:
        raise ValueError(f"verdict table lacks column(s): {', '.join(missing)}")
    rows = []
    for key, group in verdicts.group_by(list(GROUP), maintain_order=True):
        judge, dimension, frames = key
        labeled = group.filter(pl.col("human").is_not_null())
        stats = agreement_stats(
            labeled["winner"].to_list(), labeled["human"].to_list(), labeled["status"].to_list()
        )
        row = {
            "judge": judge,
            "dimension": dimension,
            "frames": frames,
            "n_unlabeled": group.height
            - labeled.height
            + (unlabeled or {}).get((judge, dimension), 0),
            **stats,
        }
        if "cost_usd" in group.columns:
            # API judges: what these verdicts cost (replies served from the cache included)
            costs = group["cost_usd"].drop_nulls()
            row["cost_usd"] = float(costs.sum()) if costs.len() else None
        rows.append(row)
    if not rows:
        return pl.DataFrame(schema={"judge": pl.String, "dimension": pl.String, "frames": pl.Int64})
    table = pl.DataFrame(rows, schema_overrides={"frames": pl.Int64}, infer_schema_length=None)
    order = {d.value: i for i, d in enumerate(PAPER_DIMENSION_ORDER)}
    return (
        table.with_columns(
            pl.col("dimension").replace_strict(order, default=len(order)).alias("_dim"),
            pl.col("frames").is_null().alias("_all"),
        )
        .sort(["judge", "_dim", "_all", "frames"])
        .drop("_dim", "_all")
    )


def paper_table(table: pl.DataFrame, metric: str = "agreement") -> pl.DataFrame:
    """The paper's shape: one row per (judge, dimension), one column per frame count.

    Example:
        >>> paper_table(agreement_table(df)).columns  # doctest: +SKIP
        ['judge', 'dimension', '1', '2', '4', '8']

    """
    if table.is_empty():
        return pl.DataFrame(schema={"judge": pl.String, "dimension": pl.String})
    labels = frames_labels(table)
    # Column order follows the (already sorted) long table: 1, 2, 4, 8, all.
    columns = list(dict.fromkeys(labels["frames"].to_list()))
    wide = labels.pivot(on="frames", index=["judge", "dimension"], values=metric)
    return wide.select(["judge", "dimension", *columns])


def frames_labels(table: pl.DataFrame) -> pl.DataFrame:
    """``table`` with ``frames`` as display text: ``"4"``, or ``"all"`` for every frame.

    Tables people read (CSV, markdown, console) use this; parquet keeps null for "all".
    """
    return table.with_columns(
        pl.when(pl.col("frames").is_null())
        .then(pl.lit(frames_label(None)))
        .otherwise(pl.col("frames").cast(pl.String))
        .alias("frames")
    )


def _cell(row: Mapping[str, object]) -> str:
    agreement = row["agreement"]
    if not isinstance(agreement, float) or math.isnan(agreement):
        return f"— n={row['n_labeled']}"
    text = (
        f"{agreement:.3f} [{row['agreement_lo']:.2f}, {row['agreement_hi']:.2f}] "
        f"n={row['n_labeled']}"
    )
    errors = row.get("n_errors") or 0
    if errors:
        text += f" ⚠ {errors} error{'s' if errors != 1 else ''}"
    return text


def display_table(table: pl.DataFrame) -> pl.DataFrame:
    """Paper-shaped agreement for people: agreement, 95% interval, n and failures per cell.

    A cell reads ``0.620 [0.52, 0.71] n=100``, with ``⚠ k errors`` appended where judgements
    failed, so no one reads a point estimate without its uncertainty or its failures.

    Example:
        >>> display_table(table)  # doctest: +SKIP
        judge  dimension        1                         ...
        psnr   informativeness  0.620 [0.52, 0.71] n=100 ⚠ 3 errors

    """
    if table.is_empty():
        return pl.DataFrame(schema={"judge": pl.String, "dimension": pl.String})
    cells = frames_labels(table).with_columns(
        pl.struct(pl.all()).map_elements(_cell, return_dtype=pl.String).alias("_cell")
    )
    columns = list(dict.fromkeys(cells["frames"].to_list()))
    wide = cells.pivot(on="frames", index=["judge", "dimension"], values="_cell")
    return wide.select(["judge", "dimension", *columns])


def error_groups(table: pl.DataFrame) -> pl.DataFrame:
    """The (judge, dimension, frames) groups where some judgements failed."""
    if "n_errors" not in table.columns:
        return table.clear()
    return table.filter(pl.col("n_errors") > 0)


def _fmt(value: object, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def to_markdown(table: pl.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured markdown table (floats to ``digits`` places, NaN as an em dash)."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(_fmt(v, digits) for v in row) + " |" for row in table.iter_rows()]
    return "\n".join([header, rule, *body])
