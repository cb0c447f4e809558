"""VideoGen-RewardBench's pairs CSV (VideoAlign, Liu et al. 2025).

26.5k (prompt, video A, video B) triplets from 12 text-to-video models, with expert choices on
visual quality (``VQ``), motion quality (``MQ``), text alignment (``TA``) and overall quality
(``Overall``; some copies name it ``ALL``). Each choice is ``A``, ``B`` or ``same`` (a tie).
Columns read: ``path_A``, ``path_B``, ``prompt``, the label columns, and ``A_model`` /
``B_model`` when present (``fps_*`` and ``num_frames_*`` are not needed: frames are counted
when decoded).

Mapping: A is ``video_0``, B is ``video_1``; ``same`` is a tie (:attr:`Pair.ties`). Video paths
are relative to ``--video-dir`` when given, else to the CSV's folder (the dataset's
``videos/<model>/<file>.mp4`` layout). A video's id is its path as the CSV writes it (``/``
separators, no leading ``./``): models often share file names (``modelA/0001.mp4``,
``modelB/0001.mp4``), so a file name alone is no id. A pair's id is ``<id A>-vs-<id B>``; a
later row comparing the same two videos gets ``#2``, ``#3``... (both rows are kept, and counted
as content duplicates). One id naming two files fails, naming both lines. A pair's prompt id is
a hash of the prompt text (the CSV has none), so pairs of one prompt share it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from judges.core.errors import DataError
from judges.core.types import Choice, Dimension, Pair, Video
from judges.datasets.registry import DatasetFormat, path_key, register_format

CSV_NAME = "videogen-rewardbench.csv"
REQUIRED = ("path_A", "path_B", "prompt")
# Label column -> the dimension it labels (each names the judge criterion it maps to).
DIMENSIONS: dict[str, Dimension] = {
    "VQ": Dimension.define("visual_quality", criterion="visual_quality"),
    "MQ": Dimension.define("motion_quality", criterion="motion_quality"),
    "TA": Dimension.define("text_alignment", criterion="text_alignment"),
    "Overall": Dimension.define("overall", criterion="overall_quality"),
}
_ALIASES = {"ALL": "Overall", "overall": "Overall"}
_CHOICES: dict[str, Choice | None] = {"a": "video_0", "b": "video_1", "same": None, "tie": None}


def video_id(rel: str) -> str:
    """A video's id: its path as written, with ``/`` separators and no leading ``./``.

    Example:
        >>> video_id("./videos/kling/0001.mp4")
        'videos/kling/0001.mp4'

    """
    return path_key(rel)


def _csv_of(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix.lower() == ".csv" else None
    candidate = path / CSV_NAME
    return candidate if candidate.is_file() else None


def detect(path: Path) -> bool:
    """``videogen-rewardbench.csv`` (or its folder), or any CSV whose header has its columns."""
    csv = _csv_of(path)
    if csv is None:
        return False
    if csv.name == CSV_NAME:
        return True  # its own name: a broken header is then reported column by column
    try:
        with csv.open(encoding="utf-8") as f:
            header = f.readline()
    except (OSError, UnicodeDecodeError):
        return False
    columns = {c.strip().lstrip("\ufeff").strip('"') for c in header.split(",")}
    return all(c in columns for c in REQUIRED)


def load(path: Path, video_dir: Path | None) -> tuple[list[Pair], Path, str]:
    """Every row as a validated pair (errors name the CSV line and column)."""
    csv = _csv_of(path)
    if csv is None:
        raise DataError(f"{path}: no {CSV_NAME} here (pass the CSV or its folder)")
    raw = csv.read_bytes()
    try:
        table = pl.read_csv(raw, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as e:
        raise DataError(f"{csv}: not a readable CSV ({str(e).splitlines()[0]})") from None
    # A byte-order mark (CSV saved by Excel) would otherwise hide the first column's name.
    table = table.rename({c: c.lstrip("\ufeff").strip() for c in table.columns})
    table = table.rename({c: _ALIASES[c] for c in table.columns if c in _ALIASES})
    missing = [c for c in REQUIRED if c not in table.columns]
    labels = [c for c in DIMENSIONS if c in table.columns]
    if missing or not labels:
        need = ", ".join(missing) if missing else "one of " + ", ".join(DIMENSIONS)
        raise DataError(
            f"{csv}: missing column(s) {need}; the file has: {', '.join(table.columns)}"
        )
    root = video_dir or csv.parent
    pairs = []
    lines: dict[str, tuple[int, Path]] = {}  # video id -> (first line, file)
    repeats: dict[str, int] = {}
    for index, row in enumerate(table.iter_rows(named=True)):
        line = index + 2  # 1-based, after the header
        where = f"{csv}, line {line}"
        prompt = (row["prompt"] or "").strip()
        if not prompt:
            raise DataError(f"{where}: column 'prompt' is empty")
        videos = []
        for side in ("A", "B"):
            rel = (row[f"path_{side}"] or "").strip()
            if not rel:
                raise DataError(f"{where}: column 'path_{side}' is empty")
            file = Path(rel).expanduser()
            video = Video(
                video_id=video_id(rel),
                path=(file if file.is_absolute() else root / file).resolve(),
                prompt_text=prompt,
                video_text=prompt,
                generated_from=row.get(f"{side}_model"),
                source=rel,
            )
            first = lines.setdefault(video.video_id, (line, video.path))
            if first[1] != video.path:
                raise DataError(
                    f"{csv}: video id {video.video_id!r} names two files: {first[1]} (line "
                    f"{first[0]}) and {video.path} (line {line}); give each video its own path"
                )
            videos.append(video)
        if videos[0].path == videos[1].path:
            raise DataError(f"{where}: path_A and path_B are the same file ({videos[0].path})")
        choices: dict[Dimension, Choice] = {}
        ties: set[Dimension] = set()
        for column in labels:
            value = row[column]
            if value is None or not value.strip():
                continue
            key = value.strip().lower()
            if key not in _CHOICES:
                raise DataError(
                    f"{where}: column {column!r} is {value!r}; expected A, B or same (a tie)"
                )
            choice = _CHOICES[key]
            if choice is None:
                ties.add(DIMENSIONS[column])
            else:
                choices[DIMENSIONS[column]] = choice
        prompt_id = "p-" + hashlib.sha1(prompt.encode()).hexdigest()[:12]
        pair_id = f"{videos[0].video_id}-vs-{videos[1].video_id}"
        repeats[pair_id] = repeats.get(pair_id, 0) + 1
        if repeats[pair_id] > 1:  # the same two videos again: its own pair, its own id
            pair_id = f"{pair_id}#{repeats[pair_id]}"
        pairs.append(
            Pair(
                pair_id=pair_id,
                prompt_id=prompt_id,
                prompt_text=prompt,
                video_0=videos[0],
                video_1=videos[1],
                labels=choices,
                ties=frozenset(ties),
            )
        )
    return pairs, csv, hashlib.sha256(raw).hexdigest()


VIDEOGEN_REWARDBENCH = register_format(
    DatasetFormat(
        name="videogen-rewardbench",
        description="VideoGen-RewardBench pairs CSV (path_A, path_B, prompt, VQ/MQ/TA/Overall)",
        detect=detect,
        load=load,
        dimensions=tuple(DIMENSIONS.values()),
    )
)
