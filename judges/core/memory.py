"""Handing memory the process freed back to the system between the stages of a long run.

glibc's ``malloc`` keeps what a program frees for its next requests. Python's objects, numpy's
arrays and the worker threads' arenas are all served by it, so after a stage that made and
dropped hundreds of megabytes (a million verdicts judged, a bootstrap's matrices) the process
stays that large while polars, which has an allocator of its own, asks the system for more.
:func:`trim_free_memory` returns the free pages at the top and inside the heaps
(``malloc_trim(0)``, a few milliseconds); elsewhere (macOS, musl, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Callable

__all__ = ["trim_free_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim`` (glibc), or ``None`` where it has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and other C libraries: no malloc_trim
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim_free_memory(collect: bool = False) -> bool:
    """Give the C heap's free memory back to the system; whether anything could be given.

    Nothing that is in use moves or changes: only pages no allocation holds are released.
    ``collect``: first free the garbage that only the cyclic collector frees (a drawn
    figure's matplotlib objects, ~20,000 of them after a run's figures).

    Example:
        >>> trim_free_memory(collect=True)  # doctest: +SKIP
        True

    """
    if collect:
        gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
