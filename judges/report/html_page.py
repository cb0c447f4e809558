"""The HTML page of ``report.html``: template, safety, videos and their previews.

:func:`render_page` puts a report's data (:mod:`judges.report.report_data`,
:mod:`judges.report.harm_report_data`) into one HTML file: the page's script, style and data are
inline; videos, their browser-playable previews and keyframe thumbnails are referenced beside it
(thumbnails: :mod:`judges.report.thumbnails`). Nothing is loaded from the network: a
Content-Security-Policy allows only the page's own script and style (by hash), images and media
from the page's folder (and the origin of ``video_url_prefix``, when given).

Every string from the data or a judge's reply reaches the page as JSON inside a ``<script
type="application/json">`` block whose ``<``, ``>``, ``&``, U+2028 and U+2029 are escaped (so no
text can close the block), and the page inserts it with ``textContent`` only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from judges.cache.store import default_cache_dir
from judges.report.kept_files import link_or_copy, write_aside
from judges.report.page_numbers import PageMembers, PageNumbers, as_list
from judges.report.thumbnails import keyframe_thumbnails, url

__all__ = ["HtmlReportOptions", "figures_data", "json_for_script", "render_page", "video_entries"]

ASSETS = "report_files"  # the folder beside report.html with previews, thumbnails, copies
_BATCH = 4096  # list members encoded by one json.dumps call when writing a page in pieces


@dataclass(frozen=True)
class HtmlReportOptions:
    """How ``report.html`` finds its videos.

    Attributes:
        video_url_prefix: Serve videos from here (``https://host/safesora/``): a video's URL
            is the prefix plus its path relative to the dataset's video root (``--video-dir``,
            else the data file's folder). Default: paths relative to the report.
        copy_videos: Link (or copy, across file systems) every video into ``report_files/``
            so the folder can be moved or served on its own.
        previews: Re-encode videos browsers cannot play (``mp4v``) as VP9/WebM previews.
        keyframes: Decode each video's keyframes to place thumbnails on its timeline.
        max_keyframe_videos: Above this many videos, skip keyframes (decoding every video of a
            SafeSora-size run takes hours); the page says so.
        cache_dir: Where previews are cached by content hash (default: the judges cache).
        remember: Keep (and reuse) the page's packed data and the videos' codecs under
            ``cache_dir`` (``--no-cache`` turns it off: nothing of the run read or written).

    """

    video_url_prefix: str | None = None
    copy_videos: bool = False
    previews: bool = True
    keyframes: bool = True
    max_keyframe_videos: int = 2000
    cache_dir: Path | None = None
    remember: bool = True


def json_for_script(data: Any) -> str:
    r"""``data`` as JSON that can sit inside a ``<script>`` element and never close it.

    Example:
        >>> json_for_script({"p": "</script>"})
        '{"p":"\\u003c/script\\u003e"}'
    """
    # Through a buffer: "".join would first hold every piece, millions of small strings for a
    # SafeSora-size field.
    buffer = io.StringIO()
    buffer.writelines(script_pieces(data))
    return buffer.getvalue()


def script_pieces(data: Any) -> Iterator[str]:
    """:func:`json_for_script`'s text in pieces (a page is written without joining them)."""
    for text in _json_pieces(data, 3):
        for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(char, code)
        yield text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _json_pieces(data: Any, depth: int) -> Iterator[str]:
    """``json.dumps(data)`` (compact, no NaN) in pieces that join to exactly its text.

    Dicts and lists ``depth`` levels down are encoded a member at a time, so a SafeSora-size
    page (a million numbers) is never a list of millions of small strings at once.
    """
    dumps = functools.partial(
        json.dumps, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=as_list
    )
    if depth and isinstance(data, dict) and all(isinstance(k, str) for k in data):
        yield "{"
        for i, (key, value) in enumerate(data.items()):
            yield ("," if i else "") + dumps(key) + ":"
            yield from _json_pieces(value, depth - 1)
        yield "}"
    elif depth and isinstance(data, list | PageNumbers) and (depth == 1 or len(data) > _BATCH):
        # Leaves, or a long list of small members (a pair, a video): dumped a batch at a time
        # (one json.dumps per number took most of a SafeSora-size page's 30 s);
        # "[a,b]"[1:-1] is exactly the members' joined text.
        yield "["
        for i in range(0, len(data), _BATCH):
            yield ("," if i else "") + dumps(data[i : i + _BATCH])[1:-1]
        yield "]"
    elif depth and isinstance(data, list | PageMembers):  # PageMembers: made one at a time
        yield "["
        for i, value in enumerate(data):
            if i:
                yield ","
            yield from _json_pieces(value, depth - 1)
        yield "]"
    else:
        yield dumps(data)


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (same file system), else copy it; kept if present."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        link_or_copy(source, target)


def video_entries(
    paths: list[str], out_dir: Path, info: dict, opts: HtmlReportOptions
) -> tuple[list[dict[str, Any]], list[str]]:
    """One entry per video: URL, state (``ok``/``preview``/``fallback``/``missing``), keyframes."""
    from judges.media.previews import preview_for
    from judges.report.video_info_memo import VideoInfoMemo

    assets = out_dir / ASSETS
    data = info.get("data") or {}
    root = Path(data.get("video_dir") or Path(data.get("path", ".")).parent)
    counts = sorted({int(f) for f in info.get("frames", []) if str(f).isdigit()})
    do_keyframes = opts.keyframes and bool(counts) and len(paths) <= opts.max_keyframe_videos
    notes = []
    if opts.keyframes and counts and not do_keyframes:
        notes.append(
            f"keyframe thumbnails not extracted: {len(paths)} videos > "
            f"{opts.max_keyframe_videos} (pass --max-keyframe-videos to raise the limit)"
        )
    strategy = (info.get("keyframes") or {}).get("strategy", "diff")
    cache = Path(opts.cache_dir) if opts.cache_dir else default_cache_dir()
    memo = VideoInfoMemo(cache if opts.remember else None)  # codecs by file (size, time)
    if do_keyframes:
        (assets / "keyframes").mkdir(parents=True, exist_ok=True)

    def entry_for(raw: str) -> dict[str, Any]:
        path = Path(raw)
        entry: dict[str, Any] = {"name": path.name}
        meta = memo.info(path)
        source, state = path, "ok"
        if meta is not None and not meta.playable and opts.previews:
            preview = preview_for(path, cache)
            if preview is None:
                state = "fallback"
            else:
                source, state = assets / "previews" / preview.name, "preview"
                _link(preview, source)
        elif meta is not None and not meta.playable:
            state = "fallback"
        if meta is not None:
            entry.update(fps=meta.fps, frames=meta.frames, codec=meta.codec)
        if state == "ok" and opts.copy_videos:
            digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
            source = assets / "videos" / f"{digest}{path.suffix}"
            _link(path, source)
        if opts.video_url_prefix and source == path:
            try:
                rel = path.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                rel = path.name
            entry["url"] = opts.video_url_prefix.rstrip("/") + "/" + quote(rel)
        else:
            entry["url"] = url(source, out_dir)
        entry["state"] = state
        if do_keyframes:
            entry["kf"] = keyframe_thumbnails(
                path, counts, strategy, assets / "keyframes", out_dir, cache
            )
        return entry

    # FFmpeg (encoding previews) and OpenCV (decoding keyframes) release the GIL: threads
    # overlap them (1.3x on 2 busy cores for the demo's previews). Missing files are listed
    # here: a pool costs ~50 us a task, seconds for a SafeSora-size run without its videos.
    entries: list[dict[str, Any]] = [
        {"name": Path(raw).name, "state": "missing", "file": raw} for raw in paths
    ]
    present = [i for i, raw in enumerate(paths) if Path(raw).is_file()]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for i, entry in zip(present, pool.map(entry_for, [paths[i] for i in present]), strict=True):
            entries[i] = entry
    memo.save()
    return entries, notes


def figures_data(run_dir: Path) -> list[dict[str, str]]:
    """The run's SVG figures as data URLs (an ``<img>`` never runs an SVG's scripts)."""
    return [
        {
            "name": svg.stem,
            "src": "data:image/svg+xml;base64," + base64.b64encode(svg.read_bytes()).decode(),
        }
        for svg in sorted((run_dir / "figures").glob("*.svg"))
    ]


def _csp(script: str, style: str, prefix: str | None) -> str:
    """The page's Content-Security-Policy: its own script and style only, no network."""

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    media = "'self' file: blob:"
    if prefix:
        parts = urlsplit(prefix)
        if parts.scheme and parts.netloc:
            media += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'none'; script-src {digest(script)}; style-src {digest(style)}; "
        f"img-src 'self' file: data:; media-src {media}; base-uri 'none'; form-action 'none'"
    )


def render_page(
    data: dict[str, Any],
    target: Path,
    prefix: str | None = None,
    data_pieces: Iterable[str] | None = None,
) -> Path:
    """Put ``data`` into the page template and write it to ``target``.

    ``data_pieces``: ``data`` already encoded, in pieces that join to what
    :func:`json_for_script` makes of it (:func:`judges.report.page_reuse.data_pieces`);
    ``data`` then only gives the title's run id.
    """
    assets = files("judges.report") / "html"
    script = (assets / "report.js").read_text()
    style = (assets / "report.css").read_text()
    page = (assets / "report.html").read_text()
    title = f"t2v-judges report: {data.get('run_id', '')}"
    html_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    values = {
        "CSP": _csp(script, style, prefix).replace('"', "&quot;"),
        "TITLE": html_title,
        "STYLE": style,
        "SCRIPT": script,
    }
    # One pass: text put in (a prompt reading "{{SCRIPT}}") is never scanned again. The data
    # (tens of megabytes at SafeSora's size) goes to the file in pieces, never joined.
    parts = re.split(r"\{\{([A-Z]+)\}\}", page)

    def write(fh: TextIO) -> None:
        for i, part in enumerate(parts):
            if i % 2 == 0:
                fh.write(part)
            elif part == "DATA":
                fh.writelines(script_pieces(data) if data_pieces is None else data_pieces)
            else:
                fh.write(values[part])

    write_aside(Path(target), write)  # data that fails to encode leaves no truncated page
    return target
