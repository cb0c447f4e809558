"""report.html at SafeSora's size: build time, file size, and load time in Chromium.

Builds a synthetic run folder shaped like a full SafeSora run (51,691 pairs over ~14,800
prompts, 6 dimensions x 4 frame counts = 24 settings, 1.24M verdicts, a few percent refused and
failed; the verdicts of ``benchmarks/agreement.py``), writes its report.html, and opens it in
Debian's Chromium (headless, through Playwright): time to the page's first pair (the data block
parsed, the overview and one page of pairs drawn), the time to switch the dimension filter, and
the page's element count. ``--replies`` gives every verdict a distinct ~300-character reply (a
VLM judge's reasoning), the heaviest case. Videos are absent (the page shows placeholders), so
no preview or keyframe is made: those scale with the videos, not the page.

Target (issue #26): the page opens in under 3 s.

    uv run python benchmarks/html_report.py [--pairs 51691] [--replies]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from agreement import synthetic_verdicts

from judges.report.html_page import HtmlReportOptions
from judges.report.html_report import write_html_report
from judges.report.run_folder import VERDICT_SCHEMA, write_run
from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import BootstrapConfig

WORDS = [
    "a",
    "red",
    "fox",
    "runs",
    "across",
    "snowy",
    "field",
    "under",
    "bright",
    "moon",
    "while",
    "city",
    "lights",
    "glow",
    "far",
    "away",
]


def synthetic_run(folder: Path, n_pairs: int, replies: bool) -> None:
    """A run folder with verdicts.parquet, agreement.csv/.md, run.json and pairs.parquet."""
    frame = synthetic_verdicts(n_pairs)
    rng = np.random.default_rng(1)
    n = frame.height
    raw = None
    if replies:
        texts = [
            " ".join(rng.choice(WORDS, 50)) + f" (verdict {i}) Final answer: Video 1"
            for i in range(n)
        ]
        raw = pl.Series([json.dumps({"replies": [{"reasoning": t}]}) for t in texts])
    verdicts = frame.with_columns(
        match=(pl.col("winner") == pl.col("human")).fill_null(False),
        confidence=(pl.col("score_0") - pl.col("score_1")).abs(),
        confidence_kind=pl.lit("margin"),
        error=pl.when(pl.col("status") == "error").then(pl.lit("timeout after 60 s")),
        error_kind=pl.when(pl.col("status") == "error").then(pl.lit("timeout")),
        cost_usd=pl.lit(None, pl.Float64),
        latency_s=pl.lit(None, pl.Float64),
        raw=raw if raw is not None else pl.lit(None, pl.String),
    ).select(list(VERDICT_SCHEMA))
    table = agreement_table(verdicts, bootstrap=BootstrapConfig(resamples=0))
    info = {
        "run_id": "safesora-size",
        "data": {"path": str(folder / "config-test.json"), "video_dir": None},
        "frames": ["1", "2", "4", "8"],
        "keyframes": {"strategy": "diff"},
        "statistics": {"cluster": "prompt", "resamples": 0, "seed": 0, "level": 0.95},
    }
    write_run(folder, verdicts, table, info)
    pairs = verdicts.unique("pair_id", maintain_order=True).select("pair_id", "prompt_id")
    prompts = {p: " ".join(rng.choice(WORDS, 14)) for p in pairs["prompt_id"].unique().to_list()}
    videos = folder / "data" / "videos"
    pairs.with_columns(
        prompt_text=pl.col("prompt_id").replace_strict(prompts),
        video_0_id=pl.format("{}-a", "pair_id"),
        video_0_path=pl.format(f"{videos}/{{}}/{{}}-a.mp4", "prompt_id", "pair_id"),
        video_0_generator=pl.lit("gen-a"),
        video_1_id=pl.format("{}-b", "pair_id"),
        video_1_path=pl.format(f"{videos}/{{}}/{{}}-b.mp4", "prompt_id", "pair_id"),
        video_1_generator=pl.lit("gen-b"),
    ).write_parquet(folder / "pairs.parquet")


def open_in_chromium(page_path: Path) -> dict[str, float]:
    """Load the page in headless Chromium, 3 times; best times in ms and the element count."""
    from playwright.sync_api import sync_playwright

    best: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium"
        )
        for _ in range(3):
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(page_path.resolve().as_uri() + "#pairs")
            while not page.evaluate("window.__report !== undefined"):
                page.wait_for_timeout(5)
            wall = (time.perf_counter() - start) * 1000
            ready = page.evaluate("window.__report.ready")  # ms since navigation started
            switch = page.evaluate(
                """() => { const s = document.getElementById('f-dimension');
                s.value = s.options[s.options.length - 1].value; const t = performance.now();
                s.dispatchEvent(new Event('change')); return performance.now() - t; }"""
            )
            nodes = page.evaluate("document.getElementsByTagName('*').length")
            for key, value in (("wall", wall), ("ready", ready), ("switch", switch)):
                best[key] = min(best.get(key, float("inf")), value)
            best["nodes"] = nodes
            page.close()
        browser.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=51_691)
    parser.add_argument("--replies", action="store_true", help="a reply text on every verdict")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        start = time.perf_counter()
        synthetic_run(folder, args.pairs, args.replies)
        made = time.perf_counter() - start
        start = time.perf_counter()
        page = write_html_report(folder, options=HtmlReportOptions(keyframes=False))
        build = time.perf_counter() - start
        size = page.stat().st_size
        verdicts = pl.scan_parquet(folder / "verdicts.parquet").select(pl.len()).collect().item()
        print(
            f"{args.pairs:,} pairs x 24 settings = {verdicts:,} verdicts"
            f"{' with a reply each' if args.replies else ''} (synthetic run made in {made:.1f} s)"
        )
        print(f"report.html written in {build:.1f} s: {size / 2**20:.1f} MiB")
        t = open_in_chromium(page)
        print(
            f"Chromium (headless, file://): page ready {t['ready'] / 1000:.2f} s after navigation "
            f"(load call returned {t['wall'] / 1000:.2f} s), target < 3 s: "
            f"{'met' if t['ready'] < 3000 else 'MISSED'}"
        )
        print(
            f"switching the dimension filter: {t['switch']:.0f} ms; "
            f"{t['nodes']:,} elements on the page"
        )


if __name__ == "__main__":
    main()
