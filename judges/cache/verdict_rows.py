"""Verdicts as columns: the runner's result form, from the cache to ``verdicts.parquet``.

A full SafeSora run is over a million verdicts per judge. As Python objects they were most of a
run's memory and a cached rerun's time, so the runner keeps them as a polars frame
(:data:`ROW_SCHEMA`, one row per verdict) and hands out :class:`LazyVerdicts`, a read-only
sequence that builds a :class:`~judges.core.types.Verdict` only for the rows a caller touches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import polars as pl

from judges.cache.json_lines import dumps_function
from judges.cache.replies import RAW_REF, Replies, ref_schema, with_raw
from judges.core.types import Dimension, Verdict

ROW_SCHEMA: dict[str, Any] = {
    "pair_id": pl.String,
    "judge": pl.Categorical,
    "dimension": pl.Categorical,
    "frames": pl.Int64,
    "winner": pl.Categorical,
    "status": pl.Categorical,
    "score_0": pl.Float64,
    "score_1": pl.Float64,
    "confidence": pl.Float64,
    "error": pl.Categorical,
    "error_kind": pl.Categorical,
    "cost_usd": pl.Float64,
    "latency_s": pl.Float64,
    "raw": pl.String,
}
"""One verdict per row; ``raw`` is the verdict's ``raw`` dict as JSON (null when empty).

Columns that repeat a handful of values (a judge's label, a dimension, a winner, a status, an
error and its kind) are categorical in memory: 4 bytes a row, where text costs 16 and up. Files
keep them as text (:func:`as_text`), so a file reads the same before and after."""


def as_text(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every categorical column as text: what files hold.

    Example:
        >>> as_text({"judge": pl.Categorical, "frames": pl.Int64})
        {'judge': String, 'frames': Int64}

    """
    return {name: pl.String if dtype == pl.Categorical else dtype for name, dtype in schema.items()}


def categorical(frame: pl.DataFrame, schema: dict[str, Any] = ROW_SCHEMA) -> pl.DataFrame:
    """``frame`` with the columns that ``schema`` makes categorical cast to categorical.

    Example:
        >>> categorical(pl.DataFrame({"judge": ["psnr"], "raw": ["{}"]}))["judge"].dtype
        Categorical
        >>> categorical(pl.DataFrame({"judge": ["psnr"], "raw": ["{}"]}))["raw"].dtype
        String

    """
    names = [c for c, dtype in schema.items() if dtype == pl.Categorical and c in frame.columns]
    return frame.with_columns(pl.col(names).cast(pl.Categorical)) if names else frame


CONTENT = tuple(name for name in ROW_SCHEMA if name not in ("pair_id", "judge"))
"""The columns a cached verdict keeps (verdicts are content-addressed: ids come from the run)."""

CHUNK_ROWS = 65_536

_RAW = dumps_function(default=str)
"""``json.dumps(raw, default=str)`` without building an encoder per call."""
_RAW_MEMO: dict[tuple[Any, ...], str] = {}
_MEMO_TYPES = frozenset({str, bool, int, type(None)})
_MEMO_MAX = 1024


def raw_json(raw: dict[str, Any]) -> str | None:
    """A verdict's ``raw`` as stored: ``json.dumps(raw, default=str)``, ``None`` when empty.

    A million verdicts of a score judge carry the same small ``raw`` (``higher_is_better``):
    a ``raw`` of plain flags is encoded once. Its key holds every key's and value's type, as
    ``True == 1`` but they encode apart (floats, for which ``0.0 == -0.0``, are never memoised).

    Example:
        >>> raw_json({"higher_is_better": False}), raw_json({})
        ('{"higher_is_better": false}', None)

    """
    if not raw:
        return None
    if len(raw) > 4:
        return _RAW(raw)
    values = tuple(raw.values())
    types = (*map(type, raw), *map(type, values))
    if not _MEMO_TYPES.issuperset(types):
        return _RAW(raw)
    key = (*raw, *types, *values)
    text = _RAW_MEMO.get(key)
    if text is None:
        text = _RAW(raw)
        if len(_RAW_MEMO) < _MEMO_MAX:
            _RAW_MEMO[key] = text
    return text


def verdict_cells(v: Verdict) -> tuple[Any, ...]:
    """A verdict's values in :data:`ROW_SCHEMA` order."""
    raw = v.raw
    return (
        v.pair_id,
        v.judge,
        v.dimension.value,
        v.frames,
        v.winner,
        v.status,
        v.score_0,
        v.score_1,
        v.confidence,
        v.error,
        raw.get("error_kind") if v.status == "error" else None,
        v.cost_usd,
        v.latency_s,
        raw_json(raw),
    )


class RowBuilder:
    """Collects verdicts (plus extra columns) into a frame, a chunk at a time.

    Only the current chunk is held as Python values; finished chunks are polars frames, so a
    million verdicts cost tens of bytes each rather than an object graph each.

    Args:
        extra: Further columns and their types, given after the verdict in :meth:`add`.

    Example:
        >>> rows = RowBuilder({"i": pl.Int64})
        >>> rows.add(Verdict("p1", "psnr", Dimension.AESTHETICS, 1, "video_0"), 7)
        >>> rows.frame().select("i", "pair_id", "winner").row(0)
        (7, 'p1', 'video_0')

    """

    def __init__(self, extra: dict[str, Any] | None = None, chunk: int = CHUNK_ROWS) -> None:
        self.schema = {**ROW_SCHEMA, **(extra or {})}
        self._chunk = chunk
        self._rows: list[tuple[Any, ...]] = []
        self._frames: list[pl.DataFrame] = []

    def __len__(self) -> int:
        return len(self._rows) + sum(f.height for f in self._frames)

    def add(self, verdict: Verdict, *extra: Any) -> None:
        """Append one verdict and its extra column values."""
        self.append(verdict_cells(verdict), *extra)

    def append(self, cells: tuple[Any, ...], *extra: Any) -> None:
        """Append a verdict's :func:`verdict_cells` and its extra column values."""
        self._rows.append(cells + extra)
        if len(self._rows) >= self._chunk:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._frames.append(
                pl.DataFrame(self._rows, schema=self.schema, orient="row", strict=False)
            )
            self._rows = []

    def frame(self) -> pl.DataFrame:
        """Everything added so far, as one frame."""
        self._flush()
        if not self._frames:
            return pl.DataFrame(schema=self.schema)
        self._frames = [pl.concat(self._frames, rechunk=False)]  # the chunks, not a copy
        return self._frames[0]

    def take(self, order_by: str | None = None) -> pl.DataFrame:
        """Everything added, as one frame, leaving the builder empty.

        Args:
            order_by: A unique integer column to sort by (see :func:`in_order`).

        """
        self._flush()
        frames, self._frames = self._frames, []
        if not frames:
            return pl.DataFrame(schema=self.schema)
        if order_by is None:
            return pl.concat(frames, rechunk=False)
        return in_order(frames, order_by)


def in_order(parts: list[pl.DataFrame], by: str) -> pl.DataFrame:
    """The rows of ``parts`` (same columns) as one frame sorted by the unique column ``by``.

    ``parts`` is emptied. The result is built a column at a time, each input column released
    as its sorted copy is made, so a million rows are not held twice as in a frame's ``sort``.
    Rows already in order (a rerun of the same task list) are not copied.

    Example:
        >>> in_order([pl.DataFrame({"i": [2, 0]}), pl.DataFrame({"i": [1]})], "i")["i"].to_list()
        [0, 1, 2]

    """
    key = np.concatenate([f[by].to_numpy() for f in parts]) if parts else np.zeros(0)
    if len(parts) == 1 and (len(key) < 2 or bool((np.diff(key) > 0).all())):
        return parts.pop()
    order = pl.Series(np.argsort(key, kind="stable"))
    columns = {}
    for name in parts[0].columns:
        # Each part gives its column up (drop_in_place), so nothing holds the unsorted copy.
        column = pl.concat([f.drop_in_place(name) for f in parts], rechunk=False)
        columns[name] = column.gather(order)
        del column
    parts.clear()
    return pl.DataFrame(columns)


def verdict_frame(verdicts: Iterable[Verdict]) -> pl.DataFrame:
    """Verdicts as a :data:`ROW_SCHEMA` frame (a :class:`LazyVerdicts`' own, replies read back).

    :func:`held_frame` leaves a table's replies on disk.
    """
    if isinstance(verdicts, LazyVerdicts):
        return with_raw(verdicts.frame, verdicts.replies)
    rows = RowBuilder()
    for v in verdicts:
        rows.add(v)
    return rows.frame()


def held_frame(verdicts: Iterable[Verdict]) -> pl.DataFrame:
    """Verdicts as a frame as held: a :class:`LazyVerdicts`' own, else :func:`verdict_frame`'s.

    A run's table holds ``raw_ref`` where its replies are on disk (:mod:`judges.cache.replies`).
    """
    return verdicts.frame if isinstance(verdicts, LazyVerdicts) else verdict_frame(verdicts)


def _verdict(row: tuple[Any, ...]) -> Verdict:
    pair_id, judge, dim, frames, winner, status, s0, s1, conf, error, _, cost, lat, raw = row
    return Verdict(
        pair_id=pair_id,
        judge=judge,
        dimension=Dimension(dim),
        frames=frames,
        winner=winner,
        score_0=s0,
        score_1=s1,
        confidence=conf,
        status=status,
        raw=json.loads(raw) if raw else {},
        error=error,
        cost_usd=cost,
        latency_s=lat,
    )


class LazyVerdicts(Sequence[Verdict]):
    """A read-only sequence of verdicts over a :data:`ROW_SCHEMA` frame.

    Indexing or iterating builds :class:`Verdict` objects on demand; tables and statistics read
    :attr:`frame` directly.

    Example:
        >>> frame = verdict_frame([Verdict("p1", "psnr", Dimension.AESTHETICS, 1, "tie")])
        >>> LazyVerdicts(frame)[0].winner
        'tie'

    """

    def __init__(self, frame: pl.DataFrame, replies: Replies | None = None) -> None:
        spilled = RAW_REF in frame.columns
        self.frame = frame.select(list(ref_schema(ROW_SCHEMA) if spilled else ROW_SCHEMA))
        self.replies = replies
        """Where the replies are when :attr:`frame` holds ``raw_ref`` (see :mod:`.replies`)."""

    def _rows(self, frame: pl.DataFrame) -> Iterator[tuple[Any, ...]]:
        return with_raw(frame, self.replies).iter_rows(buffer_size=4096)

    def __len__(self) -> int:
        return self.frame.height

    @overload
    def __getitem__(self, index: int) -> Verdict: ...

    @overload
    def __getitem__(self, index: slice) -> list[Verdict]: ...

    def __getitem__(self, index: int | slice) -> Verdict | list[Verdict]:
        if isinstance(index, slice):
            return [_verdict(r) for r in self._rows(self.frame[index])]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return _verdict(next(self._rows(self.frame[index : index + 1])))

    def __iter__(self) -> Iterator[Verdict]:
        for part in self.frame.iter_slices(65_536):  # replies read a part at a time
            yield from map(_verdict, self._rows(part))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyVerdicts):
            mine, theirs = with_raw(self.frame, self.replies), with_raw(other.frame, other.replies)
            return mine.equals(theirs)
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]
