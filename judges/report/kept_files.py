"""Files a run keeps under the cache folder and places into run folders.

Figures (:mod:`judges.report.figure_reuse`) and keyframe thumbnails
(:mod:`judges.report.thumbnails`) are kept under the cache as one folder per key, with an index
file beside them; single files (report.html's packed data, the videos' codecs, the page itself)
go through :func:`write_aside`. An entry is written aside and renamed into place, so a reader
never sees half of one, and two runs keeping the same entry at once leave one. Kept files are
placed into a run folder by hard link where the file system allows it (the run keeps them when
the cache is pruned), else by copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO


def keep_entry(entry: Path, files: Mapping[str, Path], index: str, data: Any) -> None:
    """Keep copies of ``files`` (name -> path) and ``data`` as JSON in ``index`` under ``entry``.

    An existing ``entry`` (a damaged copy) is replaced; another run renaming the same entry
    into place first wins.

    Raises:
        OSError: the cache folder cannot be written (callers treat keeping as optional).

    Example:
        >>> files = {"a.png": Path("a.png")}
        >>> keep_entry(cache / "figures" / key, files, "manifest.json", {})  # doctest: +SKIP

    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    try:
        for name, path in files.items():
            shutil.copyfile(path, tmp / name)
        (tmp / index).write_text(json.dumps(data))
        shutil.rmtree(entry, ignore_errors=True)
        with contextlib.suppress(OSError):  # another run kept it first
            tmp.rename(entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing left after a rename


def link_or_copy(source: Path | str, target: Path | str) -> None:
    """Hard-link ``source`` at ``target`` (same file system), else copy it.

    Example:
        >>> kept = cache / "thumbnails" / key / "3.jpg"  # doctest: +SKIP
        >>> link_or_copy(kept, run / "report_files" / "3.jpg")  # doctest: +SKIP

    """
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


def write_aside(target: Path, write: Callable[[TextIO], None]) -> None:
    """Write a text file through ``write`` beside ``target``, then rename it into place.

    A reader never sees half a file, and a write that fails (a full disk, data that cannot be
    encoded) leaves ``target`` as it was and no temporary file behind.

    Raises:
        OSError: the folder cannot be written; any error ``write`` raises passes through.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "info.json"
        >>> write_aside(target, lambda f: f.write("{}"))
        >>> target.read_text(), [p.name for p in target.parent.iterdir()]
        ('{}', ['info.json'])

    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            write(f)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):  # gone after the rename
            os.unlink(tmp)
