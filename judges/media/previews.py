"""Browser-playable previews of videos browsers cannot play (OpenCV's ``mp4v`` clips).

Browsers play H.264, VP8/VP9 and AV1; OpenCV writes MPEG-4 Part 2 (``mp4v``), which no
browser decodes. :func:`preview_for` re-encodes such a video once as VP9 in WebM through PyAV
(whose wheel bundles FFmpeg with libvpx) and keeps it under the cache folder, named by the
SHA-256 of the source file's content, so a report rebuilt later (or for another run over the
same videos) reuses it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

__all__ = ["BROWSER_CODECS", "VideoInfo", "preview_for", "video_info"]

# FFmpeg decoder names of the codecs current Chromium, Firefox and Safari all play.
BROWSER_CODECS = frozenset({"h264", "vp8", "vp9", "av1", "libdav1d", "libvpx-vp9"})


@dataclass(frozen=True)
class VideoInfo:
    """What a report needs to know about a video file.

    Attributes:
        codec: FFmpeg's name of the video codec (``mpeg4`` is MPEG-4 Part 2, ``mp4v``).
        fps: Frames per second (average).
        frames: Frame count (the container's, or counted when it gives none).
        width: Width in pixels.
        height: Height in pixels.

    """

    codec: str
    fps: float
    frames: int
    width: int
    height: int

    @property
    def playable(self) -> bool:
        """Whether browsers play this codec as it is."""
        return self.codec in BROWSER_CODECS


def video_info(path: str | Path) -> VideoInfo | None:
    """The codec, rate, length and size of ``path``; ``None`` when it cannot be opened.

    Example:
        >>> video_info("clip.mp4").codec  # doctest: +SKIP
        'mpeg4'
    """
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate or Fraction(25)
            frames = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
            return VideoInfo(
                stream.codec_context.name, float(rate), int(frames), stream.width, stream.height
            )
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _encode_vp9(source: Path, target: Path) -> None:
    import av

    with av.open(str(source)) as inp:
        stream_in = inp.streams.video[0]
        rate = stream_in.average_rate or Fraction(25)
        with av.open(str(target), "w", format="webm") as out:
            stream = out.add_stream("libvpx-vp9", rate=rate)
            # yuv420p needs even sides; one pixel of padding is invisible in a preview.
            stream.width = stream_in.width + stream_in.width % 2
            stream.height = stream_in.height + stream_in.height % 2
            stream.pix_fmt = "yuv420p"
            # Real-time speed, no look-ahead: ~50 ms for a 512x320 demo clip on one core
            # (H.264 would be 4x faster, but not every Chromium build plays it; VP9 plays in all).
            stream.options = {
                "deadline": "realtime",
                "cpu-used": "8",
                "crf": "36",
                "b": "0",
                "lag-in-frames": "0",
                "auto-alt-ref": "0",
            }
            stream.codec_context.time_base = 1 / Fraction(rate)
            # Frames are renumbered 0, 1, 2...: one frame per 1/fps, as the source plays.
            for i, frame in enumerate(inp.decode(stream_in)):
                frame = frame.reformat(stream.width, stream.height, "yuv420p")
                frame.pts = i
                frame.time_base = stream.codec_context.time_base
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))


def preview_for(path: str | Path, cache_dir: str | Path) -> Path | None:
    """A VP9/WebM copy of ``path`` browsers can play, cached by content under ``cache_dir``.

    Returns:
        The preview's path (``cache_dir/previews/<sha256>.webm``), or ``None`` when the video
        cannot be read or encoded (the report then falls back to its keyframe strip).

    Example:
        >>> preview_for("demo/videos/p0_v0.mp4", "~/.cache/t2v-judges")  # doctest: +SKIP
        PosixPath('.../previews/3f2a....webm')
    """
    folder = Path(cache_dir).expanduser() / "previews"
    try:
        target = folder / f"{file_sha256(path)}.webm"
        if target.is_file() and target.stat().st_size > 0:
            return target  # made before: PyAV (60 ms to import) not needed
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".preview-", suffix=".webm", dir=folder)
        os.close(fd)
    except OSError:
        return None
    import av

    try:
        _encode_vp9(Path(path), Path(tmp))
        os.replace(tmp, target)  # atomic: a killed build never leaves half a preview
        return target
    except (av.error.FFmpegError, IndexError, OSError, ValueError):
        Path(tmp).unlink(missing_ok=True)
        return None
