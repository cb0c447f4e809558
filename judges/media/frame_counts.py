"""Frame counts as users write them (``"1,2,4,8"``, ``"all"``), checked and put in order.

``None`` stands for every frame of the video everywhere in the library; ``"all"`` is how
people and files spell it.
"""

from __future__ import annotations

from collections.abc import Iterable

from judges.core.errors import ConfigError


def parse_frames(text: str) -> list[int | None]:
    """Parse ``"1,2,4,8"`` / ``"all"`` / ``"1,all"`` into frame counts (``None`` = all).

    Raises:
        ConfigError: not a positive integer or ``all``.

    Example:
        >>> parse_frames("8,1,all,2")
        [1, 2, 8, None]

    """
    values: set[int | None] = set()
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == "all":
            values.add(None)
            continue
        try:
            n = int(part)
        except ValueError:
            raise ConfigError(f"--frames: {part!r} is not a whole number or 'all'") from None
        if n < 1:
            raise ConfigError(f"--frames: frame counts must be >= 1, got {n}")
        values.add(n)
    if not values:
        raise ConfigError("--frames: give at least one frame count, e.g. 1,2,4,8")
    return sorted(values, key=lambda v: (v is None, v or 0))


def normalize_frames(frames: str | int | Iterable[int | str | None] | None) -> list[int | None]:
    """Frame counts from any spelling a caller may use, checked as ``--frames`` checks them.

    Accepts ``"1,2,4,8"``, ``"all"``, ``8``, ``None`` (every frame) or a sequence mixing whole
    numbers, ``"all"`` and ``None``. Returns them sorted, each once, ``None`` last.

    Raises:
        ConfigError: anything else, naming the value.

    Example:
        >>> normalize_frames([8, "all", 1])
        [1, 8, None]
        >>> normalize_frames("2,1")
        [1, 2]

    """
    if isinstance(frames, str):
        return parse_frames(frames)
    if frames is None or isinstance(frames, int):
        frames = [frames]
    parts = []
    for value in frames:
        if value is None:
            parts.append("all")
        elif isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(
                f"frames: {value!r} is not a whole number, 'all' or None (every frame)"
            )
        else:
            parts.append(str(value))
    return parse_frames(",".join(parts))


def frame_order(frames: int | None) -> tuple[bool, int]:
    """Sort key putting frame counts in reading order: 1, 2, 4, 8, 16, then every frame.

    Example:
        >>> sorted([8, None, 2, 16, 1], key=frame_order)
        [1, 2, 8, 16, None]

    """
    return (frames is None, frames or 0)
