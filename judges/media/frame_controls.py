"""Controls on a video's frames: what a judge sees when its keyframes are broken on purpose.

A control (:mod:`judges.judge.controls`) that removes the motion or the order of a video
transforms the keyframes a judge reads, never the file: :class:`ControlledSource` wraps the
run's :class:`~judges.media.keyframes.KeyframeSource`, so every judge that takes its keyframes
from ``ctx.source`` (score judges, model judges, VLM judges) sees the transformed frames through
the same call. Each frame keeps the index of the video frame whose pixels it holds, so caches
addressed by frame content (a model judge's per-frame scores) stay right.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from judges.core.types import Keyframes
from judges.media.keyframes import KeyframeSource, Strategy


def frozen_keyframes(kf: Keyframes) -> Keyframes:
    """The first selected keyframe repeated as often as there were keyframes (no motion).

    The video's frame 0 becomes that frame too: nothing in it moves.

    Example:
        >>> kf = Keyframes((3, 7), [np.zeros((1, 1, 3), np.uint8), np.ones((1, 1, 3), np.uint8)],
        ...                25.0, 10, (2.0, 1.0))
        >>> out = frozen_keyframes(kf)
        >>> out.indices, [int(f.max()) for f in out.frames], out.scores
        ((3, 3), [0, 0], (0.0, 0.0))

    """
    first, n = kf.frames[0], len(kf.indices)
    return replace(
        kf,
        indices=(kf.indices[0],) * n,
        frames=[first] * n,
        scores=(0.0,) * n if kf.scores else (),
        first_frame=first,
    )


def reversed_keyframes(kf: Keyframes) -> Keyframes:
    """The selected keyframes in reverse time order (frame 0, the PSNR reference, stays).

    Example:
        >>> kf = Keyframes((1, 4, 6), [np.full((1, 1, 3), i, np.uint8) for i in (1, 4, 6)], 25.0, 8)
        >>> out = reversed_keyframes(kf)
        >>> out.indices, [int(f.max()) for f in out.frames]
        ((6, 4, 1), [6, 4, 1])

    """
    return replace(
        kf,
        indices=kf.indices[::-1],
        frames=kf.frames[::-1],
        scores=kf.scores[::-1],
    )


def shuffled_keyframes(kf: Keyframes, seed: int, key: str) -> Keyframes:
    """The selected keyframes in a seeded random order, the same for the same ``(seed, key)``.

    ``key`` names the video (its path), so each video gets its own order and a rerun the same.

    Example:
        >>> kf = Keyframes((1, 2, 3, 4), [np.full((1, 1, 3), i, np.uint8) for i in range(4)],
        ...                25.0, 5)
        >>> a = shuffled_keyframes(kf, 0, "v.mp4")
        >>> sorted(a.indices), a.indices == shuffled_keyframes(kf, 0, "v.mp4").indices
        ([1, 2, 3, 4], True)

    """
    digest = hashlib.sha256(f"{seed}|{key}".encode()).digest()
    order = np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(len(kf))
    return replace(
        kf,
        indices=tuple(kf.indices[i] for i in order),
        frames=[kf.frames[i] for i in order],
        scores=tuple(kf.scores[i] for i in order) if kf.scores else (),
    )


FRAME_CONTROLS: dict[str, Callable[[Keyframes, int, str], Keyframes]] = {
    "frozen": lambda kf, seed, key: frozen_keyframes(kf),
    "reversed": lambda kf, seed, key: reversed_keyframes(kf),
    "shuffled_frames": shuffled_keyframes,
}
"""Controls that transform keyframes: name -> ``(keyframes, seed, video key) -> keyframes``."""

SEEDED_FRAME_CONTROLS = ("shuffled_frames",)
"""Frame controls whose frames depend on the seed: their seed is part of every cache key."""


def control_key(control: str, seed: int) -> str:
    """How ``control`` under ``seed`` is named in cache keys (``shuffled_frames@3``).

    Controls whose inputs do not depend on the seed, or whose seed changes the files or texts
    that are keyed anyway (a borrowed prompt or video), keep their bare name.

    Example:
        >>> control_key("shuffled_frames", 3), control_key("frozen", 3)
        ('shuffled_frames@3', 'frozen')

    """
    return f"{control}@{seed}" if control in SEEDED_FRAME_CONTROLS else control


class ControlledSource:
    """A run's keyframe source as a control shows it: :meth:`get` returns transformed frames.

    :meth:`decoded` stays the untransformed superset (it is what a model judge scores in one
    batch, frame by frame; the transformed selection from :meth:`get` only holds indices it
    has). Everything else is the wrapped source's.

    Args:
        source: The run's keyframe source.
        control: A name in :data:`FRAME_CONTROLS`.
        seed: Seed of the random controls.

    Example:
        >>> source = ControlledSource(KeyframeSource(plan=[2]), "frozen")
        >>> source.control, source.strategy
        ('frozen', 'diff')

    """

    def __init__(self, source: KeyframeSource, control: str, seed: int = 0) -> None:
        if control not in FRAME_CONTROLS:
            raise ValueError(f"{control!r} is not a frame control; expected {list(FRAME_CONTROLS)}")
        self.base = source
        self.control = control
        self.seed = seed
        self.control_key = control_key(control, seed)
        self._transform = FRAME_CONTROLS[control]

    @property
    def strategy(self) -> Strategy:
        """The wrapped source's selection strategy."""
        return self.base.strategy

    @property
    def plan(self) -> tuple[int | None, ...]:
        """The wrapped source's frame counts."""
        return self.base.plan

    @property
    def decodes(self) -> int:
        """Videos the wrapped source decoded."""
        return self.base.decodes

    def get(self, path: str | Path, n: int | None) -> Keyframes:
        """The wrapped source's keyframes of ``path``, transformed by the control."""
        return self._transform(self.base.get(path, n), self.seed, str(Path(path)))

    def decoded(self, path: str | Path, n: int | None) -> Keyframes:
        """The wrapped source's untransformed superset (frames addressed by their index)."""
        return self.base.decoded(path, n)

    def decoded_entry(
        self, path: str | Path, n: int | None
    ) -> dict[tuple[str, int | None], Keyframes]:
        """The wrapped source's (see :meth:`KeyframeSource.decoded_entry`)."""
        return self.base.decoded_entry(path, n)

    def preload(self, entries: dict[tuple[str, int | None], Keyframes]) -> None:
        """Into the wrapped source (see :meth:`KeyframeSource.preload`)."""
        self.base.preload(entries)
