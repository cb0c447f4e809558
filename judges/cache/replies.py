"""A run's replies (each verdict's ``raw`` JSON) kept apart, on disk when large, found by number.

A VLM judge's verdict carries its model's reply, about 1.7 kB: at SafeSora size (1.24M
verdicts) the replies alone took 2.1 GB of a rerun's verdict table. A run therefore keeps them
in a :class:`Replies` file instead, written as the cache lookup reads them a batch at a time
and as computed verdicts are taken in, and its verdict table holds ``raw_ref`` (Int64: the
reply's number, null where a verdict has none) in place of ``raw``. What reads replies asks for
them by number (:meth:`Replies.take`) or by content (:meth:`Replies.containing`), a bounded
batch at a time; ``verdicts.parquet`` still holds every reply as text.

Small replies stay in memory (up to :data:`MEMORY_BYTES` in all: a score judge's), so a run
that has little to spill pays nothing for the file. The file is an unnamed temporary file (gone
when the run's process ends or the object is collected); each text is followed by a newline,
and their end offsets stay in memory (8 bytes a reply).
"""

from __future__ import annotations

import itertools
import mmap
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

__all__ = ["RAW_REF", "Replies", "ref_schema", "spill", "with_raw"]

RAW_REF = "raw_ref"
"""The column that holds a verdict's reply number where a table keeps replies on disk."""

SEARCH_BYTES = 16 << 20
"""Bytes of replies read at once by :meth:`Replies.containing`."""

MAPPED = 1_024
"""Replies read through one mapping of the file (at most 64 MB of pages mapped at once)."""

WRITE_ROWS = 16_384
"""Replies written to the file at a time."""

RUN_REPLY_BYTES = 256
"""Replies this long on average, or shorter, are read back as runs (:meth:`Replies.take`)."""

MEMORY_BYTES = 16 << 20
"""Replies kept in memory until they take this much (their text and 16 bytes each, what a polars
string column holds a text with); then all of them go to the file. Small runs (the demo,
fetv-dev: kilobytes) never open it; a score judge's SafeSora-size run (1.24M replies of ~27
bytes, ~55 MB in memory) does: in memory its replies raised a rerun's peak by 40 MB (591-606
MB against 551-558 MB, ``benchmarks/scale.py --pairs 51691``)."""


class Replies:
    """Texts kept in order, each read back by its number, in memory or in a temporary file.

    In memory while they total at most :data:`MEMORY_BYTES` (most runs: a score judge's
    replies are ~30 bytes each), then in an unnamed temporary file (a VLM judge's ~1.7 kB
    replies at scale).

    Args:
        folder: Where the file lives (default: the system's temporary folder).

    Example:
        >>> replies = Replies()
        >>> refs = replies.add(pl.Series(["a reply", None, "another"]))
        >>> refs.to_list()
        [0, None, 1]
        >>> replies.take(pl.Series([1, None, 0, 1])).to_list()
        ['another', None, 'a reply', 'another']
        >>> replies.containing("other", "a ").tolist()
        [[False, True], [True, False]]

    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self._folder = folder
        self._file: IO[bytes] | None = None  # opened when the replies outgrow memory
        self._kept: list[pl.Series] = []  # the texts while in memory, a chunk per add()
        self._memory: pl.Series | None = None  # those chunks as one, once read
        self._ends: list[np.ndarray] = []  # end offsets, a chunk per add()
        self._all = np.zeros(1, dtype=np.int64)  # [0, end_0, end_1, ...] once consolidated
        self._size = 0
        # In the file each reply is followed by a newline, so a run of replies is read back by
        # one split (JSON replies have none of their own); a reply with one turns that off.
        self._lines = True
        self._closed = False

    def __len__(self) -> int:
        return len(self._all) - 1 + sum(len(e) for e in self._ends)

    @property
    def bytes(self) -> int:
        """The replies' total size in UTF-8 bytes."""
        return self._size

    @property
    def on_disk(self) -> bool:
        """Whether the replies are in the file (else in memory)."""
        return self._file is not None

    def _in_memory(self) -> pl.Series:
        """Every reply, while they are kept in memory, as one column."""
        if self._kept or self._memory is None:
            chunks = [c for c in (self._memory, *self._kept) if c is not None]
            empty = pl.Series("raw", [], dtype=pl.String)
            self._memory = pl.concat(chunks, rechunk=True) if chunks else empty
            self._kept = []
        return self._memory

    def _write(self, kept: pl.Series) -> None:
        """Append ``kept`` (no nulls) to the file."""
        assert self._file is not None
        self._file.seek(0, os.SEEK_END)
        # A slice at a time, joined by polars: a Python object per reply for a whole run's
        # replies (1.24M computed ones at once) cost 110 MB at SafeSora size.
        for a in range(0, len(kept), WRITE_ROWS):
            self._file.write(kept.slice(a, WRITE_ROWS).str.join("\n").item().encode() + b"\n")

    def _offsets(self) -> np.ndarray:
        """``[0, end_0, end_1, ...]``: reply ``k`` has ``offsets[k + 1] - offsets[k]`` bytes.

        In the file it starts at ``offsets[k] + k`` (:meth:`_at_file`).
        """
        if self._ends:
            self._all = np.concatenate([self._all, *self._ends])
            self._ends = []
        return self._all

    def _at_file(self, numbers: np.ndarray) -> np.ndarray:
        """Where replies ``numbers`` start in the file (a newline after each reply before).

        Reply ``k`` is bytes ``at(k) : at(k + 1) - 1`` of the file, its newline at
        ``at(k + 1) - 1``; ``len(self)`` may be asked for (the file's end).
        """
        return self._offsets()[numbers] + numbers

    def add(self, texts: pl.Series) -> pl.Series:
        """Store ``texts``; their numbers (Int64, null where a text is null), in order."""
        self._check_open()
        texts = texts.cast(pl.String)
        present = texts.is_not_null()
        kept = texts.filter(present)
        first = len(self)
        if len(kept):
            if self._lines and kept.str.contains("\n", literal=True).any():
                self._lines = False
            sizes = kept.str.len_bytes().cast(pl.Int64).to_numpy()
            self._ends.append(self._size + np.cumsum(sizes))
            self._size += int(sizes.sum())
            if self._file is not None:
                self._write(kept)
            elif self._size + 16 * (first + len(kept)) <= MEMORY_BYTES:
                self._kept.append(kept)
            else:  # outgrown memory: every reply so far goes to the file, and the rest after
                self._file = tempfile.TemporaryFile(dir=self._folder)  # noqa: SIM115 - kept open
                for chunk in (self._memory, *self._kept, kept):  # a chunk at a time: no copy
                    if chunk is not None:
                        self._write(chunk)
                self._kept, self._memory = [], None
        numbers = np.full(len(texts), -1, dtype=np.int64)
        numbers[present.to_numpy()] = np.arange(first, first + len(kept), dtype=np.int64)
        refs = pl.Series(RAW_REF, numbers, dtype=pl.Int64)
        return refs.set(refs == -1, None) if len(kept) < len(texts) else refs

    def _read(self, numbers: np.ndarray) -> list[bytes]:
        """The UTF-8 texts of ``numbers`` (each a stored reply), in that order.

        Read through mappings of the file: a reply is a slice, in any order (a read per reply
        cost a system call each). Each mapping serves :data:`MAPPED` replies and is closed, so
        the pages it brought in (the kernel maps up to 64 kB around each one read) leave the
        process's memory with it.
        """
        if not len(numbers):
            return []
        assert self._file is not None
        self._file.flush()
        starts, ends = self._at_file(numbers).tolist(), (self._at_file(numbers + 1) - 1).tolist()
        texts: list[bytes] = []
        for k in range(0, len(starts), MAPPED):
            with mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                pieces = zip(starts[k : k + MAPPED], ends[k : k + MAPPED], strict=True)
                texts += [mapped[a:b] for a, b in pieces]
        return texts

    def take(self, refs: pl.Series) -> pl.Series:
        """The texts of ``refs`` (reply numbers; null gives null), as a ``raw`` column."""
        self._check_open()
        refs = refs.cast(pl.Int64)
        if self._file is None:
            return self._in_memory().gather(refs).alias("raw")
        present = refs.is_not_null()
        numbers = refs.filter(present).to_numpy()
        if self._lines and len(numbers) and self._size <= RUN_REPLY_BYTES * len(self):
            # Short replies (a score judge's ~30 bytes: a Python object each costs more than
            # its text) come back by one read and one split from the first asked to the last,
            # where that reads at most twice the bytes asked for, or SEARCH_BYTES (a setting's
            # replies, every 16th of a run's: 4 MB for 8,192). Long ones (a VLM's ~1.7 kB)
            # one by one: read as runs, their copies in flight raised a rerun's peak 130 MB.
            low, high = int(numbers.min()), int(numbers.max())
            offsets = self._offsets()
            wanted = int((offsets[numbers + 1] - offsets[numbers]).sum())
            if offsets[high + 1] - offsets[low] <= max(2 * wanted, SEARCH_BYTES):
                return self._run(low, high + 1).gather(refs - low).alias("raw")
        texts = pl.Series("raw", self._read(numbers), dtype=pl.Binary).cast(pl.String)
        if len(texts) == len(refs):
            return texts
        # Nulls placed by polars (a statistic asks for a few replies among a run's 1.24M).
        out = pl.repeat(None, len(refs), dtype=pl.String, eager=True).alias("raw")
        return out.scatter(np.flatnonzero(present.to_numpy()), texts) if len(texts) else out

    def _pieces(self, first: int, end: int) -> Iterator[tuple[int, int, bytes]]:
        """Replies ``first`` to ``end - 1`` as ``(a, b, bytes of replies a..b-1)``.

        Whole replies, about :data:`SEARCH_BYTES` a piece (a longer reply is read alone), each
        followed by its newline.
        """
        assert self._file is not None
        self._file.flush()
        at_file = self._at_file(np.arange(first, end + 1))
        steps = np.arange(int(at_file[0]), int(at_file[-1]), SEARCH_BYTES)
        bounds = [*np.unique(np.searchsorted(at_file, steps)).tolist(), end - first]
        for a, b in itertools.pairwise(bounds):
            if b > a:
                start = int(at_file[a])
                yield (
                    first + a,
                    first + b,
                    _read_exactly(self._file, start, int(at_file[b]) - start),
                )

    def _run(self, first: int, end: int) -> pl.Series:
        """Replies ``first`` to ``end - 1`` from the file: a read and a split a piece."""
        parts = [
            pl.Series([chunk.decode()]).str.split("\n").explode().head(b - a)
            for a, b, chunk in self._pieces(first, end)
        ]
        return pl.concat(parts) if parts else pl.Series([], dtype=pl.String)

    def containing(self, *literals: str) -> np.ndarray:
        """Whether each stored reply contains each of ``literals`` (replies x literals).

        The file is read once, :data:`SEARCH_BYTES` at a time (whole replies each time), and
        searched as bytes: no reply becomes a Python object unless a literal is found in it,
        so a run whose replies hold none of them (most judges') pays one pass of ``find``.
        """
        self._check_open()
        for literal in literals:
            if not literal or "\n" in literal:
                raise ValueError(f"containing({literal!r}): literals must be non-empty, one line")
        wanted = [literal.encode() for literal in literals]
        found = np.zeros((len(self), len(wanted)), dtype=bool)
        if not len(self) or not wanted:
            return found
        if self._file is None:
            texts = self._in_memory()
            for k, literal in enumerate(literals):
                found[:, k] = texts.str.contains(literal, literal=True).to_numpy()
            return found
        at_file = self._at_file(np.arange(len(self) + 1))
        for a, b, chunk in self._pieces(0, len(self)):
            # Reply r's text ends where its newline starts; a literal has no newline, so a
            # match never runs from one reply into the next.
            ends = at_file[a + 1 : b + 1] - 1 - at_file[a]
            for k, literal in enumerate(wanted):
                at = chunk.find(literal)
                while at >= 0:
                    r = int(np.searchsorted(ends, at, side="right"))  # the reply it starts in
                    found[a + r, k] = True
                    at = chunk.find(literal, int(ends[r]) + 1)
        return found

    def close(self) -> None:
        """Delete the file, or drop the replies in memory (they can no longer be read)."""
        if self._file is not None:
            self._file.close()
        self._kept, self._memory, self._closed = [], None, True

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("these replies were closed (Replies.close): they cannot be used")


def _read_exactly(file: IO[bytes], start: int, size: int) -> bytes:
    """``size`` bytes of ``file`` from ``start``, read until they are all there.

    One read may return fewer bytes than asked (Linux caps one at about 2 GiB).
    """
    parts, done = [], 0
    while done < size:
        part = os.pread(file.fileno(), size - done, start + done)
        if not part:
            raise OSError(f"replies file ended {size - done} bytes early (at byte {start + done})")
        parts.append(part)
        done += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def ref_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``raw_ref`` (Int64) in the place of ``raw``: a table whose replies spilled.

    Example:
        >>> ref_schema({"raw": pl.String, "frames": pl.Int64})
        {'raw_ref': Int64, 'frames': Int64}

    """
    return {RAW_REF if k == "raw" else k: pl.Int64 if k == "raw" else v for k, v in schema.items()}


def spill(frame: pl.DataFrame, replies: Replies | None) -> pl.DataFrame:
    """``frame`` with its ``raw`` texts stored in ``replies`` and ``raw_ref`` in their place.

    A frame without ``raw`` (or no ``replies``) is returned as it is.

    Example:
        >>> replies = Replies()
        >>> spill(pl.DataFrame({"i": [0, 1], "raw": ["{}", None]}), replies).rows()
        [(0, 0), (1, None)]

    """
    if replies is None or "raw" not in frame.columns:
        return frame
    at = frame.columns.index("raw")
    return (
        frame.with_columns(replies.add(frame["raw"]))
        .drop("raw")
        .select([*frame.columns[:at], RAW_REF, *frame.columns[at + 1 :]])
    )


def with_raw(
    frame: pl.DataFrame, replies: Replies | None, only: np.ndarray | None = None
) -> pl.DataFrame:
    """``frame`` with ``raw`` texts read back in place of ``raw_ref``.

    ``only``: read only the replies marked (a bool per stored reply, e.g. one column of
    :meth:`Replies.containing`), others read as null: what a statistic that looks at some
    replies needs, without every reply in memory at once.

    Example:
        >>> replies = Replies()
        >>> table = spill(pl.DataFrame({"raw": ['{"a": 1}', None, '{"b": 2}']}), replies)
        >>> with_raw(table, replies)["raw"].to_list()
        ['{"a": 1}', None, '{"b": 2}']
        >>> with_raw(table, replies, replies.containing('"b"')[:, 0])["raw"].to_list()
        [None, None, '{"b": 2}']

    """
    if RAW_REF not in frame.columns:
        return frame
    if replies is None:
        raise ValueError("a table with raw_ref needs its Replies to read the replies")
    refs = frame[RAW_REF]
    if only is not None:
        wanted = refs.fill_null(-1).to_numpy()
        keep = np.zeros(len(wanted), dtype=bool)
        ok = wanted >= 0
        keep[ok] = only[wanted[ok]]
        refs = refs.set(pl.Series(~keep), None)
    at = frame.columns.index(RAW_REF)
    return (
        frame.with_columns(replies.take(refs))
        .drop(RAW_REF)
        .select([*frame.columns[:at], "raw", *frame.columns[at + 1 :]])
    )
