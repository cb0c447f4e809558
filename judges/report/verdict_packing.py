"""How report.html packs a setting's verdicts: outcome letters, reply indices, rounded numbers.

Column-wise (polars and numpy), not a Python call per verdict: a 20,000-pair run has 320,000
verdicts, and the page's data was a third of its cached rerun.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import polars as pl

from judges.report.page_numbers import PageNumbers
from judges.report.reply_budget import cut_reply

__all__ = [
    "HUMAN_CODES",
    "OUTCOME_CODES",
    "outcomes",
    "replies",
    "round_column",
    "round_significant",
]

# One letter per verdict: who won, or why nobody did.
OUTCOME_CODES = {
    "video_0": "a",
    "video_1": "b",
    "tie": "t",
    "refused": "r",
    "unparsed": "u",
    "error": "e",
}
HUMAN_CODES = {"video_0": "a", "video_1": "b", "tie": "t"}


def round_column(values: pl.Series, digits: int = 4) -> PageNumbers | None:
    """Numbers to 4 significant digits (JSON size); ``None`` when the column is all null.

    Each value is ``float(f"{v:.4g}")`` (inf and NaN, which JSON cannot hold, are null),
    computed for the whole column at once (:func:`round_significant`).
    """
    if values.null_count() == len(values):
        return None
    numbers = values.cast(pl.Float64).to_numpy()  # null reads as NaN: null either way
    rounded = np.where(np.isfinite(numbers), round_significant(numbers, digits), np.nan)
    return PageNumbers(rounded)  # 8 bytes a number, not a Python float and a list slot


def round_significant(numbers: np.ndarray, digits: int = 4) -> np.ndarray:
    """``float(f"{v:.{digits}g}")`` of every value, bit for bit, without a string per value.

    The value is scaled to ``digits`` digits before the point, rounded to an integer, and
    scaled back by one correctly rounded division or product by an exact power of ten (the
    same nearest double the string parses to). Where the scaling could have moved the result
    (a fraction within 1e-6 of one half, a digit count off by one, a power of ten beyond
    1e22) the value is formatted as a string instead.

    Example:
        >>> round_significant(np.array([3.14159265, -0.000123456, 12345.6, 0.0])).tolist()
        [3.142, -0.0001235, 12350.0, 0.0]

    """
    x = np.asarray(numbers, dtype=np.float64)
    out = np.array(x, copy=True)  # 0, inf and NaN stay as they are
    live = np.isfinite(x) & (x != 0)
    v = x[live]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        shift = (digits - 1) - np.floor(np.log10(np.abs(v))).astype(np.int64)
        ok = np.abs(shift) <= 22
        power = 10.0 ** np.clip(np.abs(shift), 0, 22)
        scaled = np.where(shift >= 0, v * power, v / power)
        whole = np.rint(scaled)
        low, high = 10.0 ** (digits - 1), 10.0**digits
        ok &= (np.abs(scaled) >= low) & (np.abs(scaled) < high)
        ok &= np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) > 1e-6
        result = np.where(shift >= 0, whole / power, whole * power)
    slow = np.flatnonzero(~ok)
    for i in slow.tolist():
        result[i] = float(f"{v[i]:.{digits}g}")
    out[live] = result
    return out


def outcomes(part: pl.DataFrame) -> str:
    """One :data:`OUTCOME_CODES` letter per verdict: its winner's, else its status's, else e."""
    codes = [
        pl.col(c).cast(pl.String).replace_strict(OUTCOME_CODES, default=None)
        for c in ("winner", "status")
    ]
    letters = part.select(pl.coalesce(*codes, pl.lit("e")).alias("o"))["o"]
    return "".join(letters.to_list())


def replies(part: pl.DataFrame, texts: dict[str, int], cut: int | None = None) -> list[int]:
    """Each verdict's index into ``texts`` (:func:`reply_text`, added when new), or -1.

    Each distinct ``(raw, error)`` is read once, in the order it first appears, so ``texts``
    grows in the order of the rows. ``cut``: each text cut to this many UTF-8 bytes
    (:func:`~judges.report.reply_budget.cut_reply`; ``None``: in full).
    """
    out = np.full(part.height, -1, dtype=np.int64)
    groups = (
        part.select("raw", "error")
        .with_row_index("_row")
        .group_by(["raw", "error"], maintain_order=True)
        .agg(pl.col("_row"))
    )
    for raw, error, where in groups.iter_rows():
        if text := reply_text(raw, error):
            out[where] = texts.setdefault(cut_reply(text, cut), len(texts))
    return out.tolist()


@functools.lru_cache(maxsize=4096)
def reply_text(raw: str | None, error: str | None) -> str:
    """What a judge said: its replies' reasoning or text, and the error of a failed call.

    Memoised (bounded): a local judge's ``raw`` repeats one value over every verdict, and
    parsing it 1.24M times took seconds; distinct VLM replies just miss.
    """
    parts: list[str] = []
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        if isinstance(parsed, dict):
            replies = parsed.get("replies") or []
            parts += [
                str(r.get("reasoning") or r.get("text") or "").strip()
                for r in replies
                if isinstance(r, dict)
            ]
            if "text" in parsed:
                parts.append(str(parsed["text"]))
        elif isinstance(parsed, str):
            parts.append(parsed)
    if error:
        parts.append(f"error: {error}")
    return "\n---\n".join(p for p in parts if p)
