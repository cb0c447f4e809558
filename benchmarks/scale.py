"""A SafeSora-sized run of a local judge: first run, cached rerun and peak memory.

Builds a SafeSora-shaped synthetic pair config (``--pairs`` distinct pairs over ``--videos``
small videos, prompts of ~3.5 pairs, so every verdict is its own cache entry), then runs
``psnr`` on every dimension at 1, 2, 4 and 8 frames (``pairs x 6 x 4`` verdicts) twice in fresh
processes: once with an empty cache, once from the cache. It prints wall time per verdict and
the peak resident memory of each run.

Issue #13's targets at full size (``--pairs 51691``, 1.24M verdicts): bookkeeping at most
30 us per verdict, cached rerun under 15 s, peak memory under 1 GB. Issue #28's: first-run
bookkeeping (CPU, first run - rerun) at most 10 us a verdict, first run and rerun at most
600 MB; with ``--vlm``, a rerun from cached replies at most 1 GB.

    uv run python benchmarks/scale.py                 # 5,000 pairs (120,000 verdicts)
    uv run python benchmarks/scale.py --pairs 51691   # full size (about 2 minutes)
    uv run python benchmarks/scale.py --pairs 51691 --reply-chars 1500   # VLM-sized replies
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from judges.cache.segment_batches import ROW_GROUP
from judges.datasets.demo import write_video

RUN = """
import json, resource, sys, time
from pathlib import Path
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement
name, options = json.loads(sys.argv[4])
start, cpu = time.perf_counter(), time.process_time()
result = run_agreement(AgreementConfig(
    judges=[JudgeRequest(name, options)], frames=[1, 2, 4, 8], dimensions="all",
    data=Path(sys.argv[1]), out=Path(sys.argv[2]), cache_dir=Path(sys.argv[3]),
    progress=False, workers=2))
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
try:  # this process's own high-water mark: ru_maxrss also counts the parent's memory at the
    # fork/exec that started it (with --vlm, the chat server's: ~750 MB after 24,000 replies)
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
j = result.judges[0]
import polars as pl  # the replies as verdicts.parquet holds them (the table keeps raw_ref)
raw = pl.scan_parquet(result.run_dir / "verdicts.parquet").select(
    pl.col("raw").str.len_bytes().mean()).collect().item() or 0
print(raw, cpu, seconds, peak, j.seconds, j.verdicts, j.cached, j.computed)
"""


def build(
    root: Path,
    n_pairs: int,
    n_videos: int,
    seed: int = 0,
    size: tuple[int, int] = (32, 24),
    n_frames: int = 12,
    name: str = "config-test.json",
) -> Path:
    """The synthetic config: videos of ``n_frames`` random frames of ``size`` (width, height).

    Every pair is a distinct ordered pair of videos, as SafeSora's pairs are distinct videos, so
    every verdict is a distinct cache entry (``n_videos * (n_videos - 1)`` must reach
    ``n_pairs``); pairs come in prompts of ~3.5, as SafeSora's 51,691 pairs over 14,711 prompts.
    """
    if n_videos * (n_videos - 1) < n_pairs:
        raise SystemExit(f"--videos {n_videos}: too few for {n_pairs} distinct pairs")
    rng = np.random.default_rng(seed)
    videos = []
    width, height = size
    for v in range(n_videos):
        rel = f"videos/v{v // 100}/v{v}.mp4"
        frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n_frames)]
        write_video(root / rel, frames)
        videos.append((f"v{v}", rel))
    ordered = rng.choice(n_videos * n_videos, size=min(n_videos**2, 2 * n_pairs), replace=False)
    firsts, seconds = np.divmod(ordered, n_videos)
    keep = firsts != seconds
    firsts, seconds = firsts[keep][:n_pairs], seconds[keep][:n_pairs]
    choices = ("video_0", "video_1")
    keys = ("instruction_following", "correctness", "information", "aesthetics")
    records = []
    for i, (first, second) in enumerate(zip(firsts.tolist(), seconds.tolist(), strict=True)):
        prompt = f"q{i * 2 // 7}"  # ~3.5 pairs per prompt
        (id0, rel0), (id1, rel1) = videos[first], videos[second]
        records.append(
            {
                "pair_id": f"pair-{i}",
                "prompt_id": prompt,
                "prompt_text": f"prompt {prompt}",
                "video_0": {"video_id": id0, "video_path": rel0},
                "video_1": {"video_id": id1, "video_path": rel1},
                "helpfulness": choices[i % 2],
                "harmlessness": choices[(i // 2) % 2],
                "sub_preferences": {k: choices[(i // 3 + j) % 2] for j, k in enumerate(keys)},
            }
        )
    config = root / name
    config.write_text(json.dumps(records))
    return config


REASONS = (
    "The first video keeps the subject in frame and its motion reads smoothly from one keyframe "
    "to the next, while the second video's camera drifts and the lighting flickers. "
)


def reply(body: dict) -> object:
    """A chat reply of a realistic length (~600 characters of reasoning), varied per request."""
    from chat_server import Reply

    digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).digest()
    words = REASONS * (3 + digest[1] % 3)
    return Reply(content=f"{words}Final answer: Video {1 + digest[0] % 2}")


def stuff_replies(cache: Path, chars: int) -> int:
    """Give every cached verdict a VLM-style reply of about ``chars`` characters in ``raw``.

    A stand-in for a VLM judge's cache at full size, which the local chat server would take
    hours to fill here: the rerun then carries 1.24M replies through its verdict table,
    ``verdicts.parquet`` and report.html as a VLM judge's rerun does. Returns the rows changed.
    """
    import polars as pl

    words = REASONS * (1 + chars // len(REASONS))
    rows = 0
    for segment in sorted(cache.glob("cache.segments/*/seg-*.parquet")):
        table = pl.read_parquet(segment)
        # Each reply differs (its verdict's identity first), as real replies do.
        who = pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("") for c in ("pair_key", "dimension", "frames")],
            separator=" ",
        )
        text = pl.concat_str([who, pl.lit(" " + words[:chars] + " Final answer: Video 1")])
        reply = pl.concat_str(
            [
                pl.lit('{"replies": [{"content": '),
                text.map_batches(lambda s: s.map_elements(json.dumps, return_dtype=pl.String)),
                pl.lit(', "usage": {"prompt_tokens": 1200, "completion_tokens": 160}}]}'),
            ]
        )
        # Row groups as the cache writes them (a row group is what a reader decodes at once).
        table.with_columns(raw=reply).write_parquet(segment, row_group_size=ROW_GROUP)
        rows += table.height
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--videos", type=int, default=400)
    parser.add_argument(
        "--vlm",
        action="store_true",
        help="judge with gpt4o against the local chat server (tests/chat_server.py), replies "
        "of ~600 characters: the memory of a VLM judge's rerun from its cached replies",
    )
    parser.add_argument(
        "--reply-chars",
        type=int,
        default=0,
        help="after the first run, give every cached verdict a reply of about this many "
        "characters in raw (stuff_replies), so the rerun measures a VLM-sized cache at full size",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        config = build(root / "data", args.pairs, args.videos)
        verdicts_expected = args.pairs * 6 * 4
        print(f"{args.pairs:,} pairs over {args.videos} videos: {verdicts_expected:,} verdicts")
        judge: list = ["psnr", {}]
        env = dict(os.environ)
        if args.vlm:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from chat_server import ChatServer

            server = stack.enter_context(ChatServer(responder=reply))
            env["SCALE_CHAT_KEY"] = "sk-local"
            judge = ["gpt4o", {"base_url": server.url, "api_key_env": "SCALE_CHAT_KEY"}]
        cpus: list[float] = []
        for label in ("first run (empty cache)", "rerun (from the cache)"):
            if label.startswith("rerun") and args.reply_chars:
                stuffed = stuff_replies(root / "cache", args.reply_chars)
                print(f"{stuffed:,} cached verdicts given replies of ~{args.reply_chars} chars")
                label = "rerun (cached replies)"
            wall = time.perf_counter()
            res = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    RUN,
                    str(config),
                    str(root / "out"),
                    str(root / "cache"),
                    json.dumps(judge),
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            if res.returncode != 0:
                sys.exit(res.stderr)
            raw, cpu, seconds, peak, judging, n, cached, computed = res.stdout.split()[-8:]
            cpus.append(float(cpu))
            per = float(seconds) / int(n) * 1e6
            # The runner's own time (cache lookup, judging, commit logs, segment): on a first
            # run of psnr, whose 1,600 memoised scores cost almost nothing, its bookkeeping.
            runner = float(judging) / int(n) * 1e6
            print(
                f"{label:<26} {float(seconds):8.1f} s  {per:7.1f} us/verdict  runner "
                f"{runner:5.1f} us/verdict  peak "
                f"{float(peak):7.0f} MB  ({cached} cached, {computed} computed; "
                f"{time.perf_counter() - wall:.1f} s with start-up; CPU {float(cpu):.1f} s)"
            )
        print(f"raw: {float(raw):.0f} bytes a verdict on average")
        # CPU seconds (every thread's) are steadier than wall time on a shared machine; what
        # the first run spends beyond the rerun is its per-verdict bookkeeping.
        extra = (cpus[0] - cpus[1]) / verdicts_expected * 1e6
        print(f"first-run bookkeeping (CPU, first run - rerun): {extra:.1f} us/verdict")


if __name__ == "__main__":
    main()
