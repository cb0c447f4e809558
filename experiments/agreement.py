"""Agreement of automatic judges with human preference labels, across keyframe counts.

Examples:
    python experiments/agreement.py --judge psnr --frames 1,2,4,8
    python experiments/agreement.py --judge psnr --judge-arg safesora_compat=true --frames all \
        --data SafeSora/config-test.json.gz

Exit codes: 0 done; 2 a user error (one line, nothing computed); 3 stopped at --max-cost
(finished work is cached); 4 done and written, but more than half of some judge's verdicts
failed (see the failure summary); 130 interrupted.
"""

# ruff: noqa: E402 (the imports below are timed for --profile)
from __future__ import annotations

import time

IMPORTS_STARTED = time.perf_counter()

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from judges.cli import (
    EXIT_FAILED_VERDICTS,
    HelpFormatter,
    add_cache_damage_arguments,
    add_engine_arguments,
    add_figures_argument,
    add_judge_arguments,
    add_report_arguments,
    figures_wanted,
    print_judges,
    report_options,
    run_main,
)
from judges.core.stages import Stages
from judges.core.types import Dimension
from judges.datasets import format_summary, parse_dimensions, summarize
from judges.datasets.duplicates import format_duplicates
from judges.media.frame_counts import parse_frames
from judges.media.keyframes import STRATEGIES
from judges.report.failures import FAILED_SHARE_LIMIT, format_failures
from judges.report.rankings import console_text
from judges.report.tables import LOO_CAPTION, display_table, interval_note, loo_table, to_markdown
from judges.run.agreement import AgreementConfig, DryRun, RunResult, run_agreement
from judges.run.session import Session, SessionConfig
from judges.stats.bootstrap import CLUSTER_BY, DEFAULT_RESAMPLES, BootstrapConfig

IMPORTS_DONE = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="agreement.py",
        description="Measure how often automatic judges agree with human preference labels.",
        epilog="exit codes: 0 done; 2 user error; 3 --max-cost reached; 4 written, but over "
        "half of a judge's verdicts failed; 130 interrupted",
        formatter_class=HelpFormatter,
    )
    add_judge_arguments(parser)
    add_engine_arguments(parser)
    add_report_arguments(parser)
    parser.add_argument(
        "--frames",
        default="1,2,4,8",
        help="keyframes per video, comma-separated; 'all' for every frame",
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="SafeSora config (json/json.gz/jsonl) or dataset folder; "
        "default: the built-in synthetic demo data",
    )
    parser.add_argument(
        "--video-dir",
        type=Path,
        help="videos at VIDEO_DIR/<prompt_id>/<video_id>.mp4 (SafeSora layout)",
    )
    parser.add_argument(
        "--dims",
        help="dimensions, comma-separated, or 'all' (every dimension the data labels) "
        "(default: each judge's own)",
    )
    parser.add_argument(
        "--format",
        dest="data_format",
        help="dataset format (safesora, videogen-rewardbench; default: detected from --data)",
    )
    parser.add_argument(
        "--votes",
        type=Path,
        action="append",
        default=[],
        help="annotators' votes (CSV/parquet/JSONL: pair_id,dimension,annotator,choice; or a "
        "Label Studio JSON export) for the human ceiling; repeatable",
    )
    parser.add_argument(
        "--cluster",
        choices=CLUSTER_BY,
        default="prompt",
        help="bootstrap unit: prompt (pairs of a prompt together), video (pairs of the same "
        "two videos), none (pairs independent)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_RESAMPLES,
        metavar="B",
        help="bootstrap resamples (0: Wilson intervals only)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument(
        "--exclude-inconsistent",
        action="store_true",
        help="drop harmlessness labels where the safer-rated video has a harm label and the "
        "other none (the paper's annotation noise; counted in run.json either way)",
    )
    parser.add_argument(
        "--rank-generators",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="generator rankings (Bradley-Terry) of people and each judge setting, and their "
        "rank agreement; default: on when the videos name two generators or more",
    )
    parser.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="FIELD",
        help="agreement by slice: generator, prompt_type or any record field (dots for "
        "nesting, e.g. video_0.generated_from); repeatable; writes agreement_by_FIELD.csv",
    )
    parser.add_argument(
        "--control",
        action="append",
        default=[],
        dest="controls",
        metavar="NAME",
        help="also run every judge under a control (is the judge looking?): shuffled_prompt, "
        "frozen, reversed, swapped, shuffled_frames, other_video; repeatable; none (the normal "
        "run) is always included; writes controls.csv and figures/controls.png",
    )
    parser.add_argument(
        "--control-seed", type=int, default=0, help="seed of the controls' random choices"
    )
    parser.add_argument("--limit", type=int, help="use only the first N pairs")
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="drop pairs whose video files are missing (reported) instead of failing",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        help="results root; the run goes to OUT/<run-id> (default: results)",
    )
    parser.add_argument("--run-id", help="name of the run folder (default: time and judge names)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing run folder named by --run-id (otherwise refused)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="cache folder (default: $JUDGES_CACHE_DIR or ~/.cache/t2v-judges)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    add_cache_damage_arguments(parser)
    parser.add_argument(
        "--keyframes",
        choices=STRATEGIES,
        default="diff",
        help="frame selection: diff (the paper's) or uniform",
    )
    parser.add_argument(
        "--workers", type=int, help="threads for local judges (default: min(4, CPU cores))"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="API requests in flight per API judge",
    )
    parser.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="stop before API spend would exceed USD; finished work is kept",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="build every request, count calls and estimate cost; call nothing",
    )
    add_figures_argument(parser)
    parser.add_argument("--summary", action="store_true", help="print the dataset summary and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print each stage's wall time (imports, loading pairs, planning, lookup, "
        "statistics, writing, figures, report.html) to stderr at the end",
    )
    return parser


def parse_dims(text: str | None) -> list[Dimension] | str | None:
    """Parse ``--dims`` (names, comma-separated, or ``all``: every dimension the data labels)."""
    return None if text is None else parse_dimensions(text)


def print_dry_run(result: DryRun) -> None:
    """Print what a run would do and cost."""
    print(f"dry run on {result.dataset.source}: nothing was called or written")
    if result.notice:
        print(result.notice)
    for plan in result.plans:
        print(plan.describe())


def config_stats(result: RunResult) -> dict[str, object]:
    """The run's bootstrap settings as :class:`BootstrapConfig` arguments."""
    stats = result.info["statistics"]
    return {k: stats[k] for k in ("cluster", "resamples", "seed", "level")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agreement command; returns the exit code."""
    stages = Stages()
    stages.add("imports", IMPORTS_DONE - IMPORTS_STARTED)
    parser = build_parser()
    args = parser.parse_args(argv)
    figures = figures_wanted(parser, args)
    if args.list_judges:
        print_judges(verbose=args.verbose, harm=False)
        return 0
    # The options every command's session takes (the rest are the agreement run's own).
    shared = {
        "data": args.data,
        "video_dir": args.video_dir,
        "data_format": args.data_format,
        "skip_missing": args.skip_missing,
        "limit": args.limit,
        "cache_dir": args.cache_dir,
        "verify_cache": args.verify_cache,
        "ignore_damaged_cache": args.ignore_damaged_cache,
        "engine": args.engine,
        "ray_address": args.ray_address,
    }
    if args.summary:
        ds = Session(SessionConfig(**shared)).load()
        print(f"{ds.source}\n{format_summary(summarize(ds.pairs))}")
        return 0
    extra = {"workers": args.workers} if args.workers is not None else {}
    config = AgreementConfig(
        judges=args.judges or [],
        frames=parse_frames(args.frames),
        dimensions=parse_dims(args.dims),
        out=args.out,
        run_id=args.run_id,
        overwrite=args.overwrite,
        use_cache=not args.no_cache,
        strategy=args.keyframes,
        progress=not args.quiet,
        concurrency=args.concurrency,
        max_cost=args.max_cost,
        dry_run=args.dry_run,
        votes=args.votes,
        exclude_inconsistent=args.exclude_inconsistent,
        rank_generators=args.rank_generators,
        by=args.by,
        controls=args.controls,
        control_seed=args.control_seed,
        figures=figures,
        stats=BootstrapConfig(cluster=args.cluster, resamples=args.bootstrap, seed=args.seed),
        **shared,
        **extra,
        report=report_options(args),
    )
    result = run_agreement(config, stages=stages)
    if args.profile:
        print(
            f"stage times (imports: after interpreter start-up)\n{stages.format()}", file=sys.stderr
        )
    if isinstance(result, DryRun):
        print_dry_run(result)
        return 0
    print(
        f"\nAgreement with human labels ({result.dataset.source}, "
        f"{len(result.dataset.pairs)} pairs)"
    )
    if result.info["notice"]:
        print(result.info["notice"])
    print(interval_note(result.table, BootstrapConfig(**config_stats(result))))
    print(to_markdown(display_table(result.table, result.ceiling)))
    if result.ceiling is not None:
        print(
            "human (leave-one-out): each annotator against the others' majority, pooled; "
            "ceiling.csv has Krippendorff's alpha and each annotator"
        )
        like = loo_table(result.table, result.ceiling)
        if like is not None:
            print(f"\n{LOO_CAPTION}")
            print(to_markdown(like))
    for judge in result.judges:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(judge.statuses.items()))
        line = f"{judge.name}: {judge.computed} computed, {judge.cached} from cache ({statuses})"
        if judge.requests is not None:
            r = judge.requests
            by_batch = f" ({r.batch_answers} answered by batches)" if r.batch_answers else ""
            line += (
                f"; {r.paid_calls} API calls{by_batch}, {r.cached_responses} cached replies, "
                f"{r.retries} retries, spent ${r.spent_usd:.4f}"
            )
        if judge.flip_rate is not None:
            line += f", order flip rate {judge.flip_rate:.3f}"
        print(line)
    if result.above is not None:
        above = console_text(result.above)
        if above:
            print(above)
    print(f"results: {result.run_dir}")
    if (result.run_dir / "report.html").is_file():
        print(f"report: {result.run_dir / 'report.html'} (open it in a browser)")
    duplicates = format_duplicates(result.content_duplicates)
    if duplicates:
        print(duplicates, file=sys.stderr)
    failures = format_failures(result.failures)
    if failures:
        print(failures, file=sys.stderr)
    if result.failing_judges:
        print(
            f"exit {EXIT_FAILED_VERDICTS}: over {FAILED_SHARE_LIMIT:.0%} of the verdicts of "
            f"{', '.join(result.failing_judges)} failed; the numbers above are not evidence",
            file=sys.stderr,
        )
        return EXIT_FAILED_VERDICTS
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
