"""A cached rerun against its floor, side by side (issue #28, target 1).

The FLOOR is the least any rerun must do: a fresh process that imports polars, numpy and cv2,
reads the pairs file and every parquet file of the verdict cache. The RERUN is
``experiments/agreement.py`` in a fresh process with every verdict cached. Each size is first
run once to fill the cache (not timed), then floor and rerun alternate ``--repeat`` times; the
benchmark prints every time, min and median, and the ratio of the medians (and of the minima).

Sizes: ``demo`` (the built-in demo data, psnr's own dimension), and N pairs of a SafeSora-shaped
synthetic config (``benchmarks/scale.py``'s builder) judged by psnr on 4 dimensions at 1, 2, 4
and 8 frames. Targets: demo <= 4x its floor, 20,000 pairs and SafeSora size (51,691) <= 6x.

    uv run python benchmarks/rerun.py                          # demo and 20,000 pairs
    uv run python benchmarks/rerun.py --sizes demo,20000,51691 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from scale import build

ROOT = Path(__file__).resolve().parent.parent
AGREEMENT = ROOT / "experiments" / "agreement.py"
DIMS = "helpfulness,harmlessness,instruction_following,aesthetics"

FLOOR = """
import gzip, json, sys
from pathlib import Path
import cv2, numpy, polars as pl
data = Path(sys.argv[1]).read_bytes()
pairs = json.loads(gzip.decompress(data) if sys.argv[1].endswith(".gz") else data)
rows = sum(pl.read_parquet(p).height for p in Path(sys.argv[2]).rglob("*.parquet"))
print(len(pairs), rows)
"""


def bytecode_setting() -> str:
    """Whether Python writes bytecode, and whether the environment was compiled at install."""
    site = Path(sysconfig.get_paths()["purelib"])
    compiled = any((site / "matplotlib" / "__pycache__").glob("*.pyc")) and any(
        (site / "scipy" / "__pycache__").glob("*.pyc")
    )
    dont = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
    # The toolkit's own modules: uv compiles site-packages only, not the project's source.
    ours = any((ROOT / "judges" / "run" / "__pycache__").glob("agreement.*.pyc"))
    return (
        f"PYTHONDONTWRITEBYTECODE={dont or '(unset)'}; environment "
        f"{'compiled (.pyc present for scipy, matplotlib)' if compiled else 'NOT compiled'}; "
        f"judges/ {'compiled' if ours else 'NOT compiled (python -m compileall -q judges)'}"
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of a fresh process running ``cmd``.

    Exits with its stderr when it fails. The CPU time is steadier than the wall time on a
    loaded machine (it leaves out waiting for a core).
    """
    start, cpu = time.perf_counter(), _cpu()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return seconds, cpu


def rerun_command(size: str, data: Path | None, cache: Path, out: Path, extra: list[str]) -> list:
    """The agreement command for one size (``run_id`` is appended by the caller)."""
    cmd = [sys.executable, str(AGREEMENT), "--judge", "psnr", "--quiet", "--cache-dir", str(cache)]
    cmd += ["--out", str(out), "--overwrite", *extra]
    if data is not None:
        cmd += ["--data", str(data), "--dims", DIMS, "--frames", "1,2,4,8"]
    return cmd


def measure(size: str, root: Path, repeat: int, extra: list[str]) -> tuple[float, float]:
    """Print floor and rerun times for one size; returns the ratios of medians and of minima."""
    cache, out = root / "cache", root / "out"
    if size == "demo":
        data = None
        pairs_file = cache / "demo-v"  # completed below, once the demo exists
    else:
        data = build(root / "data", int(size), 400)
        pairs_file = data
    cmd = rerun_command(size, data, cache, out, extra)
    first, _ = timed([*cmd, "--run-id", "first"])
    if data is None:
        pairs_file = next(cache.glob("demo-v*/config-test.json"))
    print(f"\n{size}: first run (fills the cache) {first:.2f} s")
    floor_cmd = [sys.executable, "-c", FLOOR, str(pairs_file), str(cache)]
    floors, reruns = [], []
    for i in range(repeat):
        floors.append(timed(floor_cmd))
        reruns.append(timed([*cmd, "--run-id", f"rerun{i}"]))
    for label, runs in (("floor", floors), ("rerun", reruns)):
        for kind, xs in (("wall", [w for w, _ in runs]), ("cpu", [c for _, c in runs])):
            each = " ".join(f"{x:.2f}" for x in xs)
            print(
                f"  {label:<6}{kind:<5} min {min(xs):6.2f} s  median "
                f"{statistics.median(xs):6.2f} s  ({each})"
            )

    def ratio(i: int, pick) -> float:
        return pick([r[i] for r in reruns]) / pick([f[i] for f in floors])

    by_median, by_min = ratio(0, statistics.median), ratio(0, min)
    print(
        f"  rerun / floor: wall {by_median:.1f}x (medians), {by_min:.1f}x (minima); "
        f"cpu {ratio(1, statistics.median):.1f}x (medians)"
    )
    return by_median, by_min


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="demo,20000", help="demo and/or pair counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--extra", default="", help="more agreement.py arguments, space-separated (e.g. --profile)"
    )
    args = parser.parse_args()
    print(bytecode_setting())
    extra = args.extra.split()
    results = {}
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            results[size] = measure(size, Path(tmp), args.repeat, extra)
    targets = {"demo": 4.0}
    print("\nsize      rerun/floor (medians)  target")
    for size, (by_median, _) in results.items():
        target = targets.get(size, 6.0)
        verdict = "met" if by_median <= target else "NOT met"
        print(f"{size:<9} {by_median:6.1f}x               <= {target:.0f}x  {verdict}")


if __name__ == "__main__":
    main()
