"""Which tasks share videos, and runs of tasks cut where a group of them ends.

A prompt's pairs show the same videos, so its tasks decode the same files. Work handed to a
thread or a worker in whole prompts lets two of them decode different videos at once, instead
of one waiting on the other's decode of the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def group_of(task: Any) -> str:
    """What tasks share videos: the prompt of a pair, or a harm item's video."""
    pair = getattr(task, "pair", None)
    if pair is not None:
        return str(pair.prompt_id or pair.pair_id)
    return str(task.item_id)


def whole_groups(tasks: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive runs of at least ``size`` tasks, each ending where a group ends.

    Tasks sorted by :func:`group_of` (as the runner sorts them) give runs of whole prompts;
    the last run may be shorter.

    Example:
        >>> from types import SimpleNamespace as T
        >>> tasks = [T(item_id=g) for g in "aabbbc"]
        >>> [len(run) for run in whole_groups(tasks, 2)]
        [2, 3, 1]

    """
    run: list[Any] = []
    last_pair: Any = None
    last: str | None = None
    for task in tasks:
        pair = getattr(task, "pair", None)
        # A pair's tasks are one group: only a new pair asks for the group's name.
        group = last if pair is not None and pair is last_pair else group_of(task)
        if len(run) >= size and group != last:
            yield run
            run = []
        run.append(task)
        last, last_pair = group, pair
    if run:
        yield run
