"""Browser-playable previews: codec detection and VP9/WebM copies of mp4v clips, by content."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest

from judges.datasets.demo import write_video as write_mp4v
from judges.media.previews import preview_for, video_info

GREYS = (30, 90, 150, 210, 120, 60)


def _mp4v(path, h=64, w=96, fps=8.0):
    frames = [np.full((h, w, 3), g, np.uint8) for g in GREYS]
    write_mp4v(path, frames, fps)  # BGR; grey is grey
    return path


def _decoded_means(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").mean() for f in c.decode(video=0)]


def test_video_info_names_the_codec_and_playability(tmp_path):
    info = video_info(_mp4v(tmp_path / "a.mp4"))
    assert (info.codec, info.fps, info.frames, info.width, info.height) == ("mpeg4", 8.0, 6, 96, 64)
    assert not info.playable
    h264 = tmp_path / "h.mp4"
    with av.open(str(h264), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for g in (10, 200):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), g, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert video_info(h264).codec == "h264" and video_info(h264).playable
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    assert video_info(tmp_path / "broken.mp4") is None
    assert video_info(tmp_path / "absent.mp4") is None


def test_preview_is_vp9_with_the_same_frames_timing_and_pixels(tmp_path):
    source = _mp4v(tmp_path / "a.mp4")
    preview = preview_for(source, tmp_path / "cache")
    assert preview.parent == tmp_path / "cache" / "previews" and preview.suffix == ".webm"
    info = video_info(preview)
    assert (info.codec, info.fps, info.frames) == ("vp9", 8.0, 6)
    with av.open(str(preview)) as c:
        stream = c.streams.video[0]
        times = [float(f.pts * f.time_base) for f in c.decode(stream)]
    assert times == pytest.approx([i / 8 for i in range(6)])  # one frame every 1/fps, from 0
    # grey levels survive both lossy codecs to within a few levels
    assert _decoded_means(preview) == pytest.approx(_decoded_means(source), abs=4)
    assert _decoded_means(preview) == pytest.approx(GREYS, abs=6)


def test_preview_is_cached_by_content(tmp_path):
    cache = tmp_path / "cache"
    first = preview_for(_mp4v(tmp_path / "a.mp4"), cache)
    stamp = first.stat().st_mtime_ns
    copy = tmp_path / "elsewhere" / "b.mp4"
    copy.parent.mkdir()
    shutil.copyfile(tmp_path / "a.mp4", copy)
    assert preview_for(copy, cache) == first and first.stat().st_mtime_ns == stamp
    other = preview_for(_mp4v(tmp_path / "c.mp4", fps=4.0), cache)
    assert other != first and video_info(other).fps == 4.0


def test_odd_sizes_are_padded_and_unreadable_files_give_none(tmp_path):
    # FFV1 (lossless, any size; no browser plays it either) at an odd size
    odd = tmp_path / "odd.mkv"
    with av.open(str(odd), "w") as out:
        stream = out.add_stream("ffv1", rate=8)
        stream.width, stream.height, stream.pix_fmt = 33, 25, "yuv444p"
        for g in GREYS:
            frame = av.VideoFrame.from_ndarray(np.full((25, 33, 3), g, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    meta = video_info(odd)
    assert (meta.codec, meta.width, meta.height, meta.playable) == ("ffv1", 33, 25, False)
    preview = preview_for(odd, tmp_path / "cache")
    info = video_info(preview)
    assert (info.width, info.height, info.frames) == (34, 26, 6)
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    assert preview_for(tmp_path / "broken.mp4", tmp_path / "cache") is None
    assert preview_for(tmp_path / "absent.mp4", tmp_path / "cache") is None
    leftovers = [p.name for p in (tmp_path / "cache" / "previews").iterdir()]
    assert leftovers == [preview.name]  # no half-written preview stays


def test_video_info_is_remembered_per_file_until_the_file_changes(tmp_path, monkeypatch):
    import judges.report.video_info_memo as memo_module
    from judges.report.video_info_memo import VideoInfoMemo

    clip, broken = _mp4v(tmp_path / "a.mp4"), tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    first = VideoInfoMemo(tmp_path / "cache")
    assert first.info(clip) == video_info(clip) and first.info(broken) is None
    first.save()
    opened = []

    def counted(path):
        opened.append(path)
        return video_info(path)

    monkeypatch.setattr(memo_module, "video_info", counted)
    again = VideoInfoMemo(tmp_path / "cache")  # another run: nothing opened
    assert again.info(clip) == video_info(clip) and again.info(broken) is None
    assert opened == []
    _mp4v(clip, h=32, w=48, fps=4.0)  # rewritten: another size, opened again
    assert again.info(clip) == video_info(clip) and again.info(clip).fps == 4.0
    assert opened == [clip]
    (tmp_path / "cache" / "video_info.json").write_text("{garbage")
    assert VideoInfoMemo(tmp_path / "cache").info(clip).width == 48  # unreadable: reopened
    assert VideoInfoMemo(None).info(clip).width == 48
