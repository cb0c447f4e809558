"""The tasks of a run: every (pair, dimension, frame count) to judge, and what is left out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from judges.core.types import Dimension, Pair
from judges.judge.base import Task


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
        skipped for want of a label (reported, never silently dropped).

    """
    tasks: list[Task] = []
    unlabeled: Counter[str] = Counter()
    for dim in dimensions:
        for pair in pairs:
            if labeled_only and dim not in pair.labels and not (with_ties and dim in pair.ties):
                unlabeled[dim.value] += 1
                continue
            tasks.extend(Task(pair, dim, n) for n in frames)
    return tasks, dict(unlabeled)
