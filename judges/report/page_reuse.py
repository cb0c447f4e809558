"""Reuse report.html's packed data when the run files it is packed from are unchanged.

Packing a run's verdicts for the page (:func:`judges.report.report_data.report_data`) and
encoding them as JSON was most of a cached rerun's report.html. The packed data is a pure
function of the run folder's ``verdicts.parquet``, ``pairs.parquet``, ``agreement.csv``,
``ceiling.csv`` and ``votes.parquet``, run.json's ``notice`` and the library's code, so
:func:`page_key` hashes exactly those. What changes from run to run (the run id, the videos'
URLs and thumbnails placed in this run's folder, the figures, the notes) is never kept: each
top-level field of the data is kept as its encoded JSON text, and the page's data is assembled
from the kept texts and this run's own fields, byte for byte the text
:func:`~judges.report.html_page.json_for_script` makes of the whole.

Kept under the cache folder (``report_data/<key>.data``, the newest :data:`KEEP`); an entry that
cannot be read is ignored (the data is packed again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from judges.report.figure_reuse import code_digest, package_version
from judges.report.html_page import json_for_script, script_pieces
from judges.report.kept_files import write_aside

__all__ = [
    "FRESH",
    "KEEP",
    "data_pieces",
    "keep_packed",
    "kept_packed",
    "pack",
    "page_data",
    "page_key",
]

KEEP = 8
"""Kept packed data sets (the newest by use); older ones are removed."""
FRESH = ("run_id", "videos", "figures", "notes")
"""The data's fields made by every run (never kept)."""
INPUTS = ("verdicts.parquet", "pairs.parquet", "agreement.csv", "ceiling.csv", "votes.parquet")
"""The run folder's files the packed data is read from."""
_VERSION = "2"
_CHUNK = 1 << 20
"""Characters read or copied at a time."""


def page_key(run_dir: Path, info: Mapping[str, Any]) -> str | None:
    """The key of a run folder's packed page data; ``None`` without ``pairs.parquet``.

    (An older run without it reads its pairs from the data file, which is not hashed here.)

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "pairs.parquet").write_bytes(b"p")
        >>> a = page_key(d, {"run_id": "a"})
        >>> a == page_key(d, {"run_id": "b"}), a == page_key(d, {"notice": "demo data"})
        (True, False)

    """
    if not (run_dir / "pairs.parquet").is_file():
        return None
    h = hashlib.sha256(f"{_VERSION}\0{code_digest()}\0".encode())
    # The packing rounds and groups with numpy and polars: a new version may pack otherwise.
    h.update(json.dumps({name: package_version(name) for name in ("numpy", "polars")}).encode())
    h.update(json.dumps(info.get("notice")).encode())
    cut = (info.get("report_replies") or {}).get("cut_to_bytes")  # replies cut: another page
    if cut is not None:
        h.update(f"\0cut {cut}".encode())
    for name in INPUTS:
        path = run_dir / name
        h.update(b"\0" + name.encode() + b"\0")
        if path.is_file():
            with path.open("rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def pack(data: dict[str, Any], body: TextIO) -> dict[str, Any]:
    """Encode ``data``'s kept fields into ``body``, one after another; their order and lengths.

    Each kept field is taken out of ``data`` as it is encoded, and its text goes to the file in
    pieces (:func:`~judges.report.html_page.script_pieces`), so neither the page's objects (a
    million numbers at SafeSora's size) nor their text (tens of megabytes) are held whole.

    Returns:
        ``order`` (every field, in ``data``'s order) and ``lengths`` (each kept field's text,
        in characters), the header :func:`keep_packed` writes and :func:`data_pieces` reads.

    Example:
        >>> import io
        >>> data, body = {"run_id": "r", "overview": {"pairs": 2}}, io.StringIO()
        >>> pack(data, body), body.getvalue(), list(data)
        ({'order': ['run_id', 'overview'], 'lengths': {'overview': 11}}, '{"pairs":2}', ['run_id'])

    """
    order = list(data)
    lengths = {}
    for key in order:
        if key not in FRESH:
            lengths[key] = 0
            for piece in script_pieces(data.pop(key)):
                body.write(piece)
                lengths[key] += len(piece)
    return {"order": order, "lengths": lengths}


def _read(body: TextIO, n: int) -> Iterator[str]:
    """The next ``n`` characters of ``body``, a chunk at a time.

    Raises:
        ValueError: the file ends first (the kept entry was cut short after it was checked).
    """
    while n > 0:
        text = body.read(min(n, _CHUNK))
        if not text:
            raise ValueError(f"{getattr(body, 'name', 'packed data')}: cut short")
        n -= len(text)
        yield text


def data_pieces(head: Mapping[str, Any], fresh: Mapping[str, Any], body: TextIO) -> Iterator[str]:
    """The page's data text in pieces: kept fields from ``body``, :data:`FRESH` ones from this run.

    ``body`` is read from where it stands (the kept texts, in ``head``'s order). Joined, the
    pieces are ``json_for_script`` of the whole dictionary (compact JSON joins its fields with
    ``,`` and ``:``, and the escapes are per character); the page is written from the pieces,
    never joined.

    Example:
        >>> import io
        >>> data, body = {"run_id": "r", "overview": {"pairs": 2}}, io.StringIO()
        >>> head = pack(data, body)
        >>> _ = body.seek(0)
        >>> "".join(data_pieces(head, {"run_id": "new"}, body)) == json_for_script(
        ...     {"run_id": "new", "overview": {"pairs": 2}})
        True

    """
    lengths = head["lengths"]
    yield "{"
    for i, key in enumerate(head["order"]):
        yield ("," if i else "") + json_for_script(key) + ":"
        if key in lengths:
            yield from _read(body, lengths[key])
        else:
            yield from script_pieces(fresh[key])
    yield "}"


def kept_packed(store: Path, key: str) -> dict[str, Any] | None:
    """The header of the packed data kept under ``key``, with where its texts start.

    ``None`` when absent or unreadable. The texts are checked (every kept field there, whole,
    nothing after them) a chunk at a time, never held.

    Example:
        >>> import io, tempfile
        >>> store, body = Path(tempfile.mkdtemp()), io.StringIO()
        >>> head = pack({"run_id": "r", "overview": [1, "<"]}, body)
        >>> _ = body.seek(0)
        >>> keep_packed(store, "k", head, body)
        >>> kept = kept_packed(store, "k")
        >>> kept["lengths"], kept["start"], kept_packed(store, "other") is None
        ({'overview': 12}, 63, True)

    """
    path = store / f"{key}.data"
    try:
        with path.open(encoding="utf-8", newline="") as f:
            head = json.loads(f.readline())
            order, lengths = head["order"], head["lengths"]
            if not isinstance(order, list) or not isinstance(lengths, dict):
                return None
            start = f.tell()
            for n in lengths.values():
                for _ in _read(f, n):  # raises where the file is cut short
                    pass
            if f.read(1):
                return None  # grown: packed again
        if any(k not in lengths for k in order if k not in FRESH):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # cut short (ValueError from _read), not JSON, not UTF-8: packed again
    with contextlib.suppress(OSError):  # a read-only cache still reuses; it only ages
        os.utime(path)  # the newest by use are kept
    return {"order": order, "lengths": lengths, "path": path, "start": start}


def keep_packed(
    store: Path, key: str, head: Mapping[str, Any], body: TextIO, keep: int = KEEP
) -> None:
    """Keep packed data under ``key`` (written aside, renamed); failures only cost a repack.

    One header line (the field order and each text's length in characters), then the texts
    as :func:`pack` wrote them to ``body`` (copied from where it stands, a chunk at a time):
    no second JSON encoding of tens of megabytes of JSON.
    """

    def write(f: TextIO) -> None:
        f.write(json.dumps({"order": head["order"], "lengths": head["lengths"]}) + "\n")
        shutil.copyfileobj(body, f, _CHUNK)

    try:
        write_aside(store / f"{key}.data", write)
        entries = sorted(
            (p for p in store.glob("*.data") if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for old in entries[:-keep] if keep > 0 else entries:
            with contextlib.suppress(OSError):
                old.unlink()
    except OSError:
        pass  # not kept: packed again next time


@contextlib.contextmanager
def page_data(
    store: Path | None,
    key: str | None,
    make: Callable[[], dict[str, Any]],
    fresh: Mapping[str, Any],
    spool: Path,
) -> Iterator[Iterator[str]]:
    """The page's data text in pieces (:func:`data_pieces`), kept or packed afresh.

    Args:
        store: Where packed data is kept (``None``: nothing kept or reused).
        key: Its key (:func:`page_key`; ``None``: nothing kept or reused).
        make: Makes the page's data, when nothing is kept under ``key``.
        fresh: This run's :data:`FRESH` fields.
        spool: A folder for the temporary file the texts are packed into (removed on exit).

    """
    kept = kept_packed(store, key) if store is not None and key is not None else None
    opened = None
    if kept is not None:
        with contextlib.suppress(OSError):  # pruned since it was checked: packed afresh
            opened = kept["path"].open(encoding="utf-8", newline="")
    if opened is not None:  # (so kept too)
        with opened as body:  # open: pruning it now no longer takes it away
            body.seek(kept["start"])
            yield data_pieces(kept, fresh, body)
        return
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="", dir=spool) as body:
        head = pack(make(), body)
        if store is not None and key is not None:
            body.seek(0)
            keep_packed(store, key, head, body)
        body.seek(0)
        yield data_pieces(head, fresh, body)
