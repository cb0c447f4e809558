"""Output folders: proving one writable, and renaming one into place without replacing.

``os.rename`` replaces an empty target folder on Linux, and an existence check before it races
with a process doing the same at the same instant. Linux's ``renameat2(RENAME_NOREPLACE)``
fails when the target exists, atomically; where it is missing, a folder rename still never
replaces a non-empty folder (``ENOTEMPTY``), which is what a published run is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from judges.core.errors import ConfigError

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _renameat2() -> Any | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):  # not Linux/glibc >= 2.28
        return None


_RENAMEAT2 = _renameat2()


def rename_noreplace(source: Path, target: Path) -> bool:
    """Rename ``source`` to ``target`` unless ``target`` exists; ``False`` when it does.

    Example:
        >>> rename_noreplace(Path(".run.partial"), Path("run"))  # doctest: +SKIP
        True

    """
    if _RENAMEAT2 is not None:
        done = _RENAMEAT2(
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
        )
        if done == 0:
            return True
        err = ctypes.get_errno()
        if err in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # fs without the flag
            raise OSError(err, os.strerror(err), str(target))
    if os.path.lexists(target):
        return False
    try:
        os.rename(source, target)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True


def record_run_id(staging: Path, run_id: str) -> None:
    """Record a run's final name in its staged ``run.json`` (its name was taken meanwhile)."""
    info_path = staging / "run.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if "run_id" in info:
            info["run_id"] = run_id
            info_path.write_text(json.dumps(info, indent=2, sort_keys=False))


def check_writable_dir(path: Path, option: str) -> None:
    """Create ``path`` if needed and prove a file can be written in it.

    Raises:
        ConfigError: ``path`` is a file, or the folder cannot be created or written; the
            message names the option that set it.

    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, not a folder; pass a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(
            f"{option} {path}: cannot write there ({e.strerror or e}); pass a writable folder"
        ) from None
