"""Several run folders read as one: merged tables, one naming scheme for judges, the ceiling."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from judges.core.errors import ConfigError
from judges.report.run_folder import read_run, run_kind


def merged_ceiling(run_dirs: Sequence[Path]) -> pl.DataFrame | None:
    """The human ceiling of merged runs: their ``ceiling.csv``, when they agree on it.

    Runs on the same data with the same votes have the same ceiling; runs whose ceilings
    differ (other votes) get none, rather than one run's passed off as all of theirs.
    """
    tables = [pl.read_csv(p) for d in run_dirs if (p := Path(d) / "ceiling.csv").is_file()]
    if not tables or any(not t.equals(tables[0]) for t in tables[1:]):
        return None
    return tables[0]


def merge_runs(run_dirs: list[Path], allow_mixed_data: bool = False) -> pl.DataFrame:
    """One long table from several runs of one kind, with a ``run_id`` column.

    A judge label used by two runs (e.g. ``gpt4o`` run once zero-shot, once CoT) becomes
    ``label@run_id`` so both stay distinct.

    Raises:
        ConfigError: runs on different data (different config SHA-256 or pairs used), unless
            ``allow_mixed_data``.
    """
    if not run_dirs:
        raise ConfigError("give at least one run folder")
    unique = list({Path(d).resolve(): Path(d) for d in run_dirs}.values())  # same folder twice
    kinds = {run_kind(d) for d in unique}
    if len(kinds) > 1:
        raise ConfigError(
            "these runs mix preference and harm-label runs; report each kind separately"
        )
    loaded = [(d, *read_run(d)) for d in unique]
    datasets = {
        (info["data"]["sha256"], info["data"].get("pairs_used")): d for d, _, info in loaded
    }
    if len(datasets) > 1 and not allow_mixed_data:
        listing = "; ".join(
            f"{d.name}: {sha[:12]}.. ({pairs} pairs)" for (sha, pairs), d in datasets.items()
        )
        raise ConfigError(
            f"these runs used different data ({listing}); their agreements are not comparable. "
            "Pass --allow-mixed-data to merge anyway."
        )
    labels = run_labels(
        [
            (str(info.get("run_id", d.name)), set(table["judge"].to_list()))
            for d, table, info in loaded
        ]
    )
    parts = [
        table.with_columns(
            pl.lit(run_id).alias("run_id"), pl.col("judge").replace(rename).alias("judge")
        )
        for (_, table, _), (run_id, rename) in zip(loaded, labels, strict=True)
    ]
    return pl.concat(parts, how="diagonal_relaxed")


def run_labels(runs: Sequence[tuple[str, set[str]]]) -> list[tuple[str, dict[str, str]]]:
    """One naming scheme for judges across runs (reports, comparisons, merged tables).

    A judge label that several runs use becomes ``label@run_id`` in every one of them; a run
    id that two folders share becomes ``run_id#2`` for the second.

    Args:
        runs: Each run's id and its judge labels, in order.

    Returns:
        Each run's (unique) id and its ``{label: new label}`` renames.

    Example:
        >>> run_labels([("a", {"psnr", "clip"}), ("b", {"psnr"})])
        [('a', {'psnr': 'psnr@a'}), ('b', {'psnr': 'psnr@b'})]

    """
    counts: dict[str, int] = {}
    for _, judges in runs:
        for judge in judges:
            counts[judge] = counts.get(judge, 0) + 1
    ids: dict[str, int] = {}
    out = []
    for run_id, judges in runs:
        ids[run_id] = ids.get(run_id, 0) + 1
        if ids[run_id] > 1:  # two folders with one run id (copied, or other --out roots)
            run_id = f"{run_id}#{ids[run_id]}"
        out.append((run_id, {j: f"{j}@{run_id}" for j in sorted(judges) if counts[j] > 1}))
    return out
