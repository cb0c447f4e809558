"""Matrix products on one BLAS thread, for the thin products of the cluster bootstrap.

A resampled total is a ``B x C`` weight matrix times ``C x k`` cluster sums with small ``k``:
on a busy 2-core machine OpenBLAS's threads waited for each other 2-30x longer than one thread
computes (SafeSora's 14,769 prompts: 2.3 s against 0.08 s). The thread count is set for the
calling thread only (``openblas_set_num_threads_local``) and put back after; without numpy's
bundled OpenBLAS nothing changes.
"""

from __future__ import annotations

import contextlib
import functools
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


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """This thread's matrix products on one BLAS thread (others' settings untouched).

    The resampled totals are thin products (B x C by C x a few columns): on a busy 2-core
    machine OpenBLAS's threads waited for each other 2-30x longer than one thread computes.
    """
    setter = _local_blas_threads()
    previous = setter(1) if setter is not None else None
    try:
        yield
    finally:
        if setter is not None and previous is not None:
            setter(previous)
