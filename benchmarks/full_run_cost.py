"""What a full SafeSora run of a VLM judge costs: the dry run at SafeSora's sizes.

Builds SafeSora-shaped synthetic configs with the real pair counts (test 5,228, train 46,463)
over a few hundred distinct videos at a T2V size (default 512x320, 16 frames: VideoCrafter2's
shape), then runs ``agreement.py --dry-run`` for a VLM judge on every dimension at 1, 2, 4 and 8
frames. The dry run builds every request exactly as a run would (keyframes, JPEG, base64) and
prices it by OpenAI's tile rule; it prints requests, tokens, online and batch cost and an online
wall-time estimate. The README's worked example comes from this script.

    uv run python benchmarks/full_run_cost.py --split test
    uv run python benchmarks/full_run_cost.py --split train --judge-arg prompt=cot
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scale import build

PAIRS = {"test": 5228, "train": 46463}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(PAIRS), default="test")
    parser.add_argument("--judge", default="gpt4o")
    parser.add_argument("--judge-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--videos", type=int, default=400)
    parser.add_argument("--size", default="512x320", help="video width x height")
    parser.add_argument("--frames-per-video", type=int, default=16)
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = build(
            root / "data",
            PAIRS[args.split],
            args.videos,
            size=(width, height),
            n_frames=args.frames_per_video,
            name=f"config-{args.split}.json",
        )
        command = [
            sys.executable,
            str(Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"),
            "--judge",
            args.judge,
            *[x for a in args.judge_arg for x in ("--judge-arg", a)],
            "--dims",
            "all",
            "--frames",
            "1,2,4,8",
            "--data",
            str(config),
            "--cache-dir",
            str(root / "cache"),
            "--dry-run",
            "--quiet",
        ]
        print(
            f"{args.split}: {PAIRS[args.split]:,} pairs x 6 dimensions x 4 frame counts, "
            f"{args.videos} distinct {width}x{height} videos of {args.frames_per_video} frames"
        )
        start = time.perf_counter()
        res = subprocess.run(command, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(res.stderr)
        print(res.stdout.strip().splitlines()[-1])
        print(f"dry run took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
