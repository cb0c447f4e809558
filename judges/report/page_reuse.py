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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from judges.report.figure_reuse import code_digest, package_version
from judges.report.html_page import json_for_script, script_pieces
from judges.report.kept_files import write_aside

__all__ = ["FRESH", "KEEP", "data_pieces", "keep_packed", "kept_packed", "packed", "page_key"]

KEEP = 8
"""Kept packed data sets (the newest by use); older ones are removed."""
FRESH = ("run_id", "videos", "figures", "notes")
"""The data's fields made by every run (never kept)."""
INPUTS = ("verdicts.parquet", "pairs.parquet", "agreement.csv", "ceiling.csv", "votes.parquet")
"""The run folder's files the packed data is read from."""
_VERSION = "2"


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
    for name in INPUTS:
        path = run_dir / name
        h.update(b"\0" + name.encode() + b"\0")
        if path.is_file():
            with path.open("rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def packed(data: dict[str, Any]) -> dict[str, Any]:
    """What is kept of ``data``: its field order and each kept field's encoded JSON.

    Each kept field is taken out of ``data`` as soon as it is encoded, so the page's objects
    (a million numbers at SafeSora's size) and their text are never held whole side by side.

    Example:
        >>> data = {"run_id": "r", "overview": {"pairs": 2}}
        >>> packed(data), list(data)
        ({'order': ['run_id', 'overview'], 'texts': {'overview': '{"pairs":2}'}}, ['run_id'])

    """
    order = list(data)
    texts = {k: json_for_script(data.pop(k)) for k in order if k not in FRESH}
    return {"order": order, "texts": texts}


def data_pieces(kept: Mapping[str, Any], fresh: Mapping[str, Any]) -> Iterator[str]:
    """The page's data text in pieces: kept fields as kept, :data:`FRESH` ones from this run.

    Joined, equal to ``json_for_script`` of the whole dictionary (compact JSON joins its
    fields with ``,`` and ``:``, and the escapes are per character); the page is written from
    the pieces, never joined.

    Example:
        >>> kept = packed({"run_id": "r", "overview": {"pairs": 2}})
        >>> "".join(data_pieces(kept, {"run_id": "new"})) == json_for_script(
        ...     {"run_id": "new", "overview": {"pairs": 2}})
        True

    """
    texts = kept["texts"]
    yield "{"
    for i, key in enumerate(kept["order"]):
        yield ("," if i else "") + json_for_script(key) + ":"
        if key in texts:
            yield texts[key]
        else:
            yield from script_pieces(fresh[key])
    yield "}"


def kept_packed(store: Path, key: str) -> dict[str, Any] | None:
    r"""The packed data kept under ``key``; ``None`` when absent or unreadable.

    Example:
        >>> import tempfile
        >>> store = Path(tempfile.mkdtemp())
        >>> keep_packed(store, "k", packed({"run_id": "r", "overview": [1, "<"]}))
        >>> kept_packed(store, "k")["texts"]
        {'overview': '[1,"\\u003c"]'}
        >>> kept_packed(store, "other") is None
        True

    """
    path = store / f"{key}.data"
    try:
        with path.open(encoding="utf-8", newline="") as f:
            head = json.loads(f.readline())
            order, lengths = head["order"], head["lengths"]
            if not isinstance(order, list) or not isinstance(lengths, dict):
                return None
            texts = {k: f.read(n) for k, n in lengths.items()}
            if f.read(1) or any(len(texts[k]) != n for k, n in lengths.items()):
                return None  # cut short or grown: packed again
        if any(k not in texts for k in order if k not in FRESH):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    with contextlib.suppress(OSError):  # a read-only cache still reuses; it only ages
        os.utime(path)  # the newest by use are kept
    return {"order": order, "texts": texts}


def keep_packed(store: Path, key: str, kept: Mapping[str, Any], keep: int = KEEP) -> None:
    """Keep packed data under ``key`` (written aside, renamed); failures only cost a repack.

    One header line (the field order and each text's length in characters), then the texts
    as they are: no second JSON encoding of tens of megabytes of JSON.
    """
    texts = kept["texts"]

    def write(f: TextIO) -> None:
        lengths = {k: len(v) for k, v in texts.items()}
        f.write(json.dumps({"order": kept["order"], "lengths": lengths}) + "\n")
        f.writelines(texts.values())

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
