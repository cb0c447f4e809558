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

Kept under the cache folder (``report_data/<key>.json``, the newest :data:`KEEP`); an entry that
cannot be read is ignored (the data is packed again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from judges.report.figure_reuse import code_digest
from judges.report.html_page import json_for_script

__all__ = ["FRESH", "KEEP", "assemble", "keep_packed", "kept_packed", "packed", "page_key"]

KEEP = 8
"""Kept packed data sets (the newest by use); older ones are removed."""
FRESH = ("run_id", "videos", "figures", "notes")
"""The data's fields made by every run (never kept)."""
INPUTS = ("verdicts.parquet", "pairs.parquet", "agreement.csv", "ceiling.csv", "votes.parquet")
"""The run folder's files the packed data is read from."""
_VERSION = "1"


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
    h.update(json.dumps(info.get("notice")).encode())
    for name in INPUTS:
        path = run_dir / name
        h.update(b"\0" + name.encode() + b"\0")
        if path.is_file():
            with path.open("rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def packed(data: Mapping[str, Any]) -> dict[str, Any]:
    """What is kept of ``data``: its field order and each kept field's encoded JSON."""
    return {
        "order": list(data),
        "texts": {k: json_for_script(v) for k, v in data.items() if k not in FRESH},
    }


def assemble(kept: Mapping[str, Any], fresh: Mapping[str, Any]) -> str:
    """The page's data text: kept fields as kept, :data:`FRESH` ones from this run.

    Equal to ``json_for_script`` of the whole dictionary (compact JSON joins its fields with
    ``,`` and ``:``, and the escapes are per character).
    """
    texts = kept["texts"]
    parts = [
        json_for_script(k) + ":" + (texts[k] if k in texts else json_for_script(fresh[k]))
        for k in kept["order"]
    ]
    return "{" + ",".join(parts) + "}"


def kept_packed(store: Path, key: str) -> dict[str, Any] | None:
    """The packed data kept under ``key``; ``None`` when absent or unreadable."""
    path = store / f"{key}.json"
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(kept.get("order"), list) or not isinstance(kept.get("texts"), dict):
            return None
        if any(k not in kept["texts"] for k in kept["order"] if k not in FRESH):
            return None
        os.utime(path)  # the newest by use are kept
        return kept
    except (OSError, ValueError, AttributeError):
        return None


def keep_packed(store: Path, key: str, kept: Mapping[str, Any], keep: int = KEEP) -> None:
    """Keep packed data under ``key`` (written aside, renamed); failures only cost a repack."""
    tmp: str | None = None
    try:
        store.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=store)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(kept, f, ensure_ascii=False)
        os.replace(tmp, store / f"{key}.json")
        entries = sorted(
            (p for p in store.glob("*.json") if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for old in entries[:-keep] if keep > 0 else entries:
            with contextlib.suppress(OSError):
                old.unlink()
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
