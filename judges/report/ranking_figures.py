"""Figures of generator rankings: people's strength against each judge's, and win rates.

- ``generator_strengths.png``: one panel per dimension; each point a generator and a judge
  setting, people's strength on x, the judge's on y, both 95% intervals as error bars, the
  diagonal where they agree.
- ``win_rates-<dimension>.png``: the win-rate matrix (row generator beats column generator)
  of the people beside that of each judge setting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from judges.report.agreement_figures import mark_figure
from judges.report.figure_files import save_png_and_svg
from judges.stats.above_pairs import AbovePairs


def plot_strengths(generators: pl.DataFrame, mark: str | None = None):
    """People's against each judge setting's strength per generator, a panel per dimension."""
    import matplotlib.pyplot as plt

    ranked = generators.filter(pl.col("strength").is_not_null())
    dims = ranked["dimension"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(1, max(1, len(dims)), figsize=(4.2 * max(1, len(dims)), 4.2))
    axes = np.atleast_1d(axes)
    for ax, dim in zip(axes, dims, strict=False):
        part = ranked.filter(pl.col("dimension") == dim)
        people = part.filter(pl.col("judge") == "people")
        judged = part.filter(~pl.col("judge").is_in(["people"]) & pl.col("frames").is_not_null())
        joined = judged.join(people, on="generator", suffix="_p")
        for key, group in joined.group_by("judge", "frames", maintain_order=True):
            x, y = group["strength_p"].to_numpy(), group["strength"].to_numpy()
            xerr = np.abs(np.vstack([x - group["strength_lo_p"], group["strength_hi_p"] - x]))
            yerr = np.abs(np.vstack([y - group["strength_lo"], group["strength_hi"] - y]))
            ax.errorbar(
                x, y, xerr=np.nan_to_num(xerr), yerr=np.nan_to_num(yerr), fmt="o", capsize=3,
                label=f"{key[0]} @{key[1]}", alpha=0.8,
            )  # fmt: skip
            for gx, gy, name in zip(x, y, group["generator"], strict=True):
                ax.annotate(name, (gx, gy), fontsize=7, xytext=(3, 3), textcoords="offset points")
        lim = [min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])]
        ax.plot(lim, lim, color="grey", lw=0.8, ls="--")
        ax.set_title(dim)
        ax.set_xlabel("people's strength (Bradley-Terry)")
        ax.set_ylabel("judge's strength")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    mark_figure(fig, mark)
    return fig


def plot_win_rates(rates: pl.DataFrame, dimension: str, mark: str | None = None):
    """Win-rate matrices of one dimension: people's, then each judge setting's."""
    import matplotlib.pyplot as plt

    part = rates.filter(pl.col("dimension") == dimension)
    names = sorted(set(part["generator"].to_list()))
    settings = part.select("judge", "frames").unique(maintain_order=True).rows()
    settings.sort(key=lambda s: (s[0] != "people", s[0], s[1] or 0))
    fig, axes = plt.subplots(1, len(settings), figsize=(3.4 * len(settings), 3.4), squeeze=False)
    for ax, (judge, frames) in zip(axes[0], settings, strict=True):
        cell = part.filter((pl.col("judge") == judge) & (pl.col("frames").eq_missing(frames)))
        grid = np.full((len(names), len(names)), np.nan)
        for r in cell.iter_rows(named=True):
            grid[names.index(r["generator"]), names.index(r["opponent"])] = r["win_rate"]
        ax.imshow(grid, vmin=0, vmax=1, cmap="RdBu")
        for i in range(len(names)):
            for j in range(len(names)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_title(judge if frames is None else f"{judge} @{frames}", fontsize=9)
    fig.suptitle(f"{dimension}: share of pairs the row generator won (ties half)", fontsize=9)
    fig.tight_layout()
    mark_figure(fig, mark)
    return fig


def write_ranking_figures(out_dir: Path, above: AbovePairs, mark: str | None = None) -> list[Path]:
    """Both figures (PNG and SVG) where a ranking was made; returns the paths written."""
    if above.generators is None or above.generators["strength"].is_null().all():
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = {"generator_strengths": plot_strengths(above.generators, mark)}
    if above.win_rates is not None:
        for dim in above.win_rates["dimension"].unique(maintain_order=True).to_list():
            figures[f"win_rates-{dim}"] = plot_win_rates(above.win_rates, dim, mark)
    paths = []
    for name, fig in figures.items():
        paths += save_png_and_svg(fig, out_dir / name)
    return paths
