"""SafeSora's pair configs: ``config-*.json``, ``.json.gz``, ``.jsonl`` or ``.jsonl.gz``.

Accepted inputs: such a file, or a dataset folder holding exactly one plus ``videos/``.

Video paths: with ``video_dir`` given, SafeSora's rule ``video_dir/<prompt_id>/<video_id>.mp4``;
otherwise the record's ``video_path`` (relative paths resolve against the config file's folder);
a record without ``video_path`` falls back to ``<config folder>/videos/<prompt_id>/<video_id>.mp4``.

Labels: ``helpfulness`` and ``harmlessness`` at the top level, the four helpfulness
sub-dimensions under ``sub_preferences`` (informativeness spelled ``information``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from judges.core.errors import DataError
from judges.core.harm_types import HARM_KEYS, check_harm_labels
from judges.core.types import CHOICES, Choice, Dimension, Pair, Video
from judges.datasets.config_files import CONFIG_SUFFIXES, drain, find_config, stream_records
from judges.datasets.registry import DatasetFormat, register_format

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
    "votes",
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


@functools.lru_cache(maxsize=64)
def _squashed(known: tuple[str, ...]) -> dict[str, str]:
    return {_squash(k): k for k in known}


@functools.lru_cache(maxsize=64)
def _known(known: tuple[str, ...]) -> frozenset[str]:
    return frozenset(known)


def check_key_spelling(obj: Mapping[str, Any], known: Sequence[str], where: str, field: str):
    """Refuse a key that differs from a known key only by case or separators.

    ``Helpfulness`` or ``Sub_Preferences`` would otherwise be read as "no label" and every
    label of the dataset silently dropped.

    Raises:
        DataError: naming the record, the key and the key it resembles.

    """
    if _known(tuple(known)).issuperset(obj):
        return  # every key known (the usual record): one set operation, no key loop
    # Built once per key list, not once per record (51k records, several checks each).
    squashed = _squashed(tuple(known))
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


# Where each dimension's label is in a record: (key, under ``sub_preferences``).
LABEL_KEYS: dict[Dimension, tuple[str, bool]] = {
    Dimension.HELPFULNESS: ("helpfulness", False),
    Dimension.HARMLESSNESS: ("harmlessness", False),
    Dimension.INSTRUCTION_FOLLOWING: ("instruction_following", True),
    Dimension.CORRECTNESS: ("correctness", True),
    Dimension.INFORMATIVENESS: ("information", True),
    Dimension.AESTHETICS: ("aesthetics", True),
}


def _str_field(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(key)
    return value


_LABELS = (*CHOICES, "tie")
_CHOICE_TEXT = {c: c for c in CHOICES}
_TEXT_OR_NONE = frozenset({str, type(None)})
_NO_TIES: frozenset[Dimension] = frozenset()
_PAIR_KEY_SET, _VIDEO_KEY_SET = frozenset(PAIR_KEYS), frozenset(VIDEO_KEYS)


class _RecordParser:
    def __init__(self, config: Path, video_dir: Path | None) -> None:
        self.config = config
        self.base = config.parent
        self.video_dir = video_dir
        self._resolved: dict[Path, Path] = {}
        self._paths: dict[tuple[str | None, str | None, str | None], Path] = {}
        self._texts: dict[str, str] = {}
        # Pairs are immutable, so pairs whose labels are the same share one labels dict and
        # records without other fields one empty ``fields`` dict (16 MB at SafeSora's size).
        self._labels: dict[tuple[tuple[Dimension, str], ...], dict[Dimension, Choice]] = {}
        self._no_fields: dict[str, Any] = {}

    def resolved(self, path: Path) -> Path:
        """``path.resolve()``, once per distinct path.

        Pairs share videos, and resolving walks every path component with a system call.
        """
        hit = self._resolved.get(path)
        if hit is None:
            hit = self._resolved[path] = path.resolve()
        return hit

    def where(self, index: int, pair_id: str | None) -> str:
        name = f"pair_id {pair_id!r}" if pair_id else "record"
        return f"{self.config}: {name} (record #{index})"

    def _path(
        self, where: str, side: str, video_path: str | None, prompt_id: str | None, video_id: str
    ) -> Path:
        """Where a video is, as the record spells it (not yet resolved)."""
        if self.video_dir is not None:
            if prompt_id is None:
                raise DataError(
                    f"{where}: field '{side}.prompt_id' is missing; --video-dir needs it to "
                    "build <video_dir>/<prompt_id>/<video_id>.mp4"
                )
            return self.video_dir / prompt_id / f"{video_id}.mp4"
        if video_path is not None:
            p = Path(video_path).expanduser()
            return p if p.is_absolute() else self.base / p
        if prompt_id is not None:
            return self.base / "videos" / prompt_id / f"{video_id}.mp4"
        raise DataError(f"{where}: field '{side}' has no 'video_path' and no 'prompt_id'")

    def text(self, value: Any) -> Any:
        """One string object per distinct text (prompts repeat across a prompt's pairs)."""
        if type(value) is not str:
            return value
        return self._texts.setdefault(value, value)

    def video(self, raw: Any, side: str, index: int, pair_id: str | None, pair: dict) -> Video:
        # ``where`` names the record in an error: formatted only when one is raised (three
        # strings a pair were a tenth of loading SafeSora).
        if type(raw) is not dict and not isinstance(raw, Mapping):
            where = self.where(index, pair_id)
            raise DataError(f"{where}: field '{side}' must be an object, got {type(raw).__name__}")
        plain = _VIDEO_KEY_SET.issuperset(raw)  # only SafeSora's keys: no other fields to keep
        if not plain:
            check_key_spelling(raw, VIDEO_KEYS, self.where(index, pair_id), side)
        get = raw.get
        video_id, video_path, video_text = get("video_id"), get("video_path"), get("video_text")
        own_id, own_text = get("prompt_id"), get("prompt_text")
        pair_pid, pair_text = pair.get("prompt_id"), pair.get("prompt_text")
        if (  # every field text or absent (the usual record): nothing to convert or refuse
            type(video_id) in _TEXT_OR_NONE
            and type(video_path) in _TEXT_OR_NONE
            and type(video_text) in _TEXT_OR_NONE
            and type(own_id) in _TEXT_OR_NONE
            and type(own_text) in _TEXT_OR_NONE
            and type(pair_pid) in _TEXT_OR_NONE
            and type(pair_text) in _TEXT_OR_NONE
        ):
            prompt_id = own_id or pair_pid
            prompt_text = pair_text or own_text
        else:
            try:
                video_id = _str_field(raw, "video_id")
                video_path = _str_field(raw, "video_path")
                prompt_id = _str_field(raw, "prompt_id") or _str_field(pair, "prompt_id")
                prompt_text = _str_field(pair, "prompt_text") or _str_field(raw, "prompt_text")
                video_text = _str_field(raw, "video_text")
            except TypeError as e:
                where = self.where(index, pair_id)
                raise DataError(f"{where}: field '{side}.{e.args[0]}' must be a string") from None
        if video_id is None and video_path is None:
            where = self.where(index, pair_id)
            raise DataError(f"{where}: field '{side}' needs 'video_id' or 'video_path'")
        if video_id is None:  # the path as written: file names repeat across folders
            video_id = str(video_path).strip().replace("\\", "/").removeprefix("./")
        # Pairs share videos: a video's path is built and resolved once (Path objects cost
        # most of the parsing); a record that cannot build one raises as before.
        # The key holds what _path reads: a video_path names the file whatever its prompt.
        if self.video_dir is None and video_path is not None:
            spelled: tuple[str | None, str | None, str | None] = (video_path, None, None)
        else:
            spelled = (None, prompt_id, video_id)
        path = self._paths.get(spelled)
        if path is None:
            where = self.where(index, pair_id)
            built = self._path(where, side, video_path, prompt_id, video_id)
            path = self._paths[spelled] = self.resolved(built)
        labels_raw = raw.get("video_labels")
        harm = None
        if labels_raw is not None:
            where = self.where(index, pair_id)
            field_name = f"{side}.video_labels" if side else "video_labels"
            if isinstance(labels_raw, Mapping):
                check_key_spelling(labels_raw, HARM_KEYS, where, field_name)
            harm = check_harm_labels(labels_raw, where, field_name)
        is_safe = raw.get("is_safe")
        if is_safe is not None and not isinstance(is_safe, bool):
            where = self.where(index, pair_id)
            name = f"{side}.is_safe" if side else "is_safe"
            raise DataError(f"{where}: field {name!r} is {is_safe!r}; expected true or false")
        return Video(
            video_id=self.text(video_id),
            path=path,
            prompt_text=self.text(prompt_text or ""),
            video_text=self.text(video_text or prompt_text or ""),
            harm_labels=harm,
            is_safe=None if is_safe is None else bool(is_safe),
            generated_from=raw.get("generated_from"),
            source=self.text(
                video_path if video_path is not None else f"{prompt_id}/{video_id}.mp4"
            ),
            fields=self._no_fields
            if plain
            else {k: v for k, v in raw.items() if k not in _VIDEO_KEY_SET},
        )

    def label(self, value: Any, field_name: str, where: str) -> str | None:
        if value is None:
            return None
        if value not in _LABELS:
            raise DataError(
                f"{where}: field '{field_name}' is {value!r}; expected 'video_0', 'video_1', "
                "'tie' or null"
            )
        return value

    def votes(self, raw: Any, where: str) -> tuple[tuple[str, Dimension, str], ...]:
        """The record's own ``votes``: ``[{"annotator", "dimension", "choice"}, ...]``."""
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise DataError(f"{where}: field 'votes' must be a list of objects")
        out = []
        for i, vote in enumerate(raw):
            field_name = f"votes[{i}]"
            if not isinstance(vote, Mapping) or not {"annotator", "dimension", "choice"} <= set(
                vote
            ):
                raise DataError(
                    f"{where}: field '{field_name}' must be an object with 'annotator', "
                    "'dimension' and 'choice'"
                )
            try:
                dim = Dimension.parse(str(vote["dimension"]))
            except ValueError as e:
                raise DataError(f"{where}: field '{field_name}.dimension': {e}") from None
            choice = self.label(vote["choice"], f"{field_name}.choice", where)
            if choice is None:
                raise DataError(f"{where}: field '{field_name}.choice' is null")
            out.append((str(vote["annotator"]), dim, choice))
        return tuple(out)

    def pair(self, raw: Any, index: int) -> Pair:
        if type(raw) is not dict and not isinstance(raw, Mapping):
            raise DataError(
                f"{self.config}: record #{index} must be an object, got {type(raw).__name__}"
            )
        pair_id_raw = raw.get("pair_id")
        pair_id = None if pair_id_raw is None else str(pair_id_raw)

        plain = _PAIR_KEY_SET.issuperset(raw)  # only SafeSora's keys: no other fields to keep
        if not plain:
            check_key_spelling(raw, PAIR_KEYS, self.where(index, pair_id), "")
        for side in ("video_0", "video_1"):
            if raw.get(side) is None:
                raise DataError(f"{self.where(index, pair_id)}: required field '{side}' is missing")
        v0 = self.video(raw["video_0"], "video_0", index, pair_id, raw)
        v1 = self.video(raw["video_1"], "video_1", index, pair_id, raw)
        prompt_text = raw.get("prompt_text") or v0.prompt_text or v1.prompt_text
        if not prompt_text or not isinstance(prompt_text, str):
            where = self.where(index, pair_id)
            raise DataError(
                f"{where}: required field 'prompt_text' is missing (not on the pair nor its videos)"
            )
        prompt_id = raw.get("prompt_id")
        prompt_id = str(prompt_id) if prompt_id is not None else None
        if pair_id is None:
            # A stable, readable id: the same record always gets the same one.
            pair_id = f"{prompt_id or 'prompt'}:{v0.video_id}-vs-{v1.video_id}"
        if v0.path == v1.path:
            raise DataError(
                f"{self.where(index, pair_id)}: video_0 and video_1 are the same file ({v0.path})"
            )
        labels: dict[Dimension, Choice] = {}
        ties: set[Dimension] = set()
        subs = raw.get("sub_preferences")
        if subs is not None and not isinstance(subs, Mapping):
            raise DataError(
                f"{self.where(index, pair_id)}: field 'sub_preferences' must be an object"
            )
        if subs and not _known(SUB_PREFERENCE_KEYS).issuperset(subs):
            check_key_spelling(
                subs, SUB_PREFERENCE_KEYS, self.where(index, pair_id), "sub_preferences"
            )
        for dim, (key, sub) in LABEL_KEYS.items():
            value = (subs.get(key) if subs else None) if sub else raw.get(key)
            if value is None:
                continue
            if value not in _LABELS:
                name = f"sub_preferences.{key}" if sub else key
                self.label(value, name, self.where(index, pair_id))  # raises, naming the field
            if value == "tie":
                ties.add(dim)
            else:
                labels[dim] = _CHOICE_TEXT[value]  # one string object per choice
        votes = raw.get("votes")
        return Pair(
            pair_id=pair_id,
            prompt_id=self.text(prompt_id) or pair_id,
            prompt_text=self.text(prompt_text),
            video_0=v0,
            video_1=v1,
            labels=self._labels.setdefault(tuple(labels.items()), labels),
            prompt_type=raw.get("prompt_type"),
            ties=frozenset(ties) if ties else _NO_TIES,
            votes=() if votes is None else self.votes(votes, self.where(index, pair_id)),
            fields=self._no_fields
            if plain
            else {k: v for k, v in raw.items() if k not in _PAIR_KEY_SET},
        )


def detect(path: Path) -> bool:
    """A SafeSora config file, or a folder holding one."""
    if path.is_file():
        return path.name.endswith(CONFIG_SUFFIXES)
    if path.is_dir():
        return any(p.is_file() and p.name.endswith(CONFIG_SUFFIXES) for p in path.iterdir())
    return False


def load(path: Path, video_dir: Path | None) -> tuple[list[Pair], Path, str]:
    """Every record of a SafeSora config as a validated pair."""
    config = find_config(path)
    # One record at a time: decoding every record first held them all at once (100 MB at
    # SafeSora's size, kept by the process after they were freed).
    records, digest = stream_records(config)
    parser = _RecordParser(config, Path(video_dir).expanduser() if video_dir else None)
    pairs = []
    try:
        for index, raw in enumerate(records):
            pairs.append(parser.pair(raw, index))
    except DataError:
        drain(records)  # a file that is not valid JSON is named first, as when read whole
        raise
    return pairs, config, digest


SAFESORA = register_format(
    DatasetFormat(
        name="safesora",
        description="SafeSora pair configs (config-*.json[.gz] or .jsonl[.gz])",
        detect=detect,
        load=load,
        dimensions=tuple(Dimension),
    )
)
