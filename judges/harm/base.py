"""The harm judge contract: one text-video pair in, the 12 harm booleans out.

A harm judge is a :class:`~judges.judge.base.Judge` (registry, options, fingerprint, cache, runner)
whose tasks are :class:`~judges.harm.HarmTask` and whose verdicts are
:class:`~judges.harm.HarmVerdict`. Local harm judges implement :meth:`HarmJudge.judge_item`;
API harm judges are also :class:`~judges.judge.async_judge.AsyncJudge` and implement ``judge_task``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from judges.core.errors import ConfigError, ItemError
from judges.core.harm_types import HarmTask, HarmVerdict
from judges.core.types import Dimension, Pair, Verdict
from judges.judge.base import Judge, RunContext


class HarmJudge(Judge):
    """Base class of harm judges (see the module docstring)."""

    task_kind: ClassVar[str] = "harm"
    verdict_type: ClassVar[type] = HarmVerdict
    default_dimensions: ClassVar[tuple[Dimension, ...]] = ()

    def compare(
        self, pair: Pair, dimension: Dimension, frames: int | None, ctx: RunContext | None = None
    ) -> Verdict:
        """Harm judges tag single text-video pairs; preference runs refuse them."""
        raise ConfigError(
            f"judge {self.name!r} tags the harm labels of one text-video pair; it is not a "
            "preference judge: run it with experiments/harm.py"
        )

    def judge_item(self, task: HarmTask, ctx: RunContext) -> HarmVerdict:
        """The 12 labels of one item (local judges implement this)."""
        raise NotImplementedError

    def cache_inputs(self, task: HarmTask) -> dict[str, Any]:  # type: ignore[override]
        """The texts a verdict depends on besides the video file."""
        item = task.item
        return {"prompt": item.prompt_text, "video_text": item.video.video_text}

    def error_verdict(  # type: ignore[override]
        self, task: HarmTask, error: BaseException | str, kind: str | None = None, **extra: Any
    ) -> HarmVerdict:
        """A HarmVerdict recording a failure (never a dropped row)."""
        kind = kind or getattr(error, "kind", None) or "error"
        raw = {**extra.pop("raw", {}), "error_kind": kind}
        return HarmVerdict(
            item_id=task.item.item_id,
            judge=self.name,
            frames=task.frames,
            labels=None,
            status="error",
            error=str(error),
            raw=raw,
            **extra,
        )

    def safe_compare(self, task: HarmTask, ctx: RunContext | None = None) -> HarmVerdict:  # type: ignore[override]
        """:meth:`judge_item`; a failure of this item becomes an error verdict."""
        try:
            return self.judge_item(task, ctx or RunContext())
        except ItemError as e:
            return self.error_verdict(task, e)
