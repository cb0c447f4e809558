"""Codes numbered in the order their values first appear, for a million rows at a time.

Cluster and group numbers must not depend on a process's past: polars' categorical codes for a
table read in chunks came in another order in each process, and so did the intervals built on
them. First appearance is a property of the data alone.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["by_first_row", "first_seen_codes"]


def first_seen_codes(keys: pl.Series) -> np.ndarray:
    """Codes ``0..C-1`` for a column's values in the order they first appear (nulls one key).

    The same codes as :func:`judges.stats.bootstrap.cluster_codes`, for a million rows: a
    dense rank (sorted, deterministic), then renumbered by each value's first row.

    Example:
        >>> first_seen_codes(pl.Series(["b", "a", "b", None, "c"])).tolist()
        [0, 1, 0, 2, 3]

    """
    if keys.len() == 0:
        return np.zeros(0, dtype=np.int64)
    ranked = keys.rank("dense").fill_null(0).to_numpy().astype(np.int64)  # null: rank 0
    return by_first_row(ranked, int(ranked.max()) + 1)[0]


def by_first_row(codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0..count-1`` renumbered in the order they first appear, and each one's first row.

    A code that never appears is numbered after those that do (its first row: ``len(codes)``).

    Example:
        >>> [a.tolist() for a in by_first_row(np.array([2, 0, 2, 1]), 4)]
        [[0, 1, 0, 2], [0, 1, 3, 4]]

    """
    # np.minimum.at: a repeated index's result in a plain assignment is undefined.
    first = np.full(count, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    order = np.argsort(first, kind="stable")
    number = np.empty(count, dtype=np.int64)
    number[order] = np.arange(count)
    return number[codes], first[order]
