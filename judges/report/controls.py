"""The controls' report: one sentence per judge setting, ``controls.csv`` and its figure.

The statistics are :func:`judges.stats.controls.control_table`'s; this module only words and
writes them (the figure, in :mod:`judges.report.control_figure`, loads matplotlib when asked).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from judges.core.types import frames_label
from judges.judge.controls import PHRASES, REMOVES
from judges.report.tables import number, to_markdown


def conclusion(row: dict[str, Any]) -> str:
    """What one row of the controls table says about the judge, in words.

    No verdict changed: the judge ignores what the control removes. The paired interval of
    control - normal entirely below 0: the judge uses it; entirely above: agreement rose without
    it; otherwise no clear change.

    Example:
        >>> conclusion({"control": "shuffled_prompt", "n_changed": 0, "note": ""})
        'no verdict changed: the judge ignores the prompt'
        >>> conclusion({"control": "frozen", "n_changed": 9, "difference_lo": -0.2,
        ...             "difference_hi": -0.05, "note": ""})
        'the judge uses the motion'

    """
    removes = REMOVES.get(row["control"], row["control"])
    if row.get("note", "").startswith("undefined"):
        return row["note"]
    if row.get("n_changed") == 0:
        return f"no verdict changed: the judge ignores {removes}"
    lo, hi = row.get("difference_lo"), row.get("difference_hi")
    if hi is not None and not math.isnan(hi) and hi < 0:
        return f"the judge uses {removes}"
    if lo is not None and not math.isnan(lo) and lo > 0:
        return f"agreement rose without {removes}"
    return f"no clear change in agreement without {removes}"


def control_sentence(row: dict[str, Any]) -> str:
    """One console line for one row of the controls table.

    Example:
        >>> print(control_sentence({"judge": "clip", "frames": 4, "control": "shuffled_prompt",
        ...     "dimension": "instruction_following", "agreement_normal": 0.62, "agreement": 0.51,
        ...     "difference": -0.11, "difference_lo": -0.16, "difference_hi": -0.06,
        ...     "n_changed": 40, "n_pairs": 100, "note": ""}))
        clip @4 instruction_following: 0.62 normal, 0.51 with shuffled prompts (-0.11 [-0.16, -0.06]; 40/100 verdicts changed): the judge uses the prompt

    """  # noqa: E501
    head = f"{row['judge']} @{frames_label(row['frames'])} {row['dimension']}"
    phrase = PHRASES.get(row["control"], row["control"])
    if row.get("note", "").startswith("undefined"):
        return f"{head} {phrase}: {row['note']}"
    diff = (
        f"{number(row.get('difference'), '+.2f')} [{number(row.get('difference_lo'), '+.2f')}, "
        f"{number(row.get('difference_hi'), '+.2f')}]"
    )
    failed = row.get("n_errors") or 0  # left out of the sensitivity: said here
    judged = f"{row.get('n_changed')}/{(row.get('n_pairs') or 0) - failed} verdicts changed"
    judged += f", {failed} failed in either run" if failed else ""
    return (
        f"{head}: {number(row.get('agreement_normal'))} normal, {number(row.get('agreement'))} "
        f"{phrase} ({diff}; {judged}): {conclusion(row)}"
    )


def control_sentences(table: pl.DataFrame) -> list[str]:
    """:func:`control_sentence` for every row of the controls table."""
    return [control_sentence(row) for row in table.iter_rows(named=True)]


def write_controls(
    run_dir: Path, table: pl.DataFrame, mark: str | None = None, figure: bool = True
) -> list[Path]:
    """``controls.csv``, ``controls.md`` (the sentences) and ``figures/controls.{png,svg}``.

    ``figure=False`` leaves the figure out (a run with ``--figures none``).

    The run's ``agreement.md``, when there is one, gets the sentences and the table as a section.

    Example:
        >>> write_controls(run_dir, control_table(verdicts))  # doctest: +SKIP

    """
    written = [run_dir / "controls.csv", run_dir / "controls.md"]
    shown = table.with_columns(pl.col("frames").map_elements(frames_label, return_dtype=pl.String))
    shown.write_csv(written[0])
    lines = ["# Is the judge looking? Controls", ""]
    lines += [f"- {s}" for s in control_sentences(table)]
    lines += [
        "",
        "Columns of controls.csv: sensitivity = share of pairs whose verdict changed against the "
        "normal run; difference = agreement under the control - normal agreement, on the "
        "labelled pairs both judged (paired cluster interval; p_value: McNemar's exact test).",
    ]
    written[1].write_text("\n".join(lines) + "\n")
    report = run_dir / "agreement.md"
    if report.is_file():  # the run's report gets the sentences and the table too
        section = ["", "## Is the judge looking? Controls", "", *lines[2:], "", to_markdown(shown)]
        report.write_text(report.read_text().rstrip("\n") + "\n" + "\n".join(section) + "\n")
    if table.height and figure:
        from judges.report.control_figure import plot_controls  # matplotlib when asked
        from judges.report.figure_files import save_png_and_svg

        (run_dir / "figures").mkdir(exist_ok=True)
        written += save_png_and_svg(plot_controls(table, mark), run_dir / "figures" / "controls")
    return written
