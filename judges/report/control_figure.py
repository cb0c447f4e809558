"""Figure: agreement under each control, next to the normal run and chance (matplotlib)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.figure import Figure

from judges.core.types import frames_label
from judges.report.agreement_figures import mark_figure

__all__ = ["plot_controls"]


def plot_controls(table: pl.DataFrame, mark: str | None = None) -> Figure:
    """One row per judge setting: normal agreement, each control's with its interval, chance.

    Args:
        table: :func:`judges.stats.controls.control_table`'s rows.
        mark: Caveat stamped on the figure (``demo data``).

    Example:
        >>> fig = plot_controls(control_table(verdicts))  # doctest: +SKIP

    """
    settings = table.select("judge", "dimension", "frames").unique(maintain_order=True)
    controls = table["control"].unique(maintain_order=True).to_list()
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.6 * settings.height * (1 + len(controls)) / 2))
    labels: list[str] = []
    step = 1.0 / (len(controls) + 2)
    colours = plt.get_cmap("tab10")
    for y, (judge, dim, frames) in enumerate(settings.iter_rows()):
        labels.append(f"{judge} @{frames_label(frames)}\n{dim}")
        rows = table.filter(
            (pl.col("judge") == judge)
            & (pl.col("dimension") == dim)
            & (pl.col("frames").is_null() if frames is None else pl.col("frames") == frames)
        )
        normal = rows["agreement_normal"].drop_nulls()
        if len(normal):
            ax.plot([normal[0]], [y], "D", color="black", label="normal" if y == 0 else None)
        for k, row in enumerate(rows.iter_rows(named=True)):
            if row["agreement"] is None:
                continue
            yy = y + (k + 1) * step
            c = colours(controls.index(row["control"]) % 10)
            if row["agreement_lo"] is not None:
                ax.plot([row["agreement_lo"], row["agreement_hi"]], [yy, yy], color=c)
            ax.plot([row["agreement"]], [yy], "o", color=c)
    for k, control in enumerate(controls):
        ax.plot([], [], "o-", color=colours(k % 10), label=control)
    ax.axvline(0.5, color="grey", linestyle="--", label="chance (0.5)")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("agreement with people (95% clustered interval)")
    ax.set_title("Agreement under each control, with the normal run and chance")
    ax.legend(loc="lower right", fontsize="small")
    mark_figure(fig, mark)
    return fig
