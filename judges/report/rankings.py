"""Generator rankings and agreement by slice, as files, markdown and console text.

``generators.csv``, ``ranking_agreement.csv`` and ``agreement_by_<field>.csv`` (plus
``agreement_by_<field>_tests.csv``, the heterogeneity tests), and their sections of
``agreement.md``. The numbers come from :mod:`judges.stats.ranking_tables` and
:mod:`judges.stats.slices`; nothing is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from judges.core.errors import ConfigError
from judges.report.tables import frames_labels, to_markdown
from judges.stats.above_pairs import AbovePairs, above_pairs, check_fields
from judges.stats.bootstrap import BootstrapConfig

RANKING_NOTE = (
    "Bradley-Terry strengths (log scale, summing to 0; Bradley & Terry 1952) fitted from the "
    "people's labels and from each judge setting's verdicts on the same pairs; a tie, refusal "
    "or error is half a win each side; a Gaussian (ridge) prior of precision {prior} keeps "
    "perfect winners finite. Rank agreement: Kendall's tau-b (Kendall 1938), Spearman's rho and "
    "the share of generator pairs ordered alike, judge against people, with {method} intervals."
)


def _cell(value: float | None, lo: float | None, hi: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{value:.2f}"
    return f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


def ranking_summary(agreement: pl.DataFrame) -> pl.DataFrame:
    """One display row per setting: tau, rho and share ordered alike with intervals."""
    rows = []
    for r in frames_labels(agreement).iter_rows(named=True):
        rows.append(
            {
                "judge": r["judge"],
                "dimension": r["dimension"],
                "frames": r["frames"],
                "generators": r["generators"],
                "pairs": r["pairs"],
                "kendall_tau": _cell(r["kendall_tau"], r["kendall_tau_lo"], r["kendall_tau_hi"]),
                "spearman_rho": _cell(
                    r["spearman_rho"], r["spearman_rho_lo"], r["spearman_rho_hi"]
                ),
                "ordered_alike": _cell(
                    r["ordered_alike"], r["ordered_alike_lo"], r["ordered_alike_hi"]
                ),
                "note": r["note"] or "",
            }
        )
    return pl.DataFrame(rows)


def strength_summary(generators: pl.DataFrame) -> pl.DataFrame:
    """People's and each judge's strength per generator, one column per setting."""
    labelled = frames_labels(generators).with_columns(
        pl.when(pl.col("judge") == "people")
        .then(pl.lit("people"))
        .otherwise(pl.col("judge") + " @" + pl.col("frames").fill_null("-"))
        .alias("setting"),
        pl.struct("strength", "strength_lo", "strength_hi", "rank")
        .map_elements(
            lambda s: (
                "—"
                if s["strength"] is None
                else f"{_cell(s['strength'], s['strength_lo'], s['strength_hi'])} #{s['rank']:.0f}"
            ),
            return_dtype=pl.String,
        )
        .alias("cell"),
    )
    return labelled.pivot(
        "setting", index=["dimension", "generator"], values="cell", aggregate_function="first"
    )


def slice_caption(tests: pl.DataFrame) -> str:
    """The heterogeneity tests of one field, one clause per testable setting and level."""
    parts, untestable = [], 0
    for r in frames_labels(tests).iter_rows(named=True):
        p = r["p_value"]
        if p is None or (isinstance(p, float) and math.isnan(p)):
            untestable += 1
            continue
        parts.append(
            f"{r['judge']} {r['dimension']} @{r['frames']} ({r['level']}): F-Wald "
            f"{r['statistic']:.2f} on {r['df']} df, {r['clusters']} clusters, p = {p:.3g}"
        )
    if untestable:
        parts.append(
            f"{untestable} setting(s) not testable (fewer than 2 slices with enough pairs)"
        )
    return "; ".join(parts)


def rankings_markdown(above: AbovePairs) -> str:
    """The markdown sections appended to ``agreement.md``."""
    parts: list[str] = []
    if above.skipped:
        parts += ["## Generator rankings", "", f"Not computed: {above.skipped}", ""]
    if above.generators is not None and above.ranking_agreement is not None:
        parts += [
            "## Generator rankings: would the judge rank the generators as people do?",
            "",
            RANKING_NOTE.format(prior=above.prior, method=above.method),
            "",
            to_markdown(ranking_summary(above.ranking_agreement)),
            "",
            "### Strength per generator (interval, #rank)",
            "",
            to_markdown(strength_summary(above.generators)),
            "",
        ]
    for name, (table, tests) in above.slices.items():
        small = int(table["small"].sum()) if "small" in table.columns else 0
        parts += [
            f"## Agreement by {name}",
            "",
            "Heterogeneity (are slices different beyond chance? cluster-robust Wald test, "
            f"clusters = prompts): {slice_caption(tests)}."
            + (f" {small} row(s) marked `small` have too few labelled pairs." if small else ""),
            "",
            to_markdown(frames_labels(table)),
            "",
        ]
    return "\n".join(parts)


def write_rankings(run_dir: Path, above: AbovePairs, report: str = "agreement.md") -> list[str]:
    """Write the CSV files and append the markdown sections to ``report``; returns the files."""
    written = []
    tables: Mapping[str, pl.DataFrame | None] = {
        "generators": above.generators,
        "ranking_agreement": above.ranking_agreement,
    }
    for name, frame in tables.items():
        if frame is not None:
            frames_labels(frame).write_csv(run_dir / f"{name}.csv")
            written.append(f"{name}.csv")
    for name, (table, tests) in above.slices.items():
        stem = above.files[name]
        frames_labels(table).write_csv(run_dir / f"{stem}.csv")
        frames_labels(tests).write_csv(run_dir / f"{stem}_tests.csv")
        written += [f"{stem}.csv", f"{stem}_tests.csv"]
    text = rankings_markdown(above)
    if text:
        path = run_dir / report
        path.write_text((path.read_text() if path.is_file() else "") + "\n" + text)
    return written


def console_text(above: AbovePairs) -> str:
    """The console section: rank agreement per setting, and each field's tests."""
    lines: list[str] = []
    if above.skipped:
        lines.append(f"generator rankings: not computed: {above.skipped}")
    if above.ranking_agreement is not None:
        lines += [
            "\nGenerator rankings, judge vs people (Bradley-Terry; "
            "generators.csv has each strength):",
            to_markdown(ranking_summary(above.ranking_agreement)),
        ]
    for name, (_, tests) in above.slices.items():
        lines.append(f"\nagreement by {name} ({above.files[name]}.csv): {slice_caption(tests)}")
    return "\n".join(lines)


def rankings_for_runs(
    run_dirs: Sequence[Path],
    rank: bool | None,
    by: Sequence[str],
    data: Path | None = None,
    allow_mixed_data: bool = False,
) -> AbovePairs:
    """Rankings and slices over the verdicts of finished runs (``report.py``).

    The pairs (generators, slice fields) are read again from the first run's data
    (run.json ``data.path``), or from ``data``; videos need not be present.

    Raises:
        ConfigError: the data file is gone (pass ``data``), or a ``by`` field no pair has.

    """
    import json

    from judges.datasets import load_dataset
    from judges.report.comparisons import load_verdicts

    info = json.loads((Path(run_dirs[0]) / "run.json").read_text())
    source = Path(data) if data is not None else Path(info["data"]["path"])
    if not source.exists():
        raise ConfigError(
            f"{run_dirs[0]}: its data {source} is not here; pass --data to read the pairs "
            "(generators and fields) from another copy"
        )
    video_dir = info["data"].get("video_dir")
    pairs = load_dataset(source, video_dir, check_files=False).pairs
    check_fields(pairs, by)
    verdicts = load_verdicts(run_dirs, allow_mixed_data)
    stats = info.get("statistics") or {}
    boot = BootstrapConfig(
        **{k: stats[k] for k in ("cluster", "resamples", "seed", "level") if k in stats}
    )
    return above_pairs(verdicts, pairs, boot, rank, by)
