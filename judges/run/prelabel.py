"""Pre-labelling: let a judge label the pairs it is sure of, route the rest to humans.

1. Every pair gets the judge's verdict and a confidence (:func:`confidence_of`): the score
   margin for score judges, the answer probability for VLM judges, or 1.0 for a VLM verdict that
   held in both presentation orders when no probabilities are available.
2. On a calibration set with human labels, :func:`risk_coverage` gives, for each confidence
   threshold, the share of pairs kept and the agreement among them with its Wilson interval;
   :func:`~judges.stats.prelabel_promise.choose_threshold` walks the thresholds by
   fixed-sequence testing with lower bounds clustered by prompt, and
   :func:`~judges.stats.prelabel_promise.prediction_interval` states where the agreement on the
   new batch's pre-labelled pairs should fall. A score judge's margin can first be mapped to a
   probability (:class:`judges.stats.calibration.MarginCalibrator`).
3. :func:`label_studio_tasks` writes every pair as a Label Studio task; confident ones carry
   the judge's choice as a prediction and ``route: auto``, the rest ``route: human``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from judges.core.errors import ConfigError
from judges.core.types import Dimension
from judges.datasets import load_dataset
from judges.datasets.label_studio import (
    FROM_NAME,
    LABEL_CONFIG,
    TO_NAME,
    confidence_of,
    label_studio_tasks,
)
from judges.report.failures import failure_summary
from judges.report.run_folder import RunFolder, verdict_table
from judges.run.session import Session, SessionConfig
from judges.run.task_runner import plan_tasks
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.calibration import METHODS, MarginCalibrator, Method
from judges.stats.classic import wilson_interval
from judges.stats.prelabel_promise import choose_threshold, prediction_interval
from judges.stats.shift import pair_fields, shift_checks


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


@dataclass(kw_only=True)
class PrelabelOptions(SessionConfig):
    """What every pre-labelling pass takes (preferences and harm tags).

    The session's options (see :class:`~judges.run.session.SessionConfig`), plus these.

    Attributes:
        judge: The judge to use (``JudgeRequest``).
        frames: Keyframes per video (``None``: all).
        calibration: Labelled data to pick the threshold on; ``None``: route nothing.
        calibration_video_dir: Video layout root for ``calibration``.
        target_agreement: Agreement among auto-labelled items the promise is about (its
            clustered one-sided 95% lower bound must reach it).
        min_kept: Fewest calibration items kept for a threshold to be tested.
        min_prompts: Fewest calibration prompts among them.
        stats: Bootstrap B and seed (clusters are prompts).
        out: Output folder (refused if it exists, unless ``overwrite``).
        overwrite: Replace an existing output folder.
        url_prefix: Prefix of video URLs in the Label Studio tasks.

    Raises:
        ConfigError: an option out of range.

    """

    judge: Any = None
    frames: int | None = 8
    calibration: Path | None = None
    calibration_video_dir: Path | None = None
    target_agreement: float = 0.8
    min_kept: int = 50
    min_prompts: int = 10
    stats: BootstrapConfig = field(default_factory=BootstrapConfig)
    out: Path = Path("results/prelabel")
    overwrite: bool = False
    url_prefix: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_kept < 1 or self.min_prompts < 1:
            raise ConfigError("--min-kept and --min-prompts must be >= 1")
        if not 0 < self.target_agreement < 1:
            raise ConfigError("--target-agreement must be between 0 and 1")


@dataclass(kw_only=True)
class PrelabelConfig(PrelabelOptions):
    """One pre-labelling pass of preferences: :class:`PrelabelOptions`, plus these.

    Attributes:
        dimension: The dimension to label.
        calibrate: Map a margin to a probability on the calibration set (``isotonic`` or
            ``platt``) before thresholding; ``None`` thresholds the judge's own confidence.
        seconds_per_pair: Human time per pair, for the hours-saved estimate.

    """

    dimension: Dimension
    calibrate: Method | None = None
    seconds_per_pair: float = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.calibrate is not None and self.calibrate not in METHODS:
            raise ConfigError(f"--calibrate must be one of {', '.join(METHODS)}")
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
    promise = calibrator = shift = None
    interval: tuple[float, float] | None = None
    curve = None
    confidences = {v.pair_id: confidence_of(v) for v in verdicts}
    if cal is not None:
        cal_tasks, _ = plan_tasks(cal.pairs, [config.dimension], frames)
        cal_verdicts = runner.run(judge, cal_tasks).verdicts
        by_id = {p.pair_id: p for p in cal.pairs}
        conf = np.array([_num(confidence_of(v)) for v in cal_verdicts])
        correct = np.array(
            [v.winner == by_id[v.pair_id].labels[config.dimension] for v in cal_verdicts]
        )
        if config.calibrate is not None:
            if judge.confidence_kind != "margin":
                raise ConfigError(
                    f"--calibrate maps a score margin to a probability; {judge.name}'s "
                    f"confidence is {judge.confidence_kind or 'not a margin'}"
                )
            fit = np.isfinite(conf)
            calibrator = MarginCalibrator.fit(conf[fit], correct[fit], config.calibrate)
            conf = np.where(fit, calibrator.predict(np.nan_to_num(conf)), np.nan)
            confidences = {
                k: None if c is None else float(calibrator.predict(np.array([c]))[0])
                for k, c in confidences.items()
            }
        prompts = [by_id[v.pair_id].prompt_id for v in cal_verdicts]
        promise = choose_threshold(
            conf,
            correct,
            prompts,
            config.target_agreement,
            config.stats,
            min_clusters=config.min_prompts,
            min_kept=config.min_kept,
        )
        curve = risk_coverage([None if np.isnan(c) else c for c in conf], correct.tolist()).join(
            promise.curve.select("threshold", "prompts", "lower_bound", "tested", "passed"),
            on="threshold",
            how="left",
        )
        # The promise assumes the batch is drawn like the calibration set: check what can be
        # seen without labels, and say so when it differs beyond chance.
        shift = shift_checks(
            {"confidence": conf.tolist(), **pair_fields([by_id[v.pair_id] for v in cal_verdicts])},
            {"confidence": [confidences[p.pair_id] for p in data.pairs], **pair_fields(data.pairs)},
            prompts,
            [p.prompt_id for p in data.pairs],
            seed=config.stats.seed,
        )
        if promise.threshold is not None:
            new_prompts = {p.pair_id: p.prompt_id for p in data.pairs}
            kept = {
                new_prompts[k]
                for k, c in confidences.items()
                if c is not None and c >= promise.threshold
            }
            interval = prediction_interval(
                conf, correct, prompts, promise.threshold, len(kept), config.stats
            )
    model_version = f"{judge.name}:{judge.fingerprint()[:12]}"
    threshold = promise.threshold if promise else None
    root = data.source.parent
    tasks_json = label_studio_tasks(
        data.pairs,
        verdicts,
        config.dimension,
        threshold,
        model_version,
        root,
        config.url_prefix,
        confidences,
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
            "confidence_kind": "probability" if calibrator else judge.confidence_kind,
            "confidence_unit": (
                f"probability ({calibrator.method} on the calibration set)"
                if calibrator
                else judge.confidence_unit
            ),
            "calibrator": calibrator.describe() if calibrator else None,
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
        if promise is not None and curve is not None:
            from judges.report.diagnostic_figures import plot_risk_coverage  # matplotlib only here

            curve.write_csv(out / "risk_coverage.csv")
            plot_risk_coverage(curve, promise, out / "risk_coverage.png")
            summary["promise"] = promise.describe()
            summary["expected_agreement"] = (
                {
                    "agreement": promise.agreement,
                    "lower_bound": promise.lower_bound,
                    "predicted_lo": interval[0],
                    "predicted_hi": interval[1],
                    "coverage": promise.coverage,
                    "kept": promise.kept,
                    "what": "agreement expected among this batch's pre-labelled pairs: "
                    "calibration estimate, its one-sided lower bound, and a 95% prediction "
                    "interval for the measured value",
                }
                if promise.threshold is not None and interval is not None
                else None
            )
        if promise is None:
            summary["note"] = (
                "no calibration set: predictions exported with confidences, "
                "nothing routed automatically"
            )
        elif threshold is None:
            tested = promise.curve.filter(pl.col("tested"))
            best = (
                f"the first tested threshold ({tested['threshold'][0]:.4g}, {tested['kept'][0]} "
                f"pairs over {tested['prompts'][0]} prompts) has a lower bound of "
                f"{tested['lower_bound'][0]:.3f}"
                if tested.height
                else f"no threshold keeps {config.min_kept} pairs over {config.min_prompts} "
                "prompts (--min-kept, --min-prompts)"
            )
            summary["note"] = (
                f"no threshold's clustered lower bound reaches {config.target_agreement:.2f}: "
                f"{best}; every pair is routed to humans"
            )
        if shift is not None:
            summary["population_check"] = shift
        if session.notice:
            summary["notice"] = session.notice
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        folder.publish()
    except BaseException:
        folder.discard()
        raise
    return summary


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)
