"""How much of the judges' replies report.html embeds: all of them, or each cut short.

A page that embeds 1.24M VLM replies (2 GB) opens nowhere. While a run's replies total at most
:data:`REPLY_BUDGET_BYTES` the page shows each in full (every small run's page as before);
above it each reply shown is cut to its first ``budget // replies`` bytes less the mark
:data:`CUT_MARK` it ends with, so the page's replies take at most the budget, and one note on
the page says where the full replies are. run.json records the decision
(``report_replies``); ``verdicts.parquet`` always holds every reply in full.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CUT_MARK", "REPLY_BUDGET_BYTES", "cut_note", "cut_reply", "reply_budget"]

REPLY_BUDGET_BYTES = 20_000_000
"""The replies (``raw``, UTF-8 bytes) a run may have for report.html to show each in full."""

CUT_MARK = " … [cut]"
"""What a cut reply ends with on the page (:func:`cut_note` says it once, in words)."""


def reply_budget(total: int, count: int, budget: int | None = None) -> dict[str, Any]:
    """run.json's ``report_replies``: the budget, the replies' size, and the cut (or ``None``).

    Args:
        total: The run's replies' total size in bytes.
        count: How many replies there are.
        budget: The most bytes of replies shown in full (default :data:`REPLY_BUDGET_BYTES`).

    Example:
        >>> reply_budget(1_000, 10)
        {'budget_bytes': 20000000, 'replies_bytes': 1000, 'cut_to_bytes': None}
        >>> reply_budget(1_000, 10, budget=500)["cut_to_bytes"]  # 50 bytes a reply, mark included
        40

    """
    budget = REPLY_BUDGET_BYTES if budget is None else budget
    mark = len(CUT_MARK.encode())
    cut = None if total <= budget else max(0, budget // max(count, 1) - mark)
    return {"budget_bytes": budget, "replies_bytes": total, "cut_to_bytes": cut}


def cut_reply(text: str, limit: int | None) -> str:
    """``text``, or its first ``limit`` bytes (whole characters) and :data:`CUT_MARK`.

    Example:
        >>> cut_reply("Video 1 is sharper.", None)
        'Video 1 is sharper.'
        >>> cut_reply("Vidéo 1 is sharper.", 4)  # é takes two bytes: not split
        'Vid … [cut]'

    """
    if limit is None:
        return text
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + CUT_MARK


def cut_note(report_replies: dict[str, Any] | None) -> list[str]:
    """The page's note about cut replies (none when they are shown in full).

    Example:
        >>> cut_note({"budget_bytes": 500, "replies_bytes": 1000, "cut_to_bytes": 40})
        ['Replies are cut to their first 40 bytes each (ending “ … [cut]”) to keep this page within 500 bytes of replies (they take 1,000); verdicts.parquet holds every reply in full.']

    """  # noqa: E501
    cut = (report_replies or {}).get("cut_to_bytes")
    if cut is None:
        return []
    assert report_replies is not None
    return [
        f"Replies are cut to their first {cut:,} bytes each (ending “{CUT_MARK}”) to keep "
        f"this page within {report_replies['budget_bytes']:,} bytes of replies (they take "
        f"{report_replies['replies_bytes']:,}); verdicts.parquet holds every reply in full."
    ]
