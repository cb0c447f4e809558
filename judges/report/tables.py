"""Tables for people: the paper's shape, console cells with intervals, markdown reports.

The numbers come from :mod:`judges.stats.agreement` (and :mod:`judges.stats.ceiling`); this
module only arranges them: :func:`paper_table` (dimensions x frames), :func:`display_table`
(a cell per setting with its interval, n and failures), :func:`agreement_markdown` (a run's report).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from judges.core.types import frames_label
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.cluster_intervals import MIN_CLUSTERS


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


def _too_few(row: Mapping[str, Any]) -> bool:
    """Whether the row has no clustered interval because its pairs fall in too few clusters."""
    clusters = row.get("n_clusters")
    return isinstance(clusters, int) and clusters < MIN_CLUSTERS


def shown_interval(row: Mapping[str, Any], metric: str = "agreement") -> tuple[float, float]:
    """The interval reports show for ``metric``: the clustered one where the table has one.

    Where the table has clustered columns but the row's pairs fall in fewer than
    :data:`~judges.stats.cluster_intervals.MIN_CLUSTERS` clusters, no interval is shown
    (``(nan, nan)``), never the independent-pairs one in its place. Without clustered columns
    (``--bootstrap 0``) it is the Wilson interval. Figures draw the same interval.
    """
    lo, hi = row.get(f"{metric}_cluster_lo"), row.get(f"{metric}_cluster_hi")
    if isinstance(lo, float) and isinstance(hi, float) and math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    if f"{metric}_cluster_lo" in row and lo is None and _too_few(row):
        return math.nan, math.nan
    return row[f"{metric}_lo"], row[f"{metric}_hi"]  # type: ignore[return-value]


def agreement_cell(row: Mapping[str, Any]) -> str:
    """One table cell: ``0.583 [0.42, 0.75] n=48``, with failures flagged; the same in every table.

    Example:
        >>> agreement_cell({"agreement": 1.0, "agreement_lo": 0.8, "agreement_hi": 1.0,
        ...                 "n_labeled": 12})
        '1.000 [0.80, 1.00] n=12'

    """
    agreement = row["agreement"]
    # A judge's n counts labelled pairs; the ceiling's (and a judge scored like with like)
    # counts votes: the cell says which.
    n = row.get("n_labeled")
    n = f"n={n}" if n is not None else f"n={row.get('n_reference')} votes"
    if not isinstance(agreement, float) or math.isnan(agreement):
        return f"— {n}"
    lo, hi = shown_interval(row, "agreement")
    if lo is None or hi is None:
        text = f"{agreement:.3f} {n}"
    elif math.isnan(lo):
        text = f"{agreement:.3f} [no interval: {row.get('n_clusters')} clusters] {n}"
    else:
        text = f"{agreement:.3f} [{lo:.2f}, {hi:.2f}] {n}"
    errors = row.get("n_errors") or 0
    if errors:
        text += f" ⚠ {errors} error{'s' if errors != 1 else ''}"
    return text


def _clustered(table: pl.DataFrame) -> bool:
    """Whether the table carries clustered intervals (the bootstrap was on)."""
    if "agreement_cluster_lo" not in table.columns:
        return False
    column = table["agreement_cluster_lo"]
    # nan: the bootstrap was off; null: it ran, but a group had too few clusters for one.
    return bool(column.is_not_nan().any()) or bool(column.is_null().any())


def interval_method(
    table: pl.DataFrame, bootstrap: BootstrapConfig | Mapping[str, Any] | None = None
) -> str:
    """What the interval in :func:`display_table`'s cells (and the figures' bands) is.

    ``bootstrap`` is the run's settings, or run.json's ``statistics``: its stored ``method``
    wins, so an older run's report names the interval that run computed.
    """
    if not _clustered(table):
        return "95% Wilson interval, pairs treated as independent"
    if isinstance(bootstrap, Mapping):
        if "method" in bootstrap:
            return f"95% {bootstrap['method']}"
        bootstrap = BootstrapConfig(**{k: bootstrap[k] for k in _CONFIG_KEYS if k in bootstrap})
    return f"95% {(bootstrap or BootstrapConfig()).method}"


_CONFIG_KEYS = ("cluster", "resamples", "seed", "level")


def too_few_note(table: pl.DataFrame) -> str | None:
    """Why some groups show no clustered interval, or ``None`` when every group has one."""
    if not _clustered(table) or "n_clusters" not in table.columns:
        return None
    few = table.filter(pl.col("n_clusters") < MIN_CLUSTERS)
    if few.is_empty():
        return None
    return (
        f"{few.height} group(s) have pairs in fewer than {MIN_CLUSTERS} clusters "
        f"(n_clusters = {', '.join(map(str, sorted(set(few['n_clusters'].to_list()))))}): no "
        "clustered interval is given for them (null in agreement.csv), as a variance from so "
        "few clusters says almost nothing about new prompts"
    )


def interval_note(
    table: pl.DataFrame, bootstrap: BootstrapConfig | Mapping[str, Any] | None = None
) -> str:
    """The legend of :func:`display_table`'s cells (and why some cells have no interval)."""
    note = f"agreement [{interval_method(table, bootstrap)}] n=labeled pairs"
    if "human_agreement" in table.columns:
        note += "; human rows: n=votes with a majority among the other annotators"
    few = too_few_note(table)
    return f"{note}\n{few}" if few else note


LOO_CAPTION = (
    "Like with like: each judge cell scores the judge against the human ceiling's own "
    "references, the majority of the other annotators, on the same votes (n counts them; a "
    "judge's tie or failure is a miss, as an annotator's own tie is). The human row is the "
    "ceiling itself; share = judge / annotators on exactly the votes the judge was scored on "
    "(pairs it did not judge drop out of both). The main table scores judges against the "
    "pairs' labels instead, which is not comparable with the ceiling."
)


def _share(value: float | None) -> str:
    return "no share: the annotators missed every one" if value is None else f"share {value:.2f}"


def loo_table(table: pl.DataFrame, ceiling: pl.DataFrame | None) -> pl.DataFrame | None:
    """Paper-shaped judge-vs-leave-one-out agreement with the ceiling row, or ``None``.

    Cells read like :func:`display_table`'s (``0.612 [0.55, 0.67] n=145 votes``), with the
    share of the ceiling appended.
    """
    if ceiling is None or "loo_agreement" not in table.columns:
        return None
    scored = table.filter(pl.col("loo_agreement").is_not_null())
    if scored.is_empty():
        return None
    as_cells = frames_labels(scored).select(
        "judge",
        "dimension",
        "frames",
        pl.col("loo_agreement").alias("agreement"),
        pl.col("loo_agreement_lo").alias("agreement_lo"),
        pl.col("loo_agreement_hi").alias("agreement_hi"),
        pl.col("loo_agreement_cluster_lo").alias("agreement_cluster_lo"),
        pl.col("loo_agreement_cluster_hi").alias("agreement_cluster_hi"),
        pl.col("loo_n").alias("n_reference"),
        pl.col("loo_n_clusters").alias("n_clusters"),
        "agreement_of_ceiling",
    )
    cells = as_cells.with_columns(
        pl.struct(pl.all())
        .map_elements(
            lambda r: f"{agreement_cell(r)} ({_share(r['agreement_of_ceiling'])})",
            return_dtype=pl.String,
        )
        .alias("_cell")
    )
    return display_table(
        cells.pivot(on="frames", index=["judge", "dimension"], values="_cell"), ceiling
    )


def display_table(table: pl.DataFrame, ceiling: pl.DataFrame | None = None) -> pl.DataFrame:
    """Paper-shaped agreement for people: agreement, 95% interval, n and failures per cell.

    A cell reads ``0.620 [0.52, 0.71] n=100``, with ``⚠ k errors`` appended where judgements
    failed, so no one reads a point estimate without its uncertainty or its failures. The
    interval is the clustered one where the table has it (see :func:`interval_note`), and
    ``no interval: N clusters`` where a group has too few clusters for one.
    With a human ceiling (:func:`judges.stats.ceiling.ceiling_table`), each dimension gains a
    ``human (leave-one-out)`` row, the same in every frame column.

    Example:
        >>> display_table(table)  # doctest: +SKIP
        judge  dimension        1                         ...
        psnr   informativeness  0.620 [0.52, 0.71] n=100 ⚠ 3 errors

    """
    if table.is_empty():
        return pl.DataFrame(schema={"judge": pl.String, "dimension": pl.String})
    if "frames" in table.columns:
        cells = frames_labels(table).with_columns(
            pl.struct(pl.all()).map_elements(agreement_cell, return_dtype=pl.String).alias("_cell")
        )
        columns = list(dict.fromkeys(cells["frames"].to_list()))
        wide = cells.pivot(on="frames", index=["judge", "dimension"], values="_cell")
        wide = wide.select(["judge", "dimension", *columns])
    else:  # already wide: a column of cells per frame count (see loo_table)
        wide = table
        columns = [c for c in table.columns if c not in ("judge", "dimension")]
    if ceiling is None or ceiling.is_empty():
        return wide
    from judges.stats.ceiling import HUMAN_ROW, pooled

    human = pooled(ceiling).filter(pl.col("dimension").is_in(wide["dimension"].unique().to_list()))
    rows = [
        {
            "judge": HUMAN_ROW,
            "dimension": r["dimension"],
            **dict.fromkeys(columns, agreement_cell(r)),
        }
        for r in human.iter_rows(named=True)
    ]
    return pl.concat([wide, pl.DataFrame(rows, schema=wide.schema)]) if rows else wide


def error_groups(table: pl.DataFrame) -> pl.DataFrame:
    """The (judge, dimension, frames) groups where some judgements failed."""
    if "n_errors" not in table.columns:
        return table.clear()
    return table.filter(pl.col("n_errors") > 0)


def number(value: float | None, spec: str = ".2f") -> str:
    """A statistic for a sentence: ``n/a`` when there is none (null, nan or infinite).

    Example:
        >>> number(0.625), number(-0.11, "+.2f"), number(float("nan"))
        ('0.62', '-0.11', 'n/a')

    """
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


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


def agreement_markdown(
    table: pl.DataFrame,
    notice: str | None = None,
    title: str = "Agreement with human labels",
    intro: str | None = None,
    ceiling: pl.DataFrame | None = None,
    bootstrap: Mapping[str, Any] | None = None,
    extra: Mapping[str, pl.DataFrame] | None = None,
) -> str:
    """The markdown report: paper-shaped tables first, then every statistic.

    ``bootstrap`` is run.json's ``statistics`` (cluster, resamples, seed), named in the text.
    """
    parts = [f"# {title}", ""]
    if intro:
        parts += [intro, ""]
    if notice:
        parts += [*(f"> {line}" for line in notice.splitlines()), ""]
    failed = error_groups(table)
    if failed.height:
        listing = "; ".join(
            f"{r['judge']} {r['dimension']} @{frames_label(r['frames'])}: {r['n_errors']} of "
            f"{r['n_labeled']}"
            for r in failed.iter_rows(named=True)
        )
        parts += [
            f"> ⚠ **Failed judgements in {failed.height} group(s)** ({listing}). They count as "
            "disagreements; see run.json `failures` for the reasons before reading a number.",
            "",
        ]
    parts += [
        "Agreement = matches / labeled pairs (undecided counts as disagreement; pairs people "
        "called even are left out). Accuracy = matches / decided pairs. Cell intervals: "
        + interval_method(table, bootstrap)
        + "; the long table also has the 95% Wilson interval (`agreement_lo/hi`, pairs treated "
        "as independent) and the design effect.",
        "",
        *([f"> {few}", ""] if (few := too_few_note(table)) else []),
        "## Agreement (dimensions x frames)",
        "",
        to_markdown(display_table(table, ceiling)),
        "",
        "## Accuracy when decided (dimensions x frames)",
        "",
        to_markdown(paper_table(table, "accuracy")),
        "",
    ]
    if "n_human_ties" in table.columns and table["n_human_ties"].sum():
        parts += [
            "## Tie-aware accuracy (Deutsch et al. 2023; tie threshold cross-fitted by prompt)",
            "",
            to_markdown(paper_table(table, "accuracy_ties")),
            "",
        ]
    if ceiling is not None and not ceiling.is_empty():
        parts += [
            "## Human ceiling (leave one annotator out)",
            "",
            "Each annotator's vote against the majority of the others; pooled rows are "
            "`annotator = all`. Krippendorff's alpha is nominal over video_0 / video_1 / tie.",
            "",
            to_markdown(ceiling),
            "",
        ]
        like = loo_table(table, ceiling)
        if like is not None:
            parts += [
                "## Against the annotators, like with like",
                "",
                LOO_CAPTION,
                "",
                to_markdown(like),
                "",
            ]
    titles = {
        "calibration": "Calibration of stated probabilities (ECE, 10 bins)",
        "position_bias": "Position bias (judges asked in both orders)",
        "repeats": "Repeated samples (repeats=K): self-consistency, majority vs single samples",
    }
    for name, frame in (extra or {}).items():
        parts += [f"## {titles.get(name, name)}", "", to_markdown(frames_labels(frame)), ""]
    parts += [
        "## All statistics",
        "",
        to_markdown(frames_labels(table)),
        "",
    ]
    return "\n".join(parts)


def comparison_markdown(
    table: pl.DataFrame,
    run_dirs: list[Path],
    statistics: Mapping[str, Any] | None = None,
    ceiling: pl.DataFrame | None = None,
) -> str:
    """Markdown report of a merged table, with the runs' human ceiling when they have one.

    ``statistics`` is the runs' shared run.json block (it names their interval method).
    """
    runs = "Runs: " + ", ".join(f"`{d}`" for d in run_dirs)
    return agreement_markdown(
        table, title="Judge comparison", intro=runs, bootstrap=statistics, ceiling=ceiling
    )
