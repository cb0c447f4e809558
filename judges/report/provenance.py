"""Where a run came from: the code's commit and the versions of the libraries behind its numbers."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import polars as pl


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a run's numbers (recorded in run.json)."""
    import cv2
    import numpy

    return {
        "judges": _own_version(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "polars": pl.__version__,
    }


def _own_version() -> str:
    """This library's version as installed (``unknown`` when run from a bare source tree)."""
    try:
        return metadata.version("t2v-judges")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit(path: Path | None = None) -> str | None:
    """The checkout's HEAD commit (with ``-dirty`` when there are local changes), if any."""
    cwd = path or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
