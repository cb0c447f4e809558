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

__all__ = ["BATCH_ROWS", "write_verdicts"]

BATCH_ROWS = 8_192
"""Rows (and replies) written at a time, a row group each: about 14 MB of replies at 1.7 kB
each (the writer holds a few batches at once)."""


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
        batch: Rows read back and written at a time (default :data:`BATCH_ROWS`).

    Example:
        >>> replies = Replies()
        >>> table = pl.DataFrame({"judge": ["j", "j"], "raw_ref": replies.add(
        ...     pl.Series(['{"a": 1}', None]))}, schema_overrides={"judge": pl.Categorical})
        >>> write_verdicts(tmp_path / "v.parquet", table, replies)  # doctest: +SKIP
        >>> pl.read_parquet(tmp_path / "v.parquet").rows()  # doctest: +SKIP
        [('j', '{"a": 1}'), ('j', None)]

    """
    schema = file_schema(dict(verdicts.schema))
    step = batch or BATCH_ROWS
    if RAW_REF not in verdicts.columns:
        verdicts.lazy().cast(schema).sink_parquet(path)  # type: ignore[arg-type]
        return

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
