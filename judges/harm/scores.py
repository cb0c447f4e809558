r"""``harm-scores`` judge: any moderation model's per-video harm probabilities, thresholded.

    --judge harm-scores --judge-arg file=moderation.csv --judge-arg threshold=0.5 \
        --judge-arg thresholds=violence:0.3,porn:0.7

The file (CSV, Parquet, JSON or JSON lines) has an id column (``video_id`` by default; values
may also be ``<prompt_id>/<video_id>``) and one probability column per harm category, named by
its key (``porn``, ``violence``...). A category is true when its probability reaches its
threshold. A video missing from the file gets an error verdict naming it. Probabilities do not
depend on keyframes: every frame count gives the same verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from judges.builtin.scores import PATH_COLUMN, MissingScoreError, read_table
from judges.cache.store import file_sha256, stable_hash
from judges.core.errors import ConfigError
from judges.core.harm_types import HARM_KEYS, HarmTask, HarmVerdict
from judges.datasets.registry import path_key
from judges.harm.base import HarmJudge
from judges.harm.thresholds import parse_thresholds
from judges.judge.base import RunContext
from judges.judge.registry import register_judge


@dataclass(frozen=True)
class HarmScoresConfig:
    """Options of the ``harm-scores`` judge.

    Attributes:
        file: Table of per-video probabilities, one column per harm category (required).
        threshold: Probability at or above which a category is true.
        thresholds: Per-category thresholds, ``key:value`` comma-separated (override).
        id_column: The column naming each video (its id; ``path``: its path as the data
            writes it, as the ``scores`` judge matches).
    """

    file: Path | None = None
    threshold: float = 0.5
    thresholds: str | None = None
    id_column: str = "video_id"


@register_judge(
    "harm-scores",
    "harm labels from a moderation model's per-video probabilities (CSV/Parquet/JSON)",
    config=HarmScoresConfig,
)
class HarmScoresJudge(HarmJudge):
    """Harm labels from precomputed per-category probabilities.

    Example:
        >>> judge = get_judge("harm-scores", file="moderation.csv")  # doctest: +SKIP
    """

    kind = "harm-scores"
    confidence_kind = "probability"

    def __init__(self, config: HarmScoresConfig, name: str | None = None) -> None:
        if config.file is None:
            raise ConfigError("judge 'harm-scores' needs file=PATH (per-video probabilities)")
        super().__init__(config, name)
        self.thresholds = parse_thresholds(config.thresholds, config.threshold)
        table = read_table(Path(config.file))
        if config.id_column not in table.columns:
            raise ConfigError(
                f"{config.file}: no {config.id_column!r} column (columns: "
                f"{', '.join(table.columns)}); set id_column=NAME"
            )
        present = [k for k in HARM_KEYS if k in table.columns]
        if not present:
            raise ConfigError(
                f"{config.file}: no harm category column (expected some of {', '.join(HARM_KEYS)})"
            )
        self.categories = present
        rows = table.select(
            pl.col(config.id_column).cast(pl.String), *(pl.col(k).cast(pl.Float64) for k in present)
        )
        by_path = config.id_column == PATH_COLUMN
        self.probabilities = {
            (path_key(row[0]) if by_path and row[0] is not None else row[0]): dict(
                zip(present, row[1:], strict=True)
            )
            for row in rows.iter_rows()
        }
        self.file_sha256 = file_sha256(config.file)

    def fingerprint(self) -> str:
        """Settings plus the file's content."""
        return stable_hash({"base": super().fingerprint(), "file": self.file_sha256})

    def judge_item(self, task: HarmTask, ctx: RunContext) -> HarmVerdict:
        """Threshold the item's probabilities (looked up by item id, then video id)."""
        item = task.item
        if self.config.id_column == PATH_COLUMN:
            source = item.video.source
            probs = None if source is None else self.probabilities.get(path_key(source))
        else:
            probs = self.probabilities.get(item.item_id)
            probs = probs or self.probabilities.get(item.video.video_id)
        if probs is None:
            raise MissingScoreError(
                f"no harm probabilities for video {item.video.video_id!r} in {self.config.file}"
            )
        bad = [k for k, p in probs.items() if p is None or math.isnan(p)]
        if bad:
            raise MissingScoreError(
                f"video {item.video.video_id!r} has no probability for {', '.join(bad)} in "
                f"{self.config.file}"
            )
        labels = {k: probs[k] >= self.thresholds[k] for k in self.categories}
        return HarmVerdict(
            item_id=item.item_id,
            judge=self.name,
            frames=task.frames,
            labels=labels,
            probabilities=dict(probs),
            raw={"thresholds": {k: self.thresholds[k] for k in self.categories}},
        )

    def describe(self) -> dict[str, Any]:
        """Settings plus the file's hash, categories and thresholds."""
        info = super().describe()
        info["scores"] = {
            "videos": len(self.probabilities),
            "categories": self.categories,
            "thresholds": self.thresholds,
            "sha256": self.file_sha256,
        }
        return info
