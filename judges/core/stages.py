"""Wall time per named stage of a run, for ``--profile``.

A run passes one :class:`Stages` down and wraps each stage in :meth:`Stages.stage`; a stage
entered twice adds up. :meth:`Stages.format` prints them in the order they were first entered,
with each one's share of the total.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Stages:
    """Seconds spent in each named stage.

    Example:
        >>> ticks = iter([0.0, 1.5, 2.0, 2.25])
        >>> stages = Stages(clock=lambda: next(ticks))
        >>> with stages.stage("loading pairs"):
        ...     pass
        >>> stages.add("imports", 0.5)
        >>> with stages.stage("loading pairs"):
        ...     pass
        >>> stages.seconds
        {'loading pairs': 1.75, 'imports': 0.5}
        >>> print(stages.format())
        loading pairs   1.750 s   78%
        imports         0.500 s   22%
        total           2.250 s

    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to stage ``name`` (measured elsewhere, e.g. the imports)."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as (part of) stage ``name``, also when it raises."""
        start = self.clock()
        try:
            yield
        finally:
            self.add(name, self.clock() - start)

    def format(self) -> str:
        """One line per stage: seconds and share of the total, then the total."""
        total = sum(self.seconds.values())
        width = max([len(name) for name in self.seconds] + [len("total")]) + 2
        lines = [
            f"{name:<{width}}{s:6.3f} s  {s / total if total else 0.0:4.0%}"
            for name, s in self.seconds.items()
        ]
        lines.append(f"{'total':<{width}}{total:6.3f} s")
        return "\n".join(lines)
