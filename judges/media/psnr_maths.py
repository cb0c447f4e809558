"""PSNR maths: the pure functions behind the ``psnr`` judge.

PSNR between two frames is ``10 log10(R^2 / MSE)``. The judge scores a video by the mean PSNR
of its first frame against later frames: a low value means the picture changes a lot over time
(more informative, in the paper's sense), a high one a near-still video.

Identical frames have MSE 0 and an infinite PSNR. Outside SafeSora-compatibility mode the value
is capped at :func:`psnr_cap`, the PSNR at half the smallest non-zero MSE for that frame size, so
an identical frame still ranks as "more still" than any frame that differs by a single level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from judges.core.errors import UndefinedScoreError
from judges.media.video import iter_frames


def _data_range(frame: np.ndarray) -> float:
    if frame.dtype == np.uint8:
        return 255.0
    if frame.dtype == np.uint16:
        return 65535.0
    return 1.0


def squared_error_sum(a: np.ndarray, b: np.ndarray) -> float:
    """Exact sum of squared differences (OpenCV's L2SQR norm, accumulated in float64)."""
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")
    return float(cv2.norm(a, b, cv2.NORM_L2SQR))


def psnr(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, equal to ``skimage.metrics.peak_signal_noise_ratio``.

    Args:
        a: Reference frame.
        b: Frame to compare, same shape and dtype.
        data_range: Peak value; by default inferred from the dtype (255 for uint8).

    Returns:
        PSNR in dB; ``inf`` for identical frames.

    Example:
        >>> a = np.zeros((4, 4, 3), np.uint8); b = a.copy(); b[0, 0, 0] = 255
        >>> round(psnr(a, b), 4)
        16.8124

    """
    r = _data_range(a) if data_range is None else data_range
    mse = squared_error_sum(a, b) / a.size
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(r * r / mse)


def psnr_cap(size: int, data_range: float = 255.0) -> float:
    """PSNR given to identical frames of ``size`` values: that of half the smallest MSE.

    Example:
        >>> round(psnr_cap(3), 4)
        55.9123

    """
    return 10.0 * math.log10(data_range * data_range / (0.5 / size))


def capped_psnr(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """:func:`psnr` with identical frames mapped to :func:`psnr_cap` instead of ``inf``."""
    r = _data_range(a) if data_range is None else data_range
    value = psnr(a, b, r)
    return psnr_cap(a.size, r) if math.isinf(value) else value


NO_LATER_FRAME = "PSNR is undefined: no frame after frame 0 to compare it with"


def _score(first: np.ndarray, later: Iterable[np.ndarray], safesora_compat: bool) -> float:
    # One arithmetic for keyframe lists and streamed whole videos (``later`` may be a generator).
    compare = psnr if safesora_compat else capped_psnr
    values = [compare(first, f) for f in later]
    if not values:
        # Any number here would be an artefact (the cap depends on the frame size alone).
        raise ValueError(NO_LATER_FRAME)
    if safesora_compat:
        return float(sum(values) / (len(values) + 1))
    return float(np.mean(values))


def mean_psnr_to_first(first: np.ndarray, later: Sequence[np.ndarray]) -> float:
    """Mean capped PSNR of ``first`` against each later frame.

    Raises:
        ValueError: ``later`` is empty (a 1-frame video, or keyframes holding only frame 0):
            the score is undefined, not "perfectly still".

    """
    return _score(first, later, safesora_compat=False)


def safesora_psnr(first: np.ndarray, later: Sequence[np.ndarray]) -> float:
    """SafeSora's reference arithmetic: sum of uncapped PSNRs divided by ``len(later) + 1``.

    With every frame selected this is the reference's ``sum / frame_count`` exactly, ``inf``
    included when a later frame equals the first.

    Raises:
        ValueError: ``later`` is empty (undefined score).

    """
    return _score(first, later, safesora_compat=True)


def video_psnr_score(path: str | Path, safesora_compat: bool = False) -> float:
    """PSNR score of a whole video, every frame, streamed with O(1) frames in memory.

    Args:
        path: Video file.
        safesora_compat: Reproduce the reference arithmetic (``sum / frame_count``, ``inf`` for
            an identical frame) instead of the capped mean over later frames.

    Raises:
        VideoError: the video cannot be read.
        UndefinedScoreError: the video has a single frame.

    """
    frames = iter_frames(path)
    first = next(frames)  # iter_frames raises VideoError rather than yield nothing
    try:
        return _score(first, frames, safesora_compat)
    except ValueError as e:
        raise UndefinedScoreError(f"{path}: {e} (the video has 1 frame)") from None
