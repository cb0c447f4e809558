"""Keyframe extraction on every core: videos per second at 1 and 2 workers, threads vs processes.

A run's local judges decode through one ``KeyframeSource`` from ``workers`` threads (OpenCV's
decoder and the frame maths release the GIL; a per-video lock keeps "each video decoded once").
This measures that path on fetv-dev's 48 real videos (8 keyframes each, cv2 single-threaded so
the workers are the only parallelism) against a process pool doing the same extraction, and
then a whole run's path: ``psnr`` over fetv-dev's pairs through the ``Runner`` (no cache), so
the decoding that a real run does is shown to use both cores too.

    uv run python benchmarks/decoding.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import cv2

from _clips import FETV_DEV
from judges.media.keyframes import KeyframeSource, extract_keyframes


def _extract(path: str) -> int:
    cv2.setNumThreads(1)
    return len(extract_keyframes(path, 8))


def threads(paths: list[Path], workers: int) -> float:
    """Seconds to decode every video once through a shared source, ``workers`` threads."""
    source = KeyframeSource(plan=[8])
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda p: source.get(p, 8), paths))
    assert source.decodes == len(paths)  # decode-once kept
    return time.perf_counter() - start


def processes(paths: list[Path], workers: int) -> float:
    """Seconds for the same extraction in a process pool (start-up excluded)."""
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_extract, [str(paths[0])] * workers))  # warm the workers
        start = time.perf_counter()
        list(pool.map(_extract, [str(p) for p in paths]))
        return time.perf_counter() - start


def runner(workers: int) -> tuple[float, int]:
    """Seconds for psnr over every fetv-dev pair at 8 frames through the Runner, and videos."""
    from judges.core.types import Dimension
    from judges.datasets import load_pairs
    from judges.judge.registry import get_judge
    from judges.run.task_runner import Runner, plan_tasks

    pairs = load_pairs(FETV_DEV / "config-test.json")
    tasks, _ = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [8], labeled_only=False)
    source = KeyframeSource(plan=[8])
    start = time.perf_counter()
    run = Runner(None, source, workers=workers, progress=False).run(get_judge("psnr"), tasks)
    seconds = time.perf_counter() - start
    assert run.statuses.get("error", 0) == 0
    return seconds, source.decodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    paths = sorted(Path(FETV_DEV / "videos").rglob("*.mp4"))
    if not paths:
        raise SystemExit(f"no fetv-dev videos under {FETV_DEV}")
    print(f"{len(paths)} fetv-dev videos, 8 keyframes each, best of {args.repeat}")
    for name, fn in (("threads", threads), ("processes", processes)):
        for workers in (1, 2):
            best = min(fn(paths, workers) for _ in range(args.repeat))
            print(f"{name:<10} {workers} worker(s): {len(paths) / best:7.1f} videos/s")
    for workers in (1, 2):
        best, videos = min(runner(workers) for _ in range(args.repeat))
        print(
            f"runner     {workers} worker(s): {videos / best:7.1f} videos/s (psnr, {videos} videos)"
        )


if __name__ == "__main__":
    main()
