"""Compare agreement runs side by side, and look at where a judge disagrees with humans.

Examples:
    python experiments/report.py results/RUN_A results/RUN_B --out results/compare
    python experiments/report.py results/RUN --disagreements gpt4o:aesthetics:4
    python experiments/report.py --html results/RUN     # (re)build RUN/report.html
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from judges.cli import (
    HelpFormatter,
    add_figures_argument,
    add_report_arguments,
    figures_wanted,
    report_options,
    run_main,
)
from judges.core.errors import ConfigError
from judges.report.tables import display_table, frames_labels, to_markdown


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="report.py",
        description=__doc__.splitlines()[0],
        formatter_class=HelpFormatter,
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (results/<run-id>)")
    parser.add_argument("--out", type=Path, help="output folder (default results/report-<time>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
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
    parser.add_argument(
        "--html",
        action="store_true",
        help="(re)build report.html in each run folder (preference or harm run; into --out "
        "when one run is given) from the folder's own files, and nothing else",
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
    add_report_arguments(parser)
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
    add_figures_argument(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    draw = figures_wanted(parser, args)
    from judges.report.disagreements import export_disagreements, parse_disagreement_spec
    from judges.report.merging import merge_runs
    from judges.report.output_folder import claim_output, staged
    from judges.report.run_folder import read_run

    if args.limit < 1:
        raise ConfigError("--limit must be >= 1")
    for run_dir in args.runs:
        read_run(run_dir)  # a missing or incomplete run folder: one line, exit 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    options = report_options(args)
    if args.html:
        from judges.report.html_report import write_html_report

        if args.out is not None and len(args.runs) > 1:
            raise ConfigError("--html with --out takes one run folder (each run gets its own page)")
        for run_dir in args.runs:
            print(f"report: {write_html_report(run_dir, args.out, options)}")
        return 0
    if args.disagreements:
        judge, dimension, frames = parse_disagreement_spec(args.runs[0], args.disagreements)
        default = args.runs[0] / f"disagreements-{judge}-{dimension}"
        folder = claim_output(args.out, default, args.overwrite)
        with staged(folder) as out:
            n = export_disagreements(args.runs[0], judge, dimension, frames, out, args.limit)
        print(f"{n} disagreement(s) written to {folder.path}/index.md")
        return 0
    # Claimed before the work: an existing --out is refused at once, and two commands started
    # in the same second each keep their own default folder.
    folder = claim_output(args.out, Path("results") / f"report-{stamp}", args.overwrite)
    table = merge_runs(args.runs, allow_mixed_data=args.allow_mixed_data)
    with staged(folder) as out:
        lines = write_report(args, table, out, options, draw)
    for line in lines:
        print(line.replace(str(folder.staging), str(folder.path)))
    print(f"report: {folder.path}")
    return 0


def write_report(
    args: argparse.Namespace, table: Any, out: Path, options: Any, draw: bool = True
) -> list[str]:
    """Write the merged report's files into ``out`` (figures when ``draw``); returns the lines."""
    from judges.report.merging import merged_ceiling
    from judges.report.run_folder import read_run, run_kind
    from judges.report.tables import comparison_markdown

    lines: list[str] = []
    if run_kind(args.runs[0]) == "harm":
        from judges.harm.report import write_harm_comparison

        lines.append(str(write_harm_comparison(table, args.runs, out, draw)))
        if options is not None:
            from judges.report.html_report import write_merged_html_report

            html = write_merged_html_report(args.runs, table, out, options)
            lines.append(f"report.html: {html}")
        return lines
    frames_labels(table).write_csv(out / "comparison.csv")
    ceiling = merged_ceiling(args.runs)  # the human rows stay beside the judges
    if ceiling is not None:
        ceiling.write_csv(out / "ceiling.csv")
    # The interval each run computed, named as its run.json names it (runs from before a change
    # of method keep theirs); runs that differ are said to differ.
    blocks = [read_run(d)[1].get("statistics") or {} for d in args.runs]
    statistics = (
        blocks[0]
        if all(b == blocks[0] for b in blocks)
        else {"method": "intervals as each run's run.json `statistics` names them (they differ)"}
    )
    (out / "comparison.md").write_text(comparison_markdown(table, args.runs, statistics, ceiling))
    if draw:
        import polars as pl

        from judges.report.agreement_figures import write_figures  # matplotlib when drawing

        write_figures(out / "figures", table, pl.DataFrame(), bootstrap=statistics, ceiling=ceiling)
    lines.append(to_markdown(display_table(table, ceiling)))
    if args.rank_generators or args.by:
        from judges.report.rankings import console_text, rankings_for_runs, write_rankings

        above = rankings_for_runs(
            args.runs, args.rank_generators or None, args.by, args.data, args.allow_mixed_data
        )
        write_rankings(out, above, report="comparison.md")
        if draw:
            from judges.report.ranking_figures import write_ranking_figures

            write_ranking_figures(out / "figures", above)
        lines.append(console_text(above))
    if options is not None:
        from judges.report.html_report import write_merged_html_report

        html = write_merged_html_report(args.runs, table, out, options)
        lines.append(f"report.html: {html}")
    if args.compare:
        from judges.report.comparisons import compare_runs, write_comparisons

        comparisons = compare_runs(args.runs, args.compare, allow_mixed_data=args.allow_mixed_data)
        write_comparisons(comparisons, out, figure=draw)
        lines.extend(comparisons["sentence"])
    return lines


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
