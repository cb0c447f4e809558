"""Finding and reading a pairs file (SafeSora's config format): one read, records and hash."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judges.core.errors import DataError

__all__ = ["CONFIG_SUFFIXES", "drain", "find_config", "read_records", "stream_records"]

CONFIG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")


def find_config(path: Path) -> Path:
    """The pairs file inside a dataset folder (or ``path`` itself when it is a file).

    Raises:
        DataError: no such file/folder, no config in the folder, or several to choose from.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "config-test.json.gz").write_bytes(gzip.compress(b"[]"))
        >>> _ = (folder / "notes.txt").write_text("not a pairs file")
        >>> find_config(folder).name
        'config-test.json.gz'

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


def _read_text(path: Path) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes, from a single read."""
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
    return text, hashlib.sha256(raw).hexdigest()


def _json_line(path: Path, lineno: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}, line {lineno}: invalid JSON ({e.msg})") from None


def _whole(path: Path, text: str) -> list[Any]:
    """The file as one JSON list (what a record stream falls back on to name an error)."""
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
    return data


def read_records(path: Path) -> tuple[list[Any], str]:
    """The file's records and the SHA-256 of its bytes, from a single read.

    Raises:
        DataError: an unsupported suffix, an unreadable or undecodable file, or invalid JSON
            (naming the line of a ``.jsonl`` file).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config-test.jsonl"
        >>> lines = ['{"pair_id": "a"}', "", '{"pair_id": "b"}']  # blank lines are skipped
        >>> _ = path.write_text(chr(10).join(lines))
        >>> records, digest = read_records(path)
        >>> [r["pair_id"] for r in records]
        ['a', 'b']
        >>> digest == hashlib.sha256(path.read_bytes()).hexdigest()
        True

    """
    text, digest = _read_text(path)
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        lines = enumerate(text.splitlines(), 1)
        return [_json_line(path, n, line) for n, line in lines if line.strip()], digest
    return _whole(path, text), digest


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, as json.decoder skips it
_DECODER = json.JSONDecoder()


class _NotPlain(Exception):
    """The list is not read record by record here (the whole-file read names the problem)."""


def _list_items(text: str) -> Iterator[Any]:
    """The items of a JSON list, one at a time.

    Raises :class:`_NotPlain` (or a decode error) when the text is not exactly one list, as
    ``json.loads`` would read it.
    """
    skip = _SPACE.match
    at = skip(text, 0).end()
    if text[at : at + 1] != "[":
        raise _NotPlain
    at = skip(text, at + 1).end()
    closed = text[at : at + 1] == "]"
    while not closed:
        item, at = _DECODER.raw_decode(text, at)
        yield item
        at = skip(text, at).end()
        mark = text[at : at + 1]
        if mark == ",":
            at = skip(text, at + 1).end()
        elif mark == "]":
            closed = True
        else:
            raise _NotPlain
    if skip(text, at + 1).end() != len(text):
        raise _NotPlain


def stream_records(path: Path) -> tuple[Iterator[Any], str]:
    """:func:`read_records`' records one at a time, and the SHA-256 of the file's bytes.

    A record is decoded as it is asked for, so the records are never all held at once (at
    SafeSora's size, 100 MB that the process kept after loading). The whole file is checked
    all the same: a file that is not valid JSON raises :func:`read_records`' error for it by
    the end of the stream; a caller that stops early on a bad record should drain the stream
    (:func:`drain`), so a broken file is named before its records are.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config-test.json"
        >>> _ = path.write_text('[{"pair_id": "p0"}, {"pair_id": "p1"}]')
        >>> records, digest = stream_records(path)
        >>> next(records)["pair_id"]
        'p0'
        >>> [r["pair_id"] for r in records]
        ['p1']

    """
    text, digest = _read_text(path)
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        lines = enumerate(text.splitlines(), 1)
        return (_json_line(path, n, line) for n, line in lines if line.strip()), digest

    def items() -> Iterator[Any]:
        given = 0
        try:
            for item in _list_items(text):
                given += 1
                yield item
        except (_NotPlain, json.JSONDecodeError):
            # json.loads' own error (or the not-a-list one) for this text, or its remaining
            # records if it reads after all
            yield from _whole(path, text)[given:]

    return items(), digest


def drain(records: Iterator[Any]) -> None:
    """Read a record stream to its end: raises the file's error, if it has one.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config-test.json"
        >>> _ = path.write_text('[{"pair_id": "p0"}, {"pair_id": ]')  # the second is broken
        >>> records, _ = stream_records(path)
        >>> next(records)["pair_id"]
        'p0'
        >>> drain(records)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        judges.core.errors.DataError: ...: invalid JSON at line 1 column 33 (Expecting value)

    """
    for _ in records:
        pass
