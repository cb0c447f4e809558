"""What a judge is handed: one task (pair, dimension, frame count) and the run's context."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.cache.store import Store
from judges.chat.budget import Budget
from judges.core.types import Dimension, Pair
from judges.media.keyframes import KeyframeSource


@dataclass(frozen=True)
class RunContext:
    """What one run hands every judge call; judges keep no run state of their own.

    Attributes:
        source: The run's keyframes (each video decoded once for all judges and frame counts).
        store: The run's cache (``None``: no caching).
        budget: The run's spending cap, shared by API judges.
        concurrency: API requests in flight per API judge (``None``: the judge's default).
        progress: Judges may show progress of their own (a batch's request counts).
        memo: This run's in-process memo (judge fingerprints, file hashes, video scores), so
            the thousands of verdicts that share a video do not each ask the cache again.

    Example:
        >>> ctx = RunContext(KeyframeSource(plan=[1, 8]))
        >>> ctx.store is None
        True

    """

    source: KeyframeSource = field(default_factory=KeyframeSource)
    store: Store | None = None
    budget: Budget = field(default_factory=Budget)
    concurrency: int | None = None
    progress: bool = False
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Task:
    """One judgement to make: a pair, a dimension and a frame count (``None``: all frames).

    ``control`` names the control the task is judged under (``none``: the normal run); its
    ``pair`` is then the pair as the control shows it (see :mod:`judges.judge.controls`).
    """

    pair: Pair
    dimension: Dimension
    frames: int | None
    control: str = "none"

    @property
    def key(self) -> tuple[str, str, int | None]:
        """Identity of the task within a run."""
        return (self.pair.pair_id, self.dimension.value, self.frames)

    @property
    def item_id(self) -> str:
        """The id verdicts carry (the pair's)."""
        return self.pair.pair_id

    @property
    def files(self) -> tuple[Path, ...]:
        """The video files whose content the verdict depends on."""
        return (self.pair.video_0.path, self.pair.video_1.path)

    @property
    def cache_fields(self) -> dict[str, Any]:
        """What identifies the judgement in a cache key, besides judge, files and inputs.

        A control is part of the key (a control never serves a normal verdict or the
        reverse); the normal run's keys are those of a run before controls existed.
        """
        fields: dict[str, Any] = {"dimension": self.dimension.value, "frames": self.frames}
        if self.control != "none":
            fields["control"] = self.control
        return fields
