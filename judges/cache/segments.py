"""The verdict cache of pair judges: parquet segments and commit logs, per judge fingerprint.

A running judge appends its verdicts to its own commit log (:class:`CommitLog`, JSON lines) in
small batches, so a ``kill -9`` loses at most the last one. When the run finishes, what it
computed becomes one new parquet segment and the log is deleted. A log left by a killed run is
adopted by the next run of that judge (:meth:`VerdictSegments.recover`). A rerun reads a million
cached verdicts with one parquet scan and a join, instead of a million SQLite rows and JSON
documents; and a first run appends to a file instead of inserting a million random keys into
SQLite's B-tree (26 s per 480,000 verdicts here, before any judging).

Layout, beside the database (``cache.sqlite`` -> ``cache.segments/``)::

    cache.segments/<fingerprint[:32]>/seg-<time>-<uuid>.parquet
    cache.segments/<fingerprint[:32]>/log-<time>-<uuid>.jsonl   (a run in progress, or killed)
    cache.segments/<fingerprint[:32]>/.lock

Segments are immutable; a new one appears by an atomic rename, so readers never see half a
file. Merging (more than :data:`MAX_SEGMENTS` in a folder) takes the folder's lock exclusively,
lookups take it shared, so a merge never deletes a file under a concurrent reader. Rows are
content-addressed: a key found twice (a crash between rename and delete) holds the same
verdict, and lookups keep one.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from judges.cache.verdict_rows import CONTENT, ROW_SCHEMA

try:  # POSIX; elsewhere segments are still atomic, only merges are not fenced off readers
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SEGMENT_SCHEMA: dict[str, Any] = {
    "key": pl.String,
    "pair_key": pl.String,
    **{name: ROW_SCHEMA[name] for name in CONTENT},
}
"""Pair judges' rows are identified by ``pair_key`` (the hash of the pair-level parts of the
key: files, inputs, judge, strategy), ``dimension`` and ``frames``, and leave ``key`` null
unless read from an older SQLite cache; other judges' by ``key`` (the verdict's cache key)."""

BATCH_ROWS = 131_072
"""Stored rows a lookup reads at once."""

MAX_SEGMENTS = 8
"""Segments a folder may hold before the next finished run merges them into one."""


def _new_name(prefix: str, suffix: str) -> str:
    return f"{prefix}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{suffix}"


class CommitLog:
    """One run's append-only log of verdicts, locked exclusively while the run lives.

    A line is a JSON list of a segment row's values, in :data:`SEGMENT_SCHEMA` order.
    Each :meth:`write` reaches the operating system before it returns, so a killed process
    loses only what it had not yet written; a torn last line is skipped on recovery.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / _new_name("log", ".jsonl")
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run
        if fcntl is not None:
            fcntl.flock(self._fh, fcntl.LOCK_EX)  # a live run's log is never adopted

    def write(self, lines: Sequence[str]) -> None:
        """Append lines (each one ``json.dumps`` of a segment row) and flush them."""
        if lines:
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()

    def close(self, remove: bool) -> None:
        """Close the log; ``remove`` once its rows are in a segment."""
        if self._fh.closed:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        self._fh.close()


def log_line(key: str, pair_key: str | None, cells: Sequence[Any]) -> str:
    """A commit-log line: key, pair key, then a verdict's :data:`CONTENT` values."""
    return json.dumps([key, pair_key, *cells])


def read_log(path: Path) -> pl.DataFrame:
    """A commit log's rows (a torn last line, from a kill mid-write, is left out)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return pl.DataFrame(rows, schema=SEGMENT_SCHEMA, orient="row", strict=False)


def read_logs(paths: Sequence[Path]) -> pl.DataFrame:
    """The rows of several commit logs, as one frame."""
    return pl.concat([pl.DataFrame(schema=SEGMENT_SCHEMA), *(read_log(p) for p in paths)])


class VerdictSegments:
    """Parquet segments of cached verdicts, grouped by judge fingerprint.

    Args:
        root: The segments folder (created on first write).

    Example:
        >>> segs = VerdictSegments(tmp_path / "cache.segments")  # doctest: +SKIP
        >>> segs.append(fingerprint, rows)  # doctest: +SKIP
        >>> segs.lookup(fingerprint, wanted, on=["key"])  # doctest: +SKIP

    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, fingerprint: str) -> Path:
        """Where one judge fingerprint's segments live."""
        return self.root / fingerprint[:32]

    def files(self, fingerprint: str) -> list[Path]:
        """The fingerprint's segment files, oldest first."""
        folder = self.folder(fingerprint)
        return sorted(folder.glob("seg-*.parquet")) if folder.is_dir() else []

    @contextlib.contextmanager
    def _locked(self, folder: Path, exclusive: bool, wait: bool = True) -> Iterator[bool]:
        if fcntl is None:
            yield True
            return
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+") as fh:
            flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            try:
                fcntl.flock(fh, flags if wait else flags | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def lookup(
        self,
        fingerprint: str,
        wanted: pl.DataFrame,
        on: Sequence[str],
    ) -> pl.DataFrame:
        """Cached verdicts for the rows of ``wanted``, joined on ``on``.

        Args:
            fingerprint: The judge's fingerprint.
            wanted: The rows asked for: a unique row index ``i``, the ``on`` columns, and any
                others to carry.
            on: Join columns: ``["key"]`` or ``["pair_key", "dimension", "frames"]`` (pair
                judges' runs use :meth:`lookup_slots`, which holds no key per task).

        Returns:
            ``wanted``'s columns plus the verdict columns, one row per found row of ``wanted``
            (null ``frames`` match null: "every frame").

        """

        def stored_rows(files: list[Path], dead: pl.DataFrame) -> pl.LazyFrame:
            scan = pl.concat([pl.scan_parquet(files), dead.lazy()]) if files else dead.lazy()
            # Only what the result needs is read (the 64-character keys are most of a row).
            skip = ("key", "pair_key", *on)
            return scan.select(*on, *(c for c in SEGMENT_SCHEMA if c not in skip))

        empty = (
            wanted.clear()
            .lazy()
            .join(
                stored_rows([], pl.DataFrame(schema=SEGMENT_SCHEMA)),
                on=list(on),
                how="inner",
                nulls_equal=True,
            )
            .collect()
        )
        if wanted.is_empty() or not (self.files(fingerprint) or self.logs(fingerprint)):
            return empty
        # Logs of runs that died count as cached: their verdicts were paid for.
        dead = self.dead_rows(fingerprint)
        with self._locked(self.folder(fingerprint), exclusive=False):
            files = self.files(fingerprint)  # a merge may have finished meanwhile
            if not files and not dead.height:
                return empty
            stored = stored_rows(files, dead)
            found = wanted.lazy().join(
                stored, on=list(on), how="inner", nulls_equal=True, maintain_order="left"
            )
            found = found.collect(engine="streaming")
        # A segment holds each verdict once, but across segments (a crash between a segment's
        # rename and its log's delete) one may repeat: keep one match per wanted row. (Checked
        # on the index, in wanted's order: a unique over the rows doubled a lookup's memory.)
        again = found["i"].diff() == 0
        if again.any():
            found = found.filter(~again.fill_null(False))
        return found

    def lookup_slots(
        self,
        fingerprint: str,
        pair_index: pl.DataFrame,
        dims: Mapping[str, int],
        frames: Mapping[int | None, int],
        slots: np.ndarray,
    ) -> pl.DataFrame:
        """Cached verdicts of tasks numbered by slot (:class:`judges.run.verdict_lookup.TaskIndex`).

        Stored rows are read a batch at a time and placed through integer arrays: a join of a
        million stored rows with a million wanted ones took four times its result in memory.

        Args:
            fingerprint: The judge's fingerprint.
            pair_index: ``(pair_key, p)`` rows (pairs of equal content share a key).
            dims: Each dimension's number ``d``.
            frames: Each frame count's number ``f`` (``None``: every frame).
            slots: The task index in each ``(p * len(dims) + d) * len(frames) + f`` slot, -1
                where there is none.

        Returns:
            ``i`` and the :data:`CONTENT` columns, one row per task found, in stored order.

        """
        content = [c for c in SEGMENT_SCHEMA if c in CONTENT]
        parts = [pl.DataFrame(schema={"i": pl.Int64, **{c: SEGMENT_SCHEMA[c] for c in content}})]
        if pair_index.is_empty() or not (self.files(fingerprint) or self.logs(fingerprint)):
            return parts[0]
        dead = self.dead_rows(fingerprint)  # runs that died: their verdicts were paid for
        frame_no = {-1 if n is None else n: f for n, f in frames.items()}
        taken = np.zeros(len(slots), dtype=bool)  # a verdict repeated across segments counts once
        columns = ["pair_key", *content]
        with self._locked(self.folder(fingerprint), exclusive=False):
            files = self.files(fingerprint)  # a merge may have finished meanwhile
            stored: Iterable[pl.DataFrame] = (
                pl.scan_parquet(files).select(columns).collect_batches(chunk_size=BATCH_ROWS)
                if files
                else []
            )
            for batch in itertools.chain(stored, [dead.select(columns)]):
                rows = batch.join(pair_index, on="pair_key", how="inner", maintain_order="left")
                if rows.is_empty():
                    continue
                d = rows["dimension"].replace_strict(dims, default=-1, return_dtype=pl.Int64)
                f = rows["frames"].fill_null(-1)
                f = f.replace_strict(frame_no, default=-1, return_dtype=pl.Int64).to_numpy()
                d = d.to_numpy()
                ok = (d >= 0) & (f >= 0)
                slot = np.where(ok, (rows["p"].to_numpy() * len(dims) + d) * len(frames) + f, 0)
                ok &= (slots[slot] >= 0) & ~taken[slot]
                candidates = np.flatnonzero(ok)
                _, first = np.unique(slot[candidates], return_index=True)
                keep = candidates[np.sort(first)]
                taken[slot[keep]] = True
                index = pl.DataFrame({"i": slots[slot[keep]]}, schema={"i": pl.Int64})
                parts.append(index.hstack(rows[keep].select(content)))
        return pl.concat(parts, rechunk=False)

    def open_log(self, fingerprint: str) -> CommitLog:
        """A new commit log for a run of this judge."""
        return CommitLog(self.folder(fingerprint))

    def logs(self, fingerprint: str | None = None) -> list[Path]:
        """Commit logs on disk (one fingerprint's, or every one's)."""
        pattern = "log-*.jsonl" if fingerprint else "*/log-*.jsonl"
        folder = self.folder(fingerprint) if fingerprint else self.root
        return sorted(folder.glob(pattern)) if folder.is_dir() else []

    @contextlib.contextmanager
    def _dead_logs(self, fingerprint: str) -> Iterator[list[Path]]:
        """The logs of runs that died (no process holds their lock), locked while in use."""
        held = []
        try:
            for path in self.logs(fingerprint):
                fh = open(path, "a")  # noqa: SIM115 - closed below
                if fcntl is not None:
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:  # its run is alive
                        fh.close()
                        continue
                held.append((path, fh))
            yield [path for path, _ in held]
        finally:
            for _, fh in held:
                fh.close()

    def dead_rows(self, fingerprint: str) -> pl.DataFrame:
        """What runs that died had committed (read, not moved: a dry run writes nothing)."""
        with self._dead_logs(fingerprint) as paths:
            return read_logs(paths)

    def recover(self, fingerprint: str) -> int:
        """Fold the logs of runs that died into a segment (a finished run does this).

        Returns:
            The verdicts recovered.

        """
        with self._dead_logs(fingerprint) as paths:
            rows = read_logs(paths)
            self.append(fingerprint, rows)
            for path in paths:
                path.unlink(missing_ok=True)
        return rows.height

    def append(self, fingerprint: str, rows: pl.DataFrame | pl.LazyFrame) -> Path | None:
        """Write ``rows`` (:data:`SEGMENT_SCHEMA` columns) as a new segment; ``None`` if empty.

        A lazy frame is streamed to the file, so a run's million rows and their 64-character
        pair keys are never all in memory at once.
        """
        if isinstance(rows, pl.DataFrame) and rows.is_empty():
            return None
        folder = self.folder(fingerprint)
        folder.mkdir(parents=True, exist_ok=True)
        name = _new_name("seg", ".parquet")
        tmp = folder / f".{name}.tmp"
        rows.lazy().select(list(SEGMENT_SCHEMA)).cast(SEGMENT_SCHEMA).sink_parquet(tmp)
        if not pl.scan_parquet(tmp).select(pl.len()).collect().item():
            tmp.unlink()
            return None
        os.replace(tmp, folder / name)  # atomic: readers see all of it or none
        return folder / name

    def merge(self, fingerprint: str, max_segments: int = MAX_SEGMENTS) -> bool:
        """Fold a folder of more than ``max_segments`` segments into one.

        Skipped (``False``) when another process holds the folder's lock; a later run merges.
        """
        folder = self.folder(fingerprint)
        if len(self.files(fingerprint)) <= max_segments:
            return False
        with self._locked(folder, exclusive=True, wait=False) as locked:
            files = self.files(fingerprint)
            if not locked or len(files) <= max_segments:
                return False
            merged = pl.scan_parquet(files).unique(
                subset=["key", "pair_key", "dimension", "frames"], keep="last", maintain_order=True
            )
            name = _new_name("seg", ".parquet")
            tmp = folder / f".{name}.tmp"
            merged.sink_parquet(tmp)
            os.replace(tmp, folder / name)
            for path in files:
                path.unlink(missing_ok=True)
            for stale in folder.glob(".seg-*.tmp"):  # left by a process killed mid-write
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.unlink(missing_ok=True)
        return True

    def count(self, fingerprint: str | None = None) -> int:
        """Verdicts held (one fingerprint's, or every one's), duplicates included."""
        if fingerprint is not None:
            files = self.files(fingerprint)
        else:
            files = sorted(self.root.glob("*/seg-*.parquet")) if self.root.is_dir() else []
        if not files:
            return 0
        return int(pl.scan_parquet(files).select(pl.len()).collect().item())
