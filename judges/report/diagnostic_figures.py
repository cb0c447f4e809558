"""Figures of the statistics: a forest plot of paired comparisons, a reliability diagram."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from matplotlib.figure import Figure

from judges.report.agreement_figures import mark_figure, plt, sns
from judges.report.figure_files import save_png_and_svg
from judges.stats.prelabel_promise import Promise


def plot_forest(
    comparisons: pl.DataFrame, mark: str | None = None, page: tuple[int, int] = (1, 1)
) -> Figure:
    """Forest plot: one row per comparison, A - B with its paired 95% interval.

    Filled markers are comparisons whose Holm-corrected p-value is below 0.05.

    Example:
        >>> fig = plot_forest(compare(verdicts, family))  # doctest: +SKIP

    """
    sns.set_theme(style="whitegrid", context="notebook")
    rows = comparisons.to_dicts()
    height = max(2.5, 0.45 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    for i, row in enumerate(reversed(rows)):
        significant = row["p_holm"] < 0.05
        ax.plot([row["lo"], row["hi"]], [i, i], color="#333333", linewidth=1.5)
        ax.plot(
            row["difference"],
            i,
            marker="o",
            markersize=7,
            color="#1f6fb2",
            markerfacecolor="#1f6fb2" if significant else "white",
        )
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['a']} vs {r['b']}\n{r['dimension']}" for r in reversed(rows)])
    ax.set_xlabel("difference in agreement (A − B), paired 95% clustered interval (MOVER)")
    pages = f", page {page[0]} of {page[1]}" if page[1] > 1 else ""
    ax.set_title(f"Paired comparisons (filled: Holm-corrected p < 0.05){pages}", fontsize=11)
    fig.tight_layout()
    mark_figure(fig, mark)
    return fig


def plot_reliability(bins: pl.DataFrame, title: str, mark: str | None = None) -> Figure:
    """Reliability diagram: accuracy per confidence bin against the diagonal.

    Args:
        bins: :func:`judges.stats.calibration.reliability_bins` output.
        title: Figure title (judge, dimension, frames, ECE).
        mark: Caveat stamped on the figure.

    """
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(5, 5))
    used = bins.filter(pl.col("n") > 0)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.bar(
        used["confidence_mean"].to_list(),
        used["accuracy"].to_list(),
        width=[hi - lo for lo, hi in zip(used["lo"], used["hi"], strict=True)],
        alpha=0.6,
        edgecolor="#333333",
        label="accuracy in bin",
    )
    for x, y, n in zip(used["confidence_mean"], used["accuracy"], used["n"], strict=True):
        ax.annotate(f"{n}", (x, y), textcoords="offset points", xytext=(0, 3), ha="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("stated confidence (probability of the chosen video)")
    ax.set_ylabel("share right")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    mark_figure(fig, mark)
    return fig


def write_reliability(out_dir: Path, verdicts: pl.DataFrame, mark: str | None = None) -> list[Path]:
    """A reliability diagram per (judge, dimension, frames) with probability confidences."""
    from judges.core.types import CHOICES, frames_label
    from judges.stats.calibration import expected_calibration_error, reliability_bins

    if "confidence_kind" not in verdicts.columns:
        return []
    usable = verdicts.filter(
        (pl.col("confidence_kind") == "probability")
        & pl.col("winner").is_in(list(CHOICES))
        & pl.col("human").is_in(list(CHOICES))
        & pl.col("confidence").is_not_null()
    )
    written = []
    for (judge, dim, frames), g in usable.group_by(
        ["judge", "dimension", "frames"], maintain_order=True
    ):
        conf = g["confidence"].to_numpy()
        right = (g["winner"] == g["human"]).to_numpy()
        ece = expected_calibration_error(conf, right)
        title = f"{judge} · {dim} · {frames_label(frames)} frames · ECE {ece:.3f} (n={g.height})"
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = out_dir / f"reliability-{judge}-{dim}-{frames_label(frames)}"
        safe = stem.with_name("".join(c if c.isalnum() or c in "-_." else "_" for c in stem.name))
        fig = plot_reliability(reliability_bins(conf, right), title, mark)
        written.append(save_png_and_svg(fig, safe)[0])
    return written


def plot_risk_coverage(curve: pl.DataFrame, promise: Promise, path: Path) -> None:
    """Write :func:`risk_coverage_figure` to ``path``."""
    fig = risk_coverage_figure(curve, promise)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def risk_coverage_figure(curve: pl.DataFrame, promise: Promise) -> Figure:
    """Agreement among kept pairs vs coverage, the tested lower bounds and the chosen threshold."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(6, 4))
    cov = curve["coverage"].to_list()
    ax.fill_between(
        cov,
        curve["agreement_lo"].to_list(),
        curve["agreement_hi"].to_list(),
        alpha=0.2,
        label="95% Wilson interval (pairs treated as independent)",
    )
    ax.plot(cov, curve["agreement"].to_list(), marker=".", label="agreement among kept")
    tested = curve.filter(pl.col("tested").fill_null(False))
    if tested.height:  # markers too: fixed-sequence testing may stop after one threshold
        ax.plot(
            tested["coverage"].to_list(),
            tested["lower_bound"].to_list(),
            color="#c0504d",
            marker="o",
            markersize=4,
            label="clustered one-sided lower bound (tested)",
        )
    ax.axhline(promise.target, color="grey", linestyle="--", label=f"target {promise.target:.2f}")
    if promise.threshold is not None:
        ax.axvline(
            promise.coverage,
            color="green",
            linestyle=":",
            label=f"threshold {promise.threshold:.4g}",
        )
    ax.set_xlabel("coverage (share of calibration pairs pre-labelled)")
    ax.set_ylabel("agreement with humans")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return fig
