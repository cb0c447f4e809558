"""The agreement run: judges x dimensions x frame counts against human labels.

``experiments/agreement.py`` is a thin command line over :func:`run_agreement`; a notebook can
call it directly with an :class:`AgreementConfig`. The shared set-up (judges, cache, data,
runner) is a :class:`~judges.run.session.Session`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from judges.cache.store import file_sha256
from judges.cache.verdict_rows import held_frame
from judges.core.errors import ConfigError
from judges.core.figures_setting import figures_by_default
from judges.core.gc_control import frozen_after
from judges.core.memory import trim_free_memory
from judges.core.stages import Stages
from judges.core.types import Dimension, frames_label
from judges.datasets import check_labels, parse_dimensions, summarize
from judges.datasets.duplicates import content_duplicates
from judges.datasets.harm_consistency import inconsistent_pairs, without_harmlessness
from judges.datasets.votes import collect_votes
from judges.judge.controls import parse_controls
from judges.media.frame_counts import normalize_frames
from judges.report.controls import control_sentences, write_controls
from judges.report.failures import failure_summary
from judges.report.figure_reuse import figures_key, keep_figures, reuse_figures
from judges.report.html_page import HtmlReportOptions
from judges.report.html_report import write_run_report
from judges.report.provenance import git_commit, library_versions
from judges.report.rankings import write_rankings
from judges.report.repeats_lines import repeats_lines
from judges.report.report_data import write_report_sources
from judges.report.run_folder import RunFolder, new_run_id, verdict_table, write_run
from judges.run.controls_run import control_plans, run_controls, with_controls
from judges.run.results import _DESCRIBED, DryRun, JudgeReport, RunResult
from judges.run.run_replies import page_replies, reply_tables
from judges.run.session import JudgeRequest, Session, SessionConfig, log_to_stderr
from judges.run.task_plan import planned_tasks
from judges.run.task_runner import JudgeRun
from judges.stats.above_pairs import above_pairs, check_fields
from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.calibration import calibration_table
from judges.stats.ceiling import ceiling_table, judge_vs_loo, with_ceiling
from judges.stats.controls import control_table
from judges.stats.ranking import RankingConfig
from judges.stats.text_columns import texts

__all__ = [
    "AgreementConfig",
    "DryRun",
    "JudgeRequest",
    "RunResult",
    "run_agreement",
]

DEFAULT_FRAMES: tuple[int | None, ...] = (1, 2, 4, 8)


@dataclass
class AgreementConfig(SessionConfig):
    """Everything one agreement run needs: the session's options, plus these.

    The session's (see :class:`~judges.run.session.SessionConfig`): data, video_dir, skip_missing,
    limit, cache_dir, use_cache, strategy, workers, progress, concurrency, max_cost.

    Attributes:
        judges: Judges to run, in order.
        frames: Keyframes per video: whole numbers and ``None`` or ``"all"`` (every frame),
            or a string as ``--frames`` takes it (``"1,2,4,8"``).
        dimensions: Dimensions to judge (names or :class:`Dimension` values, or a
            comma-separated string); ``None`` uses each judge's defaults, ``"all"`` every
            dimension the data labels.
        out: Results root; the run goes to ``out/<run-id>``. ``None`` writes no folder: the
            result stays in memory (a notebook's way).
        run_id: Name of the run folder (default: timestamp and judge names).
        overwrite: Replace an existing run folder named ``run_id`` (otherwise refuse).
        dry_run: Build every request and estimate calls and cost; call nothing, write nothing.
        votes: Votes files (CSV, parquet, JSONL or a Label Studio export) for the human
            ceiling; the pairs' own ``votes`` fields are read too.
        stats: Cluster, resamples and seed of the bootstrap intervals.
        report: How ``report.html`` finds videos (``None``: write no page).
        exclude_inconsistent: Drop the harmlessness label of pairs whose safer-rated video
            carries a harm label while the other carries none (the paper's annotation noise,
            :func:`judges.harm.metrics.inconsistent_pairs`); counted in run.json either way.
        rank_generators: Generator rankings: None = when the videos name two generators or
            more (``generated_from``), True = always (refused without generators), False = off.
        by: Fields to break agreement down by (``generator``, ``prompt_type``, any field).
        controls: Controls to run each judge under besides the normal run (``none``, always
            run): names from :data:`judges.judge.controls.CONTROLS`; ``control_seed`` seeds
            the prompt derangement and the random frame orders.
        figures: Draw the figures (``figures/*.png`` and ``*.svg``, shown in report.html;
            default ``$JUDGES_FIGURES``, else all). False (``--figures none``): tables, files
            and the page only, and no matplotlib: for sweeps and scripted runs.

    Raises:
        ConfigError: no judge, no frame count, or a session option out of range.

    """

    judges: list[JudgeRequest] = field(default_factory=list)
    frames: Sequence[int | str | None] | str = DEFAULT_FRAMES
    dimensions: Sequence[Dimension] | str | None = None
    out: Path | None = Path("results")
    run_id: str | None = None
    overwrite: bool = False
    dry_run: bool = False
    votes: Sequence[Path] = ()
    stats: BootstrapConfig = field(default_factory=BootstrapConfig)
    exclude_inconsistent: bool = False
    report: HtmlReportOptions | None = field(default_factory=HtmlReportOptions)
    rank_generators: bool | None = None
    by: Sequence[str] = ()
    controls: Sequence[str] | str = ()
    control_seed: int = 0
    figures: bool = field(default_factory=figures_by_default)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.judges:
            raise ConfigError("no judge given; pass --judge NAME (see --list-judges)")
        # Callers from Python spell frame counts and dimensions as freely as the command
        # line does ("1,2", ["all"], 8; "aesthetics"); one checked form reaches the run.
        self.frames = tuple(normalize_frames(self.frames))
        self.controls = parse_controls(self.controls)
        if self.control_seed < 0:
            raise ConfigError(f"--control-seed {self.control_seed}: give a whole number >= 0")
        if self.dimensions is not None:
            self.dimensions = parse_dimensions(self.dimensions)
        for path in self.votes:
            if not Path(path).expanduser().is_file():
                raise ConfigError(f"--votes {path}: no such file")


def run_agreement(
    config: AgreementConfig,
    log: Callable[[str], None] = log_to_stderr,
    stages: Stages | None = None,
) -> RunResult | DryRun:
    """Run every judge over the data and write ``out/<run-id>/`` (or only plan, when dry).

    Everything that can be refused is refused before the first verdict: judges and their
    options, a setting undefined for every pair, the output and cache folders, an existing
    run folder, dimensions without human labels. The run folder appears only once complete.
    ``stages``, when given, gets the wall time of each stage (``--profile``).

    Raises:
        DataError: the dataset is invalid or videos are missing.
        ConfigError: an unknown judge, a bad option or frame count, a missing API key, an
            unwritable or existing output, a dimension without labels.
        BudgetExhausted: ``max_cost`` reached; finished verdicts stay in the cache.

    Example:
        >>> result = run_agreement(AgreementConfig([JudgeRequest("psnr")]))  # doctest: +SKIP
        >>> result.table.select("dimension", "frames", "agreement")  # doctest: +SKIP

    """
    started = datetime.now(UTC)
    session = Session(config, config.judges, config.frames, dry_run=config.dry_run, log=log)
    with frozen_after() as freeze:
        try:
            return _run(session, config, started, stages or Stages(), freeze)
        finally:
            session.close()


def _run(
    session: Session,
    config: AgreementConfig,
    started: datetime,
    stages: Stages,
    freeze: Callable[[], None],
) -> RunResult | DryRun:
    judges, frames = session.judges, session.frames
    folder = None
    names = [j.name for j in judges]
    if not config.dry_run and config.out is not None:
        folder = RunFolder.for_run(config.out, config.run_id, names, started, config.overwrite)
    dataset = session.load()
    pairs = dataset.pairs
    # Votes are checked before any judgement: a bad row costs nothing.
    votes = collect_votes(pairs, config.votes)
    check_fields(pairs, config.by)
    inconsistent = inconsistent_pairs(pairs)
    stages.lap("set-up, loading pairs")
    freeze()  # the pairs live as long as the run: out of the collector's way
    if config.exclude_inconsistent and inconsistent:
        pairs = without_harmlessness(pairs, inconsistent)
        dataset = replace(dataset, pairs=pairs)
    labeled = {d for p in pairs for d in p.labels}
    labeled_dims = [d for d in Dimension.known() if d in labeled]
    chosen: Sequence[Dimension] | None = (
        labeled_dims if config.dimensions == "all" else config.dimensions  # type: ignore[assignment]
    )
    # A judge of any dimension (default_dimensions None) judges what the data labels, never
    # a dimension the user did not ask for and the data cannot score.
    plan = {j.name: list(chosen or j.default_dimensions or labeled_dims) for j in judges}
    for judge in judges:
        check_labels(pairs, plan[judge.name], dataset.source, judge.name)
        judge.check_dimensions(plan[judge.name])
    runner = session.runner
    if config.dry_run:
        plans = [
            runner.plan(judge, planned_tasks(pairs, plan[judge.name], frames, with_ties=True)[0])
            for judge in judges
        ]
        plans += control_plans(runner, judges, plan, pairs, frames, config)
        return DryRun(dataset, plans, session.demo, session.notice)
    runs: list[JudgeRun] = []
    judge_info: list[dict[str, Any]] = []
    reports: list[JudgeReport] = []
    unlabeled_all: dict[str, dict[str, int]] = {}
    for judge in judges:
        dims = plan[judge.name]
        tasks, unlabeled = planned_tasks(pairs, dims, frames, with_ties=True)
        stages.lap("planning tasks")
        if unlabeled:
            missing = ", ".join(f"{d} {n}" for d, n in unlabeled.items())
            session.log(f"{judge.name}: pairs without a human label, not judged: {missing}")
        run = runner.run(judge, tasks)
        stages.lap("indexing, cache lookup, judging")
        del tasks  # a million task objects, no longer needed
        trim_free_memory()  # what judging freed, back to the system (polars asks it anew)
        runs.append(run)
        unlabeled_all[judge.name] = unlabeled
        costs = held_frame(run.verdicts)["cost_usd"].drop_nulls()
        report = JudgeReport(
            name=judge.name,
            dimensions=[d.value for d in dims],
            verdicts=len(run.verdicts),
            cached=run.cached,
            computed=run.computed,
            statuses=run.statuses,
            seconds=round(run.seconds, 3),
            cost_usd=float(costs.sum()) if len(costs) else None,
            requests=judge.request_stats(),
            flip_rate=judge.flip_rate,
        )
        reports.append(report)
        counts = {k: v for k, v in asdict(report).items() if k not in _DESCRIBED}
        judge_info.append({**judge.describe(), **counts})
    controlled, control_runs = run_controls(
        runner, judges, plan, pairs, frames, config.controls, config.control_seed, session.log
    )
    store = session.store
    duplicates = content_duplicates(pairs, store.file_hash if store is not None else file_sha256)
    stages.lap("content duplicates")

    all_verdicts = pl.concat([held_frame(run.verdicts) for run in runs])
    verdicts = verdict_table(all_verdicts, pairs, {j.name: j.confidence_kind for j in judges})
    table = agreement_table(
        verdicts,
        {(j, d): n for j, counts in unlabeled_all.items() for d, n in counts.items()},
        config.stats,
    )
    ceiling = ceiling_table(votes.table, pairs, config.stats) if votes is not None else None
    loo = judge_vs_loo(verdicts, votes.table, config.stats) if votes is not None else None
    table = with_ceiling(table, ceiling, loo)
    repeats, bias = reply_tables(verdicts, runner.replies, config.stats)  # K times; both orders
    for line in repeats_lines(repeats):
        session.log(line)
    everything = with_controls(verdicts, controlled)  # verdicts.parquet: every control's rows
    controls = control_table(texts(everything), config.stats) if controlled is not None else None
    for line in control_sentences(controls) if controls is not None else []:
        session.log(line)
    above = above_pairs(
        verdicts, pairs, config.stats, config.rank_generators, config.by,
        votes.table if votes is not None else None,
    )  # fmt: skip
    stages.lap("statistics")
    demo, cache_dir, source = session.demo, session.cache_dir, session.source
    finished = datetime.now(UTC)
    info = {
        "run_id": folder.run_id if folder else config.run_id or new_run_id(names, started),
        "command": sys.argv,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "seconds": round((finished - started).total_seconds(), 3),
        "demo": demo,
        "notice": session.notice,
        "data": {
            "path": str(dataset.source),
            "sha256": dataset.sha256,
            "video_dir": str(config.video_dir) if config.video_dir else None,
            "pairs_used": len(pairs),
            "limit": config.limit,
            "skipped_missing": [{"pair_id": p, "missing": m} for p, m in dataset.skipped],
            "summary": summarize(pairs),
            "content_duplicates": duplicates,
            "inconsistent_pairs": {
                "count": len(inconsistent),
                "excluded": config.exclude_inconsistent,
                "pair_ids": inconsistent[:200],
            },
        },
        "frames": [frames_label(n) for n in frames],
        "statistics": config.stats.describe(),
        "votes": votes.describe() if votes is not None else None,
        "rankings": {**RankingConfig().describe(), "skipped": above.skipped},
        "keyframes": {"strategy": config.strategy, "decodes": source.decodes},
        "engine": session.engine.describe(),
        "judges": judge_info,
        "failures": failure_summary(verdicts),
        "report_replies": page_replies(runner.replies),
        "controls": {"names": list(config.controls), "seed": config.control_seed},
        "control_runs": control_runs,
        "figures": "all" if config.figures else "none",
        "unlabeled_not_judged": unlabeled_all,
        "cost_usd": sum(j["cost_usd"] or 0.0 for j in judge_info),
        "spent_usd_this_run": session.budget.spent,
        "max_cost_usd": config.max_cost,
        "cache": str(cache_dir) if config.use_cache else None,
        "git_commit": git_commit(),
        "versions": library_versions(),
    }
    if folder is None:
        return RunResult(
            None, dataset, verdicts, table, info, demo, reports, ceiling, votes, above, controls,
            runner.replies,
        )  # fmt: skip
    try:
        extra = dict(calibration=calibration_table(verdicts), position_bias=bias, repeats=repeats)
        write_run(
            folder.staging,
            everything,
            table,
            info,
            session.notice,
            ceiling=ceiling,
            extra=extra,
            replies=runner.replies,
        )
        stages.lap("writing tables")
        caveats = ["demo data"] if demo else []
        caveats += ["judges that are not models"] if any(j.notice() for j in judges) else []
        mark = " and ".join(caveats) or None
        # Figures drawn from the same tables, settings and code are copied, not drawn again
        # (no matplotlib import): judges.report.figure_reuse.
        kept = session.cache_dir / "figures" if config.use_cache and config.figures else None
        settings = {
            **{k: info[k] for k in ("statistics", "rankings", "frames", "votes")},
            "data": info["data"]["sha256"],
            "votes_files": [file_sha256(p) for p in config.votes],
            "mark": mark,
            "options": [config.rank_generators, config.by, config.exclude_inconsistent],
        }
        key = figures_key(folder.staging, settings) if kept is not None else ""
        drawn = config.figures and (
            kept is None or not reuse_figures(kept, key, folder.staging / "figures")
        )
        if drawn:
            from judges.report.agreement_figures import (
                write_figures,  # matplotlib only when a run finishes
            )
            from judges.report.diagnostic_figures import write_reliability
            from judges.report.ranking_figures import write_ranking_figures

            write_figures(
                folder.staging / "figures",
                table,
                verdicts,
                mark=mark,
                bootstrap=config.stats,
                ceiling=ceiling,
            )
            write_reliability(folder.staging / "figures", verdicts, mark=mark)
            write_ranking_figures(folder.staging / "figures", above, mark=mark)
            if kept is not None:
                keep_figures(kept, key, folder.staging / "figures")
        if controls is not None:  # drawn each time: the kept figures are the tables' only
            write_controls(folder.staging, controls, mark, figure=config.figures)
        stages.lap("figures")
        write_rankings(folder.staging, above)
        write_report_sources(folder.staging, pairs, votes.table if votes is not None else None)
        stages.lap("writing tables")
        write_run_report(
            folder.staging, config.report, session.cache_dir, session.log, verdicts,
            config.use_cache, runner.replies,
        )  # fmt: skip
        stages.lap("report.html")
        run_dir = folder.publish()
        stages.lap("publishing")
        info["run_id"] = folder.run_id  # a name taken meanwhile moves the run to -2
    except BaseException:
        folder.discard()
        raise
    return RunResult(
        run_dir, dataset, verdicts, table, info, demo, reports, ceiling, votes, above, controls,
        runner.replies,
    )  # fmt: skip
