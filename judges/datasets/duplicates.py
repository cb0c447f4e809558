"""Pairs that repeat each other's videos: not independent evidence, so a run says so out loud.

:func:`content_duplicates` finds pairs whose two videos have the same content as another
pair's (in either order): their verdicts are not independent evidence, and a dataset built
from a handful of videos shows a tight interval that means nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from judges.core.types import Pair


def content_duplicates(
    pairs: Sequence[Pair], content_hash: Callable[[Path], str], examples: int = 5
) -> dict[str, Any]:
    """Pairs that compare the same two video contents as another pair (in either order).

    Args:
        pairs: The pairs of the run.
        content_hash: File path to a content hash (e.g. ``Store.file_hash``).
        examples: Groups of repeating pair ids to list.

    Returns:
        ``{"pairs", "distinct_contents", "repeating_pairs" (pairs beyond the first of each
        content), "same_video_both_sides", "examples": [[pair_id, ...], ...]}``.

    Example:
        >>> content_duplicates(pairs, file_sha256)["repeating_pairs"]  # doctest: +SKIP
        4996

    """
    hashes: dict[Path, str] = {}

    def digest(path: Path) -> str:
        known = hashes.get(path)  # one lookup: a video recurs in many pairs
        if known is None:
            try:
                known = hashes[path] = content_hash(path)
            except OSError:
                known = hashes[path] = f"unreadable:{path}"  # a failed verdict reports the file
        return known

    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    same = 0
    for pair in pairs:
        h0, h1 = digest(pair.video_0.path), digest(pair.video_1.path)
        same += h0 == h1
        groups[(h0, h1) if h0 < h1 else (h1, h0)].append(pair.pair_id)
    repeated = [ids for ids in groups.values() if len(ids) > 1]
    return {
        "pairs": len(pairs),
        "distinct_contents": len(groups),
        "repeating_pairs": len(pairs) - len(groups),
        "same_video_both_sides": same,
        "examples": [ids[:5] for ids in repeated[:examples]],
    }


def format_duplicates(dup: dict[str, Any]) -> str | None:
    """Console text for :func:`content_duplicates`; ``None`` when every pair is distinct."""
    lines = []
    if dup["repeating_pairs"]:
        lines.append(
            f"WARNING: {dup['repeating_pairs']} of {dup['pairs']} pairs repeat the video content "
            f"of another pair ({dup['distinct_contents']} distinct contents): their verdicts are "
            "not independent and intervals that treat them so are too narrow. Examples: "
            + "; ".join(", ".join(ids) for ids in dup["examples"])
        )
    if dup["same_video_both_sides"]:
        lines.append(
            f"WARNING: {dup['same_video_both_sides']} pair(s) show the same video content on "
            "both sides; no judge can prefer one of them on merit"
        )
    return "\n".join(lines) or None
