"""The HTML report's data: a run folder's own files, packed into one compact JSON object.

The report is a view (DESIGN.md): everything here is read back from the run folder
(``verdicts.parquet``, ``agreement.csv``, ``ceiling.csv``, ``run.json``, ``pairs.parquet``,
``votes.parquet``), so a report can be rebuilt for any old run. A run written before
``pairs.parquet`` existed gets its prompts and video paths from the data file run.json names.

The packing is columnar so a SafeSora-size run (51,691 pairs x 24 settings) stays a few tens of
megabytes: prompts, videos and texts are listed once and referenced by index; each setting's
verdicts are delta-coded pair indices, one outcome letter per verdict and rounded numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

import polars as pl

from judges.cache.replies import RAW_REF, Replies
from judges.core.errors import ConfigError
from judges.core.types import Pair, frames_label
from judges.report.page_settings import page_settings
from judges.report.run_folder import VERDICT_SCHEMA, normal_verdicts, read_agreement_csv
from judges.report.tables import display_table, error_groups, frames_labels, interval_method
from judges.report.verdict_packing import HUMAN_CODES, OUTCOME_CODES

__all__ = [
    "OUTCOME_CODES",
    "pairs_frame",
    "read_pairs",
    "read_tables",
    "read_verdicts",
    "report_data",
    "rows",
    "video_paths",
    "write_report_sources",
]

PAIR_COLUMNS = {
    "pair_id": pl.String,
    "prompt_id": pl.String,
    "prompt_text": pl.String,
    "video_0_id": pl.String,
    "video_0_path": pl.String,
    "video_0_generator": pl.String,
    "video_1_id": pl.String,
    "video_1_path": pl.String,
    "video_1_generator": pl.String,
}


def pairs_frame(pairs: Sequence[Pair]) -> pl.DataFrame:
    """The pairs a run judged: ids, prompt, both videos' paths and generators."""

    def column(name: str) -> list[Any]:
        return list(map(attrgetter(name), pairs))  # in C: no Python frame per pair

    texts: dict[Path, str] = {}  # a path's text once per video, not once per pair

    def paths(name: str) -> list[str]:
        return [texts.get(p) or texts.setdefault(p, str(p)) for p in column(name)]

    columns = {
        "pair_id": column("pair_id"),
        "prompt_id": column("prompt_id"),
        "prompt_text": column("prompt_text"),
        "video_0_id": column("video_0.video_id"),
        "video_0_path": paths("video_0.path"),
        "video_0_generator": column("video_0.generated_from"),
        "video_1_id": column("video_1.video_id"),
        "video_1_path": paths("video_1.path"),
        "video_1_generator": column("video_1.generated_from"),
    }
    # By columns (rows cost polars more); not strict: a generator given as a number is text,
    # as the rows had it.
    table = pl.DataFrame(columns, schema=PAIR_COLUMNS, strict=False)
    # A repeated id is the last record's, as the verdict table reads it.
    return table.unique("pair_id", keep="last", maintain_order=True)


def write_report_sources(
    run_dir: Path, pairs: Sequence[Pair], votes: pl.DataFrame | None = None
) -> None:
    """Write ``pairs.parquet`` (and ``votes.parquet`` when votes were given) into a run folder.

    They make the folder self-describing: the report needs no access to the data file.
    """
    pairs_frame(pairs).write_parquet(Path(run_dir) / "pairs.parquet")
    if votes is not None and not votes.is_empty():
        votes.write_parquet(Path(run_dir) / "votes.parquet")


def read_pairs(run_dir: Path, info: dict[str, Any]) -> pl.DataFrame:
    """``pairs.parquet``, or (older runs) the same table from the data file run.json names.

    Raises:
        ConfigError: neither is there.
    """
    path = Path(run_dir) / "pairs.parquet"
    if path.is_file():
        return pl.read_parquet(path)
    from judges.datasets import load_dataset

    data = info.get("data") or {}
    try:
        dataset = load_dataset(data["path"], data.get("video_dir"), skip_missing=True)
    except (KeyError, OSError, ConfigError) as e:
        raise ConfigError(
            f"{run_dir}: no pairs.parquet (a run from before the HTML report) and its data "
            f"{data.get('path')!r} cannot be read ({e}); rerun the agreement command to rebuild"
        ) from None
    return pairs_frame(dataset.pairs)


def rows(table: pl.DataFrame) -> list[tuple[Any, ...]]:
    """A table's rows for JSON: NaN and infinities become null."""
    floats = [c for c, t in table.schema.items() if t.is_float()]
    table = table.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in floats
    )
    return table.rows()


def _overview(
    table: pl.DataFrame, ceiling: pl.DataFrame | None, notice: str | None
) -> dict[str, Any]:
    """The agreement table's cells exactly as agreement.md prints them, plus failure flags."""
    cells = display_table(table, ceiling)
    failed = error_groups(table)
    flags = [
        f"{r['judge']} {r['dimension']} @{frames_label(r['frames'])}: {r['n_errors']} of "
        f"{r['n_labeled']} judgements failed; they count as disagreements"
        for r in failed.iter_rows(named=True)
    ]
    long_cols = [
        c
        for c in (
            "run_id",
            "judge",
            "dimension",
            "frames",
            "n_labeled",
            "n_decided",
            "agreement",
            "agreement_lo",
            "agreement_hi",
            "agreement_cluster_lo",
            "agreement_cluster_hi",
            "accuracy",
            "kappa",
            "p_value",
            "coverage",
            "n_errors",
            "tie_rate",
            "error_rate",
        )
        if c in table.columns
    ]
    return {
        "columns": cells.columns,
        "rows": rows(cells),
        "interval": interval_method(table),
        "flags": flags,
        "long": {"columns": long_cols, "rows": rows(frames_labels(table).select(long_cols))},
        "ceiling": rows(ceiling) if ceiling is not None else None,
        "ceiling_columns": ceiling.columns if ceiling is not None else None,
        "notice": notice,
    }


# fmt: off
VERDICT_COLUMNS = ("pair_id", "judge", "dimension", "frames", "winner", "status", "human",
                   "score_0", "score_1", "confidence", "confidence_kind", "error", "raw")
# fmt: on
"""The verdict columns the page shows (a SafeSora run's ids, costs and latencies are left);
a run's table holds ``raw_ref`` in place of ``raw`` (:mod:`judges.cache.replies`)."""
_REPEATED = tuple(c for c, dtype in VERDICT_SCHEMA.items() if dtype == pl.Categorical)
"""Columns of a few values each: categorical, as a run's table holds them in memory."""


def read_verdicts(path: Path) -> pl.DataFrame:
    """The :data:`VERDICT_COLUMNS` of a ``verdicts.parquet`` that the page reads.

    Example:
        >>> pl.DataFrame({"pair_id": ["p"], "judge": ["psnr"], "extra": [1]}).write_parquet(
        ...     tmp_path / "v.parquet")  # doctest: +SKIP
        >>> read_verdicts(tmp_path / "v.parquet").schema  # doctest: +SKIP
        Schema({'pair_id': String, 'judge': Categorical})

    """
    return page_verdicts(pl.scan_parquet(path)).collect()


def page_verdicts(verdicts: pl.LazyFrame) -> pl.LazyFrame:
    """The normal rows' :data:`VERDICT_COLUMNS` of a verdict table (a file's, or a run's)."""
    scan = normal_verdicts(verdicts)  # a run with controls: its normal rows
    have = scan.collect_schema().names()
    wanted = [RAW_REF if c == "raw" and RAW_REF in have else c for c in VERDICT_COLUMNS]
    columns = [c for c in wanted if c in have]
    cast = {c: pl.Categorical for c in _REPEATED if c in columns}
    return scan.select(columns).cast(cast)  # type: ignore[arg-type]


def read_tables(
    run_dir: Path, verdicts: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """A run folder's verdicts (:func:`read_verdicts`), agreement table and human ceiling.

    The ceiling is ``None`` without votes. ``verdicts``: a run's table, held (not read again).
    """
    ceiling_path = run_dir / "ceiling.csv"
    return (
        read_verdicts(run_dir / "verdicts.parquet")
        if verdicts is None
        else page_verdicts(verdicts.lazy()).collect(),
        read_agreement_csv(run_dir / "agreement.csv"),
        pl.read_csv(ceiling_path) if ceiling_path.is_file() else None,
    )


def report_data(
    run_dir: Path,
    info: dict[str, Any],
    pairs: pl.DataFrame,
    videos: list[dict[str, Any]],
    tables: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None] | None = None,
    replies: Replies | None = None,
) -> dict[str, Any]:
    """Everything the page shows, packed (see the module docstring for the layout).

    Args:
        run_dir: The run folder (its ``votes.parquet`` is read when there).
        info: Its run.json.
        pairs: :func:`read_pairs`' table.
        videos: One entry per distinct video path, in first-seen order over
            ``pairs.video_0_path, video_1_path`` (see :func:`video_paths`): its URL, state and
            keyframes, made by :mod:`judges.report.html_report`.
        tables: Verdicts, agreement table and ceiling (default: :func:`read_tables`); a
            merged report passes its own.
        replies: Where the replies of a verdict table with ``raw_ref`` are. Each is cut as
            run.json's ``report_replies`` says (:mod:`judges.report.reply_budget`).

    """
    verdicts, table, ceiling = tables or read_tables(run_dir)
    index = {pid: i for i, pid in enumerate(pairs["pair_id"].to_list())}
    paths = video_paths(pairs)
    vid = {p: i for i, p in enumerate(paths)}
    prompts: dict[str, int] = {}
    prompt_of = [prompts.setdefault(t or "", len(prompts)) for t in pairs["prompt_text"]]
    gens: dict[str, int] = {}
    gen_of = [
        [gens.setdefault(g, len(gens)) if g else -1 for g in pairs[f"video_{s}_generator"]]
        for s in (0, 1)
    ]
    # Settings are packed one at a time as the page is written (judges.report.page_settings).
    cut = (info.get("report_replies") or {}).get("cut_to_bytes")
    humans, settings, texts = page_settings(verdicts, pairs["pair_id"], run_dir, replies, cut)
    votes_path = run_dir / "votes.parquet"
    votes = None
    if votes_path.is_file():
        cast = pl.read_parquet(votes_path).filter(pl.col("pair_id").is_in(list(index)))
        annotators = sorted(set(cast["annotator"].to_list()))
        ann = {a: i for i, a in enumerate(annotators)}
        rows: dict[str, dict[int, list[list[Any]]]] = {}
        for pid, dim, who, choice in cast.select(
            "pair_id", "dimension", "annotator", "choice"
        ).iter_rows():
            rows.setdefault(dim, {}).setdefault(index[pid], []).append(
                [ann[who], HUMAN_CODES.get(choice, "?")]
            )
        votes = {"annotators": annotators, "by_dimension": rows}
    return {
        "kind": "agreement",
        "run_id": info.get("run_id", run_dir.name),
        "overview": _overview(table, ceiling, info.get("notice")),
        "pairs": {
            "id": pairs["pair_id"].to_list(),
            "prompt": prompt_of,
            "v0": [vid[p] for p in pairs["video_0_path"]],
            "v1": [vid[p] for p in pairs["video_1_path"]],
            "g0": gen_of[0] if gens else None,
            "g1": gen_of[1] if gens else None,
        },
        "prompts": list(prompts),
        "generators": list(gens),
        "videos": videos,
        "humans": humans,
        "settings": settings,
        "texts": texts,
        "votes": votes,
    }


def video_paths(pairs: pl.DataFrame) -> list[str]:
    """Distinct video paths of the pairs, in first-seen order (video_0 before video_1)."""
    both = pl.concat([pairs["video_0_path"], pairs["video_1_path"]]).to_list()
    order = [
        x for pair in zip(both[: pairs.height], both[pairs.height :], strict=True) for x in pair
    ]
    return list(dict.fromkeys(order))
