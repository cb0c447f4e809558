"""Looking after the cache: what it holds, whether every file reads, and pruning what is old.

Verdict segments pile up per judge fingerprint (a changed setting is a new fingerprint, and the
old one's verdicts stay until removed). Each run notes in its fingerprint's folder which judge
and settings it is (``judge.json``, rewritten each run: its time is the folder's last use), so
a listing can say what each folder is. API replies are kept apart (``cache.sqlite``): they were
paid for, so pruning never touches them unless asked to by name (``--replies``).

Example:
    >>> fingerprints(Store(cache / "cache.sqlite"))  # doctest: +SKIP
    [{'fingerprint': '8c1f...', 'judge': 'psnr', 'rows': 1008, 'bytes': 21931, ...}]
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.cache.damage import QUARANTINE, segment_problem
from judges.cache.segments import VerdictSegments
from judges.cache.store import Store
from judges.chat.client import RESPONSES
from judges.chat.pricing import price_for

ABOUT = "judge.json"
"""The note, in a fingerprint's folder, of the judge and settings it holds."""

DAY = 86_400.0


def note_use(segments: VerdictSegments, fingerprint: str, about: dict[str, Any]) -> None:
    """Record which judge and settings a fingerprint's folder holds (and that it was used now)."""
    folder = segments.folder(fingerprint)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"fingerprint": fingerprint, **about}, default=str, sort_keys=True)
    tmp = folder / f".{ABOUT}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):  # a note that cannot be written costs a listing only
        tmp.write_text(text)
        os.replace(tmp, folder / ABOUT)


def _about(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / ABOUT).read_text()))
    except (OSError, ValueError):
        return {}


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def fingerprints(store_path: Path) -> list[dict[str, Any]]:
    """One row per judge fingerprint: judge, settings, rows, bytes, last used, quarantined.

    ``rows`` counts stored verdicts (readable segments plus the logs of runs in progress or
    killed); ``judge`` is ``?`` for folders written before runs noted their judge.
    """
    segments = VerdictSegments(store_path.with_suffix(".segments"))
    rows = []
    for folder in segments.folders():
        about = _about(folder)
        files = _files(folder)
        stored = sum(
            _rows_of(p) for p in folder.glob("seg-*.parquet") if segment_problem(p) is None
        )
        logged = sum(_lines_of(p) for p in folder.glob("log-*.jsonl"))
        quarantined = list((folder / QUARANTINE).glob("*"))
        rows.append(
            {
                "fingerprint": about.get("fingerprint", folder.name),
                "folder": folder.name,
                "judge": about.get("name") or about.get("judge") or "?",
                "kind": about.get("judge"),
                "settings": about.get("settings"),
                "rows": stored + logged,
                "bytes": sum(p.stat().st_size for p in files),
                "last_used": max((p.stat().st_mtime for p in files), default=None),
                "quarantined": len(quarantined),
            }
        )
    return rows


def _rows_of(path: Path) -> int:
    import polars as pl

    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _lines_of(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.read_bytes().count(b"\n")
    return 0


def models(store_path: Path) -> list[dict[str, Any]]:
    """One row per API model: replies cached and their spend at the built-in list prices.

    Spend is ``None`` for a model without a built-in price (one priced with ``price_input`` /
    ``price_output`` at run time: run.json has what that run paid).
    """
    if not store_path.exists():
        return []
    with Store(store_path) as store:
        replies = store.items(RESPONSES)
    by_model: dict[str, dict[str, Any]] = {}
    for data in replies.values():
        model = str(data.get("model") or "?")
        row = by_model.setdefault(model, {"model": model, "replies": 0, "spend_usd": 0.0})
        row["replies"] += 1
        price, usage = price_for(model), data.get("usage")
        if price is None or row["spend_usd"] is None:
            row["spend_usd"] = None
            continue
        if usage:
            cost = price.cost(usage["prompt_tokens"] or 0, usage["completion_tokens"] or 0)
            batch = data.get("batch")
            row["spend_usd"] += cost * batch["discount"] if batch else cost
    return sorted(by_model.values(), key=lambda r: r["model"])


@dataclass
class Damage:
    """What :func:`verify` found: one line per damaged file."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)


def verify(store_path: Path) -> Damage:
    """Read every cache file in full and say which are damaged.

    The database is checked with ``PRAGMA integrity_check``, every segment page by page, every
    commit log line by line. Nothing is moved: the next run of a judge quarantines its damaged
    files, and any run prints the database's recovery steps.
    """
    from judges.cache.commit_log import SEGMENT_SCHEMA
    from judges.cache.damage import parse_log

    found = Damage()
    if store_path.exists():
        found.checked += 1
        try:
            with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as conn:
                result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            if result != ["ok"]:
                found.problems.append(f"{store_path}: {'; '.join(result[:3])}")
        except sqlite3.DatabaseError as e:
            found.problems.append(f"{store_path}: {e}")
    segments = VerdictSegments(store_path.with_suffix(".segments"))
    for folder in segments.folders():
        for path in sorted(folder.glob("seg-*.parquet")):
            found.checked += 1
            if (problem := segment_problem(path, full=True)) is not None:
                found.problems.append(f"{path}: {problem}")
        for path in sorted(folder.glob("log-*.jsonl")):
            found.checked += 1
            with contextlib.suppress(FileNotFoundError):
                _, bad = parse_log(path.read_bytes(), len(SEGMENT_SCHEMA))
                if bad:
                    found.problems.append(f"{path}: {bad} unreadable line(s)")
    return found


@dataclass
class Pruned:
    """What :func:`prune` removed (or, dry, would remove)."""

    folders: list[dict[str, Any]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    replies: int = 0
    bytes: int = 0


def prune(
    store_path: Path,
    *,
    older_than_days: float | None = None,
    judge: str | None = None,
    fingerprint: str | None = None,
    replies: bool = False,
    dry_run: bool = False,
) -> Pruned:
    """Delete the verdict folders that match every filter given.

    With ``replies`` (and ``older_than_days``) the API replies older than that go too. A
    folder a live run is writing (its commit log is locked) or reading (its lock is held) is
    skipped and named in ``busy``.
    """
    segments = VerdictSegments(store_path.with_suffix(".segments"))
    now = time.time()
    out = Pruned()
    for row in fingerprints(store_path):
        if older_than_days is not None and (row["last_used"] or now) > now - older_than_days * DAY:
            continue
        if judge is not None and judge not in (row["judge"], row["kind"]):
            continue
        if fingerprint is not None and not row["fingerprint"].startswith(fingerprint):
            continue
        folder = segments.root / row["folder"]
        if dry_run:
            out.folders.append(row)
            out.bytes += row["bytes"]
            continue
        if _remove(segments, folder):
            out.folders.append(row)
            out.bytes += row["bytes"]
        else:
            out.busy.append(row["folder"])
    if replies and older_than_days is not None and store_path.exists():
        out.replies = _prune_replies(store_path, now - older_than_days * DAY, dry_run)
    return out


def _remove(segments: VerdictSegments, folder: Path) -> bool:
    """Remove a fingerprint's folder unless a run is using it.

    Through the segments' own locks: the folder lock readers share, each live run's log lock.
    """
    with segments._locked(folder, exclusive=True, wait=False) as locked:
        if not locked:
            return False
        with segments._dead_logs(folder.name) as dead:
            if len(dead) != len(segments.logs(folder.name)):
                return False  # a live run's log
            aside = folder.with_name(f".{folder.name}.pruned-{os.getpid()}")
            folder.rename(aside)  # atomic: a run never sees half a folder
    shutil.rmtree(aside, ignore_errors=True)
    return True


def _prune_replies(store_path: Path, before: float, dry_run: bool) -> int:
    with sqlite3.connect(store_path, timeout=30.0) as conn:
        where = "FROM entries WHERE namespace = ? AND created < ?"
        count = conn.execute(f"SELECT count(*) {where}", (RESPONSES, before)).fetchone()[0]
        if not dry_run:
            conn.execute(f"DELETE {where}", (RESPONSES, before))
    return int(count)
