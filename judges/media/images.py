"""Frames to images for vision-language judges: resize, tile, JPEG, data URLs."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import cv2
import numpy as np


def resize_max_side(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most ``max_side`` (never enlarges; area interpolation).

    Example:
        >>> resize_max_side(np.zeros((320, 512, 3), np.uint8), 256).shape
        (160, 256, 3)

    """
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frame
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def tile_grid(frames: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Tile frames (time order) into a near-square grid, left to right, top to bottom.

    Frames of different sizes are placed top-left in equal cells; gaps are black.
    """
    if not frames:
        raise ValueError("no frames to tile")
    cols = math.ceil(math.sqrt(len(frames)))
    rows = math.ceil(len(frames) / cols)
    ch = max(f.shape[0] for f in frames)
    cw = max(f.shape[1] for f in frames)
    grid = np.zeros((rows * ch + (rows - 1) * gap, cols * cw + (cols - 1) * gap, 3), np.uint8)
    for i, f in enumerate(frames):
        r, c = divmod(i, cols)
        y, x = r * (ch + gap), c * (cw + gap)
        grid[y : y + f.shape[0], x : x + f.shape[1]] = f
    return grid


def encode_jpeg(frame_rgb: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB uint8 frame."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def data_url(jpeg: bytes) -> str:
    """A ``data:image/jpeg;base64,...`` URL."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def decode_data_url(url: str) -> np.ndarray:
    """Decode a JPEG/PNG data URL to an RGB array (used by tests and token estimates)."""
    _, _, payload = url.partition("base64,")
    buf = np.frombuffer(base64.b64decode(payload), np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
