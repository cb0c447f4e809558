"""Keyframe extraction (n=8) vs a plain OpenCV decode loop, and peak memory vs video length.

Targets (issue #3): extraction <= 1.15x the decode loop; memory flat in video length.
Timing runs interleave the two loops and report the median of the paired ratios, so machine
drift and cache state affect both alike.
Run: uv run python benchmarks/keyframes.py
"""

from __future__ import annotations

import gc
import tracemalloc

import cv2

from _clips import FETV_DEV, clip, decode_only, paired_ratio, read_all_frames
from judges.media.keyframes import extract_keyframes


def peak_mib(fn) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    cv2.setNumThreads(1)  # both sides single-threaded: a fair ratio on 2 cores
    print("speed: extract_keyframes(n=8) / plain decode loop (interleaved, median ratio)")
    for w, h, count, reps in [(512, 320, 16, 41), (1280, 720, 120, 9)]:
        path, codec = clip(w, h, count)
        ratio, base, ours = paired_ratio(
            lambda p=path: extract_keyframes(p, 8), lambda p=path: decode_only(p), reps
        )
        print(
            f"  {w}x{h}x{count} [{codec}]: decode {base * 1e3:8.1f} ms  keyframes "
            f"{ours * 1e3:8.1f} ms  ratio {ratio:.3f}x"
        )
    if FETV_DEV.is_dir():
        videos = sorted(FETV_DEV.glob("videos/*/*.mp4"))
        ratio, base, ours = paired_ratio(
            lambda: [extract_keyframes(p, 8) for p in videos],
            lambda: [decode_only(p) for p in videos],
            7,
        )
        print(
            f"  fetv-dev, {len(videos)} real H.264 clips: decode {base * 1e3:8.1f} ms  "
            f"keyframes {ours * 1e3:8.1f} ms  ratio {ratio:.3f}x"
        )

    print("\npeak Python-heap memory (tracemalloc), 1280x720:")
    for count in (120, 480):
        path, codec = clip(1280, 720, count)
        ours = peak_mib(lambda p=path: extract_keyframes(p, 8))
        naive = peak_mib(lambda p=path: read_all_frames(p))
        print(
            f"  {count:4d} frames [{codec}]: extract_keyframes {ours:7.1f} MiB   "
            f"keep-every-frame {naive:8.1f} MiB"
        )
    frame = 1280 * 720 * 3 / 2**20
    print(f"  (one frame = {frame:.2f} MiB; n=8 keeps 8 frames + frame 0 + the previous frame)")


if __name__ == "__main__":
    main()
