"""On-disk cache: a small SQLite key-value store shared by verdicts, scores and API replies.

WAL mode and one commit per write mean a run killed at any point (Ctrl-C, ``kill -9``) keeps
everything it had finished; the rerun reads it back instead of recomputing or paying again.
Keys are content hashes, so moving a dataset does not invalidate it and changing a judge's
settings never reuses a stale entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judges.cache.segments import VerdictSegments
from judges.core.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
"""


def default_cache_dir() -> Path:
    """``$JUDGES_CACHE_DIR``, else ``$XDG_CACHE_HOME/t2v-judges``, else ``~/.cache/t2v-judges``."""
    if env := os.environ.get("JUDGES_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "t2v-judges"


# One encoder for every key: json.dumps with options builds a new encoder per call, which costs
# more than the encoding of a small key (the same canonical text either way).
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(obj: Any) -> str:
    """SHA-256 of an object's canonical JSON form (sorted keys, no whitespace).

    Example:
        >>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
        True

    """
    return hashlib.sha256(CANONICAL.encode(obj).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class Store:
    """Thread-safe SQLite key-value store, JSON values, grouped by namespace.

    Args:
        path: Database file; parent folders are created.

    Example:
        >>> store = Store(tmp_path / "cache.sqlite")  # doctest: +SKIP
        >>> store.put("verdicts", "k1", {"winner": "video_0"})  # doctest: +SKIP
        >>> store.get("verdicts", "k1")  # doctest: +SKIP
        {'winner': 'video_0'}

    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
                self._conn.commit()
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(
                f"cache {self.path}: cannot open it for writing ({e}); pass --cache-dir with a "
                "writable folder, or --no-cache"
            ) from None

    def get(self, namespace: str, key: str) -> Any | None:
        """The value stored under ``key``, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        """Values for the keys present, in one pass (chunked under SQLite's variable limit)."""
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, value FROM entries WHERE namespace = ? AND key IN ({marks})",
                    (namespace, *chunk),
                ).fetchall()
                found.update((k, json.loads(v)) for k, v in rows)
        return found

    def items(self, namespace: str) -> dict[str, Any]:
        """Every value of a namespace, by key (for small namespaces such as batch records)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, value FROM entries WHERE namespace = ? ORDER BY created", (namespace,)
            ).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def put(self, namespace: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) and commit at once."""
        text = json.dumps(value, default=str)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO entries (namespace, key, value) VALUES (?, ?, ?)",
                (namespace, key, text),
            )
            self._conn.commit()

    def put_many(self, namespace: str, items: Sequence[tuple[str, Any]]) -> None:
        """Store several values in one transaction (one commit, not one per value)."""
        if not items:
            return
        rows = [(namespace, key, json.dumps(value, default=str)) for key, value in items]
        with self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO entries (namespace, key, value) VALUES (?, ?, ?)", rows
            )
            self._conn.commit()

    def holds(self, namespace: str) -> bool:
        """Whether ``namespace`` holds anything (one indexed probe)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM entries WHERE namespace = ? LIMIT 1", (namespace,)
            ).fetchone()
        return row is not None

    def delete_many(self, namespace: str, keys: Sequence[str]) -> None:
        """Remove the given keys (e.g. verdicts moved into a parquet segment), in one commit."""
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                self._conn.execute(
                    f"DELETE FROM entries WHERE namespace = ? AND key IN ({marks})",
                    (namespace, *chunk),
                )
            self._conn.commit()

    @property
    def segments(self) -> VerdictSegments:
        """The columnar verdict store beside this database (``<name>.segments/``)."""
        return VerdictSegments(self.path.with_suffix(".segments"))

    def file_hash(self, path: str | Path) -> str:
        """Content SHA-256 of a file, remembered per (path, size, mtime) to avoid rehashing."""
        p = Path(path).resolve()
        st = p.stat()
        with self._lock:
            row = self._conn.execute(
                "SELECT size, mtime_ns, sha256 FROM file_hashes WHERE path = ?", (str(p),)
            ).fetchone()
        if row is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return str(row[2])
        digest = file_sha256(p)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) "
                "VALUES (?, ?, ?, ?)",
                (str(p), st.st_size, st.st_mtime_ns, digest),
            )
            self._conn.commit()
        return digest

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
