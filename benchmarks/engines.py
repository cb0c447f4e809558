"""The local engine against Ray at 1 and 2 CPUs: videos per second, and Ray's overhead per video.

The workload is the ``psnr`` judge at 8 keyframes over pairs in which every video appears once,
so each video is decoded and scored exactly once (no cache): on fetv-dev's 48 real videos and on
synthetic 720p clips (``benchmarks/_clips.py``, H.264 when ffmpeg is present). Each engine runs
in a fresh process; Ray's start-up is timed apart and left out of videos/s. Ray's overhead per
video is (Ray at 1 CPU - local at 1 worker) / videos.

    uv run --extra distributed python benchmarks/engines.py [--clips 24] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _clips import FETV_DEV, clip

RUN = """
import json, sys, time
from judges.datasets import load_pairs
from judges.run.engines import LocalEngine, RayEngine, RayOptions
from judges.media.keyframes import KeyframeSource
from judges.judge.registry import get_judge
from judges.run.task_runner import Runner, plan_tasks
from judges.core.types import Dimension
config, engine, cpus, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pairs = load_pairs(config)
tasks = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [8], labeled_only=False)[0]
videos = len({v.path for p in pairs for v in (p.video_0, p.video_1)})
startup = 0.0
if engine == "ray":
    start = time.perf_counter()
    eng = RayEngine(RayOptions(num_cpus=cpus, chunk_size=2))
    eng.start()
    import ray
    ray.get([ray.remote(lambda: 0).remote() for _ in range(cpus)])  # workers up
    startup = time.perf_counter() - start
else:
    eng = LocalEngine()
best = float("inf")
for _ in range(repeat):
    runner = Runner(None, KeyframeSource([8]), workers=cpus, progress=False, engine=eng)
    start = time.perf_counter()
    result = runner.run(get_judge("psnr"), tasks)
    best = min(best, time.perf_counter() - start)
    assert all(v.status != "error" for v in result.verdicts), "a verdict failed"
eng.close()
print(json.dumps({"seconds": best, "videos": videos, "startup": startup}))
"""


def distinct_pairs(paths: list[Path], root: Path) -> Path:
    """A pairs config using each video exactly once (pairs of consecutive videos)."""
    records = []
    for i in range(0, len(paths) - 1, 2):
        records.append(
            {
                "pair_id": f"p{i}",
                "prompt_id": f"q{i}",
                "prompt_text": "a clip",
                "video_0": {"video_id": f"v{i}", "video_path": str(paths[i])},
                "video_1": {"video_id": f"v{i + 1}", "video_path": str(paths[i + 1])},
                "sub_preferences": {"information": "video_0"},
            }
        )
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.json"
    config.write_text(json.dumps(records))
    return config


def measure(config: Path, engine: str, cpus: int, repeat: int) -> dict[str, float]:
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    res = subprocess.run(
        [sys.executable, "-c", RUN, str(config), engine, str(cpus), str(repeat)],
        capture_output=True,
        text=True,
        env=env,
    )
    if res.returncode != 0:
        sys.exit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="synthetic 720p clips")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fetv = sorted((FETV_DEV / "videos").rglob("*.mp4"))
        synthetic = [clip(1280, 720, 48, seed=s) for s in range(args.clips)]
        sets = {
            "fetv-dev": distinct_pairs(fetv, root / "fetv"),
            f"720p x48 ({synthetic[0][1].split()[0]})": distinct_pairs(
                [p for p, _ in synthetic], root / "720p"
            ),
        }
        for label, config in sets.items():
            rows = {}
            for engine, cpus in (("local", 1), ("local", 2), ("ray", 1), ("ray", 2)):
                rows[(engine, cpus)] = r = measure(config, engine, cpus, args.repeat)
                startup = r["startup"]
                extra = f"  (Ray start-up {startup:.1f} s, not counted)" if startup else ""
                print(
                    f"{label:<32} {engine:<5} {cpus} CPU: {r['videos'] / r['seconds']:6.1f} "
                    f"videos/s{extra}"
                )
            local, ray = rows[("local", 1)], rows[("ray", 1)]
            overhead = (ray["seconds"] - local["seconds"]) / local["videos"] * 1000
            print(f"{label:<32} Ray overhead at 1 CPU: {overhead:+.1f} ms per video")


if __name__ == "__main__":
    main()
