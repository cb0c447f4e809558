"""What a run keeps on disk between runs.

A SQLite key-value store (API replies, per-video scores,
file hashes) and the columnar verdict cache of pair judges (parquet segments and commit logs per
judge fingerprint), with verdicts as columns; and a run's replies (each verdict's ``raw``),
kept apart from its verdict table (``Replies``: in memory while small, else a temporary file;
``with_raw`` reads them back into a table).
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "Store": "store",
    "default_cache_dir": "store",
    "file_sha256": "store",
    "stable_hash": "store",
    "CommitLog": "commit_log",
    "VerdictSegments": "segments",
    "LazyVerdicts": "verdict_rows",
    "RowBuilder": "verdict_rows",
    "verdict_frame": "verdict_rows",
    "Replies": "replies",
    "with_raw": "replies",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
