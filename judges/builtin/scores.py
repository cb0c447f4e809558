r"""``scores`` judge: any precomputed per-video metric (VBench, FETV, a reward model) as a judge.

    --judge scores --judge-arg file=vbench.csv --judge-arg column=dynamic_degree \\
        --judge-arg name=vbench-dynamics --dims informativeness

The file (CSV, Parquet, JSON or JSON lines) has a ``video_id`` column and one or more numeric
score columns. With ``id_column=path`` its ``path`` column is matched on each video's path as
the data writes it (VideoGen-RewardBench's ``path_A``/``path_B``, SafeSora's ``video_path``;
``/`` or ``\\`` separators and a leading ``./`` do not matter), for score files keyed by file
rather than by id. A video without a score gets an error verdict naming it, never a dropped row.
Scores do not depend on keyframes, so every frame count gives the same verdicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from judges.cache.store import file_sha256, stable_hash
from judges.core.errors import ConfigError, ItemError
from judges.core.types import Dimension, Video
from judges.datasets.registry import path_key
from judges.judge.base import RunContext, ScoreJudge
from judges.judge.registry import register_judge
from judges.media.frame_controls import FRAME_CONTROLS


class MissingScoreError(ItemError):
    """A video has no score in the scores file."""

    kind = "missing_score"


@dataclass(frozen=True)
class ScoresConfig:
    """Options of the ``scores`` judge.

    Attributes:
        file: CSV, Parquet, JSON or JSON-lines file of per-video scores (required).
        column: The score column (required when the file has more than one).
        higher_is_better: Whether the higher score wins.
        id_column: The column naming each video: matched on the video id, or, when it is
            ``path``, on the video's path as the data writes it.
        dimensions: Dimensions judged by default (comma-separated); ``--dims`` overrides.
        tie_tolerance: Score differences up to this are ties.
    """

    file: Path | None = None
    column: str | None = None
    higher_is_better: bool = True
    id_column: str = "video_id"
    dimensions: tuple[str, ...] = ()
    tie_tolerance: float = 0.0


_READERS: dict[str, Any] = {
    ".csv": pl.read_csv,
    ".tsv": lambda p: pl.read_csv(p, separator="\t"),
    ".parquet": pl.read_parquet,
    ".json": pl.read_json,
    ".jsonl": pl.read_ndjson,
    ".ndjson": pl.read_ndjson,
}


def read_table(path: Path) -> pl.DataFrame:
    """A scores table from CSV, TSV, Parquet, JSON or JSON lines.

    Raises:
        ConfigError: an unsupported suffix, a missing or unreadable file.
    """
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ConfigError(f"{path}: unsupported scores file; use {', '.join(_READERS)}")
    if not path.is_file():
        raise ConfigError(f"{path}: scores file not found")
    try:
        return reader(path)
    except Exception as e:
        raise ConfigError(f"{path}: cannot read scores ({type(e).__name__}: {e})") from None


PATH_COLUMN = "path"
"""``id_column`` value that matches videos by their path as written, not their id."""


def read_scores(path: Path, id_column: str, column: str | None) -> tuple[dict[str, float], str]:
    """Load ``video_id -> score`` from a table file; returns the mapping and the column used.

    Raises:
        ConfigError: unreadable file, missing columns (listing those present), non-numeric
            scores, or one video with two different scores.
    """
    table = read_table(path)
    if id_column not in table.columns:
        raise ConfigError(
            f"{path}: no {id_column!r} column (columns: {', '.join(table.columns)}); "
            "set id_column=NAME"
        )
    numeric = [c for c, t in table.schema.items() if c != id_column and t.is_numeric()]
    if column is None:
        if len(numeric) != 1:
            raise ConfigError(
                f"{path}: choose the score column with column=NAME (numeric columns: "
                f"{', '.join(numeric) or 'none'})"
            )
        column = numeric[0]
    if column not in table.columns:
        raise ConfigError(f"{path}: no column {column!r} (columns: {', '.join(table.columns)})")
    if column not in numeric:
        raise ConfigError(f"{path}: column {column!r} is not numeric ({table.schema[column]})")
    table = table.select(pl.col(id_column).cast(pl.String), pl.col(column).cast(pl.Float64))
    if id_column == PATH_COLUMN:  # './a/b.mp4' and 'a\\b.mp4' name the file 'a/b.mp4' names
        table = table.with_columns(
            pl.col(id_column)
            .str.strip_chars()
            .str.replace_all("\\", "/", literal=True)
            .str.replace(r"^(\./)+", "")
        )
    clash = table.unique().group_by(id_column).len().filter(pl.col("len") > 1)
    if clash.height:
        example = clash[id_column][0]
        raise ConfigError(
            f"{path}: video {example!r} has different scores in {column!r} "
            f"({clash.height} video(s) affected)"
        )
    scores = {
        vid: val
        for vid, val in table.unique(subset=id_column).iter_rows()
        if val is not None and not math.isnan(val)
    }
    return scores, column


@register_judge(
    "scores", "any precomputed per-video metric from a CSV/Parquet/JSON file", config=ScoresConfig
)
class ScoresJudge(ScoreJudge):
    """Pairwise verdicts from a table of precomputed per-video scores.

    Example:
        >>> judge = get_judge("scores", file="fetv.csv", column="alignment")  # doctest: +SKIP
    """

    kind = "scores"
    confidence_unit = "score"
    depends_on_frames = False  # one score per video, whatever the keyframes
    default_dimensions = None  # any metric: every dimension the data labels, unless dimensions=

    def __init__(self, config: ScoresConfig, name: str | None = None) -> None:
        if config.file is None:
            raise ConfigError("judge 'scores' needs file=PATH (a CSV/Parquet/JSON of scores)")
        super().__init__(config, name)
        self.scores, self.column = read_scores(config.file, config.id_column, config.column)
        self.file_sha256 = file_sha256(config.file)
        self.higher_is_better = config.higher_is_better
        if config.dimensions:
            try:
                self.default_dimensions = tuple(Dimension.parse(d) for d in config.dimensions)
            except ValueError as e:
                raise ConfigError(f"judge 'scores' option 'dimensions': {e}") from None

    def fingerprint(self) -> str:
        """Settings plus the scores file's content."""
        return stable_hash(
            {"base": super().fingerprint(), "file": self.file_sha256, "column": self.column}
        )

    def score(self, video: Video, frames: int | None, ctx: RunContext) -> float:
        """A dictionary look-up: no per-video cache needed."""
        return self.video_score(video, frames, ctx)

    def video_key(self, video: Video) -> str:
        """What the scores file names this video by: its id, or its written path."""
        if self.config.id_column != PATH_COLUMN:
            return video.video_id
        if video.source is None:
            raise MissingScoreError(
                f"video {video.video_id!r} has no path written in the data, so "
                f"id_column={PATH_COLUMN} cannot match it; use id_column=video_id"
            )
        return path_key(video.source)

    def control_reason(self, control: str) -> str | None:
        """Precomputed scores never see keyframes: a control of the frames does not reach them."""
        if control in FRAME_CONTROLS:
            return (
                f"scores reads precomputed per-video scores; the control {control!r} changes "
                "the keyframes, which this judge never sees, so it cannot test it"
            )
        return None

    def score_inputs(self, video: Video) -> dict[str, Any]:
        """What a verdict depends on beyond the files: the written paths, when matched by path.

        Files of equal content may be scored apart by path. Matched by id: nothing (the keys
        of earlier runs stay valid).
        """
        if self.config.id_column != PATH_COLUMN:
            return {}
        return {"path": None if video.source is None else path_key(video.source)}

    def video_score(self, video: Video, frames: int | None, ctx: RunContext) -> float:
        """The video's precomputed score."""
        key = self.video_key(video)
        try:
            return self.scores[key]
        except KeyError:
            what = "path" if self.config.id_column == PATH_COLUMN else "video"
            raise MissingScoreError(
                f"no score for {what} {key!r} in {self.config.file} (column {self.column!r})"
            ) from None

    def describe(self) -> dict[str, Any]:
        """Settings plus the file's hash, the column and how many videos it scores."""
        info = super().describe()
        info["scores"] = {
            "column": self.column,
            "videos": len(self.scores),
            "sha256": self.file_sha256,
        }
        return info
