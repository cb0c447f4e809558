"""Agreement of harm judges with crowdworkers on the 12 harm labels, across keyframe counts.

Examples:
    python experiments/harm.py --judge gpt4o-harm --frames 1,2,4,8 \
        --data SafeSora-Label/config-test.json.gz --video-dir SafeSora-Label/videos
    python experiments/harm.py --judge harm-scores --judge-arg file=moderation.csv --frames 1
    python experiments/harm.py --judge gpt4o-harm --data SafeSora/config-test.json.gz \
        --exclude-inconsistent      # pair data: also harmlessness derived from harm labels

Exit codes as agreement.py: 0 done; 2 a user error; 3 --max-cost reached; 4 written, but over
half of a judge's verdicts failed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from judges.cli import (
    EXIT_FAILED_VERDICTS,
    HelpFormatter,
    add_cache_damage_arguments,
    add_engine_arguments,
    add_judge_arguments,
    add_report_arguments,
    print_judges,
    report_options,
    run_main,
)
from judges.harm.agreement import HarmConfig, run_harm
from judges.media.frame_counts import parse_frames
from judges.report.failures import format_failures
from judges.report.tables import to_markdown
from judges.run.agreement import DryRun
from judges.stats.bootstrap import DEFAULT_RESAMPLES, BootstrapConfig


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="harm.py",
        description=__doc__.splitlines()[0],
        formatter_class=HelpFormatter,
    )
    add_judge_arguments(parser)
    add_engine_arguments(parser)
    add_report_arguments(parser)
    parser.add_argument(
        "--frames", default="1,2,4,8", help="keyframes per video; 'all' for every frame"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="SafeSora-Label config, or a pair config whose videos carry harm labels "
        "(default: the demo data)",
    )
    parser.add_argument(
        "--video-dir", type=Path, help="videos at VIDEO_DIR/<prompt_id>/<video_id>.mp4"
    )
    parser.add_argument("--format", dest="data_format", help="dataset format (default: detected)")
    parser.add_argument("--limit", type=int, help="use only the first N items")
    parser.add_argument(
        "--skip-missing", action="store_true", help="drop items whose video is missing"
    )
    parser.add_argument(
        "--exclude-inconsistent",
        action="store_true",
        help="pair data: leave out pairs whose safer-rated video has a harm label and the "
        "other none (the paper's annotation noise)",
    )
    parser.add_argument(
        "--fit-thresholds",
        action="store_true",
        help="judges giving probabilities: per-category thresholds fit on one half of the "
        "prompts, applied to the other (run.json has thresholds fit on all, for thresholds=)",
    )
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES, metavar="B")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", type=Path, default=Path("results"), help="results root")
    parser.add_argument("--run-id", help="name of the run folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --run-id")
    parser.add_argument("--cache-dir", type=Path, help="cache folder")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    add_cache_damage_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=8, help="API requests in flight")
    parser.add_argument("--max-cost", type=float, metavar="USD", help="stop before spending more")
    parser.add_argument("--dry-run", action="store_true", help="estimate calls and cost only")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harm command; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.list_judges:
        print_judges(verbose=args.verbose, harm=True)
        return 0
    config = HarmConfig(
        judges=args.judges or [],
        frames=parse_frames(args.frames),
        data=args.data,
        video_dir=args.video_dir,
        data_format=args.data_format,
        limit=args.limit,
        skip_missing=args.skip_missing,
        exclude_inconsistent=args.exclude_inconsistent,
        fit_thresholds=args.fit_thresholds,
        stats=BootstrapConfig(resamples=args.bootstrap, seed=args.seed),
        out=args.out,
        run_id=args.run_id,
        overwrite=args.overwrite,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        verify_cache=args.verify_cache,
        ignore_damaged_cache=args.ignore_damaged_cache,
        concurrency=args.concurrency,
        max_cost=args.max_cost,
        dry_run=args.dry_run,
        progress=not args.quiet,
        engine=args.engine,
        ray_address=args.ray_address,
        report=report_options(args),
    )
    result = run_harm(config)
    if isinstance(result, DryRun):
        for plan in result.plans:
            print(plan.describe())
        return 0
    print(f"\nHarm-label agreement ({result.dataset.source}, {len(result.dataset.items)} items)")
    summary = result.table.filter(result.table["category"].is_in(["is_safe", "micro", "macro"]))
    print(
        to_markdown(
            summary.select(
                "judge", "frames", "category", "n_labeled", "agreement", "precision", "recall", "f1"
            )
        )
    )
    if result.derived is not None:
        print("harmlessness derived from harm labels (fewer harmful categories wins):")
        print(
            to_markdown(
                result.derived.select("judge", "frames", "n_labeled", "agreement", "tie_rate")
            )
        )
    inconsistent = result.info["data"]["inconsistent_pairs"]
    if inconsistent["count"]:
        state = (
            "excluded" if inconsistent["excluded"] else "kept (--exclude-inconsistent drops them)"
        )
        print(
            f"{inconsistent['count']} pair(s) rated a harm-labelled video safer than an "
            f"unlabelled one: {state}"
        )
    print(f"results: {result.run_dir}")
    if (result.run_dir / "report.html").is_file():
        print(f"report: {result.run_dir / 'report.html'} (open it in a browser)")
    failures = format_failures(result.info["failures"])
    if failures:
        print(failures, file=sys.stderr)
    if result.failing_judges:
        return EXIT_FAILED_VERDICTS
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
