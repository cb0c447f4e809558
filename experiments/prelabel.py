"""Pre-label pairs with a judge for Label Studio; route the uncertain ones to humans.

Examples:
    python experiments/prelabel.py --judge psnr --dimension informativeness \
        --data unlabeled/config.json --calibration SafeSora/config-test.json.gz
    python experiments/prelabel.py --judge gpt4o --judge-arg order=both --dimension aesthetics \
        --data ... --calibration ... --target-agreement 0.85 --max-cost 20
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from judges.cli import (
    EXIT_FAILED_VERDICTS,
    HelpFormatter,
    add_cache_damage_arguments,
    add_engine_arguments,
    add_judge_arguments,
    print_judges,
    run_main,
)
from judges.core.errors import ConfigError
from judges.core.types import Dimension
from judges.datasets import formats
from judges.judge.registry import judge_specs
from judges.media.frame_counts import parse_frames
from judges.report.failures import failing_judges, format_failures
from judges.run.prelabel import PrelabelConfig, run_prelabel
from judges.stats.bootstrap import DEFAULT_RESAMPLES, BootstrapConfig
from judges.stats.calibration import METHODS


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="prelabel.py",
        description=__doc__.splitlines()[0],
        formatter_class=HelpFormatter,
    )
    add_judge_arguments(parser, repeatable=False)
    add_engine_arguments(parser)
    parser.add_argument("--dimension", help="the dimension to label (required)")
    parser.add_argument("--frames", default="8", help="keyframes per video (a number or all)")
    parser.add_argument("--data", type=Path, help="pairs to label (default: the demo data)")
    parser.add_argument(
        "--video-dir", type=Path, help="videos at VIDEO_DIR/<prompt_id>/<video_id>.mp4"
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        help="pairs with human labels to choose the confidence threshold on",
    )
    parser.add_argument(
        "--calibration-video-dir", type=Path, help="--video-dir for the calibration pairs"
    )
    parser.add_argument(
        "--target-agreement",
        type=float,
        default=0.8,
        help="lower 95%% bound of agreement required among pre-labelled pairs",
    )
    parser.add_argument(
        "--seconds-per-pair",
        type=float,
        default=30.0,
        help="human time per pair, for the hours-saved estimate",
    )
    parser.add_argument(
        "--url-prefix",
        help="prefix of video URLs in the Label Studio tasks, "
        "e.g. /data/local-files/?d= (default: absolute file paths)",
    )
    parser.add_argument(
        "--calibrate",
        choices=METHODS,
        help="map a score judge's margin to a probability on the calibration set first",
    )
    parser.add_argument(
        "--min-kept",
        type=int,
        default=50,
        help="fewest calibration pairs a threshold must keep to be tested",
    )
    parser.add_argument(
        "--min-prompts",
        type=int,
        default=10,
        help="fewest calibration prompts those pairs must span",
    )
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES, metavar="B")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", type=Path, help="output folder (default results/prelabel-<time>)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="cache folder (default: $JUDGES_CACHE_DIR or ~/.cache/t2v-judges)",
    )
    add_cache_damage_arguments(parser)
    parser.add_argument(
        "--concurrency", type=int, default=8, help="API requests in flight (API judges)"
    )
    parser.add_argument(
        "--max-cost", type=float, metavar="USD", help="stop before API spend would exceed USD"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def shared_options(args: argparse.Namespace, frames: int | None) -> dict[str, Any]:
    """The options both pre-labelling passes take, from the command line."""
    return {
        "judge": args.judges[0],
        "frames": frames,
        "data": args.data,
        "video_dir": args.video_dir,
        "calibration": args.calibration,
        "calibration_video_dir": args.calibration_video_dir,
        "target_agreement": args.target_agreement,
        "url_prefix": args.url_prefix,
        "overwrite": args.overwrite,
        "cache_dir": args.cache_dir,
        "verify_cache": args.verify_cache,
        "ignore_damaged_cache": args.ignore_damaged_cache,
        "concurrency": args.concurrency,
        "max_cost": args.max_cost,
        "progress": not args.quiet,
        "min_kept": args.min_kept,
        "min_prompts": args.min_prompts,
        "stats": BootstrapConfig(resamples=args.bootstrap, seed=args.seed),
        "engine": args.engine,
        "ray_address": args.ray_address,
    }


def harm_main(args: argparse.Namespace, frames: int | None) -> int:
    """Pre-label harm tags with a harm judge (no --dimension)."""
    from judges.harm.prelabel import HarmPrelabelConfig, run_harm_prelabel

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    summary = run_harm_prelabel(
        HarmPrelabelConfig(
            **shared_options(args, frames),
            out=args.out or Path("results") / f"prelabel-harm-{stamp}",
        )
    )
    print(
        f"{summary['items']} text-video pairs: {summary['pre_labelled']} pre-tagged, "
        f"{summary['routed_to_humans']} routed to humans (item threshold {summary['threshold']})"
    )
    expected = summary.get("expected_exact_match")
    if expected:
        print(
            "expected exact match of all 12 tags on pre-tagged items: "
            f"{expected['calibration']:.3f}, 95% prediction interval "
            f"[{expected['predicted_lo']:.3f}, {expected['predicted_hi']:.3f}]; "
            f"assumes: {summary['promise']['assumes']}"
        )
    if summary.get("note"):
        print(summary["note"])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pre-labelling command; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.list_judges:
        print_judges(verbose=args.verbose)
        return 0
    if not args.judges or len(args.judges) != 1:
        raise ConfigError(
            f"give exactly one --judge (got {len(args.judges or [])}); pre-labelling uses one "
            "judge, compare several with agreement.py"
        )
    frames = parse_frames(args.frames)
    if len(frames) != 1:
        raise ConfigError("--frames takes one value here")
    spec = judge_specs().get(args.judges[0].name)
    if spec is not None and getattr(spec.judge, "task_kind", "pair") == "harm":
        return harm_main(args, frames[0])
    if args.dimension is None:
        raise ConfigError("--dimension is required, e.g. --dimension aesthetics")
    formats()  # each dataset format defines its dimensions
    try:
        dimension = Dimension.parse(args.dimension)
    except ValueError as e:
        raise ConfigError(f"--dimension: {e}") from None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    summary = run_prelabel(
        PrelabelConfig(
            **shared_options(args, frames[0]),
            dimension=dimension,
            seconds_per_pair=args.seconds_per_pair,
            out=args.out or Path("results") / f"prelabel-{stamp}",
            calibrate=args.calibrate,
        )
    )
    if summary.get("notice"):
        print(summary["notice"])
    print(
        f"{summary['pairs']} pairs: {summary['pre_labelled']} pre-labelled, "
        f"{summary['routed_to_humans']} routed to humans ({threshold_words(summary)}, "
        f"~{summary['human_hours_saved']:.2f} human hours saved)"
    )
    check = summary.get("population_check")
    if check and check["warning"]:
        print(f"warning: {check['warning']}")
    expected = summary.get("expected_agreement")
    if expected:
        print(
            f"expected agreement on this batch's pre-labelled pairs: "
            f"{expected['agreement']:.3f}, 95% prediction interval "
            f"[{expected['predicted_lo']:.3f}, {expected['predicted_hi']:.3f}]; one-sided lower "
            f"bound {expected['lower_bound']:.3f} (calibration coverage "
            f"{expected['coverage']:.2f})\n"
            f"method: {summary['promise']['method']}\nassumes: {summary['promise']['assumes']}"
        )
    if summary.get("note"):
        print(summary["note"])
    print(f"files: {args.out or 'results/prelabel-' + stamp}")
    failures = format_failures(summary["failures"])
    if failures:
        print(failures, file=sys.stderr)
    if failing_judges(summary["failures"]):
        return EXIT_FAILED_VERDICTS
    return 0


def threshold_words(summary: dict[str, Any]) -> str:
    """The threshold in words, naming its unit once: ``threshold 0.731 on the judge's ...``."""
    if summary["threshold"] is None:
        return "no threshold passed" if summary.get("calibration") else "no calibration set given"
    unit = summary.get("confidence_unit") or summary.get("confidence_kind") or "confidence"
    return f"threshold {summary['threshold']:.4g} on the judge's confidence ({unit})"


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
