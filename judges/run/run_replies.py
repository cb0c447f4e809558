"""What an agreement run reads from its verdicts' replies, which it keeps on disk.

The run's verdict table holds ``raw_ref`` (:mod:`judges.cache.replies`); the statistics that
look inside replies (judges asked K times: ``samples``; judges asked in both orders:
``"order": "both"``) get the table with those replies read back and the others null, so only
the replies they use are in memory. Both read every reply they use, so their numbers are the
ones a table holding every reply gives.
"""

from __future__ import annotations

import polars as pl

from judges.cache.replies import RAW_REF, Replies, with_raw
from judges.report.reply_budget import reply_budget
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.calibration import position_bias
from judges.stats.repeats import repeats_table

__all__ = ["page_replies", "reply_tables"]

SAMPLES = '"samples"'
"""What the reply of a judge asked K times holds (:func:`judges.stats.repeats.repeats_table`)."""
BOTH_ORDERS = '"order": "both"'
"""What the reply of a judge asked in both orders holds (:func:`position_bias`)."""


def reply_tables(
    verdicts: pl.DataFrame, replies: Replies | None, stats: BootstrapConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The repeats table and the position-bias table of a run's verdict table.

    Args:
        verdicts: The run's verdict table (``raw``, or ``raw_ref`` into ``replies``).
        replies: Where its replies are.
        stats: The bootstrap's settings.

    Returns:
        ``(repeats, position_bias)``, as :func:`repeats_table` and :func:`position_bias` give
        them from a table that holds every reply.

    Example:
        >>> replies = Replies()
        >>> table = pl.DataFrame({"pair_id": ["p"], "prompt_id": ["q"], "judge": ["j"],
        ...     "dimension": ["d"], "frames": [1], "winner": ["tie"], "human": ["tie"],
        ...     "raw_ref": replies.add(pl.Series(['{"samples": ["tie", "tie"]}']))})
        >>> repeats, bias = reply_tables(table, replies, BootstrapConfig(resamples=0))
        >>> repeats["n_pairs"].to_list(), bias.height
        ([1], 0)

    """
    samples = both = verdicts
    if RAW_REF in verdicts.columns and replies is not None:
        hits = replies.containing(SAMPLES, BOTH_ORDERS)  # every reply read once
        samples = with_raw(verdicts, replies, hits[:, 0])
        both = with_raw(verdicts, replies, hits[:, 1])
    return repeats_table(samples, stats), position_bias(both, stats)


def page_replies(replies: Replies | None) -> dict[str, object]:
    """run.json's ``report_replies``: whether report.html shows the run's replies in full.

    Example:
        >>> page_replies(None)
        {'budget_bytes': 20000000, 'replies_bytes': 0, 'cut_to_bytes': None}

    """
    return reply_budget(replies.bytes, len(replies)) if replies is not None else reply_budget(0, 0)
