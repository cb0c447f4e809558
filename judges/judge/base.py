"""Judge interfaces: every judge turns (pair, dimension, frame count) into a :class:`Verdict`.

- :class:`Judge` is the contract the runner drives. Pair judges (a VLM that sees both videos)
  implement :meth:`Judge.compare` directly.
- :class:`ScoreJudge` gives each video one number and derives the winner from the two numbers
  with :func:`decide`; whether higher is better is data on the judge, not a branch on its name.
"""

from __future__ import annotations

import abc
import itertools
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, ClassVar, Literal

from judges.cache.store import canonical, stable_hash
from judges.chat.client import ChatStats
from judges.chat.pricing import CostPlan
from judges.core.errors import ItemError
from judges.core.types import Dimension, Pair, Verdict, Video, Winner
from judges.judge.options import config_dict
from judges.judge.task import RunContext, Task
from judges.judge.task_groups import whole_groups
from judges.media.keyframes import Strategy

ConfidenceKind = Literal["probability", "margin"]
NAN_SCORE_ERROR, NAN_SCORE_KIND = "a video's score is NaN", "nan_score"
"""A score judge's error text and kind when a score is NaN (no winner can be decided)."""


def decide(
    score_0: float, score_1: float, higher_is_better: bool, tie_tolerance: float = 0.0
) -> Winner:
    """Winner of a pair from the two videos' scores.

    Returns:
        ``video_0``/``video_1``, ``tie`` when the scores are within ``tie_tolerance`` (equal
        infinities included), ``None`` when a score is NaN.

    Example:
        >>> decide(30.0, 25.0, higher_is_better=False)
        'video_1'
        >>> decide(1.0, 1.05, higher_is_better=True, tie_tolerance=0.1)
        'tie'

    """
    if math.isnan(score_0) or math.isnan(score_1):
        return None
    if score_0 == score_1:
        return "tie"
    diff = score_0 - score_1
    if abs(diff) <= tie_tolerance:
        return "tie"
    zero_wins = diff > 0 if higher_is_better else diff < 0
    return "video_0" if zero_wins else "video_1"


class Judge(abc.ABC):
    """Base class of every judge.

    Attributes:
        name: Label in results (the registry name unless the user chose one).
        kind: Registry name of the judge type.
        version: Bumped when a judge's outputs change meaning; part of every cache key.
        default_dimensions: Dimensions judged when the user names none; ``None`` (a judge of
            any dimension) judges every dimension the data labels.
        non_semantic: Option names that do not change results (devices, batch sizes), left
            out of the cache key.
        added_options: Options added after caches existed, with the value that keeps the
            old behaviour: at that value an option is left out of the cache key, so earlier
            caches stay valid.
        confidence_kind: What ``Verdict.confidence`` means for this judge: ``probability``
            (in [0, 1], comparable across judges) or ``margin`` (a score difference in the
            judge's own unit, comparable only within the judge); ``None`` if it gives none.
        confidence_unit: The margin's unit, for reports (``dB``, ``logit``...).
        depends_on_frames: ``False`` for judges whose verdict is the same at every frame count
            (a per-video score read from a file): comparisons across frame counts are left out.
        task_kind: What the judge judges: ``pair`` (a preference between two videos) or
            ``harm`` (the harm labels of one text-video pair, :mod:`judges.harm`).
        verdict_type: The verdict class it returns (read back from the cache by the runner).

    """

    kind: ClassVar[str] = ""
    task_kind: ClassVar[str] = "pair"
    verdict_type: ClassVar[type] = Verdict
    version: ClassVar[str] = "1"
    default_dimensions: ClassVar[tuple[Dimension, ...] | None] = None
    non_semantic: ClassVar[frozenset[str]] = frozenset()
    added_options: ClassVar[dict[str, Any]] = {}
    confidence_kind: ClassVar[ConfidenceKind | None] = None
    confidence_unit: ClassVar[str | None] = None
    depends_on_frames: ClassVar[bool] = True

    def __init__(self, config: Any = None, name: str | None = None) -> None:
        self.config = config
        self.name = name or self.kind

    def check_ready(self) -> None:  # noqa: B027 - optional hook
        """Raise a :class:`JudgesError` naming the fix if the judge cannot run (e.g. no API key)."""

    def label_for(self, label: str) -> str:
        """The label this judge's results carry, given the one asked for (it may qualify it)."""
        return label

    def notice(self) -> str | None:
        """What a reader must know about this judge's outputs, printed and written with them."""
        return None

    def check_dimensions(self, dimensions: Sequence[Dimension]) -> None:  # noqa: B027
        """Raise a :class:`JudgesError` if this judge cannot judge one of ``dimensions``."""

    def undefined_reason(self, strategy: Strategy, frames: int | None) -> str | None:
        """Why this judge's output is undefined for *every* pair at this setting, else ``None``.

        A run refuses such a setting before any work (a verdict made of artefacts is worse
        than none). Inputs undefined one at a time raise ``UndefinedScoreError`` instead.
        """
        return None

    def control_reason(self, control: str) -> str | None:
        """Why this judge's output is undefined for every pair under ``control``, else ``None``.

        A run records an ``undefined_score`` error verdict for each such task instead of
        judging it (see :mod:`judges.judge.controls`).
        """
        return None

    def plan_cost(self, tasks: list[Task], ctx: RunContext) -> CostPlan | None:
        """Dry-run estimate of API calls and cost for ``tasks``; ``None`` for local judges."""
        return None

    @property
    def flip_rate(self) -> float | None:
        """Share of pairs asked in both orders whose answers disagreed (pair judges only)."""
        return None

    def request_stats(self) -> ChatStats | None:
        """What an API judge's calls did (``None`` for judges that call no API)."""
        return None

    def settings(self) -> dict[str, Any]:
        """The judge's options as JSON-ready data (recorded in run.json)."""
        return config_dict(self.config) if self.config is not None else {}

    def fingerprint(self) -> str:
        """Hash of everything that determines this judge's outputs (its cache identity)."""
        added = self.added_options
        semantic = {
            k: v
            for k, v in self.settings().items()
            if k not in self.non_semantic and (k not in added or v != added[k])
        }
        return stable_hash({"kind": self.kind, "version": self.version, "settings": semantic})

    def describe(self) -> dict[str, Any]:
        """What run.json records about the judge."""
        return {
            "name": self.name,
            "judge": self.kind,
            "version": self.version,
            "settings": self.settings(),
            "confidence": {"kind": self.confidence_kind, "unit": self.confidence_unit},
            "depends_on_frames": self.depends_on_frames,
        }

    def cache_inputs(self, task: Task) -> dict[str, Any]:
        """Inputs beyond the video files that a verdict depends on (texts by default)."""
        pair = task.pair
        return {
            "prompt": pair.prompt_text,
            "video_text": [pair.video_0.video_text, pair.video_1.video_text],
        }

    @abc.abstractmethod
    def compare(
        self, pair: Pair, dimension: Dimension, frames: int | None, ctx: RunContext | None = None
    ) -> Verdict:
        """Judge one pair on one dimension with ``frames`` keyframes per video.

        ``ctx`` is the run's context (keyframes, cache, budget); ``None`` gives a fresh one.
        """

    def error_verdict(
        self, task: Task, error: BaseException | str, kind: str | None = None, **extra: Any
    ) -> Verdict:
        """A Verdict recording a failure (never a dropped row).

        Args:
            task: The task that failed.
            error: The exception or message.
            kind: Reason code for failure summaries; by default the error's ``kind`` (see
                :class:`ItemError`) or ``error``.
            **extra: Further Verdict fields (``raw``, ``cost_usd``...).

        """
        kind = kind or getattr(error, "kind", None) or "error"
        raw = {**extra.pop("raw", {}), "error_kind": kind}
        return Verdict(
            pair_id=task.pair.pair_id,
            judge=self.name,
            dimension=task.dimension,
            frames=task.frames,
            winner=None,
            status="error",
            error=str(error),
            raw=raw,
            **extra,
        )

    def safe_compare(self, task: Task, ctx: RunContext | None = None) -> Verdict:
        """:meth:`compare`; a failure of this item (bad video...) becomes an error Verdict.

        Run-level problems (missing or corrupt weights, a rejected key) propagate: they would
        fail every item the same way.
        """
        try:
            return self.compare(task.pair, task.dimension, task.frames, ctx)
        except ItemError as e:
            return self.error_verdict(task, e)

    def judge_all(
        self, tasks: Iterable[Task], ctx: RunContext | None = None, workers: int = 1
    ) -> Iterator[Verdict]:
        """Judge many tasks; verdicts come back as they finish (not necessarily in order)."""
        tasks = list(tasks)
        ctx = ctx or RunContext()
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield self.safe_compare(task, ctx)
            return
        # Decoding and OpenCV maths release the GIL, so threads use every core. A bounded window of
        # work is in flight (a future per task: gigabytes for a million tasks, and dearer than a
        # cached verdict), each thread taking whole prompts; waits timed for Ctrl-C (async_judge).
        size = max(1, min(64, len(tasks) // (workers * 16)))
        parts = whole_groups(tasks, size)  # threads decode different prompts' videos

        def judge_part(part: list[Task]) -> list[Verdict]:
            return [self.safe_compare(t, ctx) for t in part]

        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(judge_part, p) for p in itertools.islice(parts, 4 * workers)}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        nxt = next(parts, None)
                        if nxt is not None:
                            pending.add(pool.submit(judge_part, nxt))
                        yield from future.result()
            finally:
                for future in pending:
                    future.cancel()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (models, clients)."""


class ScoreJudge(Judge):
    """A judge that scores each video on its own; the pair's winner follows from two scores.

    Subclasses implement :meth:`video_score` and set ``higher_is_better`` (class or instance
    attribute). Scores are cached per video content (file hash), judge settings and frame
    selection, so a video shared by several pairs or dimensions is scored once.

    Attributes:
        higher_is_better: Whether the higher-scoring video wins.
        tie_tolerance: Score differences up to this value are ties (the config's
            ``tie_tolerance`` option when it has one, else 0).

    """

    higher_is_better: bool = True
    confidence_kind: ClassVar[ConfidenceKind | None] = "margin"

    @property
    def tie_tolerance(self) -> float:
        """Score differences up to this are ties (from the judge's options)."""
        return float(getattr(self.config, "tie_tolerance", 0.0))

    def describe(self) -> dict[str, Any]:
        """What run.json records, with which way the scores point (reports read it)."""
        return {**super().describe(), "higher_is_better": self.higher_is_better}

    @abc.abstractmethod
    def video_score(self, video: Video, frames: int | None, ctx: RunContext) -> float:
        """Score one video from ``frames`` keyframes (``None``: all frames).

        Take the keyframes from ``ctx.source`` (each video is decoded once per run).
        """

    def score_inputs(self, video: Video) -> dict[str, Any]:
        """Inputs beyond the file that a video's score depends on (e.g. its text)."""
        return {}

    def cache_inputs(self, task: Task) -> dict[str, Any]:
        """Score judges' verdicts depend on the texts their scores read, and on nothing else."""
        return {
            "video_0": self.score_inputs(task.pair.video_0),
            "video_1": self.score_inputs(task.pair.video_1),
            "higher_is_better": self.higher_is_better,
            "tie_tolerance": self.tie_tolerance,
        }

    def score(self, video: Video, frames: int | None, ctx: RunContext) -> float:
        """:meth:`video_score` through the per-video score cache (and the run's memo)."""
        store = ctx.store
        if store is None:
            return self.video_score(video, frames, ctx)
        memo = ctx.memo
        # Within a run the key below depends only on the file (its hash never changes), the
        # frame count and the score's other inputs: a video shared by many pairs (each with
        # its own Video object) and dimensions finds its score here without a hash, and the
        # memo holds one entry per video and frame count, not one per pair. A frame control's
        # scores are other numbers: the control is part of both keys.
        inputs = self.score_inputs(video)
        text = canonical(inputs) if inputs else ""  # encoding {} costs more than a lookup
        control = getattr(ctx.source, "control_key", "none")
        mine = ("video score", id(self), video.path, frames, text, control)
        known = memo.get(mine)
        if known is not None:
            return known
        fingerprint = memo.get(("fingerprint", id(self)))
        if fingerprint is None:
            fingerprint = memo[("fingerprint", id(self))] = self.fingerprint()
        file_hash = memo.get(("file", video.path))
        if file_hash is None:
            file_hash = memo[("file", video.path)] = store.file_hash(video.path)
        key = stable_hash(
            {
                "judge": fingerprint,
                "strategy": ctx.source.strategy,
                "frames": frames,
                "file": file_hash,
                "inputs": inputs,
                **({} if control == "none" else {"control": control}),
            }
        )
        value = memo.get(("score", key))
        if value is None:
            hit = store.get("scores", key)
            if hit is not None:
                value = float(hit)
            else:
                value = float(self.video_score(video, frames, ctx))
                store.put("scores", key, value)
            memo[("score", key)] = value
        value = memo[mine] = float(value)
        return value

    def compare(
        self, pair: Pair, dimension: Dimension, frames: int | None, ctx: RunContext | None = None
    ) -> Verdict:
        """Score both videos and decide."""
        ctx = ctx or RunContext()
        start = time.perf_counter()
        s0 = self.score(pair.video_0, frames, ctx)
        s1 = self.score(pair.video_1, frames, ctx)
        winner = decide(s0, s1, self.higher_is_better, self.tie_tolerance)
        margin = abs(s0 - s1) if winner is not None else None
        raw: dict[str, Any] = {"higher_is_better": self.higher_is_better}
        latency = time.perf_counter() - start
        if winner is None:
            raw["error_kind"] = NAN_SCORE_KIND
            return Verdict(
                pair.pair_id, self.name, dimension, frames, None, s0, s1, None, "error", raw,
                NAN_SCORE_ERROR, None, latency,
            )  # fmt: skip
        status = "tie" if winner == "tie" else "ok"
        # Positional, in field order: keyword arguments cost a dict per verdict (a million).
        return Verdict(
            pair.pair_id, self.name, dimension, frames, winner, s0, s1, margin, status, raw,
            None, None, latency,
        )  # fmt: skip
