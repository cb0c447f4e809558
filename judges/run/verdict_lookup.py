"""One judge's task list against the columnar verdict cache, indexed without a key per task.

A full SafeSora run is 1.24M tasks over 51,691 pairs. Tasks are numbered by pair, dimension and
frame count (:class:`TaskIndex`), so a cached verdict finds its task through a dense integer
array and a computed one through three small dictionaries: no 64-character key, tuple or Python
integer is held per task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from judges.cache.replies import Replies, ref_schema, spill
from judges.cache.segments import SEGMENT_SCHEMA, VerdictSegments, log_line
from judges.cache.verdict_rows import ROW_SCHEMA, RowBuilder, categorical, in_order
from judges.judge.base import Judge
from judges.run.task_plan import PlannedTasks
from judges.run.verdict_keys import PairKeys

_PDF = np.dtype([("p", np.int32), ("d", np.int32), ("f", np.int32)])

FOUND = {"i": pl.Int64, **ROW_SCHEMA}
"""Cached verdicts found for a task list: the task's index, then the verdict row."""


class TaskIndex:
    """Tasks numbered by (pair, dimension, frames): task ``i`` sits in one slot of a dense array.

    Args:
        tasks: Tasks whose ``key`` is ``(pair_id, dimension, frames)`` (a pair's tasks share
            its id, as :class:`~judges.judge.base.Task` and :class:`~judges.core.types.Verdict` do).

    Example:
        >>> index = TaskIndex(tasks)  # doctest: +SKIP
        >>> index.of(verdict.pair_id, verdict.dimension.value, verdict.frames)  # doctest: +SKIP
        17

    """

    def __init__(self, tasks: Sequence[Any]) -> None:
        if isinstance(tasks, PlannedTasks):
            self._from_plan(tasks)
            return
        pair_no: dict[str, int] = {}
        dims: dict[str, int] = {}
        frames: dict[int | None, int] = {}
        firsts: list[Any] = []  # each pair's first task (its files and texts)

        def numbered(t: Any) -> tuple[int, int, int]:
            pair_id, dim, n = t.key
            p = pair_no.get(pair_id)
            if p is None:
                p = pair_no[pair_id] = len(firsts)
                firsts.append(t)
            d = dims.get(dim)
            if d is None:
                d = dims[dim] = len(dims)
            f = frames.get(n)
            if f is None:
                f = frames[n] = len(frames)
            return p, d, f

        # Straight into one array: lists of a million numbers stay in the process's heap.
        parts = np.fromiter(map(numbered, tasks), dtype=_PDF, count=len(tasks))
        self.pair_no, self.dims, self.frames, self.firsts = pair_no, dims, frames, firsts
        self.p = parts["p"].copy()
        """Each task's pair number."""
        slot = (self.p.astype(np.int64) * len(dims) + parts["d"]) * len(frames) + parts["f"]
        del parts
        self.slots = np.full(len(firsts) * len(dims) * len(frames), -1, dtype=np.int32)
        """The task index in each ``(p * dims + d) * frames + f`` slot (-1: no such task)."""
        self.slots[slot] = np.arange(len(slot), dtype=np.int32)

    def _from_plan(self, tasks: PlannedTasks) -> None:
        """The same numbering from a plan's arrays: no task object, tuple or key per task."""
        ids: dict[str, int] = {}
        id_of = np.array([ids.setdefault(p.pair_id, len(ids)) for p in tasks.pairs], np.int64)
        row_ids = id_of[tasks.pair_rows] if len(id_of) else np.zeros(0, np.int64)
        n_frames = len(tasks.frames) if len(tasks) else 0
        # Pairs, dimensions and frame counts numbered in the order the tasks first show them.
        distinct, first = np.unique(row_ids, return_index=True)
        order = np.argsort(first, kind="stable")
        number = np.zeros(len(ids), dtype=np.int64)
        number[distinct[order]] = np.arange(len(order))
        rows = first[order]
        if n_frames and np.array_equal(rows, tasks.pair_first_rows()):
            self.firsts = tasks.pair_tasks()  # ids unique: the plan's own (made once)
        else:
            self.firsts = tasks.row_tasks(rows) if n_frames else []
        self.pair_no = {t.pair.pair_id: k for k, t in enumerate(self.firsts)}
        self.dims, self.frames = {}, {}
        dim_no = np.zeros(len(tasks.dimensions), dtype=np.int64)
        if n_frames:
            for b in np.unique(tasks.dim_rows).tolist():
                dim_no[b] = self.dims.setdefault(tasks.dimensions[b].value, len(self.dims))
            for n in tasks.frames:
                self.frames.setdefault(n, len(self.frames))
        frame_no = np.array([self.frames.get(n, 0) for n in tasks.frames], dtype=np.int64)
        self.p = number[row_ids].astype(np.int32).repeat(n_frames)
        rows = (number[row_ids] * len(self.dims) + dim_no[tasks.dim_rows]) * len(self.frames)
        slot = (rows[:, None] + frame_no[None, :]).ravel() if n_frames else rows[:0]
        self.slots = np.full(len(self.firsts) * len(self.dims) * len(self.frames), -1, np.int32)
        self.slots[slot] = np.arange(len(slot), dtype=np.int32)

    def of(self, pair_id: str, dimension: str, frames: int | None) -> int:
        """The index of the task with these parts."""
        slot = (self.pair_no[pair_id] * len(self.dims) + self.dims[dimension]) * len(self.frames)
        return self.slots.item(slot + self.frames[frames])

    def pair_ids(self) -> pl.Series:
        """Each pair number's id."""
        return pl.Series("pair_id", list(self.pair_no), dtype=pl.String)


@dataclass
class Lookup:
    """One judge's task list against the cache (see :meth:`judges.run.task_runner.Runner.run`)."""

    judge: Judge
    tasks: Sequence[Any]
    caching: bool
    fingerprint: str = ""
    hashes: dict[Any, str | None] = field(default_factory=dict)
    spliced: PairKeys | None = None
    keys: list[str | None] | None = None  # per task, when not spliced
    pair_keys: list[str | None] = field(default_factory=list)  # per pair, when spliced
    found: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FOUND))
    made: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FOUND))
    todo: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    migrated: list[str] = field(default_factory=list)  # keys taken from SQLite
    per_pair: pl.DataFrame | None = None  # p, pair_key, canon (first p of equal content)
    rows: RowBuilder = field(
        default_factory=lambda: RowBuilder({"i": pl.Int64, "key": pl.String, "p": pl.Int64})
    )
    replies: Replies | None = None  # where the verdicts' replies go (rows then hold raw_ref)

    def __post_init__(self) -> None:
        self.index = TaskIndex(self.tasks)
        self.todo = np.arange(len(self.tasks), dtype=np.int64)
        self.columns = list(ref_schema(ROW_SCHEMA) if self.replies is not None else ROW_SCHEMA)
        """The result's verdict columns: ``raw_ref`` in place of ``raw`` with :attr:`replies`."""

    def cached_pairs(self, segments: VerdictSegments, strategy: str) -> pl.DataFrame:
        """Cached verdicts of every task (``i`` + :data:`ROW_SCHEMA`), by pair key.

        Keys are hashed once per pair; stored rows reach their task through the index's slots,
        a batch at a time, so no per-task key or join table is built.
        """
        spliced = self.spliced = PairKeys(self.fingerprint, strategy)
        self.pair_keys = spliced.pair_keys(self.judge, self.index.firsts, self.hashes)
        first: dict[str | None, int] = {}
        canon = [first.setdefault(k, p) for p, k in enumerate(self.pair_keys)]
        self.per_pair = pl.DataFrame(
            {"p": range(len(canon)), "pair_key": self.pair_keys, "canon": canon},
            schema={"p": pl.Int64, "pair_key": pl.String, "canon": pl.Int64},
        )
        index = self.index
        found = segments.lookup_slots(
            self.fingerprint,
            self.per_pair.select("pair_key", "p").drop_nulls(),
            index.dims,
            index.frames,
            index.slots,
            self.replies,
        )
        pair_ids = index.pair_ids().gather(index.p[found["i"].to_numpy()])
        return found.with_columns(pair_id=pair_ids, judge=pl.lit(self.judge.name))

    def set_found(self, found: pl.DataFrame) -> None:
        """Take the cached rows (any order); the rest of the tasks are to do.

        Their repeated columns are made categorical, as computed rows are.
        """
        self.found = categorical(spill(found, self.replies).select("i", *self.columns))
        hit = np.zeros(len(self.tasks), dtype=bool)
        hit[self.found["i"].to_numpy()] = True
        self.todo = np.flatnonzero(~hit)

    def task_of(self, verdict: Any) -> int:
        """The index of the task a verdict answers."""
        return self.index.of(verdict.pair_id, verdict.dimension.value, verdict.frames)

    def entry(self, i: int, cells: tuple[Any, ...]) -> str | None:
        """Record task ``i``'s computed verdict; its commit-log line, or ``None`` (uncached)."""
        if self.spliced is not None:
            p = self.index.p.item(i)
            self.rows.append(cells, i, None, p)
            pair_key, key = self.pair_keys[p], None
            ok = pair_key is not None
        else:
            key, pair_key = self.key(i), None
            self.rows.append(cells, i, key, None)
            ok = key is not None
        if not ok or cells[5] == "error":  # errors are never cached: a rerun retries them
            return None
        return log_line(key, pair_key, cells[2:])

    def segment_rows(self, made: pl.DataFrame) -> pl.LazyFrame:
        """This run's new cache rows from its computed ones (streamed to a segment).

        Errors are left out, and equal content is kept once: pairs that repeat another's
        videos and texts share its verdicts.
        """
        new = made.lazy().filter(pl.col("status") != "error")
        if self.per_pair is not None:
            # Pair judges: (pair_key, dimension, frames) is the identity; no per-verdict key.
            per_pair = self.per_pair.filter(pl.col("pair_key").is_not_null())
            new = new.join(per_pair.lazy(), on="p", how="inner", maintain_order="left")
            # Only pairs whose content another pair repeats can give a row twice; a unique over
            # every row cost more memory than the rows themselves.
            shared = per_pair.filter(pl.col("canon").is_duplicated())["p"]
            if len(shared):
                repeated = pl.col("p").is_in(shared.implode())
                once = new.filter(repeated).unique(["canon", "dimension", "frames"], keep="first")
                new = pl.concat([new.filter(~repeated), once])
        else:
            new = new.filter(pl.col("key").is_not_null()).unique(subset="key", keep="first")
            new = new.with_columns(pair_key=pl.lit(None, dtype=pl.String))
        return new.select(list(SEGMENT_SCHEMA))

    def take_made(self) -> pl.DataFrame:
        """The computed rows, in task order (kept as :attr:`made` for :meth:`result`)."""
        self.made = self.rows.take(order_by="i")
        return self.made

    def result(self) -> pl.DataFrame:
        """Every task's verdict row (``i`` + :data:`ROW_SCHEMA`) in task order.

        The found and computed rows are released column by column as the result is built, so
        a million rows are not held twice.
        """
        parts = [
            spill(f, self.replies).select("i", *self.columns)
            for f in (self.found, self.made)
            if f.height
        ]
        self.found = self.made = pl.DataFrame(schema=FOUND)
        schema = ref_schema(FOUND) if self.replies is not None else FOUND
        return in_order(parts, "i") if parts else pl.DataFrame(schema=schema)

    def pair_key(self, i: int) -> str | None:
        """Task ``i``'s pair key (``None``: not spliced, or an unreadable file)."""
        return self.pair_keys[int(self.index.p[i])] if self.spliced is not None else None

    def key(self, i: int) -> str | None:
        """Task ``i``'s cache key (``None``: no cache, or an unreadable file)."""
        if not self.caching:
            return None
        if self.keys is not None:
            return self.keys[i]
        assert self.spliced is not None
        if self.pair_key(i) is None:
            return None
        task = self.tasks[i]
        return self.spliced.key(self.judge, task, [self.hashes[f] for f in task.files])  # type: ignore[misc]
