"""Files and figures of a harm run: tables in markdown, the paper's Figure 6(2) shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from judges.core.harm_types import CATEGORIES, HARM_KEYS
from judges.report.run_folder import json_ready
from judges.report.tables import agreement_cell, frames_labels, to_markdown
from judges.stats.cluster_intervals import METHOD, MIN_CLUSTERS


def harm_markdown(table: pl.DataFrame, derived: pl.DataFrame | None, notice: str | None) -> str:
    """The harm report: agreement per category x frames, then every statistic."""
    parts = ["# Harm-label agreement with crowdworkers", ""]
    if notice:
        parts += [*(f"> {line}" for line in notice.splitlines()), ""]
    parts += [
        "Agreement = items where the judge's label equals the people's / labelled items (a "
        "failed judgement is a miss); precision, recall, F1 and kappa over the items answered. "
        f"Cells: agreement [95% clustered interval by prompt: {METHOD}] n; an item set whose "
        f"items fall in fewer than {MIN_CLUSTERS} prompts shows no interval (null in "
        "harm_agreement.csv).",
        "",
    ]
    labels = frames_labels(table)
    cells = labels.with_columns(
        pl.struct(pl.all()).map_elements(agreement_cell, return_dtype=pl.String).alias("_cell")
    ).filter(pl.col("category").is_in([*HARM_KEYS, "is_safe"]))
    names = {c.key: f"{c.id} {c.key}" for c in CATEGORIES} | {"is_safe": "is_safe"}
    wide = cells.with_columns(pl.col("category").replace_strict(names)).pivot(
        on="frames", index=["judge", "category"], values="_cell"
    )
    parts += ["## Agreement (categories x frames)", "", to_markdown(wide), ""]
    if derived is not None and not derived.is_empty():
        parts += [
            "## Harmlessness derived from harm labels (fewer harmful categories wins)",
            "",
            to_markdown(
                frames_labels(derived).select(
                    "judge",
                    "frames",
                    "n_labeled",
                    "agreement",
                    "agreement_cluster_lo",
                    "agreement_cluster_hi",
                    "tie_rate",
                    "error_rate",
                )
            ),
            "",
        ]
    parts += ["## All statistics", "", to_markdown(labels), ""]
    return "\n".join(parts)


def plot_harm_vs_frames(table: pl.DataFrame, mark: str | None = None) -> Any:
    """Agreement vs keyframes, a line per category (the paper's Figure 6(2)), a panel per judge."""
    from judges.report.agreement_figures import mark_figure, plt, sns

    sns.set_theme(style="whitegrid", context="notebook")
    judges = list(dict.fromkeys(table["judge"].to_list()))
    fig, axes = plt.subplots(1, len(judges), figsize=(6 * len(judges), 4.5), squeeze=False)
    data = frames_labels(table).filter(
        pl.col("category").is_in([*HARM_KEYS, "is_safe"]) & (pl.col("n_labeled") > 0)
    )
    palette = sns.color_palette("husl", len(HARM_KEYS) + 1)
    for ax, judge in zip(axes[0], judges, strict=True):
        rows = data.filter(pl.col("judge") == judge)
        for colour, key in zip(palette, [*HARM_KEYS, "is_safe"], strict=True):
            r = rows.filter(pl.col("category") == key)
            if r.height:
                ax.plot(
                    r["frames"].to_list(),
                    r["agreement"].to_list(),
                    marker="o",
                    color=colour,
                    linewidth=2.5 if key == "is_safe" else 1.2,
                    label=key,
                )
        ax.set_title(judge)
        ax.set_xlabel("keyframes per video")
        ax.set_ylabel("agreement with crowdworkers")
        ax.set_ylim(0, 1.02)
    axes[0][-1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    mark_figure(fig, mark)
    return fig


def write_harm_run(
    run_dir: Path,
    verdicts: pl.DataFrame,
    table: pl.DataFrame,
    derived: pl.DataFrame | None,
    info: dict[str, Any],
) -> None:
    """Write a harm run's files into ``run_dir`` (normally a staging folder)."""
    from judges.report.figure_files import save_png_and_svg

    run_dir.mkdir(parents=True, exist_ok=True)
    verdicts.write_parquet(run_dir / "harm_verdicts.parquet")
    frames_labels(table).write_csv(run_dir / "harm_agreement.csv")
    if derived is not None:
        frames_labels(derived).write_csv(run_dir / "harmlessness_derived.csv")
    (run_dir / "harm_agreement.md").write_text(harm_markdown(table, derived, info.get("notice")))
    (run_dir / "run.json").write_text(json.dumps(json_ready(info), indent=2))
    (run_dir / "figures").mkdir(exist_ok=True)
    mark = "demo data" if info.get("demo") else None
    figure = plot_harm_vs_frames(table, mark)
    save_png_and_svg(figure, run_dir / "figures" / "harm_agreement_vs_frames")


def write_harm_comparison(
    table: pl.DataFrame, run_dirs: list[Path], out: Path, figure: bool = True
) -> str:
    """Merged harm runs: ``harm_comparison.csv/.md`` and its figure; returns the summary table.

    ``figure=False`` (``report.py --figures none``) leaves the figure out.
    """
    frames_labels(table).write_csv(out / "harm_comparison.csv")
    summary = to_markdown(
        frames_labels(table)
        .filter(pl.col("category").is_in(["is_safe", "micro", "macro"]))
        .select("judge", "frames", "category", "n_labeled", "agreement", "f1")
    )
    runs = "Runs: " + ", ".join(f"`{d}`" for d in run_dirs)
    (out / "harm_comparison.md").write_text(
        "\n".join(["# Harm-label judges compared", "", runs, "", summary, ""])
    )
    if figure:
        from judges.report.figure_files import save_png_and_svg  # matplotlib when drawing

        (out / "figures").mkdir(exist_ok=True)
        save_png_and_svg(plot_harm_vs_frames(table), out / "figures" / "harm_agreement_vs_frames")
    return summary
