"""Keyframe thumbnails of a video for ``report.html``, kept under the cache folder.

Decoding every video for its keyframes was most of a cached rerun's ``report.html``. The
thumbnails of a video depend only on its content, the frame counts, the selection strategy, the
thumbnail height and the keyframe code, so they are kept under
``<cache>/thumbnails/<key>/`` (the content's SHA-256 and those settings hashed into the key) and
copied from there when asked again; a kept entry that cannot be read is made again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from judges.cache.store import file_sha256
from judges.report.kept_files import keep_entry, link_or_copy

THUMB_HEIGHT = 72
_ENTRY = "entry.json"
_CODE = (Path(__file__), Path(__file__).resolve().parents[1] / "media" / "keyframes.py")


def url(target: Path, base: Path) -> str:
    """A relative URL from the folder ``base`` to ``target`` (percent-encoded).

    Example:
        >>> url(Path("/r/report_files/a b.jpg"), Path("/r"))
        'report_files/a%20b.jpg'

    """
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(base))
    return quote(Path(rel).as_posix())


def _decode(path: Path, counts: list[int], strategy: str, out: Path) -> dict[str, Any]:
    """Keyframe indices per count, and a thumbnail file per index (named by index) in ``out``."""
    import cv2

    from judges.media.keyframes import extract_keyframes, uniform_frames

    pick = uniform_frames if strategy == "uniform" else extract_keyframes
    try:
        big = pick(path, max(counts))
    except Exception:  # an unreadable video keeps the page, without thumbnails
        return {}
    by_count: dict[str, list[int]] = {}
    thumbs: dict[str, str] = {}
    for n in counts:
        sub = big
        if n != max(counts):
            try:  # the frame-difference ranking is nested: smaller counts need no decode
                sub = pick(path, n) if strategy == "uniform" else big.top(n)
            except ValueError:
                sub = pick(path, n)
        by_count[str(n)] = list(sub.indices)
        for index, frame in zip(sub.indices, sub.frames, strict=True):
            if str(index) in thumbs:
                continue
            h, w = frame.shape[:2]
            small = cv2.resize(frame, (max(1, round(w * THUMB_HEIGHT / h)), THUMB_HEIGHT))
            name = f"{index}.jpg"
            cv2.imwrite(str(out / name), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
            thumbs[str(index)] = name
    return {"by_count": by_count, "thumbs": thumbs, "fps": big.fps, "frames": big.frame_count}


def _key(path: Path, counts: list[int], strategy: str) -> str:
    h = hashlib.sha256(json.dumps([file_sha256(path), counts, strategy, THUMB_HEIGHT]).encode())
    for code in _code():
        h.update(code)
    return h.hexdigest()


@functools.cache
def _code() -> tuple[bytes, ...]:
    """The code thumbnails depend on, read once a process (not once a video)."""
    return tuple(path.read_bytes() for path in _CODE)


def _kept(entry: Path) -> dict[str, Any] | None:
    """A kept entry, or None when absent or unreadable (a thumbnail missing)."""
    try:
        kf = json.loads((entry / _ENTRY).read_text())
        present = set(os.listdir(entry))  # one call, not a stat per thumbnail
        if all(name in present for name in kf["thumbs"].values()):
            return kf
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def keyframe_thumbnails(
    path: Path, counts: list[int], strategy: str, out: Path, url_base: Path, cache: Path | None
) -> dict[str, Any]:
    """Keyframe indices per frame count, and a thumbnail of each, written under ``out``.

    Args:
        path: The video.
        counts: Frame counts of the run.
        strategy: ``diff`` or ``uniform`` keyframes.
        out: Folder for the thumbnails (``<hash of the path>-<index>.jpg``).
        url_base: The folder the page's URLs are relative to.
        cache: The cache folder (thumbnails kept under ``thumbnails/``); ``None``: decode.

    Returns:
        ``{"by_count", "thumbs" (index -> URL), "fps", "frames"}``; ``{}`` for a video that
        cannot be read.

    """
    stem = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    kf = entry = None
    if cache is not None:
        try:
            entry = cache / "thumbnails" / _key(path, counts, strategy)
        except OSError:
            return {}
        kf = _kept(entry)
    if kf is None:
        tmp = Path(tempfile.mkdtemp(prefix=".thumbs-", dir=out))
        try:
            kf = _decode(path, counts, strategy, tmp)
            if kf and entry is not None:
                _keep(tmp, entry, kf)
            source = tmp
            thumbs = _place(kf, source, out, stem, url_base)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        thumbs = _place(kf, entry, out, stem, url_base)  # type: ignore[arg-type]
    return {**kf, "thumbs": thumbs} if kf else {}


def _place(kf: dict[str, Any], source: Path, out: Path, stem: str, base: Path) -> dict[str, str]:
    """Link (or copy) the thumbnails into ``out`` under the page's names; index -> URL.

    Hard links, as the previews: the run folder keeps its files when the cache is pruned.
    """
    thumbs = {}
    # Every thumbnail sits in ``out``: one relative path for the folder, then each name
    # (url() of each file walked both paths: a tenth of a 20,000-pair rerun's page).
    folder = url(out, base)
    prefix = "" if folder == "." else folder + "/"
    for index, name in kf.get("thumbs", {}).items():
        file_name = f"{stem}-{index}.jpg"
        target = os.path.join(out, file_name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)  # a page rebuilt in place
        link_or_copy(os.path.join(source, name), target)
        thumbs[index] = prefix + quote(file_name)
    return thumbs


def _keep(made: Path, entry: Path, kf: dict[str, Any]) -> None:
    """Keep freshly made thumbnails under ``entry`` (written aside, renamed); failures ignored."""
    try:
        keep_entry(entry, {name: made / name for name in kf["thumbs"].values()}, _ENTRY, kf)
    except OSError:
        return
