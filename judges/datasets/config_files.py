"""Finding and reading a pairs file (SafeSora's config format): one read, records and hash."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

from judges.core.errors import DataError

__all__ = ["CONFIG_SUFFIXES", "find_config", "read_records"]

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
