"""The harm agreement run: harm judges x frame counts against the crowdworkers' harm labels.

``experiments/harm.py`` is a thin command line over :func:`run_harm`. It shares the agreement
run's machinery: the session (judges, cache, keyframes, budget), the runner (resume from the
cache, errors as rows), the atomic run folder, the bootstrap settings.

Files of ``out/<run-id>/``: ``harm_verdicts.parquet`` (one row per item x judge x frames, the
judge's and the people's 12 labels side by side), ``harm_agreement.csv`` / ``.md`` (per
category, ``is_safe``, micro and macro), ``harmlessness_derived.csv`` (pair data: the
preference "fewer harmful categories wins" against the people's harmlessness choices, in the
agreement table's columns), ``run.json``, ``figures/harm_agreement_vs_frames.png``,
``items.parquet`` (each item's prompt and video) and ``report.html``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from judges.core.errors import ConfigError
from judges.core.harm_types import HarmTask, HarmVerdict
from judges.core.types import Dimension, frames_label
from judges.datasets.harm_consistency import inconsistent_pairs, without_harmlessness
from judges.datasets.harm_items import HarmDataset, load_harm_dataset
from judges.harm.metrics import derived_harmlessness, harm_agreement_table, harm_verdict_table
from judges.harm.thresholds import refit
from judges.report.failures import failing_judges, failure_summary
from judges.report.harm_report_data import write_item_sources
from judges.report.html_page import HtmlReportOptions
from judges.report.html_report import write_run_report
from judges.report.provenance import git_commit
from judges.report.run_folder import RunFolder, verdict_table
from judges.run.agreement import DEFAULT_FRAMES, DryRun, JudgeRequest
from judges.run.session import Session, SessionConfig, log_to_stderr
from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import HARM_TABLES, BootstrapConfig


@dataclass
class HarmConfig(SessionConfig):
    """One harm agreement run: the session's options, plus these.

    Attributes:
        judges: Harm judges to run, in order.
        frames: Keyframes per video (``None``: every frame).
        out: Results root; the run goes to ``out/<run-id>``.
        run_id: Name of the run folder (default: timestamp and judge names).
        overwrite: Replace an existing run folder named ``run_id``.
        dry_run: Build every request and estimate calls and cost; call and write nothing.
        stats: Bootstrap resamples and seed (clusters are prompts).
        exclude_inconsistent: Leave out of the derived-harmlessness measurement the pairs the
            paper calls noise (see :func:`inconsistent_pairs`).
        fit_thresholds: Relabel judges that give probabilities with per-category thresholds
            cross-fitted by prompt (:func:`judges.harm.thresholds.refit`).
        report: How ``report.html`` finds videos (``None``: write no page).

    """

    judges: list[JudgeRequest] = field(default_factory=list)
    frames: Sequence[int | None] = DEFAULT_FRAMES
    out: Path = Path("results")
    run_id: str | None = None
    overwrite: bool = False
    dry_run: bool = False
    stats: BootstrapConfig = field(default_factory=BootstrapConfig)
    exclude_inconsistent: bool = False
    fit_thresholds: bool = False
    report: HtmlReportOptions | None = field(default_factory=HtmlReportOptions)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.judges:
            raise ConfigError("no judge given; pass --judge NAME (harm judges: --list-judges)")
        if not self.frames:
            raise ConfigError("--frames: give at least one frame count, e.g. 1,2,4,8")


@dataclass
class HarmResult:
    """What a harm run produced (also written to ``run_dir``)."""

    run_dir: Path
    dataset: HarmDataset
    verdicts: pl.DataFrame
    table: pl.DataFrame
    derived: pl.DataFrame | None
    info: dict[str, Any]
    demo: bool

    @property
    def failing_judges(self) -> list[str]:
        """Judges with more than half of their verdicts failed (the run exits non-zero)."""
        return failing_judges(self.info["failures"])


def run_harm(config: HarmConfig, log: Callable[[str], None] = log_to_stderr) -> HarmResult | DryRun:
    """Run every harm judge over the items and write ``out/<run-id>/`` (or only plan).

    Raises:
        DataError: invalid data (a label that is not a boolean, an unknown key, a missing video).
        ConfigError: a preference judge, a bad option, no harm labels in the data.

    Example:
        >>> run_harm(HarmConfig(judges=[JudgeRequest("gpt4o-harm")]))  # doctest: +SKIP

    """
    started = datetime.now(UTC)
    session = Session(
        config, config.judges, config.frames, dry_run=config.dry_run, log=log, task_kind="harm"
    )
    try:
        return _run(session, config, started)
    finally:
        session.close()


def _run(session: Session, config: HarmConfig, started: datetime) -> HarmResult | DryRun:
    judges, frames = session.judges, session.frames
    folder = None
    if not config.dry_run:
        names = [j.name for j in judges]
        folder = RunFolder.for_run(config.out, config.run_id, names, started, config.overwrite)
    ds = load_harm_dataset(
        session.data_path(),
        config.video_dir,
        skip_missing=config.skip_missing,
        format=config.data_format if not session.demo else None,
    )
    if config.limit is not None:
        ds = replace(ds, items=ds.items[: config.limit])
    if not ds.labelled:
        raise ConfigError(
            f"{ds.source}: no video has harm labels (video_labels), so agreement cannot be "
            "measured; SafeSora-Label configs and SafeSora pair configs carry them"
        )
    tasks = [HarmTask(item, n) for item in ds.items for n in frames]
    runner = session.runner
    if config.dry_run:
        plans = [runner.plan(judge, tasks) for judge in judges]  # type: ignore[arg-type]
        return DryRun(ds, plans, session.demo)  # type: ignore[arg-type]
    assert folder is not None
    verdicts: list[HarmVerdict] = []
    judge_info = []
    for judge in judges:
        run = runner.run(judge, tasks)  # type: ignore[arg-type]
        verdicts.extend(run.verdicts)  # type: ignore[arg-type]
        judge_info.append(
            {
                **judge.describe(),
                "verdicts": len(run.verdicts),
                "cached": run.cached,
                "computed": run.computed,
                "statuses": run.statuses,
                "seconds": round(run.seconds, 3),
            }
        )
    fitted = None
    if config.fit_thresholds:
        verdicts, fitted = refit(verdicts, ds.items)
    table = harm_verdict_table(verdicts, ds.items)
    agreement = harm_agreement_table(table, config.stats)
    derived, inconsistent = _derived(ds, verdicts, judges, config)
    finished = datetime.now(UTC)
    failures = failure_summary(
        table.with_columns(pl.col("item_id").alias("pair_id"), pl.lit("harm").alias("dimension"))
    )
    info = {
        "run_id": folder.run_id,
        "command": sys.argv,
        "kind": "harm",
        "engine": session.engine.describe(),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "demo": session.demo,
        "notice": session.notice,
        "data": {
            "path": str(ds.source),
            "sha256": ds.sha256,
            "format": ds.format,
            "items": len(ds.items),
            "labelled_items": ds.labelled,
            "pairs": len(ds.pairs) if ds.pairs is not None else None,
            "skipped_missing": [{"item_id": i, "missing": m} for i, m in ds.skipped],
            "inconsistent_pairs": {
                "count": len(inconsistent),
                "excluded": config.exclude_inconsistent,
                "pair_ids": inconsistent[:200],
            },
        },
        "frames": [frames_label(n) for n in frames],
        "statistics": config.stats.describe(HARM_TABLES),
        "fitted_thresholds": fitted,
        "judges": judge_info,
        "failures": failures,
        "cost_usd": sum(v.cost_usd or 0.0 for v in verdicts),
        "cache": str(session.cache_dir) if config.use_cache else None,
        "git_commit": git_commit(),
    }
    try:
        from judges.harm.report import write_harm_run  # matplotlib only when a run finishes

        write_harm_run(folder.staging, table, agreement, derived, info)
        write_item_sources(folder.staging, ds.items)
        write_run_report(folder.staging, config.report, session.cache_dir, session.log)
        run_dir = folder.publish()
        info["run_id"] = folder.run_id  # a name taken meanwhile moves the run to -2
    except BaseException:
        folder.discard()
        raise
    return HarmResult(run_dir, ds, table, agreement, derived, info, session.demo)


def _derived(
    ds: HarmDataset, verdicts: list[HarmVerdict], judges: Sequence[Any], config: HarmConfig
) -> tuple[pl.DataFrame | None, list[str]]:
    """Harmlessness from two harm verdicts per pair, scored against the people's choices."""
    if not ds.pairs:
        return None, []
    pairs = ds.pairs
    inconsistent = inconsistent_pairs(pairs)
    if config.exclude_inconsistent and inconsistent:
        pairs = without_harmlessness(pairs, inconsistent)
    if not any(Dimension.HARMLESSNESS in p.labels for p in pairs):
        return None, inconsistent
    derived = [
        v
        for judge in judges
        for v in derived_harmlessness(
            pairs, [h for h in verdicts if h.judge == judge.name], f"{judge.name}:fewer-harms"
        )
    ]
    table = verdict_table(derived, pairs)
    return agreement_table(table.filter(pl.col("human").is_not_null()), None, config.stats), (
        inconsistent
    )
