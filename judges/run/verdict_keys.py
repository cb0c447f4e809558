"""Verdict cache keys, built in bulk.

A verdict's key is the SHA-256 of the canonical JSON of ``{"dimension", "files", "frames",
"inputs", "judge", "strategy"}``. A million-verdict run shares a few thousand pairs, so the
parts that depend on the pair alone are encoded once per pair (:class:`PairKeys`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from judges.cache.store import canonical
from judges.judge.base import Judge, ScoreJudge, Task

_PLAIN = re.compile(r"[0-9a-zA-Z]*")
"""Text JSON writes as is between quotes (a content hash): no escape to mind."""


def pair_level(judge: Judge) -> bool:
    """Whether a judge's cache inputs depend on the pair only (not on dimension or frames).

    True for the built-in ``cache_inputs`` (the pair's texts; a score judge's per-video
    inputs), or when a judge class says so with ``pair_level_inputs = True``.
    """
    declared = getattr(judge, "pair_level_inputs", None)
    if declared is not None:
        return bool(declared)
    method = getattr(judge.cache_inputs, "__func__", None)  # also through wrappers
    return method in (Judge.cache_inputs, ScoreJudge.cache_inputs)


class PairKeys:
    """Verdict keys of pair tasks, the canonical JSON spliced from per-pair parts.

    The key text is exactly :func:`stable_hash`'s for ``{"dimension", "files", "frames",
    "inputs", "judge", "strategy"}`` (sorted keys), so keys match :meth:`Runner.verdict_key`
    and existing caches; but the files and inputs are encoded once per pair rather than once
    per (dimension, frames), which made keys the largest cost of a cached rerun.
    """

    def __init__(self, fingerprint: str, strategy: str) -> None:
        self.fingerprint = fingerprint
        self.strategy = strategy
        self._pairs: dict[int, tuple[str, str]] = {}
        self._atoms: dict[Any, str] = {}

    def _atom(self, value: Any) -> str:
        text = self._atoms.get(value)
        if text is None:
            text = self._atoms[value] = canonical(value)
        return text

    def _encode_pair(self, judge: Judge, task: Task, files: Sequence[str]) -> tuple[str, str]:
        """The key text's parts that depend on the pair, as :func:`canonical` writes them.

        Its files, and what follows the frame count: the judge's inputs, fingerprint, strategy.
        """
        if len(files) == 2 and _PLAIN.fullmatch(files[0]) and _PLAIN.fullmatch(files[1]):
            files_text = f'["{files[0]}","{files[1]}"]'  # what canonical(files) writes
        else:
            files_text = canonical(files)
        rest = {"inputs": judge.cache_inputs(task), "judge": self.fingerprint}
        rest["strategy"] = self.strategy
        return files_text, canonical(rest)[1:]

    def _pair_part(self, judge: Judge, task: Task, files: list[str]) -> tuple[str, str]:
        pair_part = self._pairs.get(id(task.pair))
        if pair_part is None:
            pair_part = self._pairs[id(task.pair)] = self._encode_pair(judge, task, files)
        return pair_part

    def _head(self, task: Task) -> str:
        """The key text's start: a control comes first in sorted order (none: no field)."""
        control = getattr(task, "control", "none")
        return "{" if control == "none" else f'{{"control":{self._atom(control)},'

    def pair_key(self, judge: Judge, task: Task, files: list[str]) -> str:
        """Hash of everything in ``task``'s key but its dimension and frame count.

        With those two it identifies the verdict as the key does; the columnar cache joins on
        ``(pair_key, dimension, frames)``, so a rerun hashes once per pair, not per verdict.
        """
        files_text, rest = self._pair_part(judge, task, files)
        return self._pair_hash(task, files_text, rest)

    def _pair_hash(self, task: Task, files_text: str, rest: str) -> str:
        """The pair key from its encoded parts (a control, when any, last)."""
        head = self._head(task)
        control = "" if head == "{" else f"|{head}"  # the normal run's pair keys unchanged
        return hashlib.sha256(f"{files_text}|{rest}{control}".encode()).hexdigest()

    def pair_keys(
        self, judge: Judge, tasks: Sequence[Task], hashes: Mapping[Any, str | None]
    ) -> list[str | None]:
        """:meth:`pair_key` of each task (one task per pair), ``None`` where a file is unread.

        The same keys, a loop with no per-pair memo: a rerun hashes 51,691 pairs at once.
        ``hashes``: each file's content hash.
        """
        keys: list[str | None] = []
        append, pair_hash, encode = keys.append, self._pair_hash, self._encode_pair
        for task in tasks:
            files = [hashes[f] for f in task.files]
            append(None if None in files else pair_hash(task, *encode(judge, task, files)))
        return keys

    def key(self, judge: Judge, task: Task, files: list[str]) -> str:
        """The verdict key of ``task`` (``files``: its files' content hashes).

        Per-pair parts are remembered by the pair object, which the caller's task list keeps
        alive (so its ``id`` is not reused meanwhile); build a new instance per task list.
        """
        pair_part = self._pair_part(judge, task, files)
        text = (
            f'{self._head(task)}"dimension":{self._atom(task.dimension.value)},'
            f'"files":{pair_part[0]},'
            f'"frames":{self._atom(task.frames)},{pair_part[1]}'
        )
        return hashlib.sha256(text.encode()).hexdigest()
