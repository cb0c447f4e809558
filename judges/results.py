"""Run folders: ``results/<run-id>/`` with verdicts, agreement tables and run metadata.

Files:
    verdicts.parquet  one row per verdict, with the human label and whether they match
    agreement.csv     the long agreement table (one row per judge x dimension x frames)
    agreement.md      the paper-shaped tables (dimensions x frames) and the long table
    run.json          what ran: judges and settings, data path and hash, frames, git commit,
                      times, cache use and cost
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from judges.agreement import paper_table, to_markdown
from judges.types import Pair, Verdict

VERDICT_SCHEMA: dict[str, Any] = {
    "pair_id": pl.String,
    "prompt_id": pl.String,
    "video_0_id": pl.String,
    "video_1_id": pl.String,
    "judge": pl.String,
    "dimension": pl.String,
    "frames": pl.Int64,
    "winner": pl.String,
    "human": pl.String,
    "match": pl.Boolean,
    "status": pl.String,
    "score_0": pl.Float64,
    "score_1": pl.Float64,
    "confidence": pl.Float64,
    "error": pl.String,
    "cost_usd": pl.Float64,
    "latency_s": pl.Float64,
    "raw": pl.String,
}


def new_run_id(judge_names: Sequence[str], now: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<judges>``, sortable and readable."""
    now = now or datetime.now(UTC)
    names = "+".join(dict.fromkeys(judge_names)) or "run"
    safe = "".join(c if c.isalnum() or c in "-_+." else "_" for c in names)[:80]
    return f"{now:%Y%m%d-%H%M%S}-{safe}"


def verdict_table(verdicts: Sequence[Verdict], pairs: Sequence[Pair]) -> pl.DataFrame:
    """All verdicts as a table, joined with the human label of each (pair, dimension)."""
    by_id = {p.pair_id: p for p in pairs}
    rows = []
    for v in verdicts:
        pair = by_id.get(v.pair_id)
        human = pair.labels.get(v.dimension) if pair else None
        rows.append(
            {
                "pair_id": v.pair_id,
                "prompt_id": pair.prompt_id if pair else None,
                "video_0_id": pair.video_0.video_id if pair else None,
                "video_1_id": pair.video_1.video_id if pair else None,
                "judge": v.judge,
                "dimension": v.dimension.value,
                "frames": v.frames,
                "winner": v.winner,
                "human": human,
                "match": None if human is None else v.winner == human,
                "status": v.status,
                "score_0": v.score_0,
                "score_1": v.score_1,
                "confidence": v.confidence,
                "error": v.error,
                "cost_usd": v.cost_usd,
                "latency_s": v.latency_s,
                "raw": json.dumps(v.raw, default=str) if v.raw else None,
            }
        )
    return pl.DataFrame(rows, schema=VERDICT_SCHEMA)


def git_commit(path: Path | None = None) -> str | None:
    """The checkout's HEAD commit (with ``-dirty`` when there are local changes), if any."""
    cwd = path or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def agreement_markdown(
    table: pl.DataFrame,
    notice: str | None = None,
    title: str = "Agreement with human labels",
    intro: str | None = None,
) -> str:
    """The markdown report: paper-shaped tables first, then every statistic."""
    parts = [f"# {title}", ""]
    if intro:
        parts += [intro, ""]
    if notice:
        parts += [f"> {notice}", ""]
    parts += [
        "Agreement = matches / labeled pairs (undecided counts as disagreement). "
        "Accuracy = matches / decided pairs.",
        "",
        "## Agreement (dimensions x frames)",
        "",
        to_markdown(paper_table(table, "agreement")),
        "",
        "## Accuracy when decided (dimensions x frames)",
        "",
        to_markdown(paper_table(table, "accuracy")),
        "",
        "## All statistics",
        "",
        to_markdown(table),
        "",
    ]
    return "\n".join(parts)


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_run(
    run_dir: Path,
    verdicts: pl.DataFrame,
    table: pl.DataFrame,
    info: dict[str, Any],
    notice: str | None = None,
) -> None:
    """Write a run folder (created if needed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    verdicts.write_parquet(run_dir / "verdicts.parquet")
    table.write_csv(run_dir / "agreement.csv")
    (run_dir / "agreement.md").write_text(agreement_markdown(table, notice))
    (run_dir / "run.json").write_text(json.dumps(_json_ready(info), indent=2, sort_keys=False))
