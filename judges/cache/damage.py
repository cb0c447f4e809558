"""Damaged cache files: found, moved aside (never deleted), said once, recomputed.

A verdict segment cut short (a full disk, a file-system crash, a partial copy) or a commit log
with unreadable lines in its middle must not stop every later run of that judge. Such a file is
moved to ``quarantine/`` beside it, the run says once which file and what was lost, and the
verdicts it held are computed again. A torn *last* line of a commit log (a kill mid-write) is
normal and skipped silently. New segments are made durable before they appear
(:func:`durable_rename`), so a power loss leaves a whole file or none.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

QUARANTINE = "quarantine"
"""The folder, beside a damaged file, it is moved to."""

_said: set[str] = set()
_said_lock = threading.Lock()


def warn_stderr(message: str) -> None:
    """The default notice: one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def quarantine(path: Path, problem: str, lost: str, warn: Callable[[str], None]) -> Path | None:
    """Move a damaged cache file to ``quarantine/`` beside it and say so once per process.

    Args:
        path: The damaged file.
        problem: What is wrong with it (one line).
        lost: What its loss costs (e.g. "its verdicts are computed again").
        warn: Where the notice goes.

    Returns:
        Where the file now is; ``None`` when another process moved it first.

    Example:
        >>> quarantine(seg, "not a parquet file", "its 500 verdicts", print)  # doctest: +SKIP

    """
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / f"{path.name}.{time.time_ns()}"
    try:
        os.rename(path, target)
    except FileNotFoundError:  # a concurrent run moved it (and said so)
        return None
    with _said_lock:
        first = str(path) not in _said
        _said.add(str(path))
    if first:
        warn(
            f"cache file {path} is damaged ({problem}); moved to {target}, {lost} "
            "(nothing else is affected)"
        )
    return target


def segment_problem(path: Path, full: bool = False) -> str | None:
    """Why a parquet segment cannot be read, or ``None`` when it can.

    Args:
        path: The segment.
        full: Read every page (slow); otherwise only the footer (truncation, zeroes, garbage).
    """
    try:
        if full:
            pl.read_parquet(path)
        else:
            pl.read_parquet_schema(path)
    except FileNotFoundError:
        return None  # merged or moved meanwhile: not damage
    except Exception as e:  # polars raises several kinds for one broken file
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else 'unreadable'}"
    return None


def segment_rows(path: Path) -> int | None:
    """Rows a segment's footer declares (``None`` when the footer is unreadable)."""
    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except Exception:
        return None


def parse_log(data: bytes, width: int) -> tuple[list[list[Any]], int]:
    """A commit log's rows, and how many of its lines could not be read.

    A last line without its newline that is the start of a row (a kill mid-write) is not
    counted: that is how a log of a killed run ends. Any other line that is not a JSON list of
    ``width`` values is.
    """
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    rows: list[list[Any]] = []
    bad = 0
    for line in lines:
        row = _row(line, width)
        if row is None:
            bad += 1
        else:
            rows.append(row)
    if torn:
        row = _row(torn, width)
        if row is not None:
            rows.append(row)
        elif not (torn.startswith(b"[") and b"\x00" not in torn):
            bad += 1  # zeroes or garbage, not a write cut short
    return rows, bad


def _row(line: bytes, width: int) -> list[Any] | None:
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return row if isinstance(row, list) and len(row) == width else None


def durable_rename(tmp: Path, final: Path) -> None:
    """Rename a written file into place so that it survives a power loss.

    The file's bytes reach the disk (``fsync``) before the rename, so the name never points at
    a file the disk does not hold yet; then the folder is synced, so the rename itself lasts.
    """
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)  # atomic: readers see all of it or none
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
