"""Keeping Python's cyclic garbage collector out of the way of a run's long-lived objects.

A SafeSora-size run holds 150,000 objects for its whole length (a ``Pair`` and two ``Video``
objects per record) and makes hundreds of thousands more while it plans, indexes and tabulates.
The collector walked every one of them again and again: 0.3-0.6 s of loading the pairs, and
0.6-0.8 s of a 6 s cached rerun. Reference counting still frees everything as usual; only
cycles wait (until the block ends).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

__all__ = ["frozen_after", "gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside (turned back on after, if it was on).

    Example:
        >>> with gc_paused():
        ...     pairs = [object() for _ in range(3)]
        >>> gc.isenabled()
        True

    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def frozen_after() -> Iterator[Callable[[], None]]:
    """Yields ``freeze``: call it once the run's long-lived objects exist.

    Every object alive then is left out of later collections (``gc.freeze``) until the block
    ends (``gc.unfreeze``). A process that froze objects itself is left as it is. CPython has
    one permanent generation for the whole process, so objects another thread freezes while
    the block runs are unfrozen with the run's at its end (nothing is freed by that: they only
    rejoin the collections).

    Example:
        >>> with frozen_after() as freeze:
        ...     freeze()
        ...     gc.get_freeze_count() > 0
        True
        >>> gc.get_freeze_count()
        0

    """
    froze = False

    def freeze() -> None:
        nonlocal froze
        if not froze and gc.get_freeze_count() == 0:
            gc.freeze()
            froze = True

    try:
        yield freeze
    finally:
        if froze:
            gc.unfreeze()
