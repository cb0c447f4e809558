"""Figures of an agreement table, as PNG and SVG.

- :func:`plot_agreement_vs_frames`: agreement vs keyframes per dimension, a line per judge with
  bands of the interval the tables show (clustered) and the chance line;
- :func:`plot_heatmap`: the paper-shaped heatmap (dimensions x frames, a panel per judge,
  wrapping onto rows of four);
- :func:`plot_outcomes`: outcome rates (ok, tie, refused, unparsed, error) per judge;
- :func:`plot_against_ceiling`: with annotators' votes, each judge scored like with like (the
  ceiling's own references) beside the human ceiling and its interval;
- :func:`write_figures`: all of them into a folder, stamped with a caveat (``demo data``).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# No backend is forced: headless runs fall back to Agg by themselves, and a notebook keeps
# its inline backend so these figures display.
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from judges.core.types import STATUSES, frames_label
from judges.report.figure_files import save_png_and_svg
from judges.report.heatmap_panel import heatmap_panel
from judges.report.seaborn_import import import_seaborn
from judges.report.tables import interval_method, paper_table, shown_interval
from judges.stats.agreement import PAPER_DIMENSION_ORDER
from judges.stats.bootstrap import BootstrapConfig

sns = import_seaborn()

_STATUS_COLOURS = {
    "ok": "#4c9a6a",
    "tie": "#c9b458",
    "refused": "#c0504d",
    "unparsed": "#8064a2",
    "error": "#555555",
}


def _frame_order(table: pl.DataFrame) -> list[str]:
    values = table["frames"].unique().to_list()
    return [frames_label(v) for v in sorted(values, key=lambda v: (v is None, v or 0))]


def _dimensions(table: pl.DataFrame) -> list[str]:
    """The paper's dimensions in its order, then any other dataset's in table order."""
    present = list(dict.fromkeys(table["dimension"].to_list()))
    paper = [d.value for d in PAPER_DIMENSION_ORDER if d.value in present]
    return paper + [d for d in present if d not in paper]


def _palette(judges: list[str]) -> dict[str, Any]:
    # The colour-blind palette has 10 colours; beyond that husl keeps every judge distinct.
    colours = (
        sns.color_palette("colorblind", len(judges))
        if len(judges) <= 10
        else sns.color_palette("husl", len(judges))
    )
    return dict(zip(judges, colours, strict=True))


def _short(text: str, width: int = 22) -> str:
    """Wrap a long judge label so panel titles and legends stay inside their space."""
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def mark_figure(fig: Figure, mark: str | None) -> None:
    """Stamp ``mark`` (e.g. ``demo data``) visibly on the figure, so a copy keeps its caveat."""
    if mark:
        fig.suptitle(
            f"{mark.upper()}: says nothing about real judges",
            color="#b22222",
            fontsize="large",
            fontweight="bold",
        )


def plot_agreement_vs_frames(
    table: pl.DataFrame,
    mark: str | None = None,
    bootstrap: BootstrapConfig | Mapping[str, Any] | None = None,
) -> Figure:
    """Agreement vs keyframes per video: a panel per dimension, a line per judge.

    Shaded bands are the interval the tables show (:func:`judges.report.tables.shown_interval`:
    the clustered one where the table has it, none where a group has too few clusters, Wilson
    with the bootstrap off), named in the legend's title (``bootstrap``: the run's settings,
    for the name); the dashed line is chance (0.5). Each judge's line carries its label, so
    ``ax.lines`` can be read back against the table. The legend sits below the panels in as
    many rows as the judges need.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    dims = _dimensions(table)
    order = _frame_order(table)
    judges = list(dict.fromkeys(table["judge"].to_list()))
    palette = _palette(judges)
    fig, axes = _dimension_panels(len(dims), legend_entries=len(judges))
    for ax, dim in zip(axes.flat, dims, strict=False):
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
        for judge in judges:
            sub = table.filter((pl.col("judge") == judge) & (pl.col("dimension") == dim))
            if sub.is_empty():
                continue
            labels = [frames_label(v) for v in sub["frames"].to_list()]
            x = [order.index(lab) for lab in labels]
            y = sub["agreement"].to_list()
            bands = [shown_interval(row) for row in sub.iter_rows(named=True)]
            ax.fill_between(
                x,
                [lo for lo, _ in bands],
                [hi for _, hi in bands],
                color=palette[judge],
                alpha=0.15,
                linewidth=0,
            )
            ax.plot(x, y, marker="o", color=palette[judge], label=judge)
        _frames_axis(ax, dim, order)
    title = "shaded: " + "\n".join(textwrap.wrap(interval_method(table, bootstrap), 70))
    _finish_panels(fig, axes, len(dims), "agreement with humans", title, mark)
    return fig


def plot_against_ceiling(
    table: pl.DataFrame, ceiling: pl.DataFrame, mark: str | None = None
) -> Figure:
    """A judge against a person: each judge scored like with like beside the human ceiling.

    A panel per dimension with votes: each judge's agreement with the other annotators'
    majority (``loo_agreement``, cluster-bootstrap interval as error bars) per frame count,
    the pooled human ceiling as a line with its clustered interval shaded, and chance.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    scored = table.filter(pl.col("loo_agreement").is_not_null())
    human = ceiling.filter(pl.col("annotator") == "all")
    dims = [d for d in _dimensions(scored) if d in human["dimension"].to_list()]
    order = _frame_order(scored)
    judges = list(dict.fromkeys(scored["judge"].to_list()))
    palette = _palette(judges)
    fig, axes = _dimension_panels(len(dims), legend_entries=len(judges) + 2)
    for ax, dim in zip(axes.flat, dims, strict=False):
        person = human.row(by_predicate=pl.col("dimension") == dim, named=True)
        lo, hi = person["agreement_cluster_lo"], person["agreement_cluster_hi"]
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            ax.axhspan(lo, hi, color="black", alpha=0.08, linewidth=0)  # none: too few prompts
        ax.axhline(person["agreement"], color="black", linewidth=1.5, label="human (leave-one-out)")
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
        for judge in judges:
            sub = scored.filter((pl.col("judge") == judge) & (pl.col("dimension") == dim))
            if sub.is_empty():
                continue
            x = [order.index(frames_label(v)) for v in sub["frames"].to_list()]
            y = np.array(sub["loo_agreement"].to_list(), dtype=float)
            lo = np.array(sub["loo_agreement_cluster_lo"].fill_null(np.nan).to_list(), dtype=float)
            hi = np.array(sub["loo_agreement_cluster_hi"].fill_null(np.nan).to_list(), dtype=float)
            # no bar where the table gives no interval (too few prompts)
            err = np.nan_to_num(np.vstack([y - lo, hi - y]), nan=0.0)
            ax.errorbar(
                x, y, yerr=err, marker="o", capsize=3, color=palette[judge], label=judge,
            )  # fmt: skip
        _frames_axis(ax, dim, order)
    title = (
        "judges and annotators each scored against the other annotators' majority; "
        "bars and band: 95% clustered interval"
    )
    _finish_panels(fig, axes, len(dims), "agreement with the other annotators", title, mark)
    return fig


def _dimension_panels(n_dims: int, legend_entries: int) -> tuple[Figure, Any]:
    """A panel per dimension, three to a row, with room below for a legend of that many entries."""
    cols = min(3, n_dims) or 1
    rows = math.ceil(n_dims / cols) or 1
    return plt.subplots(
        rows,
        cols,
        figsize=(4.6 * cols, 3.6 * rows + 0.3 * math.ceil(legend_entries / 4)),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )


def _frames_axis(ax: Any, dim: str, order: list[str]) -> None:
    """A panel of agreement (0 to 1) against frame counts, titled by its dimension."""
    ax.set_title(dim.replace("_", " "))
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("keyframes per video")
    ax.set_ylim(0, 1)


def _finish_panels(
    fig: Figure, axes: Any, used: int, ylabel: str, legend_title: str, mark: str | None
) -> None:
    """Hide unused panels, label rows, and put one legend below the panels."""
    for ax in axes.flat[used:]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(ylabel)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        [_short(label) for label in labels],
        loc="outside lower center",
        ncol=max(1, min(len(labels), 4)),
        frameon=False,
        title=legend_title,
        title_fontsize="small",
    )
    mark_figure(fig, mark)


def plot_heatmap(table: pl.DataFrame, metric: str = "agreement", mark: str | None = None) -> Figure:
    """The paper's Table 1 shape: dimensions x frames, one panel per judge, values annotated.

    Panels wrap onto rows of at most four, share one colour bar, and only the first panel of
    each row names the dimensions, so a dozen judges stay legible.
    """
    sns.set_theme(style="white", context="notebook")
    wide = paper_table(table, metric)
    judges = list(dict.fromkeys(wide["judge"].to_list()))
    frames = [c for c in wide.columns if c not in ("judge", "dimension")]
    dims = [d for d in _dimensions(table)]
    cols = min(4, len(judges)) or 1
    rows = math.ceil(len(judges) / cols) or 1
    panel_w = 0.75 * len(frames) + 0.6
    panel_h = 0.45 * len(dims) + 1.0
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(panel_w * cols + 2.4, panel_h * rows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    mesh = None
    for i, (ax, judge) in enumerate(zip(axes.flat, judges, strict=False)):
        sub = wide.filter(pl.col("judge") == judge)
        by_dim = dict(zip(sub["dimension"].to_list(), sub.select(frames).iter_rows(), strict=True))
        values = np.array(
            [
                [np.nan if v is None else v for v in by_dim.get(d, [None] * len(frames))]
                for d in dims
            ],
            dtype=float,
        )
        mesh = heatmap_panel(
            ax,
            values,
            cmap=mpl.colormaps["vlag_r"],  # registered by seaborn
            vmin=0.3,
            vmax=0.9,
            center=0.5,
            xticklabels=frames,
            yticklabels=[d.replace("_", " ") for d in dims] if i % cols == 0 else None,
            annot_kws={"fontsize": "small"},
        )
        ax.set_title(_short(judge), fontsize="medium")
        ax.set_xlabel("keyframes per video" if i >= len(judges) - cols else "")
        ax.tick_params(axis="y", rotation=0)
    for ax in axes.flat[len(judges) :]:
        ax.set_visible(False)
    if mesh is not None:
        # A panel of one or two dimensions is too short for an upright colour bar: lay it
        # along the bottom, where the figure is wide.
        flat = len(dims) <= 2
        fig.colorbar(
            mesh,
            ax=axes,
            shrink=0.6,
            label=metric,
            location="bottom" if flat else "right",
            aspect=30 if flat else 20,
        )
    mark_figure(fig, mark)
    return fig


def outcome_rates(verdicts: pl.DataFrame) -> pl.DataFrame:
    """Share of each outcome per judge, over all its verdicts."""
    counts = verdicts.group_by(["judge", "status"]).len()
    totals = verdicts.group_by("judge").len().rename({"len": "total"})
    rates = counts.join(totals, on="judge").with_columns(
        (pl.col("len") / pl.col("total")).alias("rate")
    )
    wide = rates.pivot(on="status", index="judge", values="rate").fill_null(0.0)
    for status in STATUSES:
        if status not in wide.columns:
            wide = wide.with_columns(pl.lit(0.0).alias(status))
    return wide.select(["judge", *STATUSES]).sort("judge")


def plot_outcomes(verdicts: pl.DataFrame, mark: str | None = None) -> Figure:
    """Stacked bars of outcome rates (ok / tie / refused / unparsed / error) per judge."""
    sns.set_theme(style="whitegrid", context="notebook")
    rates = outcome_rates(verdicts)
    fig, ax = plt.subplots(figsize=(7, 0.45 * rates.height + 2.0), layout="constrained")
    left = np.zeros(rates.height)
    for status in STATUSES:
        values = np.array(rates[status].to_list(), dtype=float)
        ax.barh(
            rates["judge"].to_list(), values, left=left, color=_STATUS_COLOURS[status], label=status
        )
        left += values
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of verdicts")
    handles, labels = ax.get_legend_handles_labels()
    # Below the bars: the top belongs to the caveat stamp, which must not cover the legend.
    fig.legend(handles, labels, loc="outside lower center", ncol=len(STATUSES), frameon=False)
    mark_figure(fig, mark)
    return fig


def write_figures(
    out_dir: Path,
    table: pl.DataFrame,
    verdicts: pl.DataFrame,
    mark: str | None = None,
    bootstrap: BootstrapConfig | Mapping[str, Any] | None = None,
    ceiling: pl.DataFrame | None = None,
) -> list[Path]:
    """Write every figure as PNG and SVG into ``out_dir``; returns the files written.

    Args:
        out_dir: Folder for the figures (created).
        table: The agreement table.
        verdicts: The verdict table (for outcome rates; may be empty).
        mark: A caveat stamped on every figure, e.g. ``demo data``.
        bootstrap: The run's bootstrap settings, or run.json's ``statistics`` (names the
            interval the bands show).
        ceiling: The human ceiling, when votes were given (adds ``against_ceiling``).

    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    labeled = table.filter(pl.col("n_labeled") > 0)
    figures = {"outcomes": plot_outcomes(verdicts, mark)} if verdicts.height else {}
    if labeled.height:
        figures["agreement_vs_frames"] = plot_agreement_vs_frames(labeled, mark, bootstrap)
        figures["agreement_heatmap"] = plot_heatmap(labeled, mark=mark)
    has_loo = "loo_agreement" in labeled.columns and labeled["loo_agreement"].is_not_null().any()
    if ceiling is not None and not ceiling.is_empty() and has_loo:
        figures["against_ceiling"] = plot_against_ceiling(labeled, ceiling, mark)
    for name, fig in figures.items():
        written += save_png_and_svg(fig, out_dir / name)
    return written
