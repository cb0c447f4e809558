"""Compare agreement runs side by side, and look at where a judge disagrees with humans.

Examples:
    python experiments/report.py results/RUN_A results/RUN_B --out results/compare
    python experiments/report.py results/RUN --disagreements gpt4o:aesthetics:4
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from judges.cli import HelpFormatter, run_main
from judges.core.errors import ConfigError
from judges.report.tables import display_table, frames_labels, to_markdown


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="report.py", description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (results/<run-id>)")
    parser.add_argument("--out", type=Path, help="output folder (default results/report-<time>)")
    parser.add_argument(
        "--allow-mixed-data",
        action="store_true",
        help="merge runs made on different data (not comparable in general)",
    )
    parser.add_argument(
        "--disagreements",
        metavar="JUDGE:DIMENSION[:FRAMES]",
        help="export the pairs where this judge and the humans differ (first run); FRAMES "
        "may be left out when the run has one frame setting",
    )
    parser.add_argument("--limit", type=int, default=50, help="pairs to export at most")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="'A@F vs B@G'",
        help="add paired comparisons (see compare.py) to the report; 'default' for each "
        "judge's frames vs its fewest and judges against each other",
    )
    parser.add_argument(
        "--rank-generators",
        action="store_true",
        help="generator rankings of people and each judge setting over the merged runs",
    )
    parser.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="FIELD",
        help="agreement by slice (generator, prompt_type or any record field); repeatable",
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="the pairs file, for --rank-generators/--by (default: the first run's data path)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report command; returns the exit code."""
    args = build_parser().parse_args(argv)
    from judges.report.agreement_figures import write_figures
    from judges.report.disagreements import export_disagreements, parse_disagreement_spec
    from judges.report.run_folder import check_writable_dir, merge_runs, read_run, run_kind
    from judges.report.tables import comparison_markdown

    if args.limit < 1:
        raise ConfigError("--limit must be >= 1")
    for run_dir in args.runs:
        read_run(run_dir)  # a missing or incomplete run folder: one line, exit 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if args.disagreements:
        judge, dimension, frames = parse_disagreement_spec(args.runs[0], args.disagreements)
        out = args.out or args.runs[0] / f"disagreements-{judge}-{dimension}"
        check_writable_dir(out, "--out")
        n = export_disagreements(args.runs[0], judge, dimension, frames, out, args.limit)
        print(f"{n} disagreement(s) written to {out}/index.md")
        return 0
    table = merge_runs(args.runs, allow_mixed_data=args.allow_mixed_data)
    out = args.out or Path("results") / f"report-{stamp}"
    check_writable_dir(out, "--out")
    if run_kind(args.runs[0]) == "harm":
        from judges.harm.report import write_harm_comparison

        print(write_harm_comparison(table, args.runs, out))
        print(f"report: {out}")
        return 0
    frames_labels(table).write_csv(out / "comparison.csv")
    (out / "comparison.md").write_text(comparison_markdown(table, args.runs))
    import polars as pl

    write_figures(out / "figures", table, pl.DataFrame())
    print(to_markdown(display_table(table)))
    if args.rank_generators or args.by:
        from judges.report.rankings import console_text, write_rankings
        from judges.run.rankings import rankings_for_runs

        above = rankings_for_runs(
            args.runs, args.rank_generators or None, args.by, args.data, args.allow_mixed_data
        )
        write_rankings(out, above, report="comparison.md")
        from judges.report.ranking_figures import write_ranking_figures

        write_ranking_figures(out / "figures", above)
        print(console_text(above))
    if args.compare:
        from judges.report.comparisons import compare_runs, write_comparisons

        comparisons = compare_runs(args.runs, args.compare, allow_mixed_data=args.allow_mixed_data)
        write_comparisons(comparisons, out)
        for line in comparisons["sentence"]:
            print(line)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
