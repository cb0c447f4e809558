"""Verdict cache keys, built in bulk.

A verdict's key is the SHA-256 of the canonical JSON of ``{"dimension", "files", "frames",
"inputs", "judge", "strategy"}``. A million-verdict run shares a few thousand pairs, so the
parts that depend on the pair alone are encoded once per pair (:class:`PairKeys`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from judges.base import Judge, ScoreJudge, Task
from judges.cache import CANONICAL
from judges.segments import SEGMENT_SCHEMA, log_line
from judges.verdict_rows import ROW_SCHEMA, RowBuilder

FOUND = {"i": pl.Int64, **ROW_SCHEMA}
"""Cached verdicts found for a task list: the task's index, then the verdict row."""


def pair_level(judge: Judge) -> bool:
    """Whether a judge's cache inputs depend on the pair only (not on dimension or frames).

    True for the built-in ``cache_inputs`` (the pair's texts; a score judge's per-video
    inputs), or when a judge class says so with ``pair_level_inputs = True``.
    """
    declared = getattr(judge, "pair_level_inputs", None)
    if declared is not None:
        return bool(declared)
    method = getattr(judge.cache_inputs, "__func__", None)  # also through wrappers
    return method in (Judge.cache_inputs, ScoreJudge.cache_inputs)


class PairKeys:
    """Verdict keys of pair tasks, the canonical JSON spliced from per-pair parts.

    The key text is exactly :func:`stable_hash`'s for ``{"dimension", "files", "frames",
    "inputs", "judge", "strategy"}`` (sorted keys), so keys match :meth:`Runner.verdict_key`
    and existing caches; but the files and inputs are encoded once per pair rather than once
    per (dimension, frames), which made keys the largest cost of a cached rerun.
    """

    def __init__(self, fingerprint: str, strategy: str) -> None:
        self.fingerprint = fingerprint
        self.strategy = strategy
        self._pairs: dict[int, tuple[str, str]] = {}
        self._atoms: dict[Any, str] = {}

    def _atom(self, value: Any) -> str:
        text = self._atoms.get(value)
        if text is None:
            text = self._atoms[value] = CANONICAL.encode(value)
        return text

    def _pair_part(self, judge: Judge, task: Task, files: list[str]) -> tuple[str, str]:
        pair_part = self._pairs.get(id(task.pair))
        if pair_part is None:
            rest = {"inputs": judge.cache_inputs(task), "judge": self.fingerprint}
            rest["strategy"] = self.strategy
            pair_part = (CANONICAL.encode(files), CANONICAL.encode(rest)[1:])
            self._pairs[id(task.pair)] = pair_part
        return pair_part

    def pair_key(self, judge: Judge, task: Task, files: list[str]) -> str:
        """Hash of everything in ``task``'s key but its dimension and frame count.

        With those two it identifies the verdict as the key does; the columnar cache joins on
        ``(pair_key, dimension, frames)``, so a rerun hashes once per pair, not per verdict.
        """
        files_text, rest = self._pair_part(judge, task, files)
        return hashlib.sha256(f"{files_text}|{rest}".encode()).hexdigest()

    def key(self, judge: Judge, task: Task, files: list[str]) -> str:
        """The verdict key of ``task`` (``files``: its files' content hashes).

        Per-pair parts are remembered by the pair object, which the caller's task list keeps
        alive (so its ``id`` is not reused meanwhile); build a new instance per task list.
        """
        pair_part = self._pair_part(judge, task, files)
        text = (
            f'{{"dimension":{self._atom(task.dimension.value)},"files":{pair_part[0]},'
            f'"frames":{self._atom(task.frames)},{pair_part[1]}'
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Lookup:
    """One judge's task list against the cache (see :meth:`judges.runner.Runner.run`)."""

    judge: Judge
    tasks: Sequence[Any]
    caching: bool
    fingerprint: str = ""
    hashes: dict[Any, str | None] = field(default_factory=dict)
    spliced: PairKeys | None = None
    keys: list[str | None] | None = None  # per task, when not spliced
    pair_keys: list[str | None] = field(default_factory=list)  # per pair, when spliced
    p_of_task: list[int] = field(default_factory=list)
    found: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FOUND))
    todo: list[int] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)  # keys taken from SQLite
    per_pair: pl.DataFrame | None = None  # p, pair_key, canon (first p of equal content)
    pair_ids: pl.DataFrame | None = None  # p, pair_id
    rows: RowBuilder = field(
        default_factory=lambda: RowBuilder({"i": pl.Int64, "key": pl.String, "p": pl.Int64})
    )

    def __post_init__(self) -> None:
        self.todo = list(range(len(self.tasks)))

    def pair_rows(self, strategy: str) -> pl.DataFrame:
        """The tasks as ``(i, p, dimension, frames)`` rows, ``p`` indexing :attr:`per_pair`.

        Keys are hashed once per pair; the cache is joined on ``p`` (an integer), so no
        64-character key is held per task.
        """
        spliced = self.spliced = PairKeys(self.fingerprint, strategy)
        by_pair: dict[int, int] = {}
        p_col, dims, frames, pair_ids = self.p_of_task, [], [], []
        for t in self.tasks:
            p = by_pair.get(id(t.pair))
            if p is None:
                p = by_pair[id(t.pair)] = len(self.pair_keys)
                files = [self.hashes[f] for f in t.files]
                known = None not in files
                self.pair_keys.append(spliced.pair_key(self.judge, t, files) if known else None)  # type: ignore[arg-type]
                pair_ids.append(t.pair.pair_id)
            p_col.append(p)
            dims.append(t.dimension.value)
            frames.append(t.frames)
        first: dict[str | None, int] = {}
        canon = [first.setdefault(k, p) for p, k in enumerate(self.pair_keys)]
        self.per_pair = pl.DataFrame(
            {"p": range(len(pair_ids)), "pair_key": self.pair_keys, "canon": canon},
            schema={"p": pl.Int64, "pair_key": pl.String, "canon": pl.Int64},
        )
        tasks = pl.DataFrame(
            {"i": range(len(p_col)), "p": p_col, "dimension": dims, "frames": frames},
            schema={"i": pl.Int64, "p": pl.Int64, "dimension": pl.String, "frames": pl.Int64},
        )
        self.pair_ids = pl.DataFrame({"p": range(len(pair_ids)), "pair_id": pair_ids})
        return tasks

    def entry(self, i: int, cells: tuple[Any, ...]) -> str | None:
        """Record task ``i``'s computed verdict; its commit-log line, or ``None`` (uncached)."""
        if self.spliced is not None:
            p = self.p_of_task[i]
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

    def segment_rows(self, made: pl.DataFrame) -> pl.DataFrame:
        """This run's new cache rows from its computed ones.

        Errors are left out, and equal content is kept once: pairs that repeat another's
        videos and texts share its verdicts.
        """
        new = made.filter(pl.col("status") != "error")
        if self.per_pair is not None:
            # Pair judges: (pair_key, dimension, frames) is the identity; no per-verdict key.
            per_pair = self.per_pair.filter(pl.col("pair_key").is_not_null())
            new = new.join(per_pair, on="p", how="inner")
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

    def pair_key(self, i: int) -> str | None:
        """Task ``i``'s pair key (``None``: not spliced, or an unreadable file)."""
        return self.pair_keys[self.p_of_task[i]] if self.spliced is not None else None

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
