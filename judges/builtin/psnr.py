"""``psnr`` judge: informativeness as change over time, measured against the first frame."""

from __future__ import annotations

from dataclasses import dataclass

from judges.core.errors import UndefinedScoreError
from judges.core.types import Dimension, Video
from judges.judge.base import RunContext, ScoreJudge
from judges.judge.registry import register_judge
from judges.media.keyframes import Strategy
from judges.media.psnr_maths import mean_psnr_to_first, safesora_psnr, video_psnr_score


@dataclass(frozen=True)
class PsnrConfig:
    """Options of the ``psnr`` judge.

    Attributes:
        tie_tolerance: Score differences (dB) up to this are ties.
        safesora_compat: Reproduce SafeSora's reference arithmetic: sum of uncapped PSNRs
            divided by the number of frames counting frame 0 (``inf`` for an identical frame).
            Use with ``--frames all`` to reproduce the paper's appendix E.4 number.

    """

    tie_tolerance: float = 1e-9
    safesora_compat: bool = False

    def __post_init__(self) -> None:
        if self.tie_tolerance < 0:
            raise ValueError(f"tie_tolerance must be >= 0, got {self.tie_tolerance}")


@register_judge(
    "psnr", "mean PSNR of frame 0 vs later keyframes; lower (more change) wins", config=PsnrConfig
)
class PsnrJudge(ScoreJudge):
    """Mean PSNR (dB) of a video's frame 0 against each selected keyframe after it; lower wins.

    Frame 0 itself is never compared with itself; identical frames get a finite cap (see
    :mod:`judges.media.psnr_maths`). With ``frames=None`` every frame is used, streamed from disk.

    Example:
        >>> judge = PsnrJudge(PsnrConfig())
        >>> judge.higher_is_better
        False

    """

    kind = "psnr"
    # 2: a score with no frame after frame 0 is an error, no longer the identical-frame cap.
    version = "2"
    confidence_unit = "dB"
    default_dimensions = (Dimension.INFORMATIVENESS,)
    higher_is_better = False

    def undefined_reason(self, strategy: Strategy, frames: int | None) -> str | None:
        """Uniform selection of 1 frame keeps frame 0 alone: nothing to compare it with."""
        if strategy == "uniform" and frames == 1:
            return (
                "psnr compares frame 0 with the frames after it, and --keyframes uniform "
                "--frames 1 keeps frame 0 alone, so every score would be undefined; use "
                "--keyframes diff, or 2 or more frames"
            )
        return None

    def control_reason(self, control: str) -> str | None:
        """A frozen video has no change over time: its PSNR to frame 0 is undefined."""
        if control == "frozen":
            return (
                "psnr measures change against frame 0, and under the control 'frozen' every "
                "frame is the same frame, so every score is undefined"
            )
        return None

    def video_score(self, video: Video, frames: int | None, ctx: RunContext) -> float:
        """PSNR score of one video.

        Raises:
            VideoError: an unreadable file.
            UndefinedScoreError: no frame after frame 0 among the selected keyframes.

        """
        compat = self.config.safesora_compat
        if frames is None:
            return video_psnr_score(video.path, safesora_compat=compat)
        kf = ctx.source.get(video.path, frames)
        if kf.first_frame is None:
            raise RuntimeError(f"{video.path}: keyframe selection did not keep frame 0")
        later = [f for i, f in zip(kf.indices, kf.frames, strict=True) if i != 0]
        try:
            if compat:
                return safesora_psnr(kf.first_frame, later)
            return mean_psnr_to_first(kf.first_frame, later)
        except ValueError as e:
            raise UndefinedScoreError(
                f"{video.path}: {e} (the video has {kf.frame_count} frame(s); "
                f"selected frames {list(kf.indices)})"
            ) from None
