"""Reading a verdict cache in tests: rows per namespace, and segment rows built by hand."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from judges.cache.segments import SEGMENT_SCHEMA


def count_entries(db: Path, namespace: str) -> int:
    """Rows a cache database holds in ``namespace`` (read with sqlite directly); for verdicts,
    those in its parquet segments and commit logs too."""
    import sqlite3

    from judges.cache.segments import VerdictSegments, read_log

    with sqlite3.connect(db) as conn:
        logged = conn.execute(
            "SELECT COUNT(*) FROM entries WHERE namespace = ?", (namespace,)
        ).fetchone()[0]
    segments = VerdictSegments(Path(db).with_suffix(".segments"))
    moved = segments.count() + sum(read_log(log).height for log in segments.logs())
    return logged + (moved if namespace == "verdicts" else 0)


def seg_rows(rows: list[tuple]) -> pl.DataFrame:
    """Verdict cache segment rows from (key, pair_key, dimension, frames, winner)."""
    full = [
        (k, pk, d, n, w, "ok", 1.0, 2.0, None, None, None, None, 0.1, '{"a": 1}')
        for k, pk, d, n, w in rows
    ]
    return pl.DataFrame(full, schema=SEGMENT_SCHEMA, orient="row")
