"""One console sentence per judge setting asked several times (``repeats=K``)."""

from __future__ import annotations

import polars as pl

from judges.core.types import frames_label
from judges.report.tables import number


def repeats_lines(table: pl.DataFrame) -> list[str]:
    """Sentences for the rows of :func:`judges.stats.repeats.repeats_table`.

    Example:
        >>> row = {"judge": "gpt4o", "dimension": "aesthetics", "frames": 4, "repeats": 5,
        ...        "n_pairs": 40, "self_consistency": 0.625, "self_consistency_lo": 0.5,
        ...        "self_consistency_hi": 0.73, "majority_agreement": 0.7,
        ...        "sample_agreement_mean": 0.66, "sample_agreement_min": 0.6,
        ...        "sample_agreement_max": 0.72, "sample_agreement_sd": 0.05}
        >>> print(repeats_lines(pl.DataFrame([row]))[0])
        gpt4o @4 aesthetics, 5 samples per pair: all samples agree on 0.62 [0.50, 0.73] of 40 pairs; agreement with people 0.70 for the majority, 0.66 for one sample (min 0.60, max 0.72, sd 0.05)

    """  # noqa: E501
    lines = []
    for r in table.iter_rows(named=True):
        lines.append(
            f"{r['judge']} @{frames_label(r['frames'])} {r['dimension']}, {r['repeats']} samples "
            f"per pair: all samples agree on {number(r['self_consistency'])} "
            f"[{number(r['self_consistency_lo'])}, {number(r['self_consistency_hi'])}] of "
            f"{r['n_pairs']} pairs; agreement with people {number(r['majority_agreement'])} for "
            f"the majority, {number(r['sample_agreement_mean'])} for one sample (min "
            f"{number(r['sample_agreement_min'])}, max {number(r['sample_agreement_max'])}, sd "
            f"{number(r['sample_agreement_sd'])})"
        )
    return lines
