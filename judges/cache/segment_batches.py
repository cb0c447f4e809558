"""Segment files written and read in bounded pieces, so replies never sit in memory at once.

A VLM judge's cached verdict carries its reply (about 1.7 kB): a SafeSora-size segment holds
2 GB of them. Segments are written in row groups of :data:`ROW_GROUP` rows, and a lookup reads
them a slice at a time (:func:`stored_batches`): a row group is what a parquet reader decodes
at once, and polars' ``collect_batches`` reads ahead of a slower consumer without bound (a
rerun of 240,000 verdicts held every reply, 400 MB, before its first batch was used).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from judges.cache.commit_log import SEGMENT_SCHEMA

__all__ = ["ROW_GROUP", "sink_segment", "stored_batches"]

ROW_GROUP = 16_384
"""Rows a segment's row group holds: about 28 MB of replies at 1.7 kB each."""

BATCH_BYTES = 16_000_000
"""About the memory a batch of :func:`stored_batches` takes (rows of replies are large)."""

FIRST_ROWS = 1_024
"""The first batch's rows, before the rows' size is known."""


def sink_segment(rows: pl.LazyFrame, path: Path) -> None:
    """Stream ``rows`` (:data:`SEGMENT_SCHEMA` columns) to the segment file ``path``."""
    rows.select(list(SEGMENT_SCHEMA)).cast(SEGMENT_SCHEMA).sink_parquet(
        path, row_group_size=ROW_GROUP
    )


def stored_batches(
    files: Sequence[Path], columns: Sequence[str], rows: int
) -> Iterator[pl.DataFrame]:
    """The ``columns`` of every row of ``files``, in stored order, at most ``rows`` at a time.

    Each batch is its own slice of one file (the reader decodes only the row groups it
    overlaps), read when the caller asks for it. Batches take about :data:`BATCH_BYTES`: the
    first has :data:`FIRST_ROWS` rows, the next as many as fit (at most ``rows``), so a
    cache of replies is read in smaller batches than one of scores.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "seg.parquet"
        >>> pl.DataFrame({"a": range(5)}).write_parquet(path)
        >>> [b["a"].to_list() for b in stored_batches([path], ["a"], 2)]
        [[0, 1], [2, 3], [4]]

    """
    size = min(rows, FIRST_ROWS)
    for path in files:
        scan = pl.scan_parquet(path)
        total, start = scan.select(pl.len()).collect().item(), 0
        while start < total:
            batch = scan.select(columns).slice(start, size).collect()
            start += size
            per_row = batch.estimated_size() / max(batch.height, 1)
            yield batch
            size = int(min(rows, max(FIRST_ROWS, BATCH_BYTES // max(per_row, 1.0))))
            # End on a row group's boundary where one is in reach: a batch that ends inside a
            # row group makes the next decode that group again.
            aligned = (start + size) // ROW_GROUP * ROW_GROUP - start
            size = aligned if aligned > 0 else size
