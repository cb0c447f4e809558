"""Harm items to tag, from any dataset: SafeSora-Label video configs or pair configs.

A SafeSora-Label file gives one item per record. A pair config (SafeSora's, the demo's) gives
one item per distinct video of its pairs, with the video's own harm labels where the file has
them, and keeps the pairs: their harmlessness labels are what a harmlessness preference derived
from two harm verdicts is measured against (:func:`judges.harm.metrics.derived_harmlessness`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from judges.core.errors import DataError
from judges.core.harm_types import HarmItem
from judges.core.types import Pair
from judges.datasets.registry import detect_format, formats, load_dataset

_MAX_LISTED = 20


@dataclass(frozen=True)
class HarmDataset:
    """Items to tag, where they came from, and the pairs when the data has pairs.

    Attributes:
        items: One per text-video pair, in file order.
        source: The file read.
        sha256: SHA-256 of its bytes.
        pairs: The preference pairs the items came from (``None`` for a video config).
        skipped: ``(item or pair id, missing files)`` dropped by ``skip_missing``.
        format: The dataset format.

    """

    items: list[HarmItem]
    source: Path
    sha256: str
    pairs: list[Pair] | None = None
    skipped: list[tuple[str, list[str]]] = field(default_factory=list)
    format: str = "safesora-label"

    @property
    def labelled(self) -> int:
        """Items with the people's harm labels."""
        return sum(i.video.harm_labels is not None for i in self.items)


def items_from_pairs(pairs: list[Pair]) -> list[HarmItem]:
    """One item per distinct video of the pairs (its prompt, its labels), in pair order."""
    items: dict[str, HarmItem] = {}
    for pair in pairs:
        for video in (pair.video_0, pair.video_1):
            item_id = f"{pair.prompt_id}/{video.video_id}"
            if item_id not in items:
                items[item_id] = HarmItem(
                    item_id=item_id,
                    prompt_id=pair.prompt_id,
                    prompt_text=pair.prompt_text,
                    video=video,
                    prompt_type=pair.prompt_type,
                )
    return list(items.values())


def load_harm_dataset(
    path: str | Path,
    video_dir: str | Path | None = None,
    *,
    skip_missing: bool = False,
    format: str | None = None,
) -> HarmDataset:
    """Load items to tag from a SafeSora-Label file or any pair dataset.

    Raises:
        DataError: a malformed record (named), an unknown format, or missing video files
            (listed) without ``skip_missing``.

    Example:
        >>> ds = load_harm_dataset("SafeSora-Label/config-test.json.gz")  # doctest: +SKIP
        >>> ds.items[0].video.harm_labels["violence"]  # doctest: +SKIP

    """
    path = Path(path).expanduser()
    known = formats()
    if format is not None and format not in known:
        raise DataError(f"unknown dataset format {format!r}; known: {', '.join(known)}")
    fmt = known[format] if format else detect_format(path)
    if fmt.load_items is None:
        ds = load_dataset(path, video_dir, skip_missing=skip_missing, format=fmt.name)
        return HarmDataset(
            items_from_pairs(ds.pairs), ds.source, ds.sha256, ds.pairs, ds.skipped, ds.format
        )
    if video_dir is not None and not Path(video_dir).expanduser().is_dir():
        raise DataError(f"--video-dir {video_dir}: no such folder")
    items, source, digest = fmt.load_items(path, Path(video_dir) if video_dir else None)
    missing = [(i.item_id, [str(i.video.path)]) for i in items if not i.video.path.is_file()]
    if missing and not skip_missing:
        files = [m[1][0] for m in missing]
        listed = "\n  ".join(files[:_MAX_LISTED])
        more = f"\n  ... and {len(files) - _MAX_LISTED} more" if len(files) > _MAX_LISTED else ""
        raise DataError(
            f"{source}: {len(files)} video file(s) missing:\n  {listed}{more}\n"
            "Fix the paths (or pass --video-dir), or use --skip-missing to drop those items."
        )
    gone = {m[0] for m in missing}
    kept = [i for i in items if i.item_id not in gone]
    return HarmDataset(kept, source, digest, None, missing, fmt.name)
