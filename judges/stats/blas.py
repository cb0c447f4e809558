"""Matrix products on one BLAS thread, for the thin products of the cluster bootstrap.

A resampled total is a ``B x C`` weight matrix times ``C x k`` cluster sums with small ``k``:
on a busy 2-core machine OpenBLAS's threads waited for each other 2-30x longer than one thread
computes (SafeSora's 14,769 prompts: 2.3 s against 0.08 s). The count is set through
``openblas_set_num_threads_local``, which the OpenBLAS numpy bundles applies to the whole
process: while any thread is inside :func:`one_blas_thread`, every product runs on one thread,
and the outermost exit puts the count back (a count of entries under a lock, so overlapping
threads cannot leave it at 1). Without numpy's bundled OpenBLAS nothing changes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

__all__ = ["one_blas_thread"]


@functools.cache
def _local_blas_threads() -> Callable[[int], int] | None:
    """The OpenBLAS numpy bundles: its ``openblas_set_num_threads_local``; ``None`` without one."""
    import ctypes

    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("libscipy_openblas*.so*")):
        try:
            setter = ctypes.CDLL(str(path)).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        return setter
    return None


_LOCK = threading.Lock()
_state = {"depth": 0, "previous": None}  # entries inside, and the count the first one found


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Matrix products on one BLAS thread while inside (process-wide; put back on last exit).

    The resampled totals are thin products (B x C by C x a few columns): on a busy 2-core
    machine OpenBLAS's threads waited for each other 2-30x longer than one thread computes.

    Example:
        >>> with one_blas_thread():
        ...     float((np.ones((2, 3)) @ np.ones(3)).sum())
        6.0

    """
    setter = _local_blas_threads()
    if setter is None:
        yield
        return
    with _LOCK:
        if _state["depth"] == 0:
            _state["previous"] = setter(1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _state["depth"] -= 1
            if _state["depth"] == 0 and _state["previous"] is not None:
                setter(_state["previous"])
                _state["previous"] = None
