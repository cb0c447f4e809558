"""Run folders: ``results/<run-id>/`` with verdicts, agreement tables and run metadata.

Writing one (:func:`write_run`, atomically through :class:`RunFolder`), reading one back
(:func:`read_run`); merging several is :mod:`judges.report.merging`.

Files:
    verdicts.parquet  one row per verdict, with the human label and whether they match
                      (``frames`` is null for "every frame" here, and only here)
    agreement.csv     the long agreement table (one row per judge x dimension x frames;
                      ``frames`` reads ``all`` for every frame)
    agreement.md      failures first, then the paper-shaped tables (dimensions x frames) and
                      the long table
    run.json          what ran: judges and settings, data path and hash, frames, git commit,
                      times, cache use, cost, and failures per judge and reason
    pairs.parquet     each pair's prompt, video paths and generators (votes.parquet: the
                      annotators' votes, when given); what report.html shows
    report.html       the offline report (see :mod:`judges.report.html_report`), with
                      report_files/ beside it (previews, keyframe thumbnails, copied videos)

A run folder is written under a hidden staging name and renamed into place at the end
(:class:`RunFolder`), so a folder with a run's name is always a complete run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, overload

import polars as pl

from judges.cache.replies import RAW_REF, Replies, ref_schema
from judges.cache.verdict_rows import categorical, verdict_frame
from judges.core.errors import ConfigError
from judges.core.types import Pair, Verdict, frames_label
from judges.report.folders import check_writable_dir, record_run_id, rename_noreplace
from judges.report.tables import agreement_markdown, frames_labels
from judges.report.verdict_file import write_verdicts

_NAME = attrgetter("value")  # a dimension's name

VERDICT_SCHEMA: dict[str, Any] = {
    "pair_id": pl.String,
    "prompt_id": pl.String,
    "video_0_id": pl.String,
    "video_1_id": pl.String,
    "judge": pl.Categorical,
    "dimension": pl.Categorical,
    "frames": pl.Int64,
    "winner": pl.Categorical,
    "human": pl.Categorical,
    "match": pl.Boolean,
    "status": pl.Categorical,
    "score_0": pl.Float64,
    "score_1": pl.Float64,
    "confidence": pl.Float64,
    "confidence_kind": pl.Categorical,
    "error": pl.Categorical,
    "error_kind": pl.Categorical,
    "cost_usd": pl.Float64,
    "latency_s": pl.Float64,
    "raw": pl.String,
}
"""A run's verdict table in memory. Columns of a few values each are categorical (4 bytes a
row, not 16 and up); ``verdicts.parquet`` holds them as text (:func:`write_run`), as it always
did, so every reader of the file reads what it read before."""


def new_run_id(judge_names: Sequence[str], now: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<judges>``, sortable and readable."""
    now = now or datetime.now(UTC)
    names = "+".join(dict.fromkeys(judge_names)) or "run"
    safe = "".join(c if c.isalnum() or c in "-_+." else "_" for c in names)[:80]
    return f"{now:%Y%m%d-%H%M%S}-{safe}"


def verdict_table(
    verdicts: Sequence[Verdict] | pl.DataFrame,
    pairs: Sequence[Pair],
    confidence_kinds: Mapping[str, str | None] | None = None,
) -> pl.DataFrame:
    """All verdicts as a table, joined with the human label of each (pair, dimension).

    Args:
        verdicts: The verdicts: objects, a :class:`~judges.cache.verdict_rows.LazyVerdicts`, or a
            :data:`~judges.cache.verdict_rows.ROW_SCHEMA` frame (a run's columnar form).
        pairs: The pairs judged (for ids and human labels).
        confidence_kinds: ``judge label -> "probability" | "margin"`` (see
            ``Judge.confidence_kind``), so a confidence is never read as the other kind.

    """
    rows = verdicts if isinstance(verdicts, pl.DataFrame) else verdict_frame(verdicts)
    # A join, not a loop: a rerun tabulates over a million verdicts.
    by_id = {p.pair_id: p for p in pairs}  # the last of a repeated id, as a dict lookup had it
    kept = list(by_id.values())
    # Built by columns: rows of tuples cost polars several times more.
    ids = pl.DataFrame(
        {
            name: list(map(attrgetter(field), kept))
            for name, field in (
                ("pair_id", "pair_id"),
                ("prompt_id", "prompt_id"),
                ("video_0_id", "video_0.video_id"),
                ("video_1_id", "video_1.video_id"),
            )
        },
        schema={k: pl.String for k in ("pair_id", "prompt_id", "video_0_id", "video_1_id")},
    )
    label_pairs: list[int] = []  # each label's pair, by its row in ``ids``
    label_dims: list[str] = []
    label_humans: list[str] = []
    for k, p in enumerate(kept):
        labels = p.labels
        if labels:  # one extend per pair, not three appends per label
            label_pairs += [k] * len(labels)
            label_dims += map(_NAME, labels)
            label_humans += labels.values()
        for d in p.ties:
            if d not in labels:  # a label outranks a tie on the same dimension
                label_pairs.append(k)
                label_dims.append(d.value)
                label_humans.append("tie")
    humans = pl.DataFrame(
        {"p": label_pairs, "dimension": label_dims, "human": label_humans},
        schema={"p": pl.UInt32, "dimension": pl.Categorical, "human": pl.Categorical},
    )
    kinds = pl.DataFrame(
        list((confidence_kinds or {}).items()),
        schema={"judge": pl.Categorical, "kind": pl.Categorical},
        orient="row",
    )
    # Each verdict's pair as a row number of ``ids`` (null: not among the pairs); the texts are
    # gathered by it and the labels joined on it, so no join carries the text columns.
    rows = categorical(rows)
    number = ids.select("pair_id", p=pl.int_range(pl.len(), dtype=pl.UInt32))
    at = rows.select("pair_id").join(number, on="pair_id", how="left", maintain_order="left")["p"]
    looked_up = ids.select(pl.col("prompt_id", "video_0_id", "video_1_id").gather(at)).hstack(
        pl.DataFrame({"p": at, "dimension": rows["dimension"]})
        .join(humans, on=["p", "dimension"], how="left", maintain_order="left")
        .select("human")
        .hstack(rows.select("judge").join(kinds, on="judge", how="left", maintain_order="left"))
        .select("human", "kind")
    )
    table = rows.hstack(looked_up)
    table = table.with_columns(
        match=pl.when(pl.col("human").is_null())
        .then(None)
        .otherwise((pl.col("winner") == pl.col("human")).fill_null(False)),
        confidence_kind=pl.when(pl.col("confidence").is_not_null()).then(pl.col("kind")),
    )
    schema = ref_schema(VERDICT_SCHEMA) if RAW_REF in table.columns else VERDICT_SCHEMA
    return table.select(list(schema)).cast(schema)


def json_ready(obj: Any) -> Any:
    """``obj`` with NaN/inf as null, paths as text and keys as strings (for run.json)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_run(
    run_dir: Path,
    verdicts: pl.DataFrame,
    table: pl.DataFrame,
    info: dict[str, Any],
    notice: str | None = None,
    ceiling: pl.DataFrame | None = None,
    extra: Mapping[str, pl.DataFrame] | None = None,
    replies: Replies | None = None,
) -> None:
    """Write a run's files into ``run_dir`` (created if needed; normally a staging folder).

    ``replies``: where the replies of a table with ``raw_ref`` are (the file holds the texts).

    ``ceiling`` goes to ``ceiling.csv`` and the report; each non-empty ``extra`` table
    (``calibration``, ``position_bias``) to ``<name>.csv`` and a section of the report.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    # Categorical columns as text, replies read back, streamed: the file reads as it always did.
    write_verdicts(run_dir / "verdicts.parquet", verdicts, replies)
    frames_labels(table).write_csv(run_dir / "agreement.csv")
    if ceiling is not None:
        ceiling.write_csv(run_dir / "ceiling.csv")
    extra = {k: v for k, v in (extra or {}).items() if not v.is_empty()}
    for name, frame in extra.items():
        frames_labels(frame).write_csv(run_dir / f"{name}.csv")
    (run_dir / "agreement.md").write_text(
        agreement_markdown(
            table, notice, ceiling=ceiling, bootstrap=info.get("statistics"), extra=extra
        )
    )
    (run_dir / "run.json").write_text(json.dumps(json_ready(info), indent=2, sort_keys=False))


def read_agreement_csv(path: Path) -> pl.DataFrame:
    """An ``agreement.csv`` back as a table, ``frames`` as integers with null for ``all``."""
    table = pl.read_csv(path, schema_overrides={"frames": pl.String})
    # A statistic that is empty in every row (e.g. no tie threshold) reads back as text.
    empty = [
        c
        for c, dtype in table.schema.items()
        if c not in ("judge", "dimension", "frames")
        and dtype == pl.String
        and table[c].null_count() == table.height
    ]
    table = table.with_columns(pl.col(empty).cast(pl.Float64))
    return table.with_columns(
        pl.when(pl.col("frames") == frames_label(None))
        .then(None)
        .otherwise(pl.col("frames"))
        .cast(pl.Int64)
        .alias("frames")
    )


class RunFolder:
    """A run's results folder, claimed before any work and published atomically at the end.

    Files are written into a hidden staging folder next to the final one, which is renamed
    into place only when everything is written: a failed or interrupted run never leaves a
    folder that looks complete, and never replaces an earlier run unless asked to (the final
    rename fails when the name exists: see :meth:`publish`).

    Args:
        out: The results root (``--out``).
        run_id: The run's folder name.
        overwrite: Replace an existing run of that name (otherwise refuse).
        explicit: Whether the user chose ``run_id``; an automatic id that exists already gets
            a ``-2``, ``-3``... suffix instead of an error.
        option: The command-line option that named the folder (for messages).

    Raises:
        ConfigError: ``out`` is not a writable folder, or the run exists and ``overwrite`` is
            off.

    Example:
        >>> folder = RunFolder(Path("results"), "my-run")  # doctest: +SKIP
        >>> write_run(folder.staging, verdicts, table, info); folder.publish()  # doctest: +SKIP

    """

    @classmethod
    def for_run(
        cls,
        out: Path,
        run_id: str | None,
        judge_names: Sequence[str],
        started: datetime,
        overwrite: bool = False,
    ) -> RunFolder:
        """The folder of a run: ``run_id`` if given, else a time-and-judges name."""
        explicit = run_id is not None
        name = run_id if run_id is not None else new_run_id(judge_names, started)
        return cls(Path(out), name, overwrite=overwrite, explicit=explicit)

    def __init__(
        self,
        out: Path,
        run_id: str,
        *,
        overwrite: bool = False,
        explicit: bool = True,
        option: str = "--run-id",
    ) -> None:
        if not run_id or run_id.startswith(".") or Path(run_id).name != run_id:
            raise ConfigError(
                f"--run-id {run_id!r}: give a plain folder name (no '/', not empty, not "
                "starting with '.'); --out chooses where it goes"
            )
        check_writable_dir(out, "--out")
        if (out / run_id).exists() and not (out / run_id).is_dir():
            raise ConfigError(f"{option} {out / run_id}: is a file, not a folder; pass a folder")
        if (out / run_id).exists() and not overwrite and explicit:
            raise ConfigError(
                f"{option} {run_id}: {out / run_id} exists already; choose another "
                f"{option}, or pass --overwrite to replace it"
            )
        # Suffixes count from the name asked for: a name taken meanwhile goes on to the next
        # number, never "-3-2" (two commands picking "-3" at once).
        self._base, self._n = run_id, 1
        if (out / run_id).exists() and not overwrite:
            n = 2
            while (out / f"{run_id}-{n}").exists():
                n += 1
            self._n, run_id = n, f"{run_id}-{n}"
        self.out = out
        self.overwrite = overwrite
        self.explicit = explicit
        self.option = option
        self.run_id = run_id
        self.path = out / run_id
        # Unique per run (not only per process: a notebook may write two at once).
        self.staging = out / f".{run_id}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def publish(self) -> Path:
        """Move the staged files into place: the rename is the claim on the name.

        The rename fails when the name exists (``RENAME_NOREPLACE``), so of two runs that
        picked one name (two runs started in the same second with the default time-and-judges
        id) the second moves on to ``-2``, ``-3``... (its ``run.json`` says so), and a folder
        is replaced only when ``overwrite`` was given for this run.

        Raises:
            ConfigError: the chosen ``--run-id`` appeared while this run was writing (and
                ``overwrite`` is off); the staged files are left where the message says.
        """
        if self.overwrite and self.path.exists():
            old = self.path.with_name(f".{self.run_id}.replaced-{uuid.uuid4().hex[:8]}")
            with contextlib.suppress(FileNotFoundError):  # another --overwrite run moved it
                self.path.rename(old)
            self.staging.rename(self.path)
            shutil.rmtree(old, ignore_errors=True)
            return self.path
        while not rename_noreplace(self.staging, self.path):
            if self.explicit:
                raise ConfigError(
                    f"{self.option} {self.run_id}: {self.path} appeared while this run was "
                    f"writing; its results are kept in {self.staging}: move them to a name of "
                    "your choice"
                )
            self._n += 1
            self.run_id = f"{self._base}-{self._n}"
            self.path = self.out / self.run_id
            record_run_id(self.staging, self.run_id)
        return self.path

    def discard(self) -> None:
        """Remove the staging folder (after a failure)."""
        shutil.rmtree(self.staging, ignore_errors=True)


# --- reading runs back ---------------------------------------------------------------


RUN_TABLES = {"agreement": "agreement.csv", "harm": "harm_agreement.csv"}


@overload
def normal_verdicts(verdicts: pl.DataFrame) -> pl.DataFrame: ...
@overload
def normal_verdicts(verdicts: pl.LazyFrame) -> pl.LazyFrame: ...
def normal_verdicts(verdicts: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """The normal run's rows of a ``verdicts.parquet``, without the controls' columns.

    Controls' rows (``control`` other than ``none``) are left out, and so are the ``control``
    and ``control_prompt_id`` columns, so a run with controls reads like one without (and a
    file written before controls existed reads as it is).

    Example:
        >>> rows = pl.DataFrame({"pair_id": ["a", "b"], "control": ["none", "frozen"]})
        >>> normal_verdicts(rows).to_dict(as_series=False)
        {'pair_id': ['a']}

    """
    if "control" not in verdicts.collect_schema().names():  # (a scan is read lazily)
        return verdicts
    rows = verdicts.filter(pl.col("control") == "none")
    return rows.drop("control", "control_prompt_id", strict=False)


def run_kind(run_dir: Path) -> str:
    """``agreement`` (a preference run) or ``harm`` (a harm-label run), from its files."""
    return "harm" if (Path(run_dir) / RUN_TABLES["harm"]).is_file() else "agreement"


def read_run(run_dir: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A run folder's agreement table (preference or harm) and run.json.

    Raises:
        ConfigError: not a run folder.
    """
    table_path = Path(run_dir) / RUN_TABLES[run_kind(run_dir)]
    info_path = Path(run_dir) / "run.json"
    if not table_path.is_file() or not info_path.is_file():
        raise ConfigError(
            f"{run_dir}: not a run folder (needs agreement.csv or harm_agreement.csv, and "
            "run.json, from experiments/agreement.py or harm.py)"
        )
    return read_agreement_csv(table_path), json.loads(info_path.read_text())
