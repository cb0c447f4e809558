"""Individual annotators' votes: one row per (pair, dimension, annotator, choice).

Where votes come from:

- a votes table next to the pairs (``--votes FILE``): CSV, parquet or JSONL with columns
  ``pair_id, dimension, annotator, choice`` (choice ``video_0``, ``video_1`` or ``tie``);
- a ``votes`` field on each pair record (``[{"annotator", "dimension", "choice"}, ...]``);
- a Label Studio JSON export of the tasks ``prelabel.py`` writes (several annotations per task):
  each submitted annotation is one vote, its annotator the user who made it. This closes the
  pre-labelling loop: export tasks, people label, export, measure.

Dimension names may be SafeSora's keys (``information``) or ours (``informativeness``). Every row
is checked against the pairs: an unknown pair id, an unknown dimension, a bad choice or the same
annotator voting twice on a pair and dimension stops the run (exit 2) naming the row.

Votes feed the human ceiling (:mod:`judges.stats.ceiling`); judges are still scored against
the pairs' own labels, whatever rule made them (the dataset's README says which).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from judges.core.errors import DataError
from judges.core.types import Dimension, Pair

VOTE_CHOICES = ("video_0", "video_1", "tie")
VOTE_COLUMNS = ("pair_id", "dimension", "annotator", "choice")
VOTE_SCHEMA = dict.fromkeys(VOTE_COLUMNS, pl.String)
VOTE_SUFFIXES = (".csv", ".parquet", ".jsonl", ".ndjson", ".json")


@dataclass(frozen=True)
class Votes:
    """Validated votes and where they came from.

    Attributes:
        table: ``pair_id, dimension, annotator, choice`` (dimension as our name).
        sources: The files (or ``pairs file``) the votes were read from.
        skipped: What was read but is not a vote (a cancelled or empty Label Studio annotation),
            one line each, so nothing disappears without a word.

    """

    table: pl.DataFrame
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def annotators(self) -> list[str]:
        """Distinct annotators, sorted."""
        return sorted(self.table["annotator"].unique().to_list())

    def describe(self) -> dict[str, Any]:
        """What ``run.json`` records about the votes."""
        per_dim = self.table.group_by("dimension").len().sort("dimension")
        return {
            "sources": self.sources,
            "votes": self.table.height,
            "annotators": self.annotators,
            "per_dimension": dict(zip(per_dim["dimension"], per_dim["len"], strict=True)),
            "skipped": self.skipped,
        }


def read_votes_file(path: str | Path) -> tuple[pl.DataFrame, list[str]]:
    """Raw vote rows of a file (not yet checked against pairs), with a ``_where`` per row.

    Raises:
        DataError: an unreadable file, a missing column or an unknown file type.

    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"--votes {path}: no such file")
    name = path.name.lower()
    skipped: list[str] = []
    try:
        if name.endswith(".csv"):
            frame = pl.read_csv(path, infer_schema=False)
            where = [f"{path}: line {i + 2}" for i in range(frame.height)]
        elif name.endswith(".parquet"):
            frame = pl.read_parquet(path)
            where = [f"{path}: row {i}" for i in range(frame.height)]
        elif name.endswith((".jsonl", ".ndjson")):
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            frame = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
            where = [f"{path}: line {i + 1}" for i in range(frame.height)]
        elif name.endswith(".json"):
            data = json.loads(path.read_text())
            if (
                isinstance(data, list)
                and data
                and all(isinstance(t, Mapping) and "data" in t for t in data)
            ):
                frame, where, skipped = label_studio_votes(data, path)
            elif isinstance(data, list):
                frame = pl.DataFrame(data, infer_schema_length=None) if data else pl.DataFrame()
                where = [f"{path}: item {i}" for i in range(frame.height)]
            else:
                raise DataError(f"--votes {path}: expected a JSON list of votes or of tasks")
        else:
            raise DataError(
                f"--votes {path}: unknown file type; use one of {', '.join(VOTE_SUFFIXES)}"
            )
    except (pl.exceptions.PolarsError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"--votes {path}: cannot read it ({e})") from None
    if frame.height == 0:
        return pl.DataFrame(schema={**VOTE_SCHEMA, "_where": pl.String}), skipped
    lacking = [c for c in VOTE_COLUMNS if c not in frame.columns]
    if lacking:
        raise DataError(
            f"--votes {path}: missing column(s) {', '.join(lacking)}; a votes table has "
            f"{', '.join(VOTE_COLUMNS)}"
        )
    frame = frame.select(pl.col(c).cast(pl.String) for c in VOTE_COLUMNS)
    return frame.with_columns(pl.Series("_where", where, dtype=pl.String)), skipped


def label_studio_votes(
    tasks: Sequence[Mapping[str, Any]], source: Path | str
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """Votes in a Label Studio JSON export of ``prelabel.py``'s tasks.

    Each submitted annotation of a task gives one vote: ``data.pair_id``, ``data.dimension``,
    the annotator (the user's e-mail when the export has it, else ``user<id>``) and the single
    ``preference`` choice. Predictions are the judge's, never votes. Cancelled (skipped)
    annotations and annotations without a choice are listed in the third value.

    Returns:
        ``(frame, where, skipped)``.

    Raises:
        DataError: a task without ``data.pair_id`` / ``data.dimension``, or an annotation
            with several choices.

    """
    from judges.datasets.label_studio import FROM_NAME

    rows: list[dict[str, str | None]] = []
    where: list[str] = []
    skipped: list[str] = []
    for t_index, task in enumerate(tasks):
        data = task.get("data") or {}
        task_name = f"{source}: task {task.get('id', f'#{t_index}')}"
        if "pair_id" not in data or "dimension" not in data:
            raise DataError(
                f"{task_name}: data lacks 'pair_id' or 'dimension'; export the tasks that "
                "prelabel.py wrote (label_studio_tasks.json)"
            )
        for a_index, ann in enumerate(task.get("annotations") or []):
            name = f"{task_name} annotation {ann.get('id', f'#{a_index}')}"
            annotator = _annotator(ann.get("completed_by"))
            if ann.get("was_cancelled"):
                skipped.append(f"{name}: cancelled (skipped) by {annotator}")
                continue
            choices = [
                c
                for r in ann.get("result") or []
                if r.get("from_name") == FROM_NAME
                for c in (r.get("value") or {}).get("choices") or []
            ]
            if not choices:
                skipped.append(f"{name}: no '{FROM_NAME}' choice by {annotator}")
                continue
            if len(choices) > 1:
                raise DataError(f"{name}: several choices {choices}; the control is single-choice")
            rows.append(
                {
                    "pair_id": str(data["pair_id"]),
                    "dimension": str(data["dimension"]),
                    "annotator": annotator,
                    "choice": choices[0],
                }
            )
            where.append(name)
    frame = pl.DataFrame(rows, schema=VOTE_SCHEMA)
    return frame, where, skipped


def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, Mapping):
        return str(completed_by.get("email") or f"user{completed_by.get('id')}")
    return f"user{completed_by}"


def pair_votes(pairs: Sequence[Pair]) -> pl.DataFrame:
    """The votes the pair records carry themselves (their ``votes`` field)."""
    rows = [
        {
            "pair_id": p.pair_id,
            "dimension": dim.value,
            "annotator": annotator,
            "choice": choice,
            "_where": f"pair_id {p.pair_id!r}: votes",
        }
        for p in pairs
        for annotator, dim, choice in p.votes
    ]
    return pl.DataFrame(rows, schema={**VOTE_SCHEMA, "_where": pl.String})


def check_votes(raw: pl.DataFrame, pairs: Sequence[Pair]) -> pl.DataFrame:
    """Votes checked against the pairs, dimensions as our names (``_where`` dropped).

    Raises:
        DataError: naming the first offending row: an unknown pair id, an unknown dimension,
            a choice other than ``video_0``/``video_1``/``tie``, an empty annotator, or one
            annotator voting twice on a pair and dimension.

    """
    if raw.is_empty():
        return pl.DataFrame(schema=VOTE_SCHEMA)
    known_pairs = {p.pair_id for p in pairs}
    names: dict[str, str] = {}
    for text in raw["dimension"].drop_nulls().unique().to_list():
        try:
            names[text] = Dimension.parse(text).value
        except ValueError:
            continue
    checks = (
        (
            ~pl.col("pair_id").is_in(list(known_pairs)) | pl.col("pair_id").is_null(),
            "pair_id {pair_id!r} is not a pair of the dataset (check --data or the export)",
        ),
        (
            ~pl.col("dimension").is_in(list(names)) | pl.col("dimension").is_null(),
            "unknown dimension {dimension!r}; known: "
            + ", ".join(d.value for d in Dimension.known()),
        ),
        (
            ~pl.col("choice").is_in(list(VOTE_CHOICES)) | pl.col("choice").is_null(),
            "choice {choice!r} is not one of " + ", ".join(VOTE_CHOICES),
        ),
        (
            pl.col("annotator").is_null() | (pl.col("annotator").str.strip_chars() == ""),
            "annotator is empty",
        ),
    )
    for bad, message in checks:
        found = raw.filter(bad)
        if found.height:
            row = found.row(0, named=True)
            more = f" (and {found.height - 1} more such row(s))" if found.height > 1 else ""
            raise DataError(f"{row['_where']}: {message.format(**row)}{more}")
    table = raw.with_columns(pl.col("dimension").replace_strict(names))
    dupes = table.filter(pl.struct("pair_id", "dimension", "annotator").is_duplicated())
    if dupes.height:
        first = dupes.row(0, named=True)
        others = dupes.filter(
            (pl.col("pair_id") == first["pair_id"])
            & (pl.col("dimension") == first["dimension"])
            & (pl.col("annotator") == first["annotator"])
        )["_where"].to_list()
        raise DataError(
            f"{first['_where']}: annotator {first['annotator']!r} votes more than once on pair "
            f"{first['pair_id']!r}, {first['dimension']} (also at {'; '.join(others[1:])}); "
            "keep one vote per annotator"
        )
    return table.drop("_where")


def collect_votes(pairs: Sequence[Pair], files: Sequence[str | Path] = ()) -> Votes | None:
    """Every vote for ``pairs``: their own ``votes`` fields and the given files, checked.

    Returns:
        ``None`` when there are no votes anywhere.

    Example:
        >>> votes = collect_votes(pairs, ["../shared/data/fetv-dev/votes.csv"])  # doctest: +SKIP
        >>> votes.annotators  # doctest: +SKIP
        ['rater0', 'rater1', 'rater2']

    """
    parts = [pair_votes(pairs)]
    sources = ["pairs file"] if parts[0].height else []
    skipped: list[str] = []
    for f in files:
        frame, notes = read_votes_file(f)
        parts.append(frame)
        sources.append(str(f))
        skipped.extend(notes)
    raw = pl.concat(parts, how="vertical")
    if raw.is_empty() and not files:
        return None
    return Votes(check_votes(raw, pairs), sources, skipped)
