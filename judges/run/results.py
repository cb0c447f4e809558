"""What an agreement run gives back: per-judge reports, the dry run's plan, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from judges.cache.replies import Replies, with_raw
from judges.chat.client import ChatStats
from judges.chat.pricing import CostPlan
from judges.datasets import Dataset
from judges.datasets.votes import Votes
from judges.report.failures import failing_judges
from judges.report.tables import frames_labels
from judges.stats.above_pairs import AbovePairs


@dataclass(frozen=True)
class JudgeReport:
    """What one judge did in a run (run.json holds the same, with its settings).

    Attributes:
        name: The judge's label.
        dimensions: The dimensions it judged.
        verdicts: Verdicts in the run.
        cached: Verdicts the cache already held.
        computed: Verdicts computed now.
        statuses: Count of each verdict status.
        seconds: Wall time.
        cost_usd: API cost of its verdicts (cached replies included), if any.
        requests: API call counters and its own spend (API judges only).
        flip_rate: Share of both-order answers that disagreed (``order=both`` only).

    """

    name: str
    dimensions: list[str]
    verdicts: int
    cached: int
    computed: int
    statuses: dict[str, int]
    seconds: float
    cost_usd: float | None = None
    requests: ChatStats | None = None
    flip_rate: float | None = None


# JudgeReport fields run.json takes from Judge.describe() instead.
_DESCRIBED = ("name", "requests", "flip_rate")


@dataclass
class DryRun:
    """What a run would do: per judge, verdicts to compute and (API judges) calls and cost."""

    dataset: Dataset
    plans: list[CostPlan]
    demo: bool
    notice: str | None = None


@dataclass
class RunResult:
    """What a run produced (also written to ``run_dir``, unless it ran with ``out=None``).

    ``table`` keeps ``frames`` as numbers with null for every frame, for computing;
    :attr:`agreement` is the same table as ``agreement.csv`` spells it (``"all"``).
    ``verdicts`` holds each reply's number (``raw_ref``) in ``replies``, where the texts are;
    :meth:`verdicts_with_raw` reads them back.
    """

    run_dir: Path | None
    dataset: Dataset
    verdicts: pl.DataFrame
    table: pl.DataFrame
    info: dict[str, Any]
    demo: bool
    judges: list[JudgeReport] = field(default_factory=list)
    ceiling: pl.DataFrame | None = None
    votes: Votes | None = None
    above: AbovePairs | None = None  # generator rankings and agreement by slice
    controls: pl.DataFrame | None = None  # judge settings under controls (stats.controls)
    replies: Replies | None = None  # where the verdicts' replies are (raw_ref)

    @property
    def agreement(self) -> pl.DataFrame:
        """The agreement table as ``agreement.csv`` has it: ``frames`` as text, ``"all"``."""
        return frames_labels(self.table)

    def verdicts_with_raw(self) -> pl.DataFrame:
        """``verdicts`` with every reply read back into ``raw``, as ``verdicts.parquet`` has it.

        Every reply is then in memory, twice while it is placed (a VLM judge at SafeSora size:
        2 GB of replies, ~4 GB at the peak), where ``pl.scan_parquet(run_dir /
        "verdicts.parquet")`` reads only what a query needs.
        """
        return with_raw(self.verdicts, self.replies)

    @property
    def failures(self) -> dict[str, dict[str, Any]]:
        """Failed verdicts per judge and reason (see :mod:`judges.report.failures`)."""
        return self.info["failures"]

    @property
    def content_duplicates(self) -> dict[str, Any]:
        """Pairs repeating another pair's video content (see :func:`content_duplicates`)."""
        return self.info["data"]["content_duplicates"]

    @property
    def failing_judges(self) -> list[str]:
        """Judges with more than half of their verdicts failed (the run exits non-zero)."""
        return failing_judges(self.failures)
