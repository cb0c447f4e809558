"""Core value types shared by every module: dimensions, videos, pairs, keyframes, verdicts.

All types are frozen dataclasses so they can be hashed, cached and passed between threads
without defensive copies.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

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


class _DimensionMeta(type):
    """Iterating ``Dimension`` yields SafeSora's six dimensions (the paper's), in order."""

    def __iter__(cls) -> Iterator[Dimension]:
        return iter(cls._SAFESORA)  # type: ignore[attr-defined]


class Dimension(str, metaclass=_DimensionMeta):
    """A dimension people judged, as data: its name and the criterion a judge is given.

    Dimensions are not a closed list: a dataset format declares its own (VideoGen-RewardBench's
    ``visual_quality``, ``motion_quality``...) with :meth:`define`, each naming the criterion
    (a section of ``judges/prompts/<version>.toml``) that VLM judges receive for it. SafeSora's
    six are predefined (``Dimension.AESTHETICS``...) and are what ``list(Dimension)`` yields.
    A ``Dimension`` is its name as a string, so it compares, hashes and serialises as one.

    Example:
        >>> Dimension.parse("Aesthetics") is Dimension.AESTHETICS
        True
        >>> Dimension.define("motion_quality", criterion="motion_quality").criterion
        'motion_quality'

    """

    _REGISTRY: ClassVar[dict[str, Dimension]] = {}
    _SAFESORA: ClassVar[tuple[Dimension, ...]] = ()
    HELPFULNESS: ClassVar[Dimension]
    HARMLESSNESS: ClassVar[Dimension]
    INSTRUCTION_FOLLOWING: ClassVar[Dimension]
    CORRECTNESS: ClassVar[Dimension]
    INFORMATIVENESS: ClassVar[Dimension]
    AESTHETICS: ClassVar[Dimension]
    criterion: str

    def __new__(cls, value: str) -> Dimension:
        """The registered dimension named ``value`` (see :meth:`parse` for aliases)."""
        found = cls._REGISTRY.get(str(value))
        if found is None:
            known = ", ".join(cls._REGISTRY)
            raise ValueError(f"unknown dimension {value!r}; expected one of: {known}")
        return found

    @classmethod
    def define(cls, name: str, criterion: str | None = None) -> Dimension:
        """Register a dimension (idempotent) judged with ``criterion`` (default: its name).

        Raises:
            ValueError: ``name`` exists with another criterion.

        """
        existing = cls._REGISTRY.get(name)
        criterion = criterion or name
        if existing is not None:
            if existing.criterion != criterion:
                raise ValueError(
                    f"dimension {name!r} is judged by criterion {existing.criterion!r} already"
                )
            return existing
        dim = str.__new__(cls, name)
        dim.criterion = criterion
        cls._REGISTRY[name] = dim
        return dim

    @property
    def value(self) -> str:
        """The dimension's name (as results, tables and files spell it)."""
        # One plain str per dimension, not a new one per call (a run asks millions of times).
        name = self.__dict__.get("_plain")
        if name is None:
            name = self.__dict__["_plain"] = str.__str__(self)
        return name

    def __repr__(self) -> str:
        return f"Dimension({self.value!r})"

    def __str__(self) -> str:
        return self.value

    def __reduce__(self) -> tuple[Any, ...]:
        return (Dimension.define, (self.value, self.criterion))

    @classmethod
    def parse(cls, text: str) -> Dimension:
        """Parse a dimension from its name, any case or separator, or a known alias.

        Raises:
            ValueError: naming the accepted values.

        """
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        aliases = {"information": "informativeness", "instruction": "instruction_following"}
        key = aliases.get(key, key)
        if key in cls._REGISTRY:
            return cls._REGISTRY[key]
        allowed = ", ".join(cls._REGISTRY)
        close = difflib.get_close_matches(key, list(cls._REGISTRY), n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown dimension {text!r}{hint}; expected one of: {allowed}")

    @classmethod
    def known(cls) -> list[Dimension]:
        """Every defined dimension, SafeSora's first."""
        return list(cls._REGISTRY.values())


Dimension._SAFESORA = tuple(
    Dimension.define(name)
    for name in (
        "helpfulness",
        "harmlessness",
        "instruction_following",
        "correctness",
        "informativeness",
        "aesthetics",
    )
)
(
    Dimension.HELPFULNESS,
    Dimension.HARMLESSNESS,
    Dimension.INSTRUCTION_FOLLOWING,
    Dimension.CORRECTNESS,
    Dimension.INFORMATIVENESS,
    Dimension.AESTHETICS,
) = Dimension._SAFESORA


@dataclass(frozen=True, slots=True)
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
        source: The video's path as the data wrote it (before resolving), when it names one;
            the ``scores`` judge can match on it (``id_column=path``).
        fields: The record's other fields, as read (what slices by field look in). Read
            only: loaders share one empty dict among records without other fields.

    """

    video_id: str
    path: Path
    prompt_text: str
    video_text: str
    harm_labels: dict[str, bool] | None = None
    is_safe: bool | None = None
    generated_from: str | None = None
    source: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Pair:
    """Two videos generated from the same prompt, with the human preference labels.

    Attributes:
        pair_id: Unique identifier of the pair in its dataset.
        prompt_id: Identifier of the shared prompt.
        prompt_text: The shared prompt.
        video_0: The first video.
        video_1: The second video.
        labels: Human choice per dimension; a dimension without a label is absent. Read
            only, as ``fields``: pairs with equal labels share one dict (SafeSora-size memory);
            build a changed pair with ``dataclasses.replace``.
        prompt_type: ``safety_critical`` or ``safety_neutral`` where the dataset says.
        ties: Dimensions on which the people called the two videos equal (no choice in
            ``labels``). Counted and reported; tie-aware accuracy scores them.
        votes: Individual annotators' votes, ``(annotator, dimension, choice)`` with choice
            ``video_0``, ``video_1`` or ``tie``, where the dataset records them (see
            :mod:`judges.datasets.votes`; the labels above stay the reference a judge is scored on).
        fields: The record's other fields, as read (categories and the like; what
            ``--by FIELD`` slices look in). Read only, as ``labels``.

    """

    pair_id: str
    prompt_id: str
    prompt_text: str
    video_0: Video
    video_1: Video
    labels: dict[Dimension, Choice] = field(default_factory=dict)
    prompt_type: str | None = None
    ties: frozenset[Dimension] = frozenset()
    votes: tuple[tuple[str, Dimension, str], ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
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

    @property
    def task_key(self) -> tuple[str, str, int | None]:
        """The key of the task it answers (``Task.key``)."""
        return (self.pair_id, self.dimension.value, self.frames)

    def restamp(self, item_id: str, judge: str) -> Verdict:
        """This cached verdict with this run's ids (stored verdicts are content-addressed)."""
        return replace(self, pair_id=item_id, judge=judge)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the cache's form).

        Shallow (``raw`` is the verdict's own dict): it is serialised at once, and
        ``dataclasses.asdict``'s deep copy was most of a first run's bookkeeping.
        """
        d = {name: getattr(self, name) for name in _VERDICT_FIELDS}
        d["dimension"] = self.dimension.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "dimension": Dimension(d["dimension"])})

    @classmethod
    def from_cached(cls, d: dict[str, Any], item_id: str, judge: str) -> Verdict:
        """A cached verdict with this run's ids, in one construction.

        The same as ``from_dict(d).restamp(item_id, judge)``; a rerun reads a million of them.
        """
        dimension = Dimension(d["dimension"])
        return cls(**{**d, "pair_id": item_id, "judge": judge, "dimension": dimension})


_VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))


def top_positions(scores: Sequence[float], frame_indices: Sequence[int], n: int) -> list[int]:
    """The selection rule: positions of the ``n`` highest scores, in time order.

    ``nan`` scores (frame 0, which has no predecessor) are never ranked; equal scores go to the
    earlier frame. :func:`judges.media.keyframes.select_top_n`, :meth:`Keyframes.top` and the
    streaming heap of :func:`judges.media.keyframes.extract_keyframes` all follow it.

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
