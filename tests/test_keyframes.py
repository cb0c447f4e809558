from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import FETV_DEV, solid, write_broken_videos, write_video
from judges.core.errors import VideoError
from judges.media.keyframes import (
    KeyframeSource,
    extract_keyframes,
    frame_diffs,
    select_top_n,
    uniform_frames,
    uniform_indices,
)
from judges.media.video import count_frames, iter_frames


def levels_video(tmp_path, levels, name="v.avi"):
    """A video whose frame t is a solid grey of levels[t]: diffs are |levels[t]-levels[t-1]|."""
    return write_video(tmp_path / name, [solid(v) for v in levels])


def test_cuts_are_found_exactly(tmp_path):
    # Cuts (big jumps) at 3 and 7, a smaller jump at 5, static stretches elsewhere.
    path = levels_video(tmp_path, [10, 10, 10, 200, 200, 170, 170, 20, 20, 20])
    kf = extract_keyframes(path, 2)
    assert kf.indices == (3, 7)
    assert kf.scores == (190.0, 150.0)
    assert kf.frame_count == 10
    kf3 = extract_keyframes(path, 3)
    assert kf3.indices == (3, 5, 7)


def test_ties_go_to_the_earlier_frame(tmp_path):
    # Equal jumps of 50 at frames 1, 2, 3 and 4.
    path = levels_video(tmp_path, [0, 50, 100, 150, 200])
    assert extract_keyframes(path, 1).indices == (1,)
    assert extract_keyframes(path, 3).indices == (1, 2, 3)


def test_frames_in_time_order_and_rgb(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    path = write_video(tmp_path / "c.avi", [solid(c) for c in colours])
    kf = extract_keyframes(path, 2)
    assert list(kf.indices) == sorted(kf.indices)
    for idx, frame in zip(kf.indices, kf.frames, strict=True):
        assert frame.dtype == np.uint8 and frame.shape == (24, 32, 3)
        assert tuple(frame[0, 0]) == colours[idx]  # RGB, not OpenCV's BGR
    assert tuple(kf.first_frame[0, 0]) == (255, 0, 0)


def test_n_at_least_frame_count_returns_every_frame(tmp_path):
    path = levels_video(tmp_path, [0, 30, 60, 90])
    for n in (4, 5, 100):
        kf = extract_keyframes(path, n)
        assert kf.indices == (0, 1, 2, 3)
        assert np.isnan(kf.scores[0])
        assert [int(f[0, 0, 0]) for f in kf.frames] == [0, 30, 60, 90]


def test_one_frame_video(tmp_path):
    path = levels_video(tmp_path, [77])
    kf = extract_keyframes(path, 8)
    assert kf.indices == (0,)
    assert kf.frame_count == 1
    assert int(kf.frames[0][0, 0, 0]) == 77


def test_n_one_less_than_length_keeps_all_but_frame_zero(tmp_path):
    path = levels_video(tmp_path, [0, 5, 1, 9])
    assert extract_keyframes(path, 3).indices == (1, 2, 3)


def test_matches_pure_reference_on_random_video(tmp_path):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (20, 28, 3), dtype=np.uint8) for _ in range(17)]
    path = write_video(tmp_path / "r.avi", frames)
    diffs = frame_diffs(frames)
    for n in (1, 2, 4, 8, 16, 17):
        kf = extract_keyframes(path, n)
        assert list(kf.indices) == select_top_n(diffs, n)
        for idx, f in zip(kf.indices, kf.frames, strict=True):
            np.testing.assert_array_equal(f, frames[idx])
        scored = [s for s in kf.scores if not np.isnan(s)]
        np.testing.assert_allclose(scored, [diffs[i] for i in kf.indices if i != 0], rtol=1e-12)


def test_pure_helpers():
    assert np.isnan(frame_diffs([solid(0), solid(4)])[0])
    assert frame_diffs([solid(0), solid(4), solid(4)])[1:].tolist() == [4.0, 0.0]
    assert select_top_n([np.nan, 3.0, 5.0, 3.0, 1.0], 2) == [1, 2]
    assert select_top_n([np.nan, 1.0], 5) == [0, 1]
    assert uniform_indices(16, 4) == [0, 5, 10, 15]
    assert uniform_indices(3, 8) == [0, 1, 2]
    with pytest.raises(ValueError):
        select_top_n([1.0], 0)


def test_errors_name_the_path(tmp_path):
    with pytest.raises(VideoError, match=r"missing\.mp4: file not found"):
        extract_keyframes(tmp_path / "missing.mp4", 2)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match=r"corrupt\.mp4"):
        extract_keyframes(corrupt, 2)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4"):
        extract_keyframes(empty, 2)
    with pytest.raises(ValueError, match="n must be >= 1"):
        extract_keyframes(corrupt, 0)


def test_broken_files_are_errors_with_a_reason_and_no_ffmpeg_noise(tmp_path, capfd):
    broken = write_broken_videos(tmp_path)
    for reason, path in broken.items():
        for read in (
            lambda p: extract_keyframes(p, 2),
            lambda p: uniform_frames(p, 2),
            lambda p: list(iter_frames(p)),
        ):
            with pytest.raises(VideoError) as info:
                read(path)
            assert info.value.kind == reason, (path, str(info.value))
            assert str(path) in str(info.value)
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    assert _error(folder).kind == "not_a_video" and "is a folder" in str(_error(folder))
    messages = {r: str(_error(p)) for r, p in broken.items()}
    assert "the file is a PNG image" in messages["not_a_video"]
    assert "empty file (0 bytes)" in messages["empty_file"]
    assert "decoded 2 of the 12 frames" in messages["truncated"]
    # FFmpeg's own log lines ("moov atom not found", CRC errors) never reach the console.
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def _error(path):
    with pytest.raises(VideoError) as info:
        extract_keyframes(path, 2)
    return info.value


def test_complete_video_passes_the_completeness_check(tmp_path):
    frames = [solid(v) for v in range(0, 240, 20)]
    for name in ("a.avi", "b.mkv"):
        path = write_video(tmp_path / name, frames)
        assert extract_keyframes(path, 3).frame_count == len(frames)
        assert count_frames(path) == len(frames)


def test_uniform_frames(tmp_path):
    path = levels_video(tmp_path, list(range(0, 160, 10)))
    kf = uniform_frames(path, 4)
    assert kf.indices == (0, 5, 10, 15)
    assert [int(f[0, 0, 0]) for f in kf.frames] == [0, 50, 100, 150]
    assert count_frames(path) == 16
    assert uniform_frames(path, 50).indices == tuple(range(16))


def test_top_subsets_match_direct_extraction(tmp_path):
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(12)]
    frames[6] = frames[5].copy()  # a zero-difference frame
    path = write_video(tmp_path / "t.avi", frames)
    big = extract_keyframes(path, 8)
    everything = extract_keyframes(path, 100)
    for n in (1, 2, 4, 8):
        assert big.top(n).indices == extract_keyframes(path, n).indices
        assert everything.top(n).indices == extract_keyframes(path, n).indices
    assert everything.top(12).indices == tuple(range(12))
    with pytest.raises(ValueError):
        big.top(12)  # needs frames that were never kept


def test_source_decodes_each_video_once_per_run(tmp_path):
    path = levels_video(tmp_path, [0, 9, 3, 40, 41, 100, 2, 2, 50])
    source = KeyframeSource(plan=[1, 2, 4, 8])
    got = {n: source.get(path, n).indices for n in (1, 2, 4, 8, 2, 1)}
    assert source.decodes == 1
    for n, indices in got.items():
        assert indices == extract_keyframes(path, n).indices
    uniform = KeyframeSource(plan=[1, 4], strategy="uniform")
    assert uniform.get(path, 4).indices == uniform_frames(path, 4).indices
    assert uniform.get(path, 1).indices == (0,)


def test_source_lru_is_bounded(tmp_path):
    paths = [levels_video(tmp_path, [i, i + 10, i + 3], name=f"{i}.avi") for i in range(5)]
    source = KeyframeSource(plan=[1], max_videos=2)
    for p in paths:
        source.get(p, 1)
    assert len(source._cache) == 2
    source.get(paths[0], 1)
    assert source.decodes == 6


def test_iter_frames_bgr_and_count(tmp_path):
    path = write_video(tmp_path / "c.avi", [solid((255, 0, 0)), solid((0, 0, 255))])
    frames = list(iter_frames(path))
    assert len(frames) == 2
    assert tuple(frames[0][0, 0]) == (0, 0, 255)  # BGR as decoded


@pytest.mark.fetv_dev
def test_real_videos_match_reference_selection():
    videos = sorted(FETV_DEV.glob("videos/*/*.mp4"))[:6]
    assert videos
    for path in videos:
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        diffs = frame_diffs(frames)
        for n in (1, 2, 4, 8):
            kf = extract_keyframes(path, n)
            assert list(kf.indices) == select_top_n(diffs, n), path
            np.testing.assert_array_equal(
                kf.frames[0], cv2.cvtColor(frames[kf.indices[0]], cv2.COLOR_BGR2RGB)
            )
