"""Keyframe selection by consecutive-frame pixel difference, streamed with bounded memory.

The paper keeps the ``n`` frames that differ most from their predecessor. Frame ``t >= 1`` is
scored by the mean absolute difference to frame ``t - 1`` over all pixels and channels; the
``n`` highest scores are kept (ties: the earlier frame wins) and returned in time order. Frame 0
has no predecessor, so it is only returned when ``n`` covers every frame.

Decoding streams through :class:`cv2.VideoCapture`; a bounded heap holds at most ``n`` candidate
frames plus frame 0, so memory is O(n frames) whatever the video's length.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from judges.core.errors import VideoError
from judges.core.types import ALL_FRAMES, Keyframes, top_positions
from judges.media.video import count_frames, open_video

Strategy = Literal["diff", "uniform"]
STRATEGIES: tuple[Strategy, ...] = ("diff", "uniform")


# --- pure maths --------------------------------------------------------------------------


def frame_diffs(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Mean absolute difference of each frame to the previous one.

    Args:
        frames: Frames of equal shape, in time order.

    Returns:
        Float array of length ``len(frames)``; entry 0 is ``nan`` (no predecessor).

    Example:
        >>> a = np.zeros((2, 2, 3), np.uint8); b = a + 4
        >>> frame_diffs([a, b, b]).tolist()
        [nan, 4.0, 0.0]

    """
    out = np.full(len(frames), np.nan)
    for t in range(1, len(frames)):
        diff = np.abs(frames[t].astype(np.int16) - frames[t - 1].astype(np.int16))
        out[t] = float(diff.mean())
    return out


def select_top_n(scores: Sequence[float], n: int) -> list[int]:
    """Indices of the ``n`` highest-scoring frames, in time order.

    Frame 0 (score ``nan``) is never ranked; ``n >= len(scores)`` returns every index.
    Ties go to the earlier frame.

    Example:
        >>> select_top_n([float("nan"), 3.0, 5.0, 3.0, 1.0], 2)
        [1, 2]

    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n >= len(scores):
        return list(range(len(scores)))
    return top_positions(scores, range(len(scores)), n)


def uniform_indices(frame_count: int, n: int) -> list[int]:
    """``n`` evenly spaced frame indices from first to last frame (all when ``n >= count``).

    Example:
        >>> uniform_indices(16, 4)
        [0, 5, 10, 15]

    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n >= frame_count:
        return list(range(frame_count))
    return sorted({round(x) for x in np.linspace(0, frame_count - 1, n)})


# --- decoding ----------------------------------------------------------------------------


def _rgb(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def extract_keyframes(path: str | Path, n: int) -> Keyframes:
    """Top-``n`` keyframes of a video by consecutive-frame pixel difference.

    Args:
        path: Video file readable by OpenCV.
        n: Number of keyframes to keep (>= 1). ``n >=`` the frame count returns every frame.

    Returns:
        Keyframes in time order, RGB uint8, with their difference scores and frame 0.

    Raises:
        ValueError: ``n < 1``.
        VideoError: missing, unreadable or empty video (the message names the path).

    Example:
        >>> kf = extract_keyframes("clip.mp4", 4)  # doctest: +SKIP
        >>> kf.indices  # doctest: +SKIP
        (3, 7, 8, 12)

    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    video = open_video(path)
    cap, path = video.cap, video.path
    # Min-heap of (l1, -t, t, frame): the root is the weakest candidate, and among equal
    # scores the later frame, so ties keep the earlier frame as the method requires.
    heap: list[tuple[float, int, int, np.ndarray]] = []
    in_heap: set[int] = set()  # ids of the arrays the heap holds
    # Decoding into recycled arrays avoids a fresh multi-MB allocation (and its page faults)
    # per frame. Once malloc has warmed up, a plain cap.read() costs about the same; measured
    # in fresh processes (benchmarks/keyframes.py) recycling was never slower beyond the noise,
    # so it is always used: a timing probe at first use would pick at random on a loaded machine.
    spare: list[np.ndarray] = []
    first: np.ndarray | None = None
    prev: np.ndarray | None = None
    t = 0
    try:
        while True:
            ok, frame = cap.read(spare.pop()) if spare else cap.read()
            if not ok:
                break
            released: list[np.ndarray] = []
            if prev is None:
                first = frame
            else:
                if frame.shape != prev.shape:
                    raise VideoError(
                        path,
                        f"frame {t} has shape {frame.shape}, frame {t - 1} {prev.shape}",
                        kind="frame_size_changed",
                    )
                # Exact integer L1 sum (as a float64); one size per video, so the mean's
                # ranking equals the sum's.
                item = (cv2.norm(frame, prev, cv2.NORM_L1), -t, t, frame)
                if len(heap) < n:
                    heapq.heappush(heap, item)
                    in_heap.add(id(frame))
                elif item[:2] > heap[0][:2]:
                    evicted = heapq.heapreplace(heap, item)[3]
                    in_heap.discard(id(evicted))
                    in_heap.add(id(frame))
                    released.append(evicted)
                released.append(prev)
            for buf in released:
                reusable = buf is not first and buf is not frame and id(buf) not in in_heap
                if reusable and all(buf is not s for s in spare):
                    spare.append(buf)
            prev = frame
            t += 1
        fps = cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    video.check_complete(t)
    assert first is not None  # check_complete raised for a video with no frame
    fps = float(fps) if fps and np.isfinite(fps) else 0.0
    size = first.size
    kept = sorted((item[2], item[0] / size, item[3]) for item in heap)
    # In place: these buffers belong to the result now, and a new array per frame would cost
    # as much again in allocation as the conversion itself.
    first_rgb = cv2.cvtColor(first, cv2.COLOR_BGR2RGB, dst=first)
    indices = [k[0] for k in kept]
    scores = [k[1] for k in kept]
    frames = [cv2.cvtColor(k[2], cv2.COLOR_BGR2RGB, dst=k[2]) for k in kept]
    if n >= t:  # every frame requested: frame 0 joins the later ones
        indices.insert(0, 0)
        scores.insert(0, float("nan"))
        frames.insert(0, first_rgb)
    return Keyframes(
        indices=tuple(indices),
        frames=frames,
        fps=fps,
        frame_count=t,
        scores=tuple(scores),
        first_frame=first_rgb,
    )


def uniform_frames(path: str | Path, n: int) -> Keyframes:
    """``n`` evenly spaced frames from first to last, as used for reward-model training.

    Two streaming passes (count, then retrieve the chosen frames), so memory stays O(n).

    Raises:
        ValueError: ``n < 1``.
        VideoError: missing, unreadable or empty video.

    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    total = count_frames(path)
    wanted = set(uniform_indices(total, n))
    video = open_video(path)
    cap, path = video.cap, video.path
    frames: list[np.ndarray] = []
    indices: list[int] = []
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        t = 0
        while t <= max(wanted) and cap.grab():
            if t in wanted:
                ok, frame = cap.retrieve()
                if not ok:
                    raise VideoError(path, f"frame {t} could not be decoded", kind="truncated")
                frames.append(_rgb(frame))
                indices.append(t)
            t += 1
    finally:
        cap.release()
    if len(indices) != len(wanted):
        raise VideoError(
            path,
            f"video shrank while reading: got {len(indices)} of {len(wanted)}",
            kind="truncated",
        )
    first = frames[0] if indices[0] == 0 else None
    return Keyframes(
        indices=tuple(indices),
        frames=frames,
        fps=float(fps) if fps and np.isfinite(fps) else 0.0,
        frame_count=total,
        first_frame=first,
    )


# --- per-run reuse -------------------------------------------------------------------------


class KeyframeSource:
    """Keyframes for a run, each video decoded once however many judges and frame counts ask.

    With the ``diff`` strategy the video is decoded once for the largest ``n`` of the run's
    plan and smaller counts are derived with :meth:`Keyframes.top`. A bounded LRU holds the
    most recent videos (pairs share videos), so memory stays bounded on large datasets.

    Args:
        plan: Frame counts the run will ask for; ``None`` stands for every frame.
        strategy: ``diff`` (the paper's method) or ``uniform``.
        max_videos: How many videos' keyframes to keep in memory.

    Example:
        >>> source = KeyframeSource(plan=[1, 2, 4, 8])
        >>> kf = source.get("clip.mp4", 2)  # doctest: +SKIP

    """

    control: str = "none"
    """The control its keyframes show (``none``: as decoded; see ``frame_controls``)."""

    def __init__(
        self,
        plan: Sequence[int | None] = (),
        strategy: Strategy = "diff",
        max_videos: int = 64,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"unknown keyframe strategy {strategy!r}; expected one of {STRATEGIES}"
            )
        self.strategy: Strategy = strategy
        self.plan = tuple(plan)
        self.max_videos = max_videos
        self.decodes = 0
        self._cache: OrderedDict[tuple[str, int | None], Keyframes] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, int | None], threading.Lock] = {}

    def _decode_n(self, n: int | None) -> int | None:
        """The frame count to decode for a request of ``n`` (``None``: all frames)."""
        if self.strategy != "diff" or n is None:
            return n
        if None in self.plan:
            return None
        return max([n, *(m for m in self.plan if m is not None)])

    def _extract(self, path: Path, n: int | None) -> Keyframes:
        self.decodes += 1
        big = n if n is not None else ALL_FRAMES
        if self.strategy == "uniform":
            return uniform_frames(path, big)
        return extract_keyframes(path, big)

    def get(self, path: str | Path, n: int | None) -> Keyframes:
        """Keyframes of ``path`` for ``n`` frames (``None``: every frame).

        Raises:
            VideoError: the video cannot be read.

        """
        decoded = self.decoded(path, n)
        if n is None or self._decode_n(n) == n:
            return decoded
        return decoded.top(n)

    def decoded_entry(
        self, path: str | Path, n: int | None
    ) -> dict[tuple[str, int | None], Keyframes]:
        """What answering ``n`` decodes, keyed as this source caches it (for :meth:`preload`)."""
        path = Path(path)
        return {(str(path.resolve()), self._decode_n(n)): self.decoded(path, n)}

    def preload(self, entries: dict[tuple[str, int | None], Keyframes]) -> None:
        """Take keyframes decoded elsewhere (another process's :meth:`decoded_entry`)."""
        with self._lock:
            self._cache.update(entries)
            self.max_videos = max(self.max_videos, len(self._cache))

    def decoded(self, path: str | Path, n: int | None) -> Keyframes:
        """Everything decoded to answer a request for ``n``: a superset of ``get(path, n)``.

        Model judges score these frames in one batch, so the run's other frame counts (which
        select subsets) cost no further forward pass.
        """
        path = Path(path)
        decode_n = self._decode_n(n)
        key = (str(path.resolve()), decode_n)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is None:
                hit = self._extract(path, decode_n)
                with self._lock:
                    self._cache[key] = hit
                    while len(self._cache) > self.max_videos:
                        old, _ = self._cache.popitem(last=False)
                        self._key_locks.pop(old, None)
        return hit
