from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from conftest import FETV_DEV, solid, write_video
from judges.builtin.psnr import PsnrConfig, PsnrJudge
from judges.core.errors import UndefinedScoreError
from judges.core.types import Dimension, Pair, Video
from judges.judge.base import Task
from judges.judge.registry import get_judge
from judges.media.keyframes import extract_keyframes
from judges.media.psnr_maths import (
    capped_psnr,
    mean_psnr_to_first,
    psnr,
    psnr_cap,
    safesora_psnr,
    video_psnr_score,
)
from judges.media.video import iter_frames


def random_frames(n, seed=0, shape=(24, 32, 3)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def test_psnr_equals_skimage():
    frames = random_frames(6, seed=1)
    for a, b in itertools.pairwise(frames):
        assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b), rel=1e-13)
    a = solid(10)
    b = a.copy()
    b[3, 4, 1] = 11
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b), rel=1e-13)
    assert psnr(a, a) == math.inf


def test_cap_ranks_identical_above_any_finite_value():
    a = solid(10)
    b = a.copy()
    b[0, 0, 0] = 11  # the smallest possible difference
    assert capped_psnr(a, a) == psnr_cap(a.size)
    assert capped_psnr(a, a) > psnr(a, b)
    assert math.isfinite(capped_psnr(a, a))


def reference_safesora(frames_rgb):
    """SafeSora's reference procedure, written out: every frame, skimage, sum / frame count."""
    total = 0.0
    for f in frames_rgb[1:]:
        with np.errstate(divide="ignore"):
            total += peak_signal_noise_ratio(frames_rgb[0], f)
    return total / len(frames_rgb)


def test_safesora_compat_matches_reference_arithmetic(tmp_path):
    frames = random_frames(9, seed=2)
    path = write_video(tmp_path / "v.avi", frames)
    assert video_psnr_score(path, safesora_compat=True) == pytest.approx(
        reference_safesora(frames), rel=1e-12
    )
    # An identical frame makes the reference infinite; compat mode reproduces that.
    frames[4] = frames[0].copy()
    path = write_video(tmp_path / "w.avi", frames)
    assert video_psnr_score(path, safesora_compat=True) == math.inf
    assert math.isfinite(video_psnr_score(path))


def test_default_score_is_mean_over_later_frames(tmp_path):
    frames = random_frames(7, seed=4)
    path = write_video(tmp_path / "v.avi", frames)
    expected = np.mean([peak_signal_noise_ratio(frames[0], f) for f in frames[1:]])
    assert video_psnr_score(path) == pytest.approx(expected, rel=1e-12)


def test_keyframe_scores(tmp_path):
    frames = random_frames(10, seed=5)
    path = write_video(tmp_path / "v.avi", frames)
    kf = extract_keyframes(path, 3)
    later = [frames[i] for i in kf.indices]
    expected = np.mean([peak_signal_noise_ratio(frames[0], f) for f in later])
    assert mean_psnr_to_first(kf.first_frame, kf.frames) == pytest.approx(expected, rel=1e-12)
    assert safesora_psnr(kf.first_frame, kf.frames) == pytest.approx(
        sum(peak_signal_noise_ratio(frames[0], f) for f in later) / 4, rel=1e-12
    )
    # No frame after frame 0: undefined, never the size-dependent cap (issue: artefact verdicts).
    for score in (mean_psnr_to_first, safesora_psnr):
        with pytest.raises(ValueError, match="no frame after frame 0"):
            score(frames[0], [])


def test_one_frame_video_is_an_error_verdict_not_ok(tmp_path):
    one = write_video(tmp_path / "one.avi", [solid(10)])
    two = write_video(tmp_path / "two.avi", [solid(10), solid(90)])
    pair = Pair(
        "pair",
        "p",
        "prompt",
        Video("a", one, "prompt", "prompt"),
        Video("b", two, "prompt", "prompt"),
        {Dimension.INFORMATIVENESS: "video_1"},
    )
    for compat in (False, True):
        judge = get_judge("psnr", safesora_compat=compat)
        for n in (1, 4, None):
            v = judge.safe_compare(Task(pair, Dimension.INFORMATIVENESS, n))
            assert v.status == "error" and v.winner is None, (compat, n)
            assert v.raw["error_kind"] == "undefined_score"
            assert str(one) in v.error and "no frame after frame 0" in v.error
    with pytest.raises(UndefinedScoreError, match="1 frame"):
        video_psnr_score(one)


def test_uniform_one_frame_is_undefined_for_every_pair():
    judge = get_judge("psnr")
    reason = judge.undefined_reason("uniform", 1)
    assert reason is not None and "frame 0 alone" in reason
    for strategy, n in (("uniform", 2), ("uniform", None), ("diff", 1), ("diff", None)):
        assert judge.undefined_reason(strategy, n) is None


def make_pair(tmp_path, frames_0, frames_1):
    p0 = write_video(tmp_path / "a.avi", frames_0)
    p1 = write_video(tmp_path / "b.avi", frames_1)
    v0 = Video("a", p0, "prompt", "prompt")
    v1 = Video("b", p1, "prompt", "prompt")
    return Pair("pair", "p", "prompt", v0, v1, {Dimension.INFORMATIVENESS: "video_1"})


def test_judge_lower_psnr_wins(tmp_path):
    still = [solid(100)] * 3 + [solid(102)] * 3
    moving = [solid(100), solid(160), solid(20), solid(220), solid(0), solid(255)]
    pair = make_pair(tmp_path, still, moving)
    judge = get_judge("psnr")
    assert judge.default_dimensions == (Dimension.INFORMATIVENESS,)
    for n in (1, 2, 4, None):
        v = judge.compare(pair, Dimension.INFORMATIVENESS, n)
        assert v.status == "ok"
        assert v.winner == "video_1"
        assert v.score_1 < v.score_0
        assert v.confidence == pytest.approx(v.score_0 - v.score_1)
        expected_0 = (
            video_psnr_score(pair.video_0.path)
            if n is None
            else mean_psnr_to_first(*_kf(pair.video_0.path, n))
        )
        assert v.score_0 == pytest.approx(expected_0)


def _kf(path, n):
    kf = extract_keyframes(path, n)
    return kf.first_frame, [f for i, f in zip(kf.indices, kf.frames, strict=True) if i]


def test_judge_tie_tolerance(tmp_path):
    a = [solid(100), solid(110)]
    b = [solid(50), solid(60)]  # same difference: same PSNR
    pair = make_pair(tmp_path, a, b)
    v = get_judge("psnr").compare(pair, Dimension.INFORMATIVENESS, 1)
    assert v.status == "tie" and v.winner == "tie"
    c = [solid(50), solid(61)]
    pair = make_pair(tmp_path, a, c)
    assert get_judge("psnr").compare(pair, Dimension.INFORMATIVENESS, 1).winner == "video_1"
    loose = get_judge("psnr", tie_tolerance="5")
    assert loose.compare(pair, Dimension.INFORMATIVENESS, 1).winner == "tie"


def test_judge_compat_infinite_scores(tmp_path):
    a = [solid(100), solid(100), solid(140)]  # identical frame -> +inf in compat mode
    b = [solid(100), solid(130), solid(140)]
    pair = make_pair(tmp_path, a, b)
    v = PsnrJudge(PsnrConfig(safesora_compat=True)).compare(pair, Dimension.INFORMATIVENESS, None)
    assert v.score_0 == math.inf and v.winner == "video_1"
    both = make_pair(tmp_path, a, a)
    v = PsnrJudge(PsnrConfig(safesora_compat=True)).compare(both, Dimension.INFORMATIVENESS, None)
    assert v.winner == "tie"


def test_unreadable_video_becomes_error_verdict(tmp_path):
    from judges.judge.base import Task

    pair = make_pair(tmp_path, [solid(1), solid(2)], [solid(1), solid(9)])
    pair.video_1.path.write_bytes(b"garbage")
    judge = get_judge("psnr")
    v = judge.safe_compare(Task(pair, Dimension.INFORMATIVENESS, 2))
    assert v.status == "error" and v.winner is None
    assert "b.avi" in v.error


@pytest.mark.fetv_dev
def test_real_video_compat_matches_skimage_reference():
    import cv2

    path = sorted(FETV_DEV.glob("videos/*/*.mp4"))[0]
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in iter_frames(path)]
    assert video_psnr_score(path, safesora_compat=True) == pytest.approx(
        reference_safesora(frames), rel=1e-12
    )
