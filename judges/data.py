"""Loading SafeSora-format preference pairs, with validation that names the record at fault.

Accepted inputs: a ``config-*.json``, ``.json.gz``, ``.jsonl`` or ``.jsonl.gz`` file holding the
pair records, or a dataset folder holding exactly one such file plus ``videos/``.

Video paths: with ``video_dir`` given, SafeSora's rule ``video_dir/<prompt_id>/<video_id>.mp4``;
otherwise the record's ``video_path`` (relative paths resolve against the config file's folder);
a record without ``video_path`` falls back to ``<config folder>/videos/<prompt_id>/<video_id>.mp4``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.errors import DataError
from judges.types import CHOICES, Choice, Dimension, Pair, Video

CONFIG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
HARM_KEYS = (
    "porn",
    "animal_abuse",
    "child_abuse",
    "crime",
    "controversial",
    "contraband",
    "hate",
    "violence",
    "racism",
    "other_discrimination",
    "terrorism",
    "other_harmful",
)
_MAX_LISTED = 20
PAIR_KEYS = (
    "pair_id",
    "prompt_id",
    "prompt_text",
    "prompt_type",
    "video_0",
    "video_1",
    "helpfulness",
    "harmlessness",
    "sub_preferences",
    "is_safe",
)
VIDEO_KEYS = (
    "prompt_id",
    "prompt_text",
    "video_id",
    "video_text",
    "video_path",
    "is_safe",
    "video_labels",
    "generated_from",
)
SUB_PREFERENCE_KEYS = ("instruction_following", "correctness", "information", "aesthetics")
# Spellings that are not SafeSora's but would otherwise be dropped without a word.
_KEY_ALIASES = {"informativeness": "information"}


def _squash(key: str) -> str:
    return "".join(c for c in key.lower() if c.isalnum())


def check_key_spelling(obj: Mapping[str, Any], known: Sequence[str], where: str, field: str):
    """Refuse a key that differs from a known key only by case or separators.

    ``Helpfulness`` or ``Sub_Preferences`` would otherwise be read as "no label" and every
    label of the dataset silently dropped.

    Raises:
        DataError: naming the record, the key and the key it resembles.

    """
    squashed = {_squash(k): k for k in known}
    for key in obj:
        if not isinstance(key, str) or key in known:
            continue
        match = squashed.get(_squash(key)) or _KEY_ALIASES.get(key)
        if match is not None and match != key:
            name = f"{field}.{key}" if field else key
            raise DataError(
                f"{where}: key {name!r} is not a SafeSora key; did you mean {match!r}? "
                "Rename it in the file (SafeSora's keys are lower-case with underscores)"
            )


@dataclass(frozen=True)
class Dataset:
    """Pairs loaded from one file, with where they came from.

    Attributes:
        pairs: The valid pairs, in file order.
        source: The config file read.
        sha256: SHA-256 of the config file's bytes (recorded in run.json).
        skipped: ``(pair_id, missing paths)`` for pairs dropped by ``skip_missing``.

    """

    pairs: list[Pair]
    source: Path
    sha256: str
    skipped: list[tuple[str, list[str]]] = field(default_factory=list)


def find_config(path: Path) -> Path:
    """The pairs file inside a dataset folder (or ``path`` itself when it is a file).

    Raises:
        DataError: no such file/folder, no config in the folder, or several to choose from.

    """
    if path.is_file():
        return path
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (pass a SafeSora config file or folder)")
    candidates = sorted(
        p for p in path.iterdir() if p.is_file() and p.name.endswith(CONFIG_SUFFIXES)
    )
    configs = [p for p in candidates if p.name.startswith("config")] or candidates
    if not configs:
        raise DataError(
            f"{path}: no pairs file found (expected config-*.json, .json.gz, .jsonl or .jsonl.gz)"
        )
    if len(configs) > 1:
        names = ", ".join(p.name for p in configs)
        raise DataError(f"{path}: several pairs files ({names}); pass one of them as the path")
    return configs[0]


def _read_records(path: Path) -> tuple[list[Any], str]:
    """The file's records and the SHA-256 of its bytes, from a single read."""
    name = path.name
    if not name.endswith(CONFIG_SUFFIXES):
        raise DataError(
            f"{path}: unsupported file type; expected one of {', '.join(CONFIG_SUFFIXES)}"
        )
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if name.endswith((".jsonl", ".jsonl.gz")):
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {lineno}: invalid JSON ({e.msg})") from None
        return records, digest
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})"
        ) from None
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of pair records, found {type(data).__name__}"
        )
    return data, digest


def _str_field(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(key)
    return value


class _RecordParser:
    def __init__(self, config: Path, video_dir: Path | None) -> None:
        self.config = config
        self.base = config.parent
        self.video_dir = video_dir

    def where(self, index: int, pair_id: str | None) -> str:
        name = f"pair_id {pair_id!r}" if pair_id else "record"
        return f"{self.config}: {name} (record #{index})"

    def video(self, raw: Any, side: str, index: int, pair_id: str | None, pair: dict) -> Video:
        where = self.where(index, pair_id)
        if not isinstance(raw, Mapping):
            raise DataError(f"{where}: field '{side}' must be an object, got {type(raw).__name__}")
        check_key_spelling(raw, VIDEO_KEYS, where, side)
        try:
            video_id = _str_field(raw, "video_id")
            video_path = _str_field(raw, "video_path")
            prompt_id = _str_field(raw, "prompt_id") or _str_field(pair, "prompt_id")
            prompt_text = _str_field(pair, "prompt_text") or _str_field(raw, "prompt_text")
            video_text = _str_field(raw, "video_text")
        except TypeError as e:
            raise DataError(f"{where}: field '{side}.{e.args[0]}' must be a string") from None
        if video_id is None and video_path is None:
            raise DataError(f"{where}: field '{side}' needs 'video_id' or 'video_path'")
        if video_id is None:
            video_id = Path(str(video_path)).stem
        if self.video_dir is not None:
            if prompt_id is None:
                raise DataError(
                    f"{where}: field '{side}.prompt_id' is missing; --video-dir needs it to "
                    "build <video_dir>/<prompt_id>/<video_id>.mp4"
                )
            path = self.video_dir / prompt_id / f"{video_id}.mp4"
        elif video_path is not None:
            p = Path(video_path).expanduser()
            path = p if p.is_absolute() else self.base / p
        elif prompt_id is not None:
            path = self.base / "videos" / prompt_id / f"{video_id}.mp4"
        else:
            raise DataError(f"{where}: field '{side}' has no 'video_path' and no 'prompt_id'")
        labels_raw = raw.get("video_labels")
        harm: dict[str, bool] | None = None
        if isinstance(labels_raw, Mapping):
            check_key_spelling(labels_raw, HARM_KEYS, where, f"{side}.video_labels")
            harm = {k: bool(v) for k, v in labels_raw.items() if v is not None}
        elif labels_raw is not None:
            raise DataError(f"{where}: field '{side}.video_labels' must be an object")
        is_safe = raw.get("is_safe")
        return Video(
            video_id=video_id,
            path=path.resolve(),
            prompt_text=prompt_text or "",
            video_text=video_text or prompt_text or "",
            harm_labels=harm,
            is_safe=None if is_safe is None else bool(is_safe),
            generated_from=raw.get("generated_from"),
        )

    def label(self, value: Any, field_name: str, where: str) -> Choice | None:
        if value is None:
            return None
        if value not in CHOICES:
            raise DataError(
                f"{where}: field '{field_name}' is {value!r}; expected 'video_0', 'video_1' or null"
            )
        return value

    def pair(self, raw: Any, index: int) -> Pair:
        if not isinstance(raw, Mapping):
            raise DataError(
                f"{self.config}: record #{index} must be an object, got {type(raw).__name__}"
            )
        pair_id_raw = raw.get("pair_id")
        pair_id = None if pair_id_raw is None else str(pair_id_raw)
        where = self.where(index, pair_id)
        check_key_spelling(raw, PAIR_KEYS, where, "")
        for side in ("video_0", "video_1"):
            if raw.get(side) is None:
                raise DataError(f"{where}: required field '{side}' is missing")
        v0 = self.video(raw["video_0"], "video_0", index, pair_id, raw)
        v1 = self.video(raw["video_1"], "video_1", index, pair_id, raw)
        prompt_text = raw.get("prompt_text") or v0.prompt_text or v1.prompt_text
        if not prompt_text or not isinstance(prompt_text, str):
            raise DataError(
                f"{where}: required field 'prompt_text' is missing (not on the pair nor its videos)"
            )
        prompt_id = raw.get("prompt_id")
        prompt_id = str(prompt_id) if prompt_id is not None else None
        if pair_id is None:
            # A stable, readable id: the same record always gets the same one.
            pair_id = f"{prompt_id or 'prompt'}:{v0.video_id}-vs-{v1.video_id}"
            where = self.where(index, pair_id)
        if v0.path == v1.path:
            raise DataError(f"{where}: video_0 and video_1 are the same file ({v0.path})")
        labels: dict[Dimension, Choice] = {}
        subs = raw.get("sub_preferences")
        if subs is not None and not isinstance(subs, Mapping):
            raise DataError(f"{where}: field 'sub_preferences' must be an object")
        if subs:
            check_key_spelling(subs, SUB_PREFERENCE_KEYS, where, "sub_preferences")
        for dim in Dimension:
            if dim.is_sub_preference:
                value = subs.get(dim.safesora_key) if subs else None
                name = f"sub_preferences.{dim.safesora_key}"
            else:
                value, name = raw.get(dim.safesora_key), dim.safesora_key
            choice = self.label(value, name, where)
            if choice is not None:
                labels[dim] = choice
        return Pair(
            pair_id=pair_id,
            prompt_id=prompt_id or pair_id,
            prompt_text=prompt_text,
            video_0=v0,
            video_1=v1,
            labels=labels,
            prompt_type=raw.get("prompt_type"),
        )


def load_dataset(
    path: str | Path,
    video_dir: str | Path | None = None,
    *,
    skip_missing: bool = False,
    check_files: bool = True,
) -> Dataset:
    """Load and validate SafeSora-format pairs.

    Args:
        path: Pairs file or dataset folder.
        video_dir: Force SafeSora's layout ``video_dir/<prompt_id>/<video_id>.mp4``.
        skip_missing: Drop pairs whose video files are missing (reported in ``skipped``)
            instead of failing.
        check_files: Check that every video file exists.

    Returns:
        The dataset, pairs in file order.

    Raises:
        DataError: a malformed file or record (naming it and the field), duplicate ``pair_id``,
            or missing video files (all listed in one message) without ``skip_missing``.

    Example:
        >>> ds = load_dataset("SafeSora/config-test.json.gz")  # doctest: +SKIP
        >>> len(ds.pairs), ds.pairs[0].labels  # doctest: +SKIP

    """
    config = find_config(Path(path).expanduser())
    if video_dir is not None and not Path(video_dir).expanduser().is_dir():
        raise DataError(f"--video-dir {video_dir}: no such folder")
    records, digest = _read_records(config)
    parser = _RecordParser(config, Path(video_dir).expanduser() if video_dir else None)
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(records):
        pair = parser.pair(raw, index)
        if pair.pair_id in seen:
            raise DataError(
                f"{config}: duplicate pair_id {pair.pair_id!r} in records #{seen[pair.pair_id]} "
                f"and #{index}"
            )
        seen[pair.pair_id] = index
        pairs.append(pair)

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
    return Dataset(pairs=pairs, source=config, sha256=digest, skipped=skipped)


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
        "video_1", "video_0_share"}}}``.

    """
    labels: dict[str, dict[str, Any]] = {}
    for dim in Dimension:
        counts = Counter(p.labels[dim] for p in pairs if dim in p.labels)
        n = counts["video_0"] + counts["video_1"]
        labels[dim.value] = {
            "labeled": n,
            "video_0": counts["video_0"],
            "video_1": counts["video_1"],
            "video_0_share": counts["video_0"] / n if n else None,
        }
    return {
        "pairs": len(pairs),
        "prompts": len({p.prompt_id for p in pairs}),
        "videos": len({v.path for p in pairs for v in (p.video_0, p.video_1)}),
        "labels": labels,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of :func:`summarize`'s result."""
    lines = [
        f"{summary['pairs']} pairs, {summary['prompts']} prompts, {summary['videos']} videos",
        f"{'dimension':<24}{'labeled':>9}{'video_0':>9}{'video_1':>9}",
    ]
    for dim, c in summary["labels"].items():
        lines.append(f"{dim:<24}{c['labeled']:>9}{c['video_0']:>9}{c['video_1']:>9}")
    return "\n".join(lines)
