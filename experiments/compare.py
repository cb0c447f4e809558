"""Paired comparisons of judges or frame counts on the pairs both judged.

Examples:
    python experiments/compare.py results/RUN --compare "gpt4o@8 vs gpt4o@1"
    python experiments/compare.py results/RUN_A results/RUN_B --dims aesthetics
    python experiments/compare.py results/RUN            # each judge's frames vs its fewest,
                                                         # and judges against each other

Each comparison reads: difference in agreement (A - B) with a paired clustered 95% interval
(MOVER over the two settings' clustered intervals; none below 5 clusters), McNemar's exact
p-value on the discordant pairs, and the Holm-corrected p-value over every comparison in the
command. Writes comparisons.csv, comparisons.md and forest.png/.svg.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from judges.cli import HelpFormatter, run_main
from judges.report.comparisons import compare_runs, write_comparisons
from judges.report.output_folder import claim_output, staged
from judges.stats.bootstrap import CLUSTER_BY, DEFAULT_RESAMPLES, BootstrapConfig


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="compare.py",
        description=__doc__.splitlines()[0],
        formatter_class=HelpFormatter,
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (results/<run-id>)")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="'A@F vs B@G'",
        help="a comparison, e.g. 'gpt4o@8 vs gpt4o@1' (repeatable; default: each judge's "
        "frame counts vs its fewest, and each pair of judges at shared frame counts)",
    )
    parser.add_argument("--dims", help="dimensions, comma-separated (default: every one judged)")
    parser.add_argument("--cluster", choices=CLUSTER_BY, default="prompt", help="bootstrap unit")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES, metavar="B")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", type=Path, help="output folder (default results/compare-<time>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.add_argument(
        "--allow-mixed-data",
        action="store_true",
        help="compare runs made on different data (on the pairs they share)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the compare command; returns the exit code."""
    args = build_parser().parse_args(argv)
    config = BootstrapConfig(cluster=args.cluster, resamples=args.bootstrap, seed=args.seed)
    dims = [d for d in (args.dims or "").split(",") if d.strip()] or None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    # Claimed before the work: an existing --out is refused at once, and two commands started
    # in the same second each keep their own default folder.
    folder = claim_output(args.out, Path("results") / f"compare-{stamp}", args.overwrite)
    table = compare_runs(args.runs, args.compare, dims, config, args.allow_mixed_data)
    with staged(folder) as out:
        write_comparisons(table, out)
    for line in table["sentence"]:
        print(line)
    print(f"comparisons: {folder.path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
