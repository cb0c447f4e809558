"""Wall time per named stage of a run, for ``--profile``.

A run passes one :class:`Stages` down and wraps each stage in :meth:`Stages.stage`, or marks the
end of each with :meth:`Stages.lap`; a stage entered twice adds up. :meth:`Stages.format` prints
them in the order they were first entered, with each one's share of the total.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Stages:
    """Seconds spent in each named stage.

    Example:
        >>> ticks = iter([0.0, 0.0, 1.5, 2.0, 2.25, 3.0])
        >>> stages = Stages(clock=lambda: next(ticks))
        >>> with stages.stage("loading pairs"):
        ...     pass
        >>> stages.add("imports", 0.5)
        >>> with stages.stage("loading pairs"):
        ...     pass
        >>> stages.lap("figures")  # since the object was made
        >>> stages.seconds
        {'loading pairs': 1.75, 'imports': 0.5, 'figures': 3.0}
        >>> print(stages.format())
        loading pairs   1.750 s   33%
        imports         0.500 s   10%
        figures         3.000 s   57%
        total           5.250 s

    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = {}
        self._last = clock()

    def lap(self, name: str) -> None:
        """Add the time since the previous lap (or since this object was made) to ``name``.

        One line after each stage of a long function, instead of indenting it under ``with``.
        """
        now = self.clock()
        self.add(name, now - self._last)
        self._last = now

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
