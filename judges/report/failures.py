"""What a run must say out loud: failed judgements, and pairs that repeat each other's videos.

Both are computed from data the run already has (the verdict table, the pairs and their file
hashes) and land on the console, in ``run.json`` and in ``agreement.md``; none of it lives only
in ``verdicts.parquet``.

- :func:`failure_summary` counts failed verdicts (status ``error``) per judge and reason code
  (``truncated``, ``not_a_video``, ``undefined_score``, ``api_error``...) with a few distinct
  examples, each message naming the file at fault.
- :func:`content_duplicates` finds pairs whose two videos have the same content as another
  pair's (in either order): their verdicts are not independent evidence, and a dataset built
  from a handful of videos shows a tight interval that means nothing.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from judges.core.types import frames_label

FAILED_SHARE_LIMIT = 0.5
"""A judge with more than this share of failed verdicts makes the run exit non-zero."""


def failure_summary(verdicts: pl.DataFrame, examples: int = 3) -> dict[str, dict[str, Any]]:
    """Failed verdicts per judge: counts by reason and the first few distinct failures.

    Args:
        verdicts: The run's verdict table (columns ``judge, status, error, error_kind,
            pair_id, dimension, frames``).
        examples: Distinct error messages to keep per judge.

    Returns:
        ``{judge: {"verdicts", "failed", "failed_share", "by_reason": {reason: n},
        "examples": [{"pair_id", "dimension", "frames", "reason", "error"}]}}`` for every
        judge in the table, in table order.

    Example:
        >>> summary = failure_summary(run.verdicts)  # doctest: +SKIP
        >>> summary["psnr"]["by_reason"]  # doctest: +SKIP
        {'truncated': 12}

    """
    out: dict[str, dict[str, Any]] = {}
    # Counted and filtered by columns: a SafeSora-size table is 1.24M rows, and a Python
    # string per row (or a copy of the table per judge) was a run's peak memory.
    all_failed = verdicts.filter(pl.col("status") == "error")
    for judge in verdicts["judge"].unique(maintain_order=True).to_list():
        same = pl.col("judge") == judge
        n_rows = verdicts.select(same.sum()).item()
        failed = all_failed.filter(same)
        reasons = failed["error_kind"].fill_null("error") if failed.height else pl.Series([])
        by_reason = (
            dict(sorted(reasons.value_counts().iter_rows(), key=lambda kv: (-kv[1], kv[0])))
            if failed.height
            else {}
        )
        shown: list[dict[str, Any]] = []
        seen: set[str] = set()
        for row in failed.iter_rows(named=True):
            message = row["error"] or "(no message)"
            if message in seen:
                continue
            seen.add(message)
            shown.append(
                {
                    "pair_id": row["pair_id"],
                    "dimension": row["dimension"],
                    "frames": frames_label(row["frames"]),
                    "reason": row["error_kind"] or "error",
                    "error": message,
                }
            )
            if len(shown) >= examples:
                break
        out[judge] = {
            "verdicts": n_rows,
            "failed": failed.height,
            "failed_share": failed.height / n_rows if n_rows else 0.0,
            "by_reason": by_reason,
            "examples": shown,
        }
    return out


def failing_judges(
    summary: dict[str, dict[str, Any]], limit: float = FAILED_SHARE_LIMIT
) -> list[str]:
    """Judges whose share of failed verdicts is above ``limit``."""
    return [judge for judge, s in summary.items() if s["failed_share"] > limit]


def format_failures(summary: dict[str, dict[str, Any]]) -> str | None:
    """Console text for :func:`failure_summary`; ``None`` when nothing failed."""
    total = sum(s["failed"] for s in summary.values())
    if not total:
        return None
    verdicts = sum(s["verdicts"] for s in summary.values())
    lines = [f"FAILURES: {total} of {verdicts} verdicts failed (they count as disagreements)"]
    for judge, s in summary.items():
        if not s["failed"]:
            continue
        reasons = ", ".join(f"{reason} {n}" for reason, n in s["by_reason"].items())
        lines.append(
            f"  {judge}: {s['failed']} of {s['verdicts']} ({s['failed_share']:.1%}): {reasons}"
        )
        for ex in s["examples"]:
            lines.append(
                f"    {ex['pair_id']} {ex['dimension']} @{ex['frames']} [{ex['reason']}]: "
                f"{ex['error']}"
            )
    lines.append(
        "  every failure is in verdicts.parquet (status 'error', columns error, error_kind)"
    )
    return "\n".join(lines)
