"""Figures and cross-run reports.

- :func:`write_figures`: agreement vs frames with 95% Wilson bands and the chance line, the
  paper-shaped heatmap (dimensions x frames, a panel per judge) and outcome rates per judge,
  as PNG and SVG.
- :func:`merge_runs`: several run folders side by side (GPT-4o variants, CoT vs zero-shot,
  metric judges), refusing runs on different data unless asked.
- :func:`export_disagreements`: the pairs where a judge and the humans differ, both videos'
  keyframes tiled in one PNG per pair, with the judge's reasoning.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import cv2

# No backend is forced: headless runs fall back to Agg by themselves, and a notebook keeps
# its inline backend so these figures display.
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import seaborn as sns
from matplotlib.figure import Figure

from judges.agreement import PAPER_DIMENSION_ORDER, paper_table
from judges.errors import ConfigError
from judges.results import agreement_markdown, read_agreement_csv
from judges.types import STATUSES, Dimension, frames_label

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
    present = set(table["dimension"].to_list())
    return [d.value for d in PAPER_DIMENSION_ORDER if d.value in present]


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


def plot_agreement_vs_frames(table: pl.DataFrame, mark: str | None = None) -> Figure:
    """Agreement vs keyframes per video: a panel per dimension, a line per judge.

    Shaded bands are 95% Wilson intervals (pairs treated as independent); the dashed line is
    chance (0.5). Each judge's line carries its label, so ``ax.lines`` can be read back against
    the table. The legend sits below the panels in as many rows as the judges need.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    dims = _dimensions(table)
    order = _frame_order(table)
    judges = list(dict.fromkeys(table["judge"].to_list()))
    palette = _palette(judges)
    cols = min(3, len(dims)) or 1
    rows = math.ceil(len(dims) / cols) or 1
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(4.6 * cols, 3.6 * rows + 0.3 * math.ceil(len(judges) / 4)),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, dim in zip(axes.flat, dims, strict=False):
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
        for judge in judges:
            sub = table.filter((pl.col("judge") == judge) & (pl.col("dimension") == dim))
            if sub.is_empty():
                continue
            labels = [frames_label(v) for v in sub["frames"].to_list()]
            x = [order.index(lab) for lab in labels]
            y = sub["agreement"].to_list()
            ax.fill_between(
                x,
                sub["agreement_lo"].to_list(),
                sub["agreement_hi"].to_list(),
                color=palette[judge],
                alpha=0.15,
                linewidth=0,
            )
            ax.plot(x, y, marker="o", color=palette[judge], label=judge)
        ax.set_title(dim.replace("_", " "))
        ax.set_xticks(range(len(order)), order)
        ax.set_xlabel("keyframes per video")
        ax.set_ylim(0, 1)
    for ax in axes.flat[len(dims) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("agreement with humans")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        [_short(label) for label in labels],
        loc="outside lower center",
        ncol=min(len(labels), 4),
        frameon=False,
        title="shaded: 95% Wilson interval, pairs treated as independent",
        title_fontsize="small",
    )
    mark_figure(fig, mark)
    return fig


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
        sns.heatmap(
            values,
            ax=ax,
            annot=True,
            fmt=".2f",
            vmin=0.3,
            vmax=0.9,
            center=0.5,
            cmap="vlag_r",
            cbar=False,
            xticklabels=frames,
            yticklabels=[d.replace("_", " ") for d in dims] if i % cols == 0 else False,
            annot_kws={"fontsize": "small"},
        )
        mesh = ax.collections[0]
        ax.set_title(_short(judge), fontsize="medium")
        ax.set_xlabel("keyframes per video" if i >= len(judges) - cols else "")
        ax.tick_params(axis="y", rotation=0)
    for ax in axes.flat[len(judges) :]:
        ax.set_visible(False)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, shrink=0.6, label=metric)
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
    fig.legend(handles, labels, loc="outside upper center", ncol=len(STATUSES), frameon=False)
    mark_figure(fig, mark)
    return fig


def write_figures(
    out_dir: Path, table: pl.DataFrame, verdicts: pl.DataFrame, mark: str | None = None
) -> list[Path]:
    """Write every figure as PNG and SVG into ``out_dir``; returns the files written.

    Args:
        out_dir: Folder for the figures (created).
        table: The agreement table.
        verdicts: The verdict table (for outcome rates; may be empty).
        mark: A caveat stamped on every figure, e.g. ``demo data``.

    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    labeled = table.filter(pl.col("n_labeled") > 0)
    figures = {"outcomes": plot_outcomes(verdicts, mark)} if verdicts.height else {}
    if labeled.height:
        figures["agreement_vs_frames"] = plot_agreement_vs_frames(labeled, mark)
        figures["agreement_heatmap"] = plot_heatmap(labeled, mark=mark)
    for name, fig in figures.items():
        for ext in ("png", "svg"):
            path = out_dir / f"{name}.{ext}"
            fig.savefig(path, dpi=130, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


# --- several runs --------------------------------------------------------------------------


def read_run(run_dir: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A run folder's agreement table and run.json.

    Raises:
        ConfigError: not a run folder.
    """
    table_path, info_path = run_dir / "agreement.csv", run_dir / "run.json"
    if not table_path.is_file() or not info_path.is_file():
        raise ConfigError(
            f"{run_dir}: not a run folder (needs agreement.csv and run.json from "
            "experiments/agreement.py)"
        )
    return read_agreement_csv(table_path), json.loads(info_path.read_text())


def merge_runs(run_dirs: list[Path], allow_mixed_data: bool = False) -> pl.DataFrame:
    """One long table from several runs, with a ``run_id`` column.

    A judge label used by two runs (e.g. ``gpt4o`` run once zero-shot, once CoT) becomes
    ``label@run_id`` so both stay distinct.

    Raises:
        ConfigError: runs on different data (different config SHA-256 or pairs used), unless
            ``allow_mixed_data``.
    """
    if not run_dirs:
        raise ConfigError("give at least one run folder")
    unique = list({Path(d).resolve(): Path(d) for d in run_dirs}.values())  # same folder twice
    loaded = [(d, *read_run(d)) for d in unique]
    datasets = {
        (info["data"]["sha256"], info["data"].get("pairs_used")): d for d, _, info in loaded
    }
    if len(datasets) > 1 and not allow_mixed_data:
        listing = "; ".join(
            f"{d.name}: {sha[:12]}.. ({pairs} pairs)" for (sha, pairs), d in datasets.items()
        )
        raise ConfigError(
            f"these runs used different data ({listing}); their agreements are not comparable. "
            "Pass --allow-mixed-data to merge anyway."
        )
    seen: dict[str, int] = {}
    for _, table, _ in loaded:
        for judge in set(table["judge"].to_list()):
            seen[judge] = seen.get(judge, 0) + 1
    parts = []
    ids: dict[str, int] = {}
    for d, table, info in loaded:
        run_id = str(info.get("run_id", d.name))
        ids[run_id] = ids.get(run_id, 0) + 1
        if ids[run_id] > 1:  # two folders with one run id (copied, or other --out roots)
            run_id = f"{run_id}#{ids[run_id]}"
        parts.append(
            table.with_columns(
                pl.lit(run_id).alias("run_id"),
                pl.when(pl.col("judge").is_in([j for j, n in seen.items() if n > 1]))
                .then(pl.col("judge") + "@" + run_id)
                .otherwise(pl.col("judge"))
                .alias("judge"),
            )
        )
    return pl.concat(parts, how="diagonal_relaxed")


def comparison_markdown(table: pl.DataFrame, run_dirs: list[Path]) -> str:
    """Markdown report of a merged table."""
    runs = "Runs: " + ", ".join(f"`{d}`" for d in run_dirs)
    return agreement_markdown(table, title="Judge comparison", intro=runs)


# --- disagreements -------------------------------------------------------------------------


def _label(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def pair_sheet(
    frames_0: list[np.ndarray],
    frames_1: list[np.ndarray],
    caption_0: str,
    caption_1: str,
    height: int = 160,
) -> np.ndarray:
    """Both videos' keyframes side by side: video_0 on the top row, video_1 below (RGB)."""

    def row(frames: list[np.ndarray]) -> np.ndarray:
        scaled = [
            cv2.resize(
                f,
                (max(1, round(f.shape[1] * height / f.shape[0])), height),
                interpolation=cv2.INTER_AREA,
            )
            for f in frames
        ]
        gap = np.full((height, 4, 3), 255, np.uint8)
        parts: list[np.ndarray] = []
        for s in scaled:
            parts += [s, gap]
        return np.hstack(parts[:-1])

    top, bottom = _label(row(frames_0), caption_0), _label(row(frames_1), caption_1)
    width = max(top.shape[1], bottom.shape[1])
    pad = lambda a: np.hstack([a, np.full((a.shape[0], width - a.shape[1], 3), 255, np.uint8)])  # noqa: E731
    return np.vstack([pad(top), np.full((6, width, 3), 255, np.uint8), pad(bottom)])


def _marks(row: dict[str, Any], side: str) -> str:
    """Caption marks: who chose this video."""
    return " ".join(
        mark
        for mark, chose in (("[human]", row["human"] == side), ("[judge]", row["winner"] == side))
        if chose
    )


def parse_disagreement_spec(run_dir: Path, spec: str) -> tuple[str, str, int | None]:
    """``JUDGE:DIMENSION[:FRAMES]`` checked against what ``run_dir`` holds.

    FRAMES may be omitted when the run judged that judge and dimension at one frame setting.

    Raises:
        ConfigError: a malformed spec, an unknown dimension, or a judge, dimension or frame
            setting the run does not have (listing what it has).

    """
    from judges.experiment import parse_frames

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise ConfigError(
            f"--disagreements {spec!r}: expected JUDGE:DIMENSION or JUDGE:DIMENSION:FRAMES, "
            "e.g. psnr:informativeness:4"
        )
    judge = parts[0].strip()
    try:
        dim = Dimension.parse(parts[1]).value
    except ValueError as e:
        raise ConfigError(f"--disagreements: {e}") from None
    table, _ = read_run(run_dir)
    have = table.select("judge", "dimension", "frames").unique()
    listing = ", ".join(sorted(f"{j}:{d}:{frames_label(f)}" for j, d, f in have.iter_rows()))
    sel = have.filter((pl.col("judge") == judge) & (pl.col("dimension") == dim))
    if sel.is_empty():
        raise ConfigError(f"{run_dir}: no verdicts for {judge}:{dim}; the run has: {listing}")
    options = sel["frames"].to_list()
    if len(parts) == 3:
        try:
            frames = parse_frames(parts[2])
        except ConfigError as e:
            raise ConfigError(f"--disagreements: {e}".replace("--frames: ", "")) from None
        if len(frames) != 1 or frames[0] not in options:
            raise ConfigError(
                f"{run_dir}: no verdicts for {judge}:{dim}:{parts[2]}; the run has: {listing}"
            )
        return judge, dim, frames[0]
    if len(options) > 1:
        raise ConfigError(
            f"--disagreements {spec}: the run judged {judge}:{dim} at several frame settings "
            f"({', '.join(frames_label(f) for f in options)}); add one, e.g. {spec}:"
            f"{frames_label(options[0])}"
        )
    return judge, dim, options[0]


def export_disagreements(
    run_dir: Path,
    judge: str,
    dimension: str,
    frames: int | None,
    out_dir: Path,
    limit: int = 50,
) -> int:
    """Write one PNG per pair where ``judge`` and the humans differ, plus ``index.md``.

    Returns:
        The number of pairs exported.

    Raises:
        ConfigError: unknown judge/dimension/frames in this run, or the run's data is gone.
    """
    from judges.data import load_dataset
    from judges.keyframes import extract_keyframes, uniform_frames

    dim = Dimension.parse(dimension).value
    verdicts = pl.read_parquet(run_dir / "verdicts.parquet")
    info = json.loads((run_dir / "run.json").read_text())
    sel = verdicts.filter(
        (pl.col("judge") == judge)
        & (pl.col("dimension") == dim)
        & (pl.col("frames").is_null() if frames is None else pl.col("frames") == frames)
    )
    if sel.is_empty():
        have = verdicts.select("judge", "dimension", "frames").unique().sort(pl.all())
        raise ConfigError(
            f"{run_dir}: no verdicts for judge {judge!r}, {dim}, frames {frames_label(frames)}; "
            f"the run has: {', '.join(f'{j}:{d}:{frames_label(f)}' for j, d, f in have.rows())}"
        )
    wrong = sel.filter(pl.col("human").is_not_null() & ~pl.col("match"))
    data = info["data"]
    dataset = load_dataset(data["path"], data.get("video_dir"), skip_missing=True)
    pairs = {p.pair_id: p for p in dataset.pairs}
    strategy = info.get("keyframes", {}).get("strategy", "diff")
    pick = uniform_frames if strategy == "uniform" else extract_keyframes
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Where {judge} disagrees with humans: {dim}, {frames_label(frames)} frames",
        "",
        f"{wrong.height} of {sel.filter(pl.col('human').is_not_null()).height} labeled "
        f"pairs (showing up to {limit}).",
        "",
    ]
    count = 0
    for row in wrong.head(limit).iter_rows(named=True):
        pair = pairs.get(row["pair_id"])
        if pair is None:
            lines.append(f"- `{row['pair_id']}`: videos no longer available, not drawn")
            continue
        n = frames or 8
        f0 = pick(pair.video_0.path, n).frames
        f1 = pick(pair.video_1.path, n).frames
        sheet = pair_sheet(
            f0, f1, f"video_0 {_marks(row, 'video_0')}", f"video_1 {_marks(row, 'video_1')}"
        )
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in row["pair_id"]) + ".png"
        cv2.imwrite(str(out_dir / name), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        reasoning = ""
        if row["raw"]:
            raw = json.loads(row["raw"])
            replies = raw.get("replies") or []
            reasoning = " / ".join(
                (r.get("reasoning") or r.get("text") or "").strip() for r in replies
            )
        scores = (
            f"scores {row['score_0']:.4g} vs {row['score_1']:.4g}; "
            if row["score_0"] is not None and row["score_1"] is not None
            else ""
        )
        lines += [
            f"## {row['pair_id']}",
            "",
            f"Prompt: {pair.prompt_text}",
            "",
            f"Human: **{row['human']}**, judge: **{row['winner']}** ({row['status']}); {scores}",
            "",
            f"![{row['pair_id']}]({name})",
            "",
        ]
        if reasoning:
            lines += ["Judge's reasoning:", "", "> " + reasoning.replace("\n", "\n> "), ""]
        count += 1
    (out_dir / "index.md").write_text("\n".join(lines))
    return count
