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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

from judges.cache.commit_log import (
    SEGMENT_SCHEMA,
    CommitLog,
    log_line,
    new_name,
    read_log,
    read_log_checked,
    read_logs,
)
from judges.cache.damage import (
    durable_rename,
    quarantine,
    segment_problem,
    segment_rows,
    warn_stderr,
)
from judges.cache.replies import Replies, spill
from judges.cache.segment_batches import sink_segment, stored_batches
from judges.cache.verdict_rows import CONTENT, ROW_SCHEMA, categorical

try:  # POSIX; elsewhere segments are still atomic, only merges are not fenced off readers
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

BATCH_ROWS = 32_768
"""Stored rows a lookup reads at once (each batch's rows, 64-character keys among them, are
transient: a quarter of the former 131,072 lowered a SafeSora-size rerun's lookup peak)."""

MAX_SEGMENTS = 8
"""Segments a folder may hold before the next finished run merges them into one."""

__all__ = ["SEGMENT_SCHEMA", "CommitLog", "VerdictSegments", "log_line", "read_log", "read_logs"]

T = TypeVar("T")


class VerdictSegments:
    """Parquet segments of cached verdicts, grouped by judge fingerprint.

    Args:
        root: The segments folder (created on first write).
        warn: Where notices of damaged files go (stderr by default).

    Example:
        >>> segs = VerdictSegments(tmp_path / "cache.segments")  # doctest: +SKIP
        >>> segs.append(fingerprint, rows)  # doctest: +SKIP
        >>> segs.lookup(fingerprint, wanted, on=["key"])  # doctest: +SKIP

    """

    def __init__(self, root: str | Path, warn: Callable[[str], None] = warn_stderr) -> None:
        self.root = Path(root)
        self.warn = warn

    def folder(self, fingerprint: str) -> Path:
        """Where one judge fingerprint's segments live."""
        return self.root / fingerprint[:32]

    def files(self, fingerprint: str) -> list[Path]:
        """The fingerprint's segment files, oldest first."""
        folder = self.folder(fingerprint)
        return sorted(folder.glob("seg-*.parquet")) if folder.is_dir() else []

    def folders(self) -> list[Path]:
        """Every judge fingerprint's folder (named by the fingerprint's first 32 characters)."""
        return sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def readable_files(self, fingerprint: str, full: bool = False) -> list[Path]:
        """The segment files whose footer (``full``: every page) reads; others quarantined."""
        kept = []
        for path in self.files(fingerprint):
            problem = segment_problem(path, full=full)
            if problem is None:
                kept.append(path)
                continue
            rows = segment_rows(path)
            held = f"its {rows} verdicts" if rows is not None else "the verdicts it held"
            quarantine(path, problem, f"{held} will be computed again", self.warn)
        return kept

    def _read(self, fingerprint: str, read: Callable[[], T]) -> T:
        """``read()``, again after quarantining a segment that fails to read part-way."""
        for attempt in range(3):
            try:
                return read()
            except (KeyboardInterrupt, SystemExit, MemoryError):
                raise
            except BaseException:  # polars raises several kinds (a Rust panic among them)
                before = len(self.files(fingerprint))
                # Once more in any case (another run may have moved a file away meanwhile);
                # after that only when a damaged file was found: other errors are not ours.
                if len(self.readable_files(fingerprint, full=True)) == before and attempt:
                    raise
        return read()

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
            (null ``frames`` match null: "every frame"), typed as :data:`ROW_SCHEMA`.

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
            return categorical(empty)
        # Logs of runs that died count as cached: their verdicts were paid for.
        dead = self.dead_rows(fingerprint)

        def read() -> pl.DataFrame | None:
            with self._locked(self.folder(fingerprint), exclusive=False):
                files = self.readable_files(fingerprint)  # a merge may have finished meanwhile
                if not files and not dead.height:
                    return None
                stored = stored_rows(files, dead)
                found = wanted.lazy().join(
                    stored, on=list(on), how="inner", nulls_equal=True, maintain_order="left"
                )
                return found.collect(engine="streaming")

        found = self._read(fingerprint, read)
        if found is None:
            return categorical(empty)
        found = categorical(found)
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
        replies: Replies | None = None,
    ) -> pl.DataFrame:
        """Cached verdicts of tasks numbered by slot (:class:`judges.run.verdict_lookup.TaskIndex`).

        Stored rows are read a batch at a time and placed through integer arrays (a join of a
        million stored rows with a million wanted ones took four times its result in memory).

        Args:
            fingerprint: The judge's fingerprint.
            pair_index: ``(pair_key, p)`` rows (pairs of equal content share a key).
            dims: Each dimension's number ``d``.
            frames: Each frame count's number ``f`` (``None``: every frame).
            slots: The task in each ``(p * len(dims) + d) * len(frames) + f`` slot (or -1).
            replies: Where found replies go, a batch at a time (rows hold ``raw_ref``).

        Returns:
            ``i`` and the :data:`CONTENT` columns (typed as :data:`ROW_SCHEMA`), a row per
            task found, in stored order.

        """
        content = [c for c in SEGMENT_SCHEMA if c in CONTENT]
        schema = {"i": pl.Int64, **{c: ROW_SCHEMA[c] for c in content}}
        parts = [spill(pl.DataFrame(schema=schema), replies)]
        if pair_index.is_empty() or not (self.files(fingerprint) or self.logs(fingerprint)):
            return parts[0]
        dead = self.dead_rows(fingerprint)  # runs that died: their verdicts were paid for
        frame_no = {-1 if n is None else n: f for n, f in frames.items()}
        columns = ["pair_key", *content]

        def read() -> list[pl.DataFrame]:
            found = parts[:1]
            taken = np.zeros(len(slots), dtype=bool)  # a verdict repeated across segments: once
            with self._locked(self.folder(fingerprint), exclusive=False):
                files = self.readable_files(fingerprint)  # a merge may have finished meanwhile
                stored = stored_batches(files, columns, BATCH_ROWS)  # bounded: replies
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
                    found.append(categorical(index.hstack(spill(rows[keep][content], replies))))
            return found

        parts = self._read(fingerprint, read)
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

    def _read_dead(self, paths: Sequence[Path]) -> pl.DataFrame:
        """The rows of dead logs; a log with unreadable lines is quarantined, its rows unused."""
        parts = [pl.DataFrame(schema=SEGMENT_SCHEMA)]
        for path in paths:
            try:
                rows, bad = read_log_checked(path)
            except FileNotFoundError:  # recovered by another run meanwhile
                continue
            if bad:
                lost = (
                    f"its {rows.height + bad} verdict lines ({bad} unreadable) are computed again"
                )
                quarantine(path, f"{bad} unreadable line(s)", lost, self.warn)
                continue
            parts.append(rows)
        return pl.concat(parts)

    def dead_rows(self, fingerprint: str) -> pl.DataFrame:
        """What runs that died had committed (read, not folded: a dry run writes no segment)."""
        with self._dead_logs(fingerprint) as paths:
            return self._read_dead(paths)

    def recover(self, fingerprint: str) -> int:
        """Fold the logs of runs that died into a segment (a finished run does this).

        Returns:
            The verdicts recovered.

        """
        with self._dead_logs(fingerprint) as paths:
            rows = self._read_dead(paths)
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
        name = new_name("seg", ".parquet")
        tmp = folder / f".{name}.tmp"
        sink_segment(rows.lazy(), tmp)
        if not pl.scan_parquet(tmp).select(pl.len()).collect().item():
            tmp.unlink()
            return None
        durable_rename(tmp, folder / name)
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
            files = self.readable_files(fingerprint, full=True)  # merging reads every page
            merged = pl.scan_parquet(files).unique(
                subset=["key", "pair_key", "dimension", "frames"], keep="last", maintain_order=True
            )
            name = new_name("seg", ".parquet")
            tmp = folder / f".{name}.tmp"
            sink_segment(merged, tmp)
            durable_rename(tmp, folder / name)
            for path in files:
                path.unlink(missing_ok=True)
            for stale in folder.glob(".seg-*.tmp"):  # left by a process killed mid-write
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.unlink(missing_ok=True)
        return True

    def count(self, fingerprint: str | None = None) -> int:
        """Verdicts held (one fingerprint's, or every one's), duplicates included."""
        folders = [self.folder(fingerprint)] if fingerprint is not None else self.folders()
        files = [f for folder in folders for f in self.readable_files(folder.name)]
        if not files:
            return 0
        return int(pl.scan_parquet(files).select(pl.len()).collect().item())
