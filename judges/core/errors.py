"""Exception types. Each names the file or record at fault and, where there is one, the fix.

Command-line scripts catch :class:`JudgesError` and print its message on one line (exit 2);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class JudgesError(Exception):
    """Base class for errors caused by the user's input or environment, not by a bug."""


class DataError(JudgesError, ValueError):
    """A dataset file or record is malformed, or files it names are missing."""


class ItemError(JudgesError):
    """A failure confined to one item (a video, a score).

    It is recorded as an error Verdict while the run goes on. Other :class:`JudgesError` s (bad
    weights, a rejected key) stop the run.

    Attributes:
        kind: A short, stable reason code (``truncated``, ``undefined_score``...) that failure
            summaries count by; the message carries the details.

    """

    kind: str = "item_error"

    def __init__(self, message: str = "", *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class VideoError(ItemError):
    """A video cannot be read: missing, unreadable/corrupt, or holding no decodable frame.

    Attributes:
        path: The video file at fault.
        reason: What went wrong.

    """

    kind = "unreadable_video"

    def __init__(self, path: str | Path, reason: str, *, kind: str | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}", kind=kind)


class UndefinedScoreError(ItemError):
    """A judge's score is undefined for this input (e.g. PSNR with no frame after frame 0)."""

    kind = "undefined_score"


class ConfigError(JudgesError, ValueError):
    """A judge or run option is invalid (unknown judge, bad argument, missing API key...)."""
