"""SafeSora-Label: one record per text-video pair with its 12 harm labels (no preferences).

Each record: ``prompt_id, prompt_text, prompt_type`` (safety_critical / safety_neutral),
``prompt_labels``, ``video_id, video_text, video_path, is_safe, video_labels`` (the 12 keys of
:data:`judges.harm.HARM_KEYS`, booleans; ``racism`` may be absent), ``generated_from``; a JSON
list (``.json`` or ``.json.gz``) or JSON lines. Videos are at ``video_path`` (relative to the
file) or ``<video_dir>/<prompt_id>/<video_id>.mp4``.

The format holds videos, not pairs: preference runs refuse it with a pointer to
``experiments/harm.py``, which reads it through :func:`load_items`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from judges.core.errors import DataError
from judges.core.harm_types import HarmItem, check_harm_labels
from judges.core.types import Pair
from judges.datasets.config_files import CONFIG_SUFFIXES, find_config, read_records
from judges.datasets.registry import DatasetFormat, register_format
from judges.datasets.safesora import _RecordParser

RECORD_KEYS = (
    "prompt_id",
    "prompt_text",
    "prompt_type",
    "prompt_labels",
    "video_id",
    "video_text",
    "video_path",
    "is_safe",
    "video_labels",
    "generated_from",
)


class _VideoParser(_RecordParser):
    """SafeSora's record parser, naming records by their video id."""

    def where(self, index: int, pair_id: str | None) -> str:
        return f"{self.config}: video_id {pair_id!r} (record #{index})"


def _head(path: Path, size: int = 4096) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:  # type: ignore[operator]
            return f.read(size).decode("utf-8", errors="replace")
    except (OSError, EOFError):
        return ""


def detect(path: Path) -> bool:
    """A config whose first record is a video record (``video_id`` and no ``video_0``)."""
    try:
        config = find_config(path) if path.exists() else None
    except DataError:
        return False
    if config is None or not config.name.endswith(CONFIG_SUFFIXES):
        return False
    head = _head(config)
    return (
        '"video_0"' not in head
        and '"video_id"' in head
        and ('"video_labels"' in head or '"is_safe"' in head)
    )


def load_items(path: Path, video_dir: Path | None) -> tuple[list[HarmItem], Path, str]:
    """Every record as a validated :class:`HarmItem` (video files are checked by the caller)."""
    config = find_config(path)
    records, digest = read_records(config)
    parser = _VideoParser(config, Path(video_dir).expanduser() if video_dir else None)
    items: list[HarmItem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(records):
        if not isinstance(raw, dict):
            raise DataError(f"{config}: record #{index} must be an object")
        video_id = raw.get("video_id")
        where = parser.where(index, video_id)
        if "video_0" in raw:
            raise DataError(f"{where}: a pair record in a SafeSora-Label file")
        video = parser.video(raw, "", index, str(video_id), raw)
        prompt_id = str(raw.get("prompt_id") or video.video_id)
        item_id = f"{prompt_id}/{video.video_id}"
        if item_id in seen:
            raise DataError(f"{where}: duplicate video {item_id!r} (also record #{seen[item_id]})")
        seen[item_id] = index
        items.append(
            HarmItem(
                item_id=item_id,
                prompt_id=prompt_id,
                prompt_text=video.prompt_text,
                video=video,
                prompt_type=raw.get("prompt_type"),
                prompt_labels=check_harm_labels(raw.get("prompt_labels"), where, "prompt_labels"),
            )
        )
    return items, config, digest


def _no_pairs(path: Path, video_dir: Path | None) -> tuple[list[Pair], Path, str]:
    raise DataError(
        f"{path}: a SafeSora-Label file holds text-video pairs with harm labels, not preference "
        "pairs; measure harm-label agreement with experiments/harm.py"
    )


SAFESORA_LABEL = register_format(
    DatasetFormat(
        name="safesora-label",
        description="SafeSora-Label video configs: 12 harm labels per text-video pair",
        detect=detect,
        load=_no_pairs,
        dimensions=(),
        load_items=load_items,
        priority=10,  # its files have a pair config's name: look inside before safesora does
    )
)
