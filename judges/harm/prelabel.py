"""Pre-labelling harm tags: a harm judge tags the text-video pairs it is sure of, people the rest.

1. The judge tags every item. A category's label is ``probability >= its threshold``; the
   thresholds come from the calibration set (per category, :func:`best_threshold`), or from the
   judge's own ``thresholds=`` without one.
2. An item's confidence is its least certain category: ``min_c`` of the probability of the label
   given (``p`` for true, ``1 - p`` for false). Judges without probabilities (VLMs) give none:
   their tags are exported as predictions and every item goes to people.
3. On the calibration set the promise of :mod:`judges.stats.prelabel_promise` is made about
   **exact match**
   (all 12 tags equal the people's): fixed-sequence testing with lower bounds clustered by
   prompt, and a prediction interval for this batch.
4. Label Studio files: a config with a multi-choice control of the 12 categories plus ``safe``,
   one task per item, the judge's tags as a prediction, ``data.route`` = ``auto`` or ``human``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judges.core.errors import ConfigError
from judges.core.harm_types import CATEGORIES, HARM_KEYS, HarmItem, HarmTask, HarmVerdict
from judges.datasets.harm_items import HarmDataset, load_harm_dataset
from judges.datasets.label_studio import video_url
from judges.harm.thresholds import best_threshold
from judges.judge.base import Judge
from judges.report.run_folder import RunFolder
from judges.run.prelabel import PrelabelOptions
from judges.run.session import Session
from judges.stats.prelabel_promise import Promise, choose_threshold, prediction_interval

FROM_NAME = "harm"
SAFE = "safe"

LABEL_CONFIG = (
    """<View>
  <!-- Harm tags of one text-video pair (t2v-judges pre-labelling). Task data: $prompt, $video
       (a video URL), $item_id, $route. Predictions: from_name="harm", to_name="video",
       type="choices", value.choices = the harmful categories' keys, or ["safe"]. -->
  <Header value="Prompt: $prompt"/>
  <Video name="video" value="$video"/>
  <Header value="Tag every harm category the prompt-video pair falls under" size="5"/>
  <Choices name="harm" toName="video" choice="multiple" showInline="false" required="true">
"""
    + "".join(
        f'    <Choice value="{c.key}" hint="{c.id} {c.name}: {c.what}"/>\n' for c in CATEGORIES
    )
    + """    <Choice value="safe" hint="none of the above"/>
  </Choices>
</View>
"""
)


@dataclass(kw_only=True)
class HarmPrelabelConfig(PrelabelOptions):
    """One harm pre-labelling pass: :class:`~judges.run.prelabel.PrelabelOptions`, plus these.

    Attributes:
        seconds_per_item: Human time to tag one item, for the hours-saved estimate.
    """

    frames: int | None = 4
    seconds_per_item: float = 20.0
    out: Path = Path("results/prelabel-harm")


def _decide(
    v: HarmVerdict, thresholds: dict[str, float]
) -> tuple[dict[str, bool] | None, float | None]:
    """Tags and item confidence under ``thresholds`` (tags as judged without probabilities)."""
    if v.status != "ok" or v.labels is None:
        return None, None
    if not v.probabilities:
        return v.labels, None
    tags = {k: v.probabilities.get(k, 0.0) >= thresholds.get(k, 0.5) for k in HARM_KEYS}
    conf = min(
        (v.probabilities[k] if tags[k] else 1 - v.probabilities[k])
        for k in HARM_KEYS
        if k in v.probabilities
    )
    return tags, float(conf)


def run_harm_prelabel(config: HarmPrelabelConfig) -> dict[str, Any]:
    """Tag, calibrate, route and write the Label Studio files; returns the summary."""
    frames = [config.frames]
    with Session(config, [config.judge], frames, task_kind="harm") as session:
        (judge,) = session.judges
        folder = RunFolder(
            config.out.parent, config.out.name, overwrite=config.overwrite, option="--out"
        )
        cal = (
            load_harm_dataset(config.calibration, config.calibration_video_dir)
            if config.calibration
            else None
        )
        data = load_harm_dataset(session.data_path(), config.video_dir)
        runner = session.runner
        verdicts = runner.run(judge, [HarmTask(i, config.frames) for i in data.items]).verdicts
        thresholds = dict(getattr(judge, "thresholds", {}) or dict.fromkeys(HARM_KEYS, 0.5))
        promise = interval = None
        if cal is not None:
            labelled = [i for i in cal.items if i.video.harm_labels is not None]
            if not labelled:
                raise ConfigError(f"{cal.source}: no item has harm labels to calibrate on")
            cal_v = runner.run(judge, [HarmTask(i, config.frames) for i in labelled]).verdicts
            thresholds = _fit(cal_v, labelled, thresholds)
            decided = [_decide(v, thresholds) for v in cal_v]
            conf = np.array([math.nan if c is None else c for _, c in decided])
            exact = np.array(
                [
                    tags is not None
                    and all(tags[k] == bool(i.video.harm_labels.get(k)) for k in HARM_KEYS)
                    for (tags, _), i in zip(decided, labelled, strict=True)
                ]
            )
            prompts = [i.prompt_id for i in labelled]
            promise = choose_threshold(
                conf,
                exact,
                prompts,
                config.target_agreement,
                config.stats,
                min_clusters=config.min_prompts,
                min_kept=config.min_kept,
            )
        routed = _tasks(data.items, verdicts, thresholds, promise, judge, config)
        if promise is not None and promise.threshold is not None:
            kept = {t["data"]["prompt_id"] for t in routed if t["data"]["route"] == "auto"}
            interval = prediction_interval(
                conf, exact, prompts, promise.threshold, len(kept), config.stats
            )
        return _write(folder, routed, thresholds, promise, interval, judge, data, config)


def _fit(
    cal_v: list[HarmVerdict], items: list[HarmItem], default: dict[str, float]
) -> dict[str, float]:
    """Per-category decision thresholds fit on the calibration items (judges with probabilities)."""
    out = dict(default)
    with_p = [
        (v, i) for v, i in zip(cal_v, items, strict=True) if v.probabilities and v.status == "ok"
    ]
    for key in HARM_KEYS:
        rows = [
            (v.probabilities[key], bool(i.video.harm_labels.get(key)))
            for v, i in with_p
            if key in v.probabilities and key in i.video.harm_labels
        ]
        if rows:
            p, y = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
            out[key] = best_threshold(p, y)
    return out


def _tasks(
    items: list[HarmItem],
    verdicts: list[HarmVerdict],
    thresholds: dict[str, float],
    promise: Promise | None,
    judge: Judge,
    config: HarmPrelabelConfig,
) -> list[dict[str, Any]]:
    by_id = {v.item_id: v for v in verdicts}
    model_version = f"{judge.name}:{judge.fingerprint()[:12]}"
    root = Path(config.out).parent
    tasks = []
    for item in items:
        v = by_id.get(item.item_id)
        tags, conf = _decide(v, thresholds) if v else (None, None)
        auto = (
            promise is not None
            and promise.threshold is not None
            and conf is not None
            and conf >= promise.threshold
        )
        task: dict[str, Any] = {
            "data": {
                "item_id": item.item_id,
                "prompt_id": item.prompt_id,
                "prompt": item.prompt_text,
                "video": video_url(item.video.path, root, config.url_prefix),
                "route": "auto" if auto else "human",
                "judge_status": v.status if v else "missing",
                "judge_confidence": conf,
            }
        }
        if tags is not None:
            choices = [k for k in HARM_KEYS if tags[k]] or [SAFE]
            task["predictions"] = [
                {
                    "model_version": model_version,
                    "score": conf,
                    "result": [
                        {
                            "id": f"{item.item_id}-harm"[:64],
                            "from_name": FROM_NAME,
                            "to_name": "video",
                            "type": "choices",
                            "value": {"choices": choices},
                        }
                    ],
                }
            ]
        tasks.append(task)
    return tasks


def _write(
    folder: RunFolder,
    tasks: list[dict[str, Any]],
    thresholds: dict[str, float],
    promise: Promise | None,
    interval: tuple[float, float] | None,
    judge: Judge,
    data: HarmDataset,
    config: HarmPrelabelConfig,
) -> dict[str, Any]:
    n_auto = sum(t["data"]["route"] == "auto" for t in tasks)
    summary: dict[str, Any] = {
        "judge": judge.describe(),
        "task": "harm tags",
        "frames": config.frames,
        "data": str(data.source),
        "items": len(tasks),
        "pre_labelled": n_auto,
        "routed_to_humans": len(tasks) - n_auto,
        "thresholds": thresholds,
        "calibration": str(config.calibration) if config.calibration else None,
        "target_exact_match": config.target_agreement,
        "threshold": promise.threshold if promise else None,
        "promise": promise.describe() if promise else None,
        "expected_exact_match": (
            {
                "calibration": promise.agreement,
                "lower_bound": promise.lower_bound,
                "predicted_lo": interval[0],
                "predicted_hi": interval[1],
            }
            if promise is not None and interval is not None
            else None
        ),
        "human_hours_saved": n_auto * config.seconds_per_item / 3600,
    }
    if promise is None:
        summary["note"] = (
            "no calibration set: tags exported as predictions, nothing routed automatically"
        )
    try:
        out = folder.staging
        out.mkdir(parents=True)
        (out / "label_studio_tasks.json").write_text(json.dumps(tasks, indent=1))
        (out / "labeling_config.xml").write_text(LABEL_CONFIG)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        folder.publish()
    except BaseException:
        folder.discard()
        raise
    return summary
