"""Label Studio files for pre-labelling: the labelling config and tasks with predictions.

Each task shows both videos side by side with a single-choice ``preference`` control; a pair the
judge is confident about carries the judge's choice as a ``prediction`` (with ``model_version``
and ``score``), and ``data.route`` says whether it goes to people (``human``) or is pre-labelled
(``auto``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judges.core.types import Dimension, Pair, Verdict

FROM_NAME = "preference"
TO_NAME = "video_0"

LABEL_CONFIG = """<View>
  <!-- Pairwise comparison of two text-to-video outputs (t2v-judges pre-labelling).
       Task data: $prompt, $dimension, $video_0, $video_1 (video URLs), $pair_id, $route.
       Predictions: from_name="preference", to_name="video_0", type="choices",
       value.choices = ["video_0"] or ["video_1"]; people may also answer "tie". -->
  <Header value="Prompt: $prompt"/>
  <Header value="Which video is better on: $dimension" size="5"/>
  <View style="display: flex; gap: 12px;">
    <View style="flex: 1;">
      <Header value="video_0" size="6"/>
      <Video name="video_0" value="$video_0"/>
    </View>
    <View style="flex: 1;">
      <Header value="video_1" size="6"/>
      <Video name="video_1" value="$video_1"/>
    </View>
  </View>
  <Choices name="preference" toName="video_0" choice="single" showInline="true" required="true">
    <Choice value="video_0"/>
    <Choice value="video_1"/>
    <Choice value="tie"/>
  </Choices>
</View>
"""


def confidence_of(verdict: Verdict) -> float | None:
    """How sure the judge is of a decided verdict; ``None`` when it cannot say.

    Example:
        >>> from judges.core.types import Verdict, Dimension
        >>> confidence_of(Verdict("p", "j", Dimension.AESTHETICS, 4, "video_0", confidence=0.9))
        0.9
    """
    if not verdict.decided:
        return None
    if verdict.confidence is not None and math.isfinite(verdict.confidence):
        return float(verdict.confidence)
    if verdict.raw.get("flip") is False:
        return 1.0  # both presentation orders agreed
    return None


def video_url(path: Path, root: Path | None, prefix: str | None) -> str:
    """A video's URL in tasks: the file path, or ``prefix`` + its path relative to ``root``."""
    if prefix is None:
        return str(path)
    try:
        rel = path.relative_to(root.resolve()) if root else path
    except ValueError:
        rel = path
    joiner = "" if prefix.endswith(("/", "=")) else "/"  # "?d=" takes the path as is
    return prefix + joiner + rel.as_posix().lstrip("/")


def label_studio_tasks(
    pairs: Sequence[Pair],
    verdicts: Sequence[Verdict],
    dimension: Dimension,
    threshold: float | None,
    model_version: str,
    video_root: Path | None = None,
    url_prefix: str | None = None,
    confidences: dict[str, float | None] | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks for ``pairs``: data, route and (when decided) the judge's prediction.

    Args:
        pairs: Pairs to label.
        verdicts: The judge's verdict per pair (matched by ``pair_id``).
        dimension: The dimension being labelled.
        threshold: Confidence at or above which a pair is routed ``auto`` (``None``: none).
        model_version: Identifies the judge and its settings in Label Studio.
        video_root: Folder video URLs are made relative to (with ``url_prefix``).
        url_prefix: Prefix of video URLs, e.g. ``/data/local-files/?d=`` for Label Studio's
            local file serving; without it the absolute file path is used.
        confidences: ``pair_id -> confidence`` to route by (e.g. calibrated probabilities);
            default: :func:`confidence_of` each verdict.
    """
    by_pair = {v.pair_id: v for v in verdicts}
    tasks = []
    for pair in pairs:
        v = by_pair.get(pair.pair_id)
        if confidences is not None:
            conf = confidences.get(pair.pair_id)
        else:
            conf = confidence_of(v) if v is not None else None
        auto = threshold is not None and conf is not None and conf >= threshold
        task: dict[str, Any] = {
            "data": {
                "pair_id": pair.pair_id,
                "prompt": pair.prompt_text,
                "dimension": dimension.value.replace("_", " "),
                "video_0": video_url(pair.video_0.path, video_root, url_prefix),
                "video_1": video_url(pair.video_1.path, video_root, url_prefix),
                "route": "auto" if auto else "human",
                "judge_status": v.status if v is not None else "missing",
                "judge_confidence": conf,
            }
        }
        if v is not None and v.decided:
            task["predictions"] = [
                {
                    "model_version": model_version,
                    "score": conf,
                    "result": [
                        {
                            "id": f"{pair.pair_id}-pref"[:64],
                            "from_name": FROM_NAME,
                            "to_name": TO_NAME,
                            "type": "choices",
                            "value": {"choices": [v.winner]},
                        }
                    ],
                }
            ]
        tasks.append(task)
    return tasks
