"""On-disk cache: a small SQLite key-value store shared by verdicts, scores and API replies.

WAL mode and one commit per write mean a run killed at any point (Ctrl-C, ``kill -9``) keeps
everything it had finished; the rerun reads it back instead of recomputing or paying again.
Keys are content hashes, so moving a dataset does not invalidate it and changing a judge's
settings never reuses a stale entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from judges.cache.damage import warn_stderr
from judges.cache.json_lines import dumps_function
from judges.cache.segments import VerdictSegments
from judges.core.errors import ConfigError

_DAMAGE_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


class DamagedCacheError(ConfigError):
    """``cache.sqlite`` cannot be read; the message gives the exact steps to recover it."""


def damage_message(path: Path, detail: str) -> str:
    """What is wrong with a damaged database, and the exact commands that recover it."""
    recovered = path.with_name("recovered.sqlite")
    aside = "".join(
        f"  mv {p} {p}.damaged\n"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if p == path or p.exists()
    )
    return (
        f"cache {path} is damaged ({detail}). It holds the API replies already paid for: do "
        "not delete it. Stop every run that uses it, then recover what it holds:\n"
        f'  sqlite3 {path} ".recover" | sqlite3 {recovered}\n'
        f"{aside}  mv {recovered} {path}\n"
        "and rerun. Or rerun with --ignore-damaged-cache to go on with the response cache "
        "off (nothing read from or written to that file; verdict segments still used)."
    )


def is_damage(error: BaseException) -> bool:
    """Whether an SQLite error says the file is damaged (not locked, not full, not absent)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code in _DAMAGE_CODES
    text = str(error)
    return "malformed" in text or "not a database" in text


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
canonical = dumps_function(default=str, sort_keys=True, separators=(",", ":"))
"""``CANONICAL.encode`` without building a C encoder per call (the same text; no cycle check)."""


def stable_hash(obj: Any) -> str:
    """SHA-256 of an object's canonical JSON form (sorted keys, no whitespace).

    Example:
        >>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
        True

    """
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _wal(conn: sqlite3.Connection, seconds: float = 30.0) -> None:
    """Put the database in WAL mode, waiting for other processes that hold it.

    Switching the journal mode takes an exclusive lock and, unlike other statements, answers
    "database is locked" at once instead of waiting the connection's timeout: two runs that
    open one new cache together would otherwise see one of them refused.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    """Thread-safe SQLite key-value store, JSON values, grouped by namespace.

    Args:
        path: Database file; parent folders are created.
        verify: Check every page (``PRAGMA quick_check``) on opening (``--verify-cache``).
        ignore_damage: When the file is damaged, warn and keep nothing (an in-memory database:
            the response cache off) instead of raising.
        warn: Where notices go (stderr by default).

    Raises:
        DamagedCacheError: the file is damaged (found on opening, by ``verify``, or later by
            any read or write), unless ``ignore_damage``.
        ConfigError: the file cannot be opened for writing.

    Example:
        >>> store = Store(tmp_path / "cache.sqlite")  # doctest: +SKIP
        >>> store.put("verdicts", "k1", {"winner": "video_0"})  # doctest: +SKIP
        >>> store.get("verdicts", "k1")  # doctest: +SKIP
        {'winner': 'video_0'}

    """

    def __init__(
        self,
        path: str | Path,
        *,
        verify: bool = False,
        ignore_damage: bool = False,
        warn: Callable[[str], None] = warn_stderr,
    ) -> None:
        self.path = Path(path)
        self.warn = warn
        self.damaged: str | None = None
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._open(str(self.path))
            if verify:
                problems = [r[0] for r in self._conn.execute("PRAGMA quick_check").fetchall()]
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError(f"quick_check: {'; '.join(problems[:3])}")
        except sqlite3.DatabaseError as e:
            if not (is_damage(e) or str(e).startswith("quick_check")):
                raise ConfigError(
                    f"cache {self.path}: cannot open it for writing ({e}); pass --cache-dir "
                    "with a writable folder, or --no-cache"
                ) from None
            detail = self._describe(e)
            if not ignore_damage:
                raise DamagedCacheError(damage_message(self.path, detail)) from None
            self.damaged = detail
            warn(
                f"cache {self.path} is damaged ({detail}); going on with the response cache "
                "off as --ignore-damaged-cache asks (nothing read from or written to it)"
            )
            self._conn = self._open(":memory:")
        except OSError as e:
            raise ConfigError(
                f"cache {self.path}: cannot open it for writing ({e}); pass --cache-dir with a "
                "writable folder, or --no-cache"
            ) from None

    def _open(self, where: str) -> sqlite3.Connection:
        conn = sqlite3.connect(where, check_same_thread=False, timeout=30.0)
        try:
            with self._lock:
                _wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                conn.commit()
                # Touch each table's root: a file cut short fails here, not mid-run.
                conn.execute("SELECT 1 FROM entries LIMIT 1").fetchall()
                conn.execute("SELECT 1 FROM file_hashes LIMIT 1").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    def _describe(self, error: sqlite3.DatabaseError) -> str:
        """The error, and what ``PRAGMA quick_check`` finds (when the file opens at all)."""
        if str(error).startswith("quick_check"):
            return str(error)
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
            try:
                rows = conn.execute("PRAGMA quick_check").fetchall()
            finally:
                conn.close()
            found = "; ".join(str(r[0]) for r in rows[:3])
            return f"{error}; quick_check: {found}"
        except sqlite3.Error:
            return str(error)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Damage found after opening (a page never read before) stops with the recovery steps."""
        try:
            with self._lock:
                yield
        except sqlite3.DatabaseError as e:
            if not is_damage(e):
                raise
            raise DamagedCacheError(damage_message(self.path, str(e))) from None

    def get(self, namespace: str, key: str) -> Any | None:
        """The value stored under ``key``, or ``None``."""
        with self._guard():
            row = self._conn.execute(
                "SELECT value FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        """Values for the keys present, in one pass (chunked under SQLite's variable limit)."""
        found: dict[str, Any] = {}
        with self._guard():
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
        with self._guard():
            rows = self._conn.execute(
                "SELECT key, value FROM entries WHERE namespace = ? ORDER BY created", (namespace,)
            ).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def put(self, namespace: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) and commit at once."""
        text = json.dumps(value, default=str)
        with self._guard():
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
        with self._guard():
            self._conn.executemany(
                "INSERT OR REPLACE INTO entries (namespace, key, value) VALUES (?, ?, ?)", rows
            )
            self._conn.commit()

    def put_new(self, namespace: str, key: str, value: Any) -> bool:
        """Store ``value`` unless ``key`` exists; whether it was stored.

        Atomic across processes: of two at once, one wins.
        """
        with self._guard():
            done = self._conn.execute(
                "INSERT OR IGNORE INTO entries (namespace, key, value) VALUES (?, ?, ?)",
                (namespace, key, json.dumps(value, default=str)),
            )
            self._conn.commit()
        return done.rowcount == 1

    def replace_if(self, namespace: str, key: str, old: Any, new: Any) -> bool:
        """Store ``new`` only if the entry still holds ``old``; whether it did.

        One atomic statement, so of two processes updating one record from the same state
        (two followers of one batch) exactly one wins.
        """
        with self._guard():
            done = self._conn.execute(
                "UPDATE entries SET value = ? WHERE namespace = ? AND key = ? AND value = ?",
                (json.dumps(new, default=str), namespace, key, json.dumps(old, default=str)),
            )
            self._conn.commit()
        return done.rowcount == 1

    def holds(self, namespace: str) -> bool:
        """Whether ``namespace`` holds anything (one indexed probe)."""
        with self._guard():
            row = self._conn.execute(
                "SELECT 1 FROM entries WHERE namespace = ? LIMIT 1", (namespace,)
            ).fetchone()
        return row is not None

    def delete_many(self, namespace: str, keys: Sequence[str]) -> None:
        """Remove the given keys (e.g. verdicts moved into a parquet segment), in one commit."""
        with self._guard():
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
        return VerdictSegments(self.path.with_suffix(".segments"), warn=self.warn)

    def file_hash(self, path: str | Path) -> str:
        """Content SHA-256 of a file, remembered per (path, size, mtime) to avoid rehashing."""
        p = Path(path).resolve()
        st = p.stat()
        with self._guard():
            row = self._conn.execute(
                "SELECT size, mtime_ns, sha256 FROM file_hashes WHERE path = ?", (str(p),)
            ).fetchone()
        if row is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return str(row[2])
        digest = file_sha256(p)
        with self._guard():
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
