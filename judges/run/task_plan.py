"""The tasks of a run: every (pair, dimension, frame count) to judge, and what is left out.

A SafeSora-size run plans 1.24M tasks, and a cached rerun needs almost none of them as objects:
:class:`PlannedTasks` holds the plan as integer arrays (pair, dimension, frame count of each
task) and makes a :class:`~judges.judge.base.Task` only when one is asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np

from judges.core.types import Dimension, Pair
from judges.judge.base import Task

__all__ = ["PlannedTasks", "plan_tasks", "planned_tasks"]


class PlannedTasks(Sequence[Task]):
    """Tasks in plan order (dimension, then pair, then frame count), stored as arrays.

    Task ``i`` is ``Task(pairs[pair[i]], dimensions[dim[i]], frames[frame[i]])``, made when it
    is read; equal to the task :func:`plan_tasks` listed before (tasks compare by value).

    Args:
        pairs: The pairs the plan draws from.
        dimensions: Its dimensions, in order.
        frames: Its frame counts, in order.
        kept: For each dimension, the positions in ``pairs`` judged on it (in order).

    Example:
        >>> from pathlib import Path
        >>> from judges.core.types import Video
        >>> v0, v1 = (Video(f"v{i}", Path(f"v{i}.mp4"), "a cat", "a cat") for i in (0, 1))
        >>> pairs = [Pair(f"p{i}", "q0", "a cat", v0, v1) for i in range(3)]
        >>> dim = Dimension.AESTHETICS
        >>> tasks = PlannedTasks(pairs, [dim], [1, 8], [np.array([0, 2])])
        >>> len(tasks), tasks[1] == Task(pairs[0], dim, 8), tasks[2].pair.pair_id
        (4, True, 'p2')

    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        dimensions: Sequence[Dimension],
        frames: Sequence[int | None],
        kept: Sequence[np.ndarray],
    ) -> None:
        self.pairs, self.dimensions, self.frames = list(pairs), list(dimensions), list(frames)
        n_frames = len(self.frames)
        positions = np.concatenate([np.asarray(k, dtype=np.int64) for k in kept] or [[]])
        blocks = np.repeat(np.arange(len(kept)), [len(k) for k in kept])
        self.pair_rows = positions.astype(np.int64)
        """Each (dimension, pair) row's position in ``pairs`` (a row is ``frames`` tasks)."""
        self.dim_rows = blocks.astype(np.int64)
        """Each row's dimension number."""
        # Task i is row i // frames at frame count i % frames: no array per task (three of a
        # million int64 each were 30 MB of a SafeSora-size run).
        self._length = len(self.pair_rows) * n_frames
        self._pair_tasks: list[Task] | None = None

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, i: int) -> Task: ...

    @overload
    def __getitem__(self, i: slice) -> list[Task]: ...

    def __getitem__(self, i: int | slice) -> Task | list[Task]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"task {i} out of range ({len(self)} tasks)")
        row, frame = divmod(i, len(self.frames))
        return Task(
            self.pairs[self.pair_rows.item(row)],
            self.dimensions[self.dim_rows.item(row)],
            self.frames[frame],
        )

    def __iter__(self) -> Iterator[Task]:
        pairs, frames = self.pairs, self.frames
        for p, d in zip(self.pair_rows.tolist(), self.dim_rows.tolist(), strict=True):
            pair, dim = pairs[p], self.dimensions[d]
            for n in frames:
                yield Task(pair, dim, n)

    def pair_tasks(self) -> list[Task]:
        """One task per distinct pair position, in the order the pairs first appear.

        Each is the pair's first task: what needs the pair alone (its files, its texts) reads
        these, not every task.
        """
        if self._pair_tasks is None:
            self._pair_tasks = self.row_tasks(self.pair_first_rows()) if self.frames else []
        return self._pair_tasks

    def pair_first_rows(self) -> np.ndarray:
        """The row where each distinct pair position first appears, in plan order."""
        _, first = np.unique(self.pair_rows, return_index=True)
        return np.sort(first)

    def row_tasks(self, rows: np.ndarray) -> list[Task]:
        """The first task (first frame count) of each of these (dimension, pair) rows."""
        pairs, dims, first = self.pairs, self.dimensions, self.frames[0]
        return [
            Task(pairs[p], dims[d], first)
            for p, d in zip(
                self.pair_rows[rows].tolist(), self.dim_rows[rows].tolist(), strict=True
            )
        ]


def plan_tasks(
    pairs: Sequence[Pair],
    dimensions: Sequence[Dimension],
    frames: Sequence[int | None],
    *,
    labeled_only: bool = True,
    with_ties: bool = False,
) -> tuple[list[Task], dict[str, int]]:
    """The tasks of a run, and how many (pair, dimension) combinations were left out.

    Args:
        pairs: Pairs to judge.
        dimensions: Dimensions to judge.
        frames: Frame counts (``None``: all frames).
        labeled_only: Skip a pair on a dimension it has no human label for (an agreement run
            cannot score it, and an API judge would be paid for nothing).
        with_ties: Also judge a pair on a dimension its people called even (tie-aware
            accuracy scores it); otherwise such pairs count as unlabeled.

    Returns:
        ``(tasks, unlabeled)`` where ``unlabeled`` maps a dimension to the number of pairs
        skipped for want of a label (reported, never silently dropped). ``tasks`` lists, for
        each dimension, each kept pair at each frame count.

    """
    tasks, unlabeled = planned_tasks(
        pairs, dimensions, frames, labeled_only=labeled_only, with_ties=with_ties
    )
    return list(tasks), unlabeled


def planned_tasks(
    pairs: Sequence[Pair],
    dimensions: Sequence[Dimension],
    frames: Sequence[int | None],
    *,
    labeled_only: bool = True,
    with_ties: bool = False,
) -> tuple[PlannedTasks, dict[str, int]]:
    """:func:`plan_tasks`' tasks as a :class:`PlannedTasks` (arrays; a task made when read).

    A cached rerun reads a few of a million tasks: planning them as objects was a tenth of it.

    Example:
        >>> from pathlib import Path
        >>> from judges.core.types import Video
        >>> v0, v1 = (Video(f"v{i}", Path(f"v{i}.mp4"), "a cat", "a cat") for i in (0, 1))
        >>> dim = Dimension.AESTHETICS
        >>> labelled = Pair("p0", "q0", "a cat", v0, v1, labels={dim: "video_0"})
        >>> unlabelled = Pair("p1", "q0", "a cat", v0, v1)
        >>> tasks, skipped = planned_tasks([labelled, unlabelled], [dim], [1, 4])
        >>> [(t.pair.pair_id, t.frames) for t in tasks], skipped
        ([('p0', 1), ('p0', 4)], {'aesthetics': 1})

    """
    unlabeled: Counter[str] = Counter()
    kept = []
    for dim in dimensions:
        if labeled_only:
            keep = [dim in pair.labels or (with_ties and dim in pair.ties) for pair in pairs]
            rows = np.flatnonzero(np.array(keep, dtype=bool))
            if len(rows) < len(pairs):
                unlabeled[dim.value] += len(pairs) - len(rows)
        else:
            rows = np.arange(len(pairs))
        kept.append(rows)
    return PlannedTasks(pairs, dimensions, frames, kept), dict(unlabeled)
