"""How much of the judges' replies report.html embeds: all of them, or each cut short.

A page that embeds 1.24M VLM replies (2 GB) opens nowhere. While a run's replies total at most
:data:`REPLY_BUDGET_BYTES` the page shows each in full (every small run's page as before);
above it each reply shown is cut to ``budget // replies`` characters, so the page holds about
the budget at most, and says so where each cut reply is shown. run.json records the decision
(``report_replies``); ``verdicts.parquet`` always holds every reply in full.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REPLY_BUDGET_BYTES", "cut_reply", "reply_budget"]

REPLY_BUDGET_BYTES = 20_000_000
"""The replies (``raw``, UTF-8 bytes) a run may have for report.html to show each in full."""


def reply_budget(total: int, count: int, budget: int | None = None) -> dict[str, Any]:
    """run.json's ``report_replies``: the budget, the replies' size, and the cut (or ``None``).

    Args:
        total: The run's replies' total size in bytes.
        count: How many replies there are.
        budget: The most bytes of replies shown in full (default :data:`REPLY_BUDGET_BYTES`).

    Example:
        >>> reply_budget(1_000, 10)
        {'budget_bytes': 20000000, 'replies_bytes': 1000, 'cut_to_chars': None}
        >>> reply_budget(1_000, 10, budget=500)["cut_to_chars"]
        50

    """
    budget = REPLY_BUDGET_BYTES if budget is None else budget
    cut = None if total <= budget else max(1, budget // max(count, 1))
    return {"budget_bytes": budget, "replies_bytes": total, "cut_to_chars": cut}


def cut_reply(text: str, chars: int | None) -> str:
    """``text``, or its first ``chars`` characters and a note where the rest is.

    Example:
        >>> cut_reply("Video 1 is sharper.", None)
        'Video 1 is sharper.'
        >>> cut_reply("Video 1 is sharper.", 7)
        'Video 1 … [replies cut to 7 characters; full replies: verdicts.parquet]'

    """
    if chars is None or len(text) <= chars:
        return text
    return f"{text[:chars]} … [replies cut to {chars} characters; full replies: verdicts.parquet]"
