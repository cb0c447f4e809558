"""Each video's codec, rate and length for report.html, remembered across runs.

Opening every video with PyAV to learn its codec was a third of a cached rerun's report.html
(0.8 ms a video). :class:`VideoInfoMemo` keeps :func:`~judges.media.previews.video_info`'s answer
per file, as the cache remembers file hashes: by resolved path, size and modification time
(a rewritten file has another size or time, and is opened again). One JSON file under the cache
folder (``video_info.json``), written aside and renamed; a file that cannot be read or written
only means the videos are opened again.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import astuple
from pathlib import Path
from typing import Any

from judges.media.previews import VideoInfo, video_info
from judges.report.kept_files import write_aside

__all__ = ["VideoInfoMemo"]

_FILE = "video_info.json"
_LIMIT = 200_000
"""Remembered files at most (the oldest entries go first)."""


class VideoInfoMemo:
    """:func:`~judges.media.previews.video_info`, remembered per (path, size, mtime).

    Args:
        cache: The cache folder (``None``: nothing remembered, every video opened).

    Example:
        >>> memo = VideoInfoMemo(cache)  # doctest: +SKIP
        >>> memo.info(Path("clip.mp4")).codec  # doctest: +SKIP
        'mpeg4'
        >>> memo.save()  # doctest: +SKIP

    """

    def __init__(self, cache: Path | None) -> None:
        self.path = Path(cache) / _FILE if cache is not None else None
        self.known: dict[str, list[Any]] = {}
        self.changed = False
        if self.path is not None:
            with contextlib.suppress(OSError, ValueError):
                known = json.loads(self.path.read_text())
                if isinstance(known, dict):
                    self.known = known

    def info(self, path: Path) -> VideoInfo | None:
        """The video's info (``None``: it cannot be opened as a video)."""
        try:
            resolved = str(path.resolve())
            st = os.stat(resolved)
        except OSError:
            return video_info(path)
        stamp = [st.st_size, st.st_mtime_ns]
        kept = self.known.get(resolved)
        if isinstance(kept, list) and len(kept) == 3 and kept[:2] == stamp:
            with contextlib.suppress(TypeError, ValueError):
                return None if kept[2] is None else VideoInfo(*kept[2])
        meta = video_info(path)
        self.known[resolved] = [*stamp, None if meta is None else list(astuple(meta))]
        self.changed = True
        return meta

    def save(self) -> None:
        """Write what was learnt (written aside and renamed; failures ignored)."""
        if self.path is None or not self.changed:
            return
        known = self.known
        if len(known) > _LIMIT:
            known = dict(list(known.items())[-_LIMIT:])
        with contextlib.suppress(OSError):  # not kept: learnt again next time
            write_aside(self.path, lambda f: json.dump(known, f))
            self.changed = False
