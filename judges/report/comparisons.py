"""Paired comparisons of run folders: read their verdicts, compare, write the report files.

The statistics are :mod:`judges.stats.paired`'s; this module reads runs and writes
``comparisons.csv``, ``comparisons.md`` and the forest plot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from judges.core.errors import ConfigError
from judges.report.merging import run_labels
from judges.report.run_folder import normal_verdicts
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.paired import compare, default_family, parse_comparison


def compare_runs(
    run_dirs: Sequence[Path],
    specs: Sequence[str] = (),
    dimensions: Sequence[str] | None = None,
    config: BootstrapConfig | None = None,
    allow_mixed_data: bool = False,
) -> pl.DataFrame:
    """:func:`compare` on the verdicts of run folders.

    ``specs`` are ``"A@F vs B@G"``; ``"default"`` (or none at all) adds :func:`default_family`.
    """
    verdicts, frame_free = _load(run_dirs, allow_mixed_data=allow_mixed_data)
    family = [
        pair
        for spec in specs or ["default"]
        for pair in (
            default_family(verdicts, frame_free) if spec == "default" else [parse_comparison(spec)]
        )
    ]
    return compare(verdicts, family, dimensions, config)


def load_verdicts(run_dirs: Sequence[Path], allow_mixed_data: bool = False) -> pl.DataFrame:
    """Verdict tables of several runs, judge labels made unique as :func:`merge_runs` does.

    Raises:
        ConfigError: not a run folder, or runs on different data (unless allowed).

    """
    return _load(run_dirs, allow_mixed_data)[0]


def _load(
    run_dirs: Sequence[Path], allow_mixed_data: bool = False
) -> tuple[pl.DataFrame, set[str]]:
    """Verdicts of the runs (labels unique) and the labels of frame-independent judges."""
    tables = []
    infos = []
    data: set[tuple[Any, ...]] = set()
    for run_dir in {Path(d).resolve(): Path(d) for d in run_dirs}.values():  # once each
        path, info_path = Path(run_dir) / "verdicts.parquet", Path(run_dir) / "run.json"
        if not path.is_file() or not info_path.is_file():
            raise ConfigError(
                f"{run_dir}: not a run folder (needs verdicts.parquet and run.json from "
                "experiments/agreement.py)"
            )
        info = json.loads(info_path.read_text())
        data.add((info["data"].get("sha256"), info["data"].get("pairs_used")))
        # Read lazily, without the reply texts: comparisons need ids, labels and winners, and
        # a VLM run's raw replies are most of a million-verdict file.
        tables.append(
            normal_verdicts(pl.scan_parquet(path).drop("raw", "error", strict=False).collect())
        )
        infos.append(info)
    if len(data) > 1 and not allow_mixed_data:
        raise ConfigError(
            "the runs were made on different data (config SHA-256 or pairs used differ); "
            "paired comparisons need the same pairs (--allow-mixed-data compares the overlap)"
        )
    labels = run_labels(
        [
            (str(i.get("run_id")), set(t["judge"].unique().to_list()))
            for t, i in zip(tables, infos, strict=True)
        ]
    )
    frame_free = set()
    for info, (_, rename) in zip(infos, labels, strict=True):
        for judge in info.get("judges", []):
            if judge.get("depends_on_frames") is False:
                frame_free.add(rename.get(judge["name"], judge["name"]))
    renamed = [
        t.with_columns(pl.col("judge").replace(rename))
        for t, (_, rename) in zip(tables, labels, strict=True)
    ]
    return pl.concat(renamed, how="diagonal_relaxed"), frame_free


FOREST_ROWS = 30
"""Comparisons per forest plot; a larger family is drawn on pages ``forest-1``, ``forest-2``..."""


def write_comparisons(
    table: pl.DataFrame, out: Path, mark: str | None = None, figure: bool = True
) -> list[Path]:
    """Write ``comparisons.csv``, ``comparisons.md`` and the forest plot(s) into ``out``.

    ``figure=False`` (``report.py --figures none``) writes the tables only.

    Returns:
        The forest plots' PNG files (one, or a page per :data:`FOREST_ROWS` comparisons; none
        without ``figure``).

    """
    from judges.report.run_folder import check_writable_dir
    from judges.report.tables import to_markdown

    check_writable_dir(out, "--out")
    table.write_csv(out / "comparisons.csv")
    lines = [
        "# Paired comparisons",
        "",
        "Difference in agreement (A − B) on the pairs both judged, with each comparison's own "
        "paired clustered 95% interval (the two settings' clustered intervals combined by "
        "MOVER; none below 5 clusters; not adjusted for the family), McNemar's exact test on "
        "the discordant pairs, and its p-value Holm-adjusted over the "
        f"{table.height} comparisons below; conclusions follow the adjusted p-value.",
        "",
        *(f"- {s}" for s in table["sentence"]),
        "",
        to_markdown(table.drop("sentence")),
        "",
    ]
    (out / "comparisons.md").write_text("\n".join(lines))
    if not figure:
        return []
    from judges.report.diagnostic_figures import plot_forest  # matplotlib when drawing
    from judges.report.figure_files import save_png_and_svg

    pages = max(1, -(-table.height // FOREST_ROWS))
    stems = ["forest"] if pages == 1 else [f"forest-{k + 1}" for k in range(pages)]
    return [
        save_png_and_svg(
            plot_forest(table.slice(k * FOREST_ROWS, FOREST_ROWS), mark, page=(k + 1, pages)),
            out / stem,
        )[0]
        for k, stem in enumerate(stems)
    ]
