"""The psnr judge vs SafeSora's reference procedure, on the same videos in one run.

Reference: decode every frame into a list, convert each to RGB, skimage PSNR of frame 0 vs each
later frame, sum / frame count. Ours: stream, OpenCV's exact L2SQR norm against frame 0.
Target (issue #3): >= 3x faster, same numbers.
Run: uv run python benchmarks/psnr.py
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from _clips import FETV_DEV, best_of, clip, read_all_frames
from judges.media.psnr_maths import video_psnr_score


def reference(path) -> float:
    frames = read_all_frames(path)
    first = cv2.cvtColor(frames[0], cv2.COLOR_BGR2RGB)
    total = 0.0
    for f in frames[1:]:
        with np.errstate(divide="ignore"):
            total += peak_signal_noise_ratio(first, cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return total / len(frames)


def compare(label: str, videos: list) -> None:
    ref_scores = [reference(p) for p in videos]
    our_scores = [video_psnr_score(p, safesora_compat=True) for p in videos]
    diffs = [
        abs(a - b) / abs(a) for a, b in zip(ref_scores, our_scores, strict=True) if math.isfinite(a)
    ]
    same_inf = all(
        math.isinf(a) == math.isinf(b) for a, b in zip(ref_scores, our_scores, strict=True)
    )
    ref_t = best_of(lambda: [reference(p) for p in videos], 3)
    our_t = best_of(lambda: [video_psnr_score(p, safesora_compat=True) for p in videos], 3)
    print(
        f"  {label}: reference {ref_t * 1e3:8.1f} ms  psnr judge {our_t * 1e3:8.1f} ms  "
        f"speed-up {ref_t / our_t:.2f}x  max rel diff {max(diffs):.1e}  same infs {same_inf}"
    )


def main() -> None:
    cv2.setNumThreads(1)
    print("psnr judge (safesora_compat=True, every frame) vs the reference procedure, best of 3")
    for w, h, count in [(512, 320, 16), (1280, 720, 120)]:
        path, codec = clip(w, h, count)
        compare(f"{w}x{h}x{count} [{codec}]", [path])
    if FETV_DEV.is_dir():
        videos = sorted(FETV_DEV.glob("videos/*/*.mp4"))
        compare(f"fetv-dev, {len(videos)} real clips", videos)


if __name__ == "__main__":
    main()
