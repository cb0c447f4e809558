"""Pre-labelling: let a judge label the pairs it is sure of, route the rest to humans.

1. Every pair gets the judge's verdict and a confidence (:func:`confidence_of`): the score
   margin for score judges, the answer probability for VLM judges, or 1.0 for a VLM verdict that
   held in both presentation orders when no probabilities are available.
2. On a calibration set with human labels, :func:`risk_coverage` gives, for each confidence
   threshold, the share of pairs kept and the agreement among them with its Wilson interval;
   :func:`pick_threshold` takes the lowest threshold whose lower 95% bound reaches the target.
3. :func:`label_studio_tasks` writes every pair as a Label Studio task; confident ones carry
   the judge's choice as a prediction and ``route: auto``, the rest ``route: human``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from judges.datasets import load_dataset
from judges.demo import DEMO_NOTICE
from judges.errors import ConfigError
from judges.health import failure_summary
from judges.label_studio import (
    FROM_NAME,
    LABEL_CONFIG,
    TO_NAME,
    confidence_of,
    label_studio_tasks,
)
from judges.runner import plan_tasks
from judges.runs import RunFolder, verdict_table
from judges.session import Session, SessionConfig
from judges.stats import wilson_interval
from judges.types import Dimension


def risk_coverage(
    confidences: Sequence[float | None], matches: Sequence[bool], confidence: float = 0.95
) -> pl.DataFrame:
    """Agreement among the pairs kept at each confidence threshold.

    Args:
        confidences: The judge's confidence per calibration pair (``None``: never kept).
        matches: Whether the judge's choice equals the human label, per pair.
        confidence: Level of the Wilson intervals.

    Returns:
        One row per distinct threshold, descending: ``threshold, kept, coverage, agreement,
        agreement_lo, agreement_hi`` (coverage over all calibration pairs).

    Example:
        >>> risk_coverage([0.9, 0.8, None], [True, False, True])["agreement"].to_list()
        [1.0, 0.5]
    """
    total = len(matches)
    items = sorted(
        ((c, m) for c, m in zip(confidences, matches, strict=True) if c is not None),
        key=lambda x: -x[0],
    )
    rows = []
    kept = agree = 0
    for i, (c, m) in enumerate(items):
        kept += 1
        agree += bool(m)
        if i + 1 < len(items) and items[i + 1][0] == c:
            continue  # a threshold keeps every pair at its value
        lo, hi = wilson_interval(agree, kept, confidence)
        rows.append(
            {
                "threshold": c,
                "kept": kept,
                "coverage": kept / total if total else 0.0,
                "agreement": agree / kept,
                "agreement_lo": lo,
                "agreement_hi": hi,
            }
        )
    schema = {
        "threshold": pl.Float64,
        "kept": pl.Int64,
        "coverage": pl.Float64,
        "agreement": pl.Float64,
        "agreement_lo": pl.Float64,
        "agreement_hi": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


@dataclass(frozen=True)
class ThresholdChoice:
    """The picked threshold (``None`` when no threshold reaches the target) and the evidence."""

    threshold: float | None
    target: float
    row: dict[str, Any] | None
    best: dict[str, Any] | None


def pick_threshold(curve: pl.DataFrame, target: float) -> ThresholdChoice:
    """The lowest threshold (most coverage) whose agreement's lower bound reaches ``target``.

    Example:
        >>> curve = risk_coverage([0.9] * 50 + [0.1] * 50, [True] * 50 + [False] * 50)
        >>> pick_threshold(curve, 0.9).threshold
        0.9
    """
    ok = curve.filter(pl.col("agreement_lo") >= target)
    best = (
        curve.sort(["agreement_lo", "coverage"], descending=True).row(0, named=True)
        if curve.height
        else None
    )
    if ok.is_empty():
        return ThresholdChoice(None, target, None, best)
    row = ok.sort("threshold").row(0, named=True)
    return ThresholdChoice(row["threshold"], target, row, best)


@dataclass
class PrelabelConfig(SessionConfig):
    """One pre-labelling pass: the session's options, plus these.

    The session's (see :class:`~judges.session.SessionConfig`): data, video_dir, cache_dir,
    concurrency, max_cost, progress and the rest.

    Attributes:
        judge: The judge to use (``JudgeRequest``).
        dimension: The dimension to label.
        frames: Keyframes per video (``None``: all).
        calibration: Pairs with human labels to pick the threshold on; ``None``: route nothing.
        calibration_video_dir: Video layout root for ``calibration``.
        target_agreement: Required lower 95% Wilson bound of agreement among auto-labelled.
        seconds_per_pair: Human time per pair, for the hours-saved estimate.
        out: Output folder (refused if it exists, unless ``overwrite``).
        overwrite: Replace an existing output folder.
        url_prefix: Prefix of video URLs in the Label Studio tasks.

    Raises:
        ConfigError: an option out of range.

    """

    judge: Any
    dimension: Dimension
    frames: int | None = 8
    calibration: Path | None = None
    calibration_video_dir: Path | None = None
    target_agreement: float = 0.8
    seconds_per_pair: float = 30.0
    out: Path = Path("results/prelabel")
    url_prefix: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.target_agreement < 1:
            raise ConfigError("--target-agreement must be between 0 and 1")
        if self.seconds_per_pair < 0:
            raise ConfigError("--seconds-per-pair must be >= 0")


def run_prelabel(config: PrelabelConfig) -> dict[str, Any]:
    """Judge the pairs, calibrate a threshold, write the Label Studio files; returns the summary.

    Raises:
        DataError, ConfigError: invalid data or options; BudgetExhausted at ``max_cost``.
    """
    with Session(config, [config.judge], [config.frames]) as session:
        return _prelabel(config, session)


def _prelabel(config: PrelabelConfig, session: Session) -> dict[str, Any]:
    (judge,) = session.judges
    judge.check_dimensions([config.dimension])
    # Refuse an unwritable or existing output before any (possibly paid) judgement; the files
    # appear together, when all are written.
    target = Path(config.out)
    folder = RunFolder(target.parent, target.name, overwrite=config.overwrite, option="--out")
    cal = None
    if config.calibration is not None:
        # Loaded (and checked) before anything else: a bad calibration path costs nothing.
        cal = load_dataset(config.calibration, config.calibration_video_dir)
        if not any(config.dimension in p.labels for p in cal.pairs):
            raise ConfigError(
                f"{cal.source}: no pair has a human label for {config.dimension.value}"
            )
    demo = session.demo
    data = session.load()
    frames = session.frames
    runner = session.runner
    tasks, _ = plan_tasks(data.pairs, [config.dimension], frames, labeled_only=False)
    verdicts = runner.run(judge, tasks).verdicts
    curve = None
    choice = None
    if cal is not None:
        cal_tasks, _ = plan_tasks(cal.pairs, [config.dimension], frames)
        cal_verdicts = runner.run(judge, cal_tasks).verdicts
        humans = {
            p.pair_id: p.labels[config.dimension] for p in cal.pairs if config.dimension in p.labels
        }
        curve = risk_coverage(
            [confidence_of(v) for v in cal_verdicts],
            [v.winner == humans[v.pair_id] for v in cal_verdicts],
        )
        choice = pick_threshold(curve, config.target_agreement)
    model_version = f"{judge.name}:{judge.fingerprint()[:12]}"
    threshold = choice.threshold if choice else None
    root = data.source.parent
    tasks_json = label_studio_tasks(
        data.pairs, verdicts, config.dimension, threshold, model_version, root, config.url_prefix
    )
    try:
        out = folder.staging
        out.mkdir(parents=True)
        (out / "label_studio_tasks.json").write_text(json.dumps(tasks_json, indent=1))
        (out / "labeling_config.xml").write_text(LABEL_CONFIG)
        routed = [t["data"] for t in tasks_json if t["data"]["route"] == "human"]
        pl.DataFrame(
            routed,
            schema={
                "pair_id": pl.String,
                "prompt": pl.String,
                "dimension": pl.String,
                "video_0": pl.String,
                "video_1": pl.String,
                "route": pl.String,
                "judge_status": pl.String,
                "judge_confidence": pl.Float64,
            },
        ).write_csv(out / "routed_to_humans.csv")
        n_auto = len(tasks_json) - len(routed)
        summary: dict[str, Any] = {
            "judge": judge.describe(),
            "model_version": model_version,
            "confidence_kind": judge.confidence_kind,
            "confidence_unit": judge.confidence_unit,
            "failures": failure_summary(verdict_table(verdicts, data.pairs)),
            "dimension": config.dimension.value,
            "frames": config.frames,
            "data": str(data.source),
            "demo": demo,
            "pairs": len(tasks_json),
            "pre_labelled": n_auto,
            "routed_to_humans": len(routed),
            "calibration": str(config.calibration) if config.calibration else None,
            "target_agreement": config.target_agreement,
            "threshold": threshold,
            "seconds_per_pair": config.seconds_per_pair,
            "human_hours_saved": n_auto * config.seconds_per_pair / 3600,
            "label_studio": {
                "tasks": "label_studio_tasks.json",
                "labeling_config": "labeling_config.xml",
                "prediction_result": {
                    "from_name": FROM_NAME,
                    "to_name": TO_NAME,
                    "type": "choices",
                    "value": {"choices": ["video_0|video_1"]},
                },
                "task_data": [
                    "pair_id",
                    "prompt",
                    "dimension",
                    "video_0",
                    "video_1",
                    "route",
                    "judge_status",
                    "judge_confidence",
                ],
                "import": "create a project with labeling_config.xml, then import "
                "label_studio_tasks.json; filter on data.route to review or label",
            },
        }
        if choice is not None and curve is not None:
            curve.write_csv(out / "risk_coverage.csv")
            _plot_curve(curve, choice, out / "risk_coverage.png")
            summary["expected_agreement"] = (
                {
                    k: choice.row[k]
                    for k in ("agreement", "agreement_lo", "agreement_hi", "coverage", "kept")
                }
                if choice.row
                else None
            )
            summary["best_achievable"] = choice.best
        if choice is None:
            summary["note"] = (
                "no calibration set: predictions exported with confidences, "
                "nothing routed automatically"
            )
        elif threshold is None:
            best = choice.best
            summary["note"] = (
                f"no threshold reaches a lower bound of {config.target_agreement:.2f}; the best is "
                + (
                    f"{best['agreement_lo']:.3f} (agreement {best['agreement']:.3f} on "
                    f"{best['kept']} pairs, threshold {best['threshold']:.4g})"
                    if best
                    else "none"
                )
                + "; every pair is routed to humans"
            )
        if demo:
            summary["notice"] = DEMO_NOTICE
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        folder.publish()
    except BaseException:
        folder.discard()
        raise
    return summary


def _plot_curve(curve: pl.DataFrame, choice: ThresholdChoice, path: Path) -> None:
    from judges.figures import plt, sns

    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(6, 4))
    cov = curve["coverage"].to_list()
    ax.fill_between(
        cov,
        curve["agreement_lo"].to_list(),
        curve["agreement_hi"].to_list(),
        alpha=0.2,
        label="95% Wilson interval (pairs treated as independent)",
    )
    ax.plot(cov, curve["agreement"].to_list(), marker=".", label="agreement among kept")
    ax.axhline(choice.target, color="grey", linestyle="--", label=f"target {choice.target:.2f}")
    if choice.row is not None:
        ax.axvline(
            choice.row["coverage"],
            color="green",
            linestyle=":",
            label=f"threshold {choice.threshold:.4g}",
        )
    ax.set_xlabel("coverage (share of calibration pairs pre-labelled)")
    ax.set_ylabel("agreement with humans")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
