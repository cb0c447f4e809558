"""Datasets of human preferences, in any format a loader is registered for.

A format is one module that turns a file (or folder) into :class:`Dataset` pairs and declares
the dimensions its people judged (:meth:`judges.core.types.Dimension.define`), each naming the judge
criterion it maps to. Built in:

- ``safesora``: SafeSora's pair configs (``config-*.json[.gz]`` / ``.jsonl[.gz]``) and the
  project's demo data (:mod:`judges.datasets.safesora`);
- ``videogen-rewardbench``: VideoGen-RewardBench's pairs CSV (visual quality, motion quality,
  text alignment, overall; ties included) (:mod:`judges.datasets.videogen_rewardbench`).

:func:`load_dataset` picks the format from ``format=`` or by asking each format whether it
recognises the path. Adding a format is one new module that calls :func:`register_format`,
plus its tests.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter, methodcaller
from pathlib import Path
from typing import Any

from judges.core.errors import ConfigError, DataError
from judges.core.gc_control import gc_paused
from judges.core.types import Dimension, Pair

_MAX_LISTED = 20


@dataclass(frozen=True)
class Dataset:
    """Pairs loaded from one file, with where they came from.

    Attributes:
        pairs: The valid pairs, in file order.
        source: The config file read.
        sha256: SHA-256 of the config file's bytes (recorded in run.json).
        skipped: ``(pair_id, missing paths)`` for pairs dropped by ``skip_missing``.
        format: The dataset format it was read as.

    """

    pairs: list[Pair]
    source: Path
    sha256: str
    skipped: list[tuple[str, list[str]]] = field(default_factory=list)
    format: str = "safesora"


@dataclass(frozen=True)
class DatasetFormat:
    """A registered dataset format.

    Attributes:
        name: Format name (``--format``).
        description: One line for listings.
        detect: Whether a path looks like this format (cheap: names and a few bytes).
        load: ``(path, video_dir) -> (pairs, source file, sha256)``; validates every record.
        dimensions: The dimensions the format's people judged.
        load_items: For formats of single text-video pairs (harm labels), their loader:
            ``(path, video_dir) -> (harm items, source file, sha256)``.
        priority: Formats that read the content to recognise a file are asked first.

    """

    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[[Path, Path | None], tuple[list[Pair], Path, str]]
    dimensions: tuple[Dimension, ...]
    load_items: Callable[[Path, Path | None], tuple[list[Any], Path, str]] | None = None
    priority: int = 0


def path_key(text: str) -> str:
    """A path as a dataset or a scores file wrote it, normalised: ``/`` separators, no ``./``.

    Video ids made from paths and the ``scores`` judge's ``path`` column meet here.

    Example:
        >>> path_key("./videos/kling/0001.mp4")
        'videos/kling/0001.mp4'

    """
    text = text.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


_FORMATS: dict[str, DatasetFormat] = {}
_BUILTIN = (
    "judges.datasets.safesora",
    "judges.datasets.safesora_label",
    "judges.datasets.videogen_rewardbench",
)


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    """Register a dataset format (a module calls this when imported)."""
    _FORMATS[fmt.name] = fmt
    return fmt


def formats() -> dict[str, DatasetFormat]:
    """Every registered format, by name."""
    for module in _BUILTIN:
        importlib.import_module(module)
    return dict(_FORMATS)


def detect_format(path: Path) -> DatasetFormat:
    """The format of ``path`` (the first that recognises it).

    Raises:
        DataError: no such path, or no format recognises it (listing the formats).

    """
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (pass a dataset file or folder)")
    known = formats()
    for fmt in sorted(known.values(), key=lambda f: -f.priority):
        if fmt.detect(path):
            return fmt
    listing = "; ".join(f"{f.name}: {f.description}" for f in known.values())
    raise DataError(f"{path}: not a dataset format this toolkit reads ({listing})")


def load_dataset(
    path: str | Path,
    video_dir: str | Path | None = None,
    *,
    skip_missing: bool = False,
    check_files: bool = True,
    format: str | None = None,
) -> Dataset:
    """Load and validate human preference pairs in any registered format.

    Args:
        path: Dataset file or folder.
        video_dir: Where the videos are, for formats that take it (SafeSora's layout
            ``video_dir/<prompt_id>/<video_id>.mp4``; VideoGen-RewardBench's relative paths).
        skip_missing: Drop pairs whose video files are missing (reported in ``skipped``)
            instead of failing.
        check_files: Check that every video file exists.
        format: A format name (see :func:`formats`); default: detected from the path.

    Returns:
        The dataset, pairs in file order.

    Raises:
        DataError: a malformed file or record (naming it and the field), duplicate ``pair_id``,
            an unknown format, or missing video files (all listed in one message) without
            ``skip_missing``.

    Example:
        >>> ds = load_dataset("SafeSora/config-test.json.gz")  # doctest: +SKIP
        >>> len(ds.pairs), ds.pairs[0].labels  # doctest: +SKIP

    """
    path = Path(path).expanduser()
    if video_dir is not None and not Path(video_dir).expanduser().is_dir():
        raise DataError(f"--video-dir {video_dir}: no such folder")
    if format is not None:
        known = formats()
        if format not in known:
            raise DataError(f"unknown dataset format {format!r}; known: {', '.join(known)}")
        fmt = known[format]
    else:
        fmt = detect_format(path)
    with gc_paused():  # a Pair and two Videos per record: nothing cyclic to collect meanwhile
        pairs, config, digest = fmt.load(path, Path(video_dir).expanduser() if video_dir else None)
    seen: dict[str, int] = {}
    for index, pair in enumerate(pairs):
        if pair.pair_id in seen:
            raise DataError(
                f"{config}: duplicate pair_id {pair.pair_id!r} in records #{seen[pair.pair_id]} "
                f"and #{index}"
            )
        seen[pair.pair_id] = index
    check_video_ids(pairs, config)
    skipped: list[tuple[str, list[str]]] = []
    if check_files:
        exists: dict[Path, bool] = {}
        kept: list[Pair] = []
        for pair in pairs:
            missing = []
            for v in (pair.video_0, pair.video_1):
                if v.path not in exists:
                    exists[v.path] = v.path.is_file()
                if not exists[v.path]:
                    missing.append(str(v.path))
            if missing:
                skipped.append((pair.pair_id, missing))
            else:
                kept.append(pair)
        if skipped and not skip_missing:
            files = sorted({m for _, ms in skipped for m in ms})
            listed = "\n  ".join(files[:_MAX_LISTED])
            more = (
                f"\n  ... and {len(files) - _MAX_LISTED} more" if len(files) > _MAX_LISTED else ""
            )
            raise DataError(
                f"{config}: {len(files)} video file(s) missing, used by {len(skipped)} pair(s):\n"
                f"  {listed}{more}\n"
                "Fix the paths (or pass --video-dir), or use --skip-missing to drop those pairs."
            )
        pairs = kept
    return Dataset(pairs=pairs, source=config, sha256=digest, skipped=skipped, format=fmt.name)


def check_video_ids(pairs: Sequence[Pair], config: Path) -> None:
    """Refuse one video id naming two different files, naming both records.

    A judge that looks scores up by id would otherwise serve one video's score for the other.

    Raises:
        DataError: a video id used for two different files.
    """
    first: dict[str, tuple[int, Path]] = {}
    for index, pair in enumerate(pairs):
        for video in (pair.video_0, pair.video_1):
            known = first.setdefault(video.video_id, (index, video.path))
            if known[1] is not video.path and known[1] != video.path:  # shared paths: one object
                raise DataError(
                    f"{config}: video id {video.video_id!r} names two files: {known[1]} "
                    f"(record #{known[0]}) and {video.path} (record #{index}); give each "
                    "video its own id"
                )


def load_pairs(
    path: str | Path,
    video_dir: str | Path | None = None,
    *,
    skip_missing: bool = False,
) -> list[Pair]:
    """Load SafeSora-format pairs; see :func:`load_dataset` for the rules and errors.

    Example:
        >>> pairs = load_pairs("../shared/data/fetv-dev")  # doctest: +SKIP
        >>> pairs[0].labels[Dimension.AESTHETICS]  # doctest: +SKIP
        'video_1'

    """
    return load_dataset(path, video_dir, skip_missing=skip_missing).pairs


def summarize(pairs: list[Pair]) -> dict[str, Any]:
    """Counts a user checks before a run: pairs, prompts, videos, labels and class balance.

    Returns:
        ``{"pairs", "prompts", "videos", "labels": {dimension: {"labeled", "video_0",
        "video_1", "video_0_share", "ties"}}}`` for SafeSora's dimensions and any other the
        pairs carry.

    """
    # (dimension, choice) and tie counts, counted in C over every pair's items.
    choices: Counter[tuple[Dimension, str]] = Counter(
        chain.from_iterable(map(methodcaller("items"), map(attrgetter("labels"), pairs)))
    )
    ties: Counter[Dimension] = Counter(chain.from_iterable(map(attrgetter("ties"), pairs)))
    present = {d for d, _ in choices} | set(ties)
    dims = [*Dimension, *(d for d in Dimension.known() if d in present and d not in Dimension)]
    labels: dict[str, dict[str, Any]] = {}
    for dim in dims:
        v0, v1 = choices[(dim, "video_0")], choices[(dim, "video_1")]
        n = v0 + v1
        labels[dim.value] = {
            "labeled": n,
            "video_0": v0,
            "video_1": v1,
            "video_0_share": v0 / n if n else None,
            "ties": ties[dim],
        }
    return {
        "pairs": len(pairs),
        "prompts": len(set(map(attrgetter("prompt_id"), pairs))),
        "videos": len(
            {*map(attrgetter("video_0.path"), pairs), *map(attrgetter("video_1.path"), pairs)}
        ),
        "labels": labels,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of :func:`summarize`'s result."""
    lines = [
        f"{summary['pairs']} pairs, {summary['prompts']} prompts, {summary['videos']} videos",
        f"{'dimension':<24}{'labeled':>9}{'video_0':>9}{'video_1':>9}{'ties':>9}",
    ]
    for dim, c in summary["labels"].items():
        lines.append(f"{dim:<24}{c['labeled']:>9}{c['video_0']:>9}{c['video_1']:>9}{c['ties']:>9}")
    return "\n".join(lines)


def parse_dimensions(value: str | Sequence[str | Dimension]) -> list[Dimension] | str:
    """Dimensions as a caller spells them: ``"all"``, ``"aesthetics,helpfulness"`` or a list.

    Every registered format defines its dimensions first, so any format's names are known.

    Raises:
        ConfigError: an unknown name, listing the known ones.

    Example:
        >>> parse_dimensions("aesthetics, information")
        [Dimension('aesthetics'), Dimension('informativeness')]
        >>> parse_dimensions("ALL")
        'all'

    """
    if isinstance(value, str):
        if value.strip().lower() == "all":
            return "all"
        value = [d for d in value.split(",") if d.strip()]
    known = formats()  # each dataset format defines its dimensions
    try:
        return list(
            dict.fromkeys(d if isinstance(d, Dimension) else Dimension.parse(d) for d in value)
        )
    except ValueError as e:
        # Name each format's dimensions apart: SafeSora data has no visual_quality.
        head = str(e).split("; expected one of")[0]
        by_format = "; ".join(
            f"{f.name}: {', '.join(d.value for d in f.dimensions)}"
            for f in known.values()
            if f.dimensions
        )
        raise ConfigError(f"--dims: {head}; dimensions by format: {by_format}") from None


def check_labels(
    pairs: Sequence[Pair], dimensions: Sequence[Dimension], source: Path, judge: str
) -> None:
    """Refuse to judge a dimension that no pair has a human label for.

    Raises:
        ConfigError: naming the dimension and the dimensions the data does label.

    """
    labeled = {d for p in pairs for d in p.labels}
    for dim in dimensions:
        if dim not in labeled:
            have = ", ".join(d.value for d in Dimension.known() if d in labeled) or "none"
            raise ConfigError(
                f"{source}: no pair has a human label for {dim.value!r} (judge {judge!r}), so "
                f"agreement cannot be measured; labeled dimensions: {have}. Pick them with --dims"
            )
