"""Opening video files, and telling a complete, decodable video from anything else.

A file that is not a video (a still image renamed ``.mp4``), is empty, has no video stream, or
decodes fewer frames than its container declares (truncated) raises :class:`VideoError` with a
reason code and the file's name; nothing downstream ever scores it. FFmpeg's own log lines are
silenced in :mod:`judges` (``OPENCV_FFMPEG_LOGLEVEL``), so these errors are all a user sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from judges.core.errors import VideoError

# Still-image signatures: FFmpeg opens such a file as a one-frame "video", which would then be
# scored as a perfectly still clip. (GIF is left out: animated GIFs are videos.)
_IMAGE_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"BM", 0, "a BMP image"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"WEBP", 8, "a WebP image"),
)
# Containers that store their frame count (rather than estimate it from the duration).
_EXACT_COUNT_MAGIC: tuple[tuple[bytes, int], ...] = ((b"ftyp", 4), (b"AVI ", 8))
_MAX_DECLARED = 10**9  # above this the container's count is garbage (e.g. INT64_MIN as float)


class _Opened:
    """An open capture with what its container declares, for the completeness check."""

    def __init__(self, cap: cv2.VideoCapture, path: Path, declared: int | None, exact: bool):
        self.cap = cap
        self.path = path
        self.declared = declared
        self.exact = exact

    def check_complete(self, decoded: int) -> None:
        """Raise if fewer frames decoded than the container declares (a truncated file)."""
        if decoded == 0:
            raise VideoError(
                self.path, "no decodable frames (empty or corrupt video)", kind="no_frames"
            )
        if self.declared is None:
            return
        # Stored counts are exact; estimated ones (duration x fps) may be a frame or two off.
        slack = 0 if self.exact else max(1, self.declared // 50)
        if decoded < self.declared - slack:
            raise VideoError(
                self.path,
                f"truncated or corrupt: decoded {decoded} of the {self.declared} frames its "
                "container declares",
                kind="truncated",
            )


def _sniff(path: Path) -> tuple[str | None, bool]:
    """(what still image the file is, if any; whether its container stores an exact count)."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        raise VideoError(
            path, f"cannot read ({e.strerror or e})", kind="unreadable_video"
        ) from None
    if not head:
        raise VideoError(path, "empty file (0 bytes)", kind="empty_file")
    image = next((what for magic, at, what in _IMAGE_MAGIC if head[at:].startswith(magic)), None)
    exact = any(head[at:].startswith(magic) for magic, at in _EXACT_COUNT_MAGIC)
    return image, exact


def open_video(path: str | Path) -> _Opened:
    """Open a video for decoding, refusing what cannot be one (see the module docstring).

    Raises:
        VideoError: missing, empty, a still image, or not openable as a video.

    """
    path = Path(path)
    if path.is_dir():
        raise VideoError(path, "is a folder, not a video file", kind="not_a_video")
    if not path.is_file():
        raise VideoError(path, "file not found", kind="missing")
    image, exact = _sniff(path)
    if image is not None:
        raise VideoError(path, f"not a video: the file is {image}", kind="not_a_video")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError(
            path,
            "cannot open as a video: not a video container, no video stream, or a truncated "
            "file (e.g. an MP4 whose index is missing)",
            kind="unreadable_video",
        )
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    declared = int(count) if np.isfinite(count) and 0 < count < _MAX_DECLARED else None
    return _Opened(cap, path, declared, exact)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield the decoded frames of a video one at a time, BGR uint8 as OpenCV decodes them.

    Raises:
        VideoError: missing, unreadable, empty or truncated video.

    """
    video = open_video(path)
    try:
        count = 0
        while True:
            ok, frame = video.cap.read()
            if not ok:
                break
            count += 1
            yield frame
        video.check_complete(count)
    finally:
        video.cap.release()


def count_frames(path: str | Path) -> int:
    """Number of decodable frames (decodes without converting; container counts can lie)."""
    video = open_video(path)
    try:
        count = 0
        while video.cap.grab():
            count += 1
    finally:
        video.cap.release()
    video.check_complete(count)
    return count
