"""``verdicts.parquet`` written a batch at a time, every reply read back into ``raw``.

A run's verdict table keeps its replies on disk (``raw_ref``, :mod:`judges.cache.replies`); the
file holds them as text, as it always did, so its readers read what they read before. The
table is streamed to the file through a polars IO source: a batch of rows, its replies read
back, cast as files hold them (categorical columns as text), written, released.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from polars.io.plugins import register_io_source

from judges.cache.replies import RAW_REF, Replies, with_raw
from judges.cache.verdict_rows import as_text

__all__ = ["BATCH_BYTES", "BATCH_ROWS", "write_verdicts"]

BATCH_ROWS = 8_192
"""Fewest rows written at a time, a row group each: about 14 MB of replies at 1.7 kB each (the
writer holds a few batches at once)."""

BATCH_BYTES = 16 << 20
"""About this much text a batch: with short replies a batch holds more rows (a batch costs a
few milliseconds however small: 8,192-row batches of 27-byte replies took 0.57-0.69 s for
827,056 rows, 131,072-row ones 0.40 s)."""

ROW_BYTES = 200
"""A verdict row's text besides its reply, roughly (ids, judge, dimension, winner...)."""


def file_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """What the file holds for a table of ``schema``: text for categorical, ``raw`` for refs.

    Example:
        >>> file_schema({"judge": pl.Categorical, "raw_ref": pl.Int64})
        {'judge': String, 'raw': String}

    """
    return as_text({("raw" if k == RAW_REF else k): (pl.String if k == RAW_REF else v)
                    for k, v in schema.items()})  # fmt: skip


def write_verdicts(
    path: Path, verdicts: pl.DataFrame, replies: Replies | None = None, batch: int | None = None
) -> None:
    """Write ``verdicts`` to ``path`` as ``verdicts.parquet`` holds them (replies as text).

    Args:
        path: The file to write.
        verdicts: A run's verdict table (``raw``, or ``raw_ref`` into ``replies``).
        replies: Where the table's replies are (needed when it holds ``raw_ref``).
        batch: Rows read back and written at a time (default: about :data:`BATCH_BYTES` of
            text, at least :data:`BATCH_ROWS` rows).

    Example:
        >>> replies = Replies()
        >>> table = pl.DataFrame({"judge": ["j", "j"], "raw_ref": replies.add(
        ...     pl.Series(['{"a": 1}', None]))}, schema_overrides={"judge": pl.Categorical})
        >>> write_verdicts(tmp_path / "v.parquet", table, replies)  # doctest: +SKIP
        >>> pl.read_parquet(tmp_path / "v.parquet").rows()  # doctest: +SKIP
        [('j', '{"a": 1}'), ('j', None)]

    """
    schema = file_schema(dict(verdicts.schema))
    if RAW_REF not in verdicts.columns:
        verdicts.lazy().cast(schema).sink_parquet(path)  # type: ignore[arg-type]
        return

    per_row = ROW_BYTES + (replies.bytes // max(len(replies), 1) if replies is not None else 0)
    step = batch or max(BATCH_ROWS, BATCH_BYTES // per_row)

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        rows = verdicts if n_rows is None else verdicts.head(n_rows)
        for a in range(0, rows.height, step):
            part = with_raw(rows.slice(a, step), replies).cast(schema)  # type: ignore[arg-type]
            if predicate is not None:
                part = part.filter(predicate)
            yield part.select(with_columns) if with_columns is not None else part

    register_io_source(io_source=source, schema=schema).sink_parquet(path, row_group_size=step)
