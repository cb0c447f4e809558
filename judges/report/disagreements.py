"""Where a judge disagrees with the humans: one picture per pair, with the judge's reasons.

:func:`export_disagreements` tiles both videos' keyframes in one PNG per pair (video_0 above
video_1, marked with who chose which) and writes an ``index.md`` with the prompt, the scores and
the judge's reasoning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import polars as pl

from judges.core.errors import ConfigError
from judges.core.types import Dimension, frames_label
from judges.datasets import formats
from judges.media.frame_counts import frame_order, parse_frames
from judges.report.run_folder import normal_verdicts, read_run, run_kind


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
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise ConfigError(
            f"--disagreements {spec!r}: expected JUDGE:DIMENSION or JUDGE:DIMENSION:FRAMES, "
            "e.g. psnr:informativeness:4"
        )
    judge = parts[0].strip()
    if run_kind(run_dir) == "harm":
        raise ConfigError(
            f"--disagreements: {run_dir} is a harm run; harm judges tag one video at a time, so "
            "there are no pair disagreements to show (harm_verdicts.parquet has each video's "
            "12 tags from the judge and from people side by side)"
        )
    formats()  # each dataset format defines its dimensions
    try:
        dim = Dimension.parse(parts[1]).value
    except ValueError as e:
        raise ConfigError(f"--disagreements: {e}") from None
    table, _ = read_run(run_dir)
    have = table.select("judge", "dimension", "frames").unique()
    listing = ", ".join(
        f"{j}:{d}:{frames_label(f)}"
        for j, d, f in sorted(have.iter_rows(), key=lambda r: (r[0], r[1], frame_order(r[2])))
    )
    sel = have.filter((pl.col("judge") == judge) & (pl.col("dimension") == dim))
    if sel.is_empty():
        raise ConfigError(f"{run_dir}: no verdicts for {judge}:{dim}; the run has: {listing}")
    options = sorted(sel["frames"].to_list(), key=frame_order)
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
    from judges.datasets import load_dataset
    from judges.media.keyframes import extract_keyframes, uniform_frames

    dim = Dimension.parse(dimension).value
    # Scanned: only the setting's rows are read (a VLM run's replies can be gigabytes).
    verdicts = normal_verdicts(pl.scan_parquet(run_dir / "verdicts.parquet"))
    info = json.loads((run_dir / "run.json").read_text())
    sel = verdicts.filter(
        (pl.col("judge") == judge)
        & (pl.col("dimension") == dim)
        & (pl.col("frames").is_null() if frames is None else pl.col("frames") == frames)
    ).collect()
    if sel.is_empty():
        have = verdicts.select("judge", "dimension", "frames").unique().sort(pl.all()).collect()
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
    # Which way the judge's scores point, from run.json (runs before it was recorded: unsaid),
    # so "13.06 vs 12.64" for video_1 does not read as a mistake when lower wins.
    described = next((j for j in info.get("judges", []) if j.get("name") == judge), {})
    higher = described.get("higher_is_better")
    direction = "" if higher is None else (" (higher wins)" if higher else " (lower wins)")
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
            f"; scores {row['score_0']:.4g} vs {row['score_1']:.4g}{direction}"
            if row["score_0"] is not None and row["score_1"] is not None
            else ""
        )
        lines += [
            f"## {row['pair_id']}",
            "",
            f"Prompt: {pair.prompt_text}",
            "",
            f"Human: **{row['human']}**, judge: **{row['winner']}** ({row['status']}){scores}",
            "",
            f"![{row['pair_id']}]({name})",
            "",
        ]
        if reasoning:
            lines += ["Judge's reasoning:", "", "> " + reasoning.replace("\n", "\n> "), ""]
        count += 1
    (out_dir / "index.md").write_text("\n".join(lines))
    return count
