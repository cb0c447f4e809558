"""Commit logs: one run's append-only JSON-lines log of verdicts (see :mod:`.segments`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from judges.cache.damage import parse_log
from judges.cache.json_lines import dumps_function
from judges.cache.verdict_rows import CONTENT, ROW_SCHEMA, as_text

try:  # POSIX; elsewhere a live run's log is not fenced off other runs' recovery
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SEGMENT_SCHEMA: dict[str, Any] = {
    "key": pl.String,
    "pair_key": pl.String,
    **as_text({name: ROW_SCHEMA[name] for name in CONTENT}),
}
"""Pair judges' rows are identified by ``pair_key`` (the hash of the pair-level parts of the
key: files, inputs, judge, strategy), ``dimension`` and ``frames``, and leave ``key`` null
unless read from an older SQLite cache; other judges' by ``key`` (the verdict's cache key).
Text on disk, categorical columns included (segments written before read the same)."""


_LINE = dumps_function()
"""``json.dumps``, its encoder built once (a first run writes a line per verdict)."""


def new_name(prefix: str, suffix: str) -> str:
    """A file name that sorts by creation time and is unique across processes."""
    return f"{prefix}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{suffix}"


class CommitLog:
    """One run's append-only log of verdicts, locked exclusively while the run lives.

    A line is a JSON list of a segment row's values, in :data:`SEGMENT_SCHEMA` order.
    Each :meth:`write` reaches the operating system before it returns, so a killed process
    loses only what it had not yet written; a torn last line is skipped on recovery.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / new_name("log", ".jsonl")
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
    return _LINE([key, pair_key, *cells])


def read_log(path: Path) -> pl.DataFrame:
    """A commit log's readable rows (a torn last line, from a kill mid-write, is left out)."""
    return read_log_checked(path)[0]


def read_log_checked(path: Path) -> tuple[pl.DataFrame, int]:
    """A commit log's readable rows, and how many lines were unreadable.

    A torn last line (a kill mid-write) is not counted: only damage is.
    """
    rows, bad = parse_log(path.read_bytes(), len(SEGMENT_SCHEMA))
    return pl.DataFrame(rows, schema=SEGMENT_SCHEMA, orient="row", strict=False), bad


def read_logs(paths: Sequence[Path]) -> pl.DataFrame:
    """The rows of several commit logs, as one frame."""
    return pl.concat([pl.DataFrame(schema=SEGMENT_SCHEMA), *(read_log(p) for p in paths)])
