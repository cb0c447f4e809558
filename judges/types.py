"""Core value types shared by every module: dimensions, videos, pairs, keyframes, verdicts.

All types are frozen dataclasses so they can be hashed, cached and passed between threads
without defensive copies.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

Choice = Literal["video_0", "video_1"]
"""A human or judge preference for one video of a pair."""

Winner = Literal["video_0", "video_1", "tie"] | None
"""A judge's outcome: a choice, an explicit tie, or ``None`` when it could not decide."""

Status = Literal["ok", "tie", "refused", "unparsed", "error"]
"""How a judgement ended. Only ``ok`` carries a winner; nothing is ever dropped."""

CHOICES: tuple[Choice, ...] = get_args(Choice)
ALL_FRAMES = 2**62
"""A frame count no video reaches: asking for it selects every frame (``frames=None``)."""
STATUSES: tuple[Status, ...] = get_args(Status)


class Dimension(enum.StrEnum):
    """A dimension humans judged in SafeSora.

    ``informativeness`` is stored under the key ``information`` in SafeSora's
    ``sub_preferences``; :attr:`safesora_key` gives the key as the dataset spells it.

    Example:
        >>> Dimension.parse("information")
        <Dimension.INFORMATIVENESS: 'informativeness'>

    """

    HELPFULNESS = "helpfulness"
    HARMLESSNESS = "harmlessness"
    INSTRUCTION_FOLLOWING = "instruction_following"
    CORRECTNESS = "correctness"
    INFORMATIVENESS = "informativeness"
    AESTHETICS = "aesthetics"

    @property
    def safesora_key(self) -> str:
        """The key of this dimension in a SafeSora record (top level or ``sub_preferences``)."""
        return "information" if self is Dimension.INFORMATIVENESS else self.value

    @property
    def is_sub_preference(self) -> bool:
        """Whether SafeSora stores this label under ``sub_preferences``."""
        return self not in (Dimension.HELPFULNESS, Dimension.HARMLESSNESS)

    @classmethod
    def parse(cls, text: str) -> Dimension:
        """Parse a dimension from its name, its SafeSora key or a common alias.

        Raises:
            ValueError: naming the accepted values.

        """
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        aliases = {"information": cls.INFORMATIVENESS, "instruction": cls.INSTRUCTION_FOLLOWING}
        if key in aliases:
            return aliases[key]
        try:
            return cls(key)
        except ValueError:
            allowed = ", ".join(d.value for d in cls)
            raise ValueError(f"unknown dimension {text!r}; expected one of: {allowed}") from None


@dataclass(frozen=True)
class Video:
    """One generated video of a pair.

    Attributes:
        video_id: Dataset identifier of the video.
        path: Where the video file is (resolved, may not exist if loading skipped the check).
        prompt_text: The user's prompt the video answers.
        video_text: The text actually fed to the generator (may be an LLM-refined prompt).
        harm_labels: SafeSora's 12 per-video harm labels, when present.
        is_safe: SafeSora's overall per-video safety flag, when present.
        generated_from: The generator model's name, when present.

    """

    video_id: str
    path: Path
    prompt_text: str
    video_text: str
    harm_labels: dict[str, bool] | None = None
    is_safe: bool | None = None
    generated_from: str | None = None


@dataclass(frozen=True)
class Pair:
    """Two videos generated from the same prompt, with the human preference labels.

    Attributes:
        pair_id: Unique identifier of the pair in its dataset.
        prompt_id: Identifier of the shared prompt.
        prompt_text: The shared prompt.
        video_0: The first video.
        video_1: The second video.
        labels: Human choice per dimension; a dimension without a label is absent.
        prompt_type: ``safety_critical`` or ``safety_neutral`` where the dataset says.

    """

    pair_id: str
    prompt_id: str
    prompt_text: str
    video_0: Video
    video_1: Video
    labels: dict[Dimension, Choice] = field(default_factory=dict)
    prompt_type: str | None = None


@dataclass(frozen=True, eq=False)
class Keyframes:
    """Frames selected from one video.

    Attributes:
        indices: Frame indices in the video, ascending.
        frames: RGB uint8 arrays (H x W x 3), one per index, in time order.
        fps: The container's frame rate (0.0 when the container does not say).
        frame_count: Number of frames actually decoded.
        scores: Selection score of each kept frame (mean absolute difference to the previous
            frame), aligned with ``indices``; ``nan`` for frame 0, which has no predecessor.
        first_frame: Frame 0 of the video, RGB; the reference frame for PSNR.

    """

    indices: tuple[int, ...]
    frames: list[np.ndarray]
    fps: float
    frame_count: int
    scores: tuple[float, ...] = ()
    first_frame: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def top(self, n: int) -> Keyframes:
        """The top-``n`` subset of these keyframes under the same selection rule.

        The frame-difference ranking is a strict order (score descending, then earlier frame),
        so the top-``n`` of a video is a prefix of its top-``m`` for every ``m >= n``; a run
        that needs 1, 2, 4 and 8 frames decodes the video once, for 8.

        Raises:
            ValueError: if ``n`` < 1 or the scores needed to rank are missing.

        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if n >= self.frame_count:
            if len(self.indices) == self.frame_count:
                return self
            raise ValueError(
                f"these keyframes hold {len(self.indices)} of {self.frame_count} frames; "
                f"selecting {n} needs every frame"
            )
        if len(self.scores) != len(self.indices):
            raise ValueError("these keyframes carry no scores, so a top-n subset is undefined")
        # Frame 0 has no difference score (nan): it is only kept when every frame is.
        ranked = sum(not np.isnan(s) for s in self.scores)
        if n > ranked:
            raise ValueError(f"these keyframes rank only {ranked} frames; cannot select {n}")
        if n == ranked == len(self.indices):
            return self
        keep = top_positions(self.scores, self.indices, n)
        return Keyframes(
            indices=tuple(self.indices[i] for i in keep),
            frames=[self.frames[i] for i in keep],
            fps=self.fps,
            frame_count=self.frame_count,
            scores=tuple(self.scores[i] for i in keep),
            first_frame=self.first_frame,
        )


@dataclass(frozen=True)
class Verdict:
    """One judge's pairwise decision on one pair, dimension and frame count.

    A judgement that fails is still a Verdict (with ``status`` saying how), never a dropped row.

    Attributes:
        pair_id: The pair judged.
        judge: The judge's label (registry name or user-chosen label).
        dimension: The dimension judged.
        frames: Keyframes per video (``None`` means every frame).
        winner: ``video_0``, ``video_1``, ``tie`` or ``None`` (undecided).
        score_0: Score of video 0 for score judges, else ``None``.
        score_1: Score of video 1 for score judges, else ``None``.
        confidence: Judge-specific confidence (score margin, answer probability), if any.
        status: ``ok``, ``tie``, ``refused``, ``unparsed`` or ``error``.
        raw: Judge-specific details (reply text, parsed answer, selected frame indices...).
        error: Human-readable reason when ``status`` is ``error``.
        cost_usd: API cost of this verdict, if any.
        latency_s: Wall time spent producing it (0 for a cache hit is not recorded here).

    """

    pair_id: str
    judge: str
    dimension: Dimension
    frames: int | None
    winner: Winner
    score_0: float | None = None
    score_1: float | None = None
    confidence: float | None = None
    status: Status = "ok"
    raw: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    cost_usd: float | None = None
    latency_s: float | None = None

    @property
    def decided(self) -> bool:
        """Whether the verdict names one of the two videos."""
        return self.winner in CHOICES


def top_positions(scores: Sequence[float], frame_indices: Sequence[int], n: int) -> list[int]:
    """The selection rule: positions of the ``n`` highest scores, in time order.

    ``nan`` scores (frame 0, which has no predecessor) are never ranked; equal scores go to the
    earlier frame. :func:`judges.keyframes.select_top_n`, :meth:`Keyframes.top` and the
    streaming heap of :func:`judges.keyframes.extract_keyframes` all follow it.

    Example:
        >>> top_positions([float("nan"), 3.0, 5.0, 3.0], [0, 1, 2, 3], 2)
        [1, 2]

    """
    ranked = sorted(
        (i for i, s in enumerate(scores) if not math.isnan(s)),
        key=lambda i: (-scores[i], frame_indices[i]),
    )
    return sorted(ranked[:n])


def frames_label(frames: int | None) -> str:
    """Display label of a frame count: ``"4"`` or ``"all"``."""
    return "all" if frames is None else str(frames)
