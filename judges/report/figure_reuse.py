"""Reuse a run's figures when everything they are drawn from is unchanged.

Drawing a run's figures (matplotlib and seaborn imported, six figures as PNG and SVG) was most of
a cached rerun's time. A figure is a pure function of the run's tables, its settings, the
library's code and the plotting libraries' versions, so :func:`figures_key` hashes exactly those:
every file the run staged (tables, ``verdicts.parquet``, ``pairs.parquet``, ...; not
``run.json``, which holds times), the settings the caller names, every ``.py`` file of the
``judges`` package and the versions of the libraries that draw. Figures drawn once are kept under
the cache folder (``figures/<key>/``, the newest :data:`KEEP`), and a run whose key is there
copies them instead of drawing. A kept entry whose files do not match its manifest is ignored
(the figures are drawn again).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from judges.report.kept_files import keep_entry

KEEP = 16
"""Kept figure sets (the newest by use); older ones are removed."""
LIBRARIES = ("matplotlib", "seaborn", "numpy", "polars", "scipy", "pandas")
MANIFEST = "manifest.json"
_NOT_INPUTS = {"run.json", "figures", "report.html", "report_files"}
_PACKAGE = Path(__file__).resolve().parents[1]


def code_digest() -> str:
    """SHA-256 over the ``judges`` package's Python files (names and contents)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def package_version(name: str) -> str | None:
    """An installed distribution's version (``None`` when absent): part of the reuse keys.

    Example:
        >>> package_version("polars") is not None, package_version("no-such-package")
        (True, None)

    """
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def figures_key(run_dir: Path, settings: Mapping[str, Any]) -> str:
    """The key of the figures a staged run folder would get.

    Args:
        run_dir: The run folder with its tables written (figures not yet).
        settings: What else the figures depend on (JSON-serialisable): the bootstrap settings,
            the caveat mark, the data's hash...

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "agreement.csv").write_text("psnr,0.5")
        >>> a = figures_key(d, {"mark": None})
        >>> a == figures_key(d, {"mark": None}), a == figures_key(d, {"mark": "demo data"})
        (True, False)
        >>> _ = (d / "agreement.csv").write_text("psnr,0.6")
        >>> a == figures_key(d, {"mark": None})
        False

    """
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(json.dumps({name: package_version(name) for name in LIBRARIES}).encode())
    h.update(code_digest().encode())
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if rel.parts[0] in _NOT_INPUTS or not path.is_file():
            continue
        h.update(str(rel).encode() + b"\0")
        with path.open("rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def reuse_figures(store: Path, key: str, out_dir: Path) -> bool:
    """Copy the figures kept under ``key`` into ``out_dir``; False when none are kept (intact).

    Example:
        >>> import tempfile
        >>> store, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "figures"
        >>> reuse_figures(store, "k", out)
        False
        >>> keep = Path(tempfile.mkdtemp())
        >>> _ = (keep / "a.png").write_bytes(b"png")
        >>> keep_figures(store, "k", keep)
        >>> reuse_figures(store, "k", out), sorted(p.name for p in out.iterdir())
        (True, ['a.png'])

    """
    entry = store / key
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        files = {name: (entry / name) for name in manifest}
        if any(files[n].stat().st_size != size for n, size in manifest.items()):
            return False
    except (OSError, ValueError, AttributeError):
        return False
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        shutil.copyfile(path, out_dir / name)
    os.utime(entry)  # the newest by use are kept
    return True


def keep_figures(store: Path, key: str, figures: Path, keep: int = KEEP) -> None:
    """Keep the figures in ``figures`` under ``key`` (a shared cache: written aside, renamed).

    The newest ``keep`` entries stay; failing to write (a full disk, a read-only cache) only
    means the next run draws again.
    """
    try:
        files = {p.name: p for p in sorted(figures.iterdir()) if p.is_file()}
        manifest = {name: path.stat().st_size for name, path in files.items()}
        keep_entry(store / key, files, MANIFEST, manifest)
        entries = sorted(
            (p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for old in entries[:-keep] if keep > 0 else entries:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        return
