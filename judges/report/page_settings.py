"""report.html's settings (judge x dimension x frames), each packed when the page reaches it.

A SafeSora-size run shows 24 settings of 51,691 verdicts. Packed all at once, their numbers and
lists held about 50 MB, and the filters that split the verdict table by setting (text compared
row by row) about 60 MB more: the first run's peak memory. Here each verdict's setting is a
small integer (numpy, from the categorical codes), the human labels and the replies' texts are
read setting by setting before the page is written (the page lists them before or beside the
settings), and a setting's packed entry (:func:`pack_setting`) is made only when the JSON
writer iterates :class:`PageSettings`: one setting's objects at a time. The entries are the
ones a list of every setting held, so the page is byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from judges.cache.replies import RAW_REF, Replies, with_raw
from judges.core.errors import ConfigError
from judges.core.types import frames_label
from judges.report.page_numbers import PageMembers
from judges.report.verdict_packing import HUMAN_CODES, outcomes, replies, round_column

__all__ = ["PageSettings", "Setting", "pack_setting", "page_settings", "setting_rows"]

_PACKED = ("winner", "status", "confidence", "confidence_kind", "score_0", "score_1")
"""The verdict columns a setting's entry is packed from (its rows read when it is packed)."""


@dataclass(frozen=True)
class Setting:
    """One setting's verdicts: its key, and its rows of the verdict table in pair order.

    Attributes:
        judge: The judge's label.
        dimension: The dimension.
        frames: Keyframes per video (``None``: every frame).
        rows: Row numbers in the verdict table, ordered by pair (then by row).
        pairs: Each of those rows' pair, as its row number in the run's pairs table.
        replies: Each row's index into the page's reply texts (-1: none); ``None`` when none
            has one.

    """

    judge: str
    dimension: str
    frames: int | None
    rows: np.ndarray
    pairs: np.ndarray
    replies: np.ndarray | None


_CHUNK = 1 << 17
"""Rows coded at a time (the temporary arrays stay a few megabytes at any size)."""
_REPLY_ROWS = 8_192
"""Rows whose replies are read back at a time (about 14 MB of VLM replies)."""
_FEW = 256
"""Up to this many settings, each one's rows are found by a comparison, not a sort."""


def _setting_keys(verdicts: pl.DataFrame) -> Iterator[np.ndarray]:
    """Each row's ``(judge, dimension, frames)`` as one integer, a chunk of rows at a time.

    Categorical columns are read by their codes (never as text) and every column's values
    are numbered among its distinct values (null is one of its own), so the key is small.
    """
    columns = []
    for name in ("judge", "dimension", "frames"):
        column = verdicts[name]
        distinct = column.drop_nulls().unique().to_physical().sort().to_numpy()
        columns.append((column, distinct, len(distinct) + 1))  # the last code: null
    for start in range(0, verdicts.height, _CHUNK):
        key = np.zeros(min(_CHUNK, verdicts.height - start), dtype=np.int64)
        for column, distinct, n in columns:
            part = column.slice(start, _CHUNK).to_physical()
            codes = np.searchsorted(distinct, part.fill_null(0).to_numpy())
            if part.null_count():
                codes[part.is_null().to_numpy()] = n - 1
            key *= n
            key += codes
        yield key


def setting_rows(verdicts: pl.DataFrame) -> list[tuple[tuple[Any, Any, Any], np.ndarray]]:
    """Each ``(judge, dimension, frames)`` in the order it first appears, with its rows.

    Example:
        >>> table = pl.DataFrame({"judge": ["a", "a", "b", "a"], "dimension": ["x"] * 4,
        ...                       "frames": [1, None, 1, 1]})
        >>> [(key, rows.tolist()) for key, rows in setting_rows(table)]
        [(('a', 'x', 1), [0, 3]), (('a', 'x', None), [1]), (('b', 'x', 1), [2])]

    """
    present = np.unique(np.concatenate([np.unique(k) for k in _setting_keys(verdicts)] or [[]]))
    # Each row's setting as its number among those present (a few, so 2 bytes a row).
    small = np.empty(verdicts.height, dtype=np.uint16 if len(present) < 1 << 16 else np.int64)
    for i, key in enumerate(_setting_keys(verdicts)):
        small[i * _CHUNK : i * _CHUNK + len(key)] = np.searchsorted(present, key)
    if len(present) <= _FEW:  # one pass over 2 bytes a row per setting, no sorted copy
        groups = [np.flatnonzero(small == k).astype(np.int32) for k in range(len(present))]
    else:
        order = np.argsort(small, kind="stable")  # by setting, in row order within each
        ends = np.cumsum(np.bincount(small, minlength=len(present))).tolist()
        groups = [order[a:b].astype(np.int32) for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        del order
    del small
    out = []
    for rows in sorted(groups, key=lambda rows: int(rows[0])):
        at = int(rows[0])
        judge, dim, frames = (verdicts[name][at] for name in ("judge", "dimension", "frames"))
        out.append(((judge, dim, frames), rows))
    return out


def page_settings(
    verdicts: pl.DataFrame,
    pair_ids: pl.Series,
    where: object = "the run",
    reply_file: Replies | None = None,
    cut: int | None = None,
) -> tuple[dict[str, str], PageSettings, list[str]]:
    """The page's human labels, settings and reply texts of a verdict table.

    Args:
        verdicts: The page's verdict columns (``pair_id``, ``judge``, ``dimension``,
            ``frames``, ``human``, ``raw``, ``error`` and those of :data:`_PACKED`); every
            ``pair_id`` is one of ``pair_ids``.
        pair_ids: The run's pairs, in the page's order.
        where: The run folder, for the error.
        reply_file: Where the replies are, when ``verdicts`` holds ``raw_ref`` in place of
            ``raw`` (read a setting at a time).
        cut: Each reply text cut to this many UTF-8 bytes (``None``: in full).

    Returns:
        ``humans`` (dimension -> one letter per pair, ``.`` where unlabelled), the settings
        (made when iterated) and the reply texts the settings' ``r`` index.

    Example:
        >>> table = pl.DataFrame({"pair_id": ["q", "p"], "judge": ["j", "j"],
        ...     "dimension": ["d", "d"], "frames": [1, 1], "human": ["video_0", None],
        ...     "raw": [None, "yes"], "error": [None, None], "winner": ["video_1", "tie"],
        ...     "status": ["ok", "ok"], "confidence": [0.5, None], "confidence_kind": ["m", None],
        ...     "score_0": [1.0, 2.0], "score_1": [None, None]})
        >>> humans, settings, texts = page_settings(table, pl.Series(["p", "q"]))
        >>> humans, texts, [s["p"] for s in settings], [s["o"] for s in settings]
        ({'d': '.a'}, ['yes'], [[0, 1]], ['tb'])

    Raises:
        ConfigError: a verdict names a pair that is not among ``pair_ids``, or a pair is
            listed twice.

    """
    repeated = pair_ids.filter(pair_ids.is_duplicated())
    if len(repeated):
        raise ConfigError(
            f"{where}: pairs.parquet lists pair {repeated[0]!r} more than once; the folder is "
            "inconsistent, rerun the command"
        )
    numbers = pl.Series(np.arange(len(pair_ids), dtype=np.int32))
    humans: dict[str, np.ndarray] = {}
    seen: dict[str, np.ndarray] = {}
    texts: dict[str, int] = {}
    settings = []
    unknown: list[tuple[int, str]] = []  # (row, pair id) of each verdict of an unknown pair
    for (judge, dim, frames), rows in setting_rows(verdicts):
        raw = RAW_REF if RAW_REF in verdicts.columns else "raw"
        part = verdicts.select(pl.col("pair_id", "human", raw, "error").gather(rows))
        pair = part["pair_id"].replace_strict(pair_ids, numbers, default=None)
        if pair.null_count() or unknown:  # the folder is inconsistent: only count the rest
            missing = pair.is_null().to_numpy()
            unknown += zip(rows[missing].tolist(), part["pair_id"].filter(missing), strict=True)
            continue
        order = np.argsort(pair.to_numpy(), kind="stable")
        part = part[order]
        pairs = pair.to_numpy()[order]
        # Human letters: a pair's first row in this dimension gives its letter.
        letters = humans.setdefault(str(dim), np.full(len(pair_ids), ord("."), dtype=np.uint8))
        done = seen.setdefault(str(dim), np.zeros(len(pair_ids), dtype=bool))
        human = part["human"].cast(pl.String)
        codes = human.replace_strict(HUMAN_CODES, default=".").fill_null(".")
        unique, at = np.unique(pairs, return_index=True)
        new = ~done[unique]
        letters[unique[new]] = np.frombuffer("".join(codes.gather(at[new])).encode(), np.uint8)
        done[unique] = True
        reply = np.asarray(
            [
                k  # replies read back a slice of rows at a time (texts grow in row order)
                for a in range(0, part.height, _REPLY_ROWS)
                for k in replies(with_raw(part[a : a + _REPLY_ROWS], reply_file), texts, cut)
            ],
            dtype=np.int64,
        )
        settings.append(
            Setting(
                judge,
                dim,
                frames,
                rows[order],
                pairs,
                reply if (reply >= 0).any() else None,
            )
        )
    if unknown:
        raise ConfigError(
            f"{where}: {len(unknown)} verdict(s) name pairs not in pairs.parquet (first: "
            f"{min(unknown)[1]!r}); the folder is inconsistent, rerun the command"
        )
    page = PageSettings(verdicts.select(_PACKED), settings)
    return {d: v.tobytes().decode("ascii") for d, v in humans.items()}, page, list(texts)


def pack_setting(verdicts: pl.DataFrame, setting: Setting) -> dict[str, Any]:
    """A setting's entry on the page: pair deltas, outcome letters, rounded numbers, replies."""
    part = verdicts.select(pl.col(_PACKED).gather(setting.rows))
    return {
        "judge": setting.judge,
        "dimension": setting.dimension,
        "frames": frames_label(setting.frames),
        "n": setting.frames,
        "p": np.diff(setting.pairs, prepend=0).tolist(),
        "o": outcomes(part),
        "c": round_column(part["confidence"]),
        "ck": part["confidence_kind"].drop_nulls().first(),
        "s0": round_column(part["score_0"]),
        "s1": round_column(part["score_1"]),
        "r": setting.replies.tolist() if setting.replies is not None else None,
    }


class PageSettings(PageMembers):
    """The page's settings: each entry (:func:`pack_setting`) made as it is iterated.

    Args:
        verdicts: The :data:`_PACKED` columns of the verdict table.
        settings: The settings, in the page's order.

    """

    def __init__(self, verdicts: pl.DataFrame, settings: list[Setting]) -> None:
        self._verdicts = verdicts
        self.settings = settings

    def __len__(self) -> int:
        return len(self.settings)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for setting in self.settings:
            yield pack_setting(self._verdicts, setting)
