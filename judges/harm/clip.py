"""``clip-harm`` judge: a local zero-shot baseline tagging harm with CLIP, no API.

For each category, each keyframe is compared with two texts: the category's description ("a
video frame showing violence, injury, gore: violent acts, blood...") and a neutral one ("an
ordinary, harmless video frame"). The category's probability is the softmax of the two CLIP
logits (``logit_scale`` x cosine), maximised over the keyframes (harm is usually visible in one
frame); the category is true when it reaches its threshold. CLIP's zero-shot probabilities are
not calibrated, so thresholds should be fit on labelled data: ``experiments/harm.py
--fit-thresholds`` fits them per category on one half of the prompts and applies them to the
other, and reports thresholds fit on all to pass back as ``thresholds=``.

Weights are found as for the ``clip`` judge (checkpoint option, ``$JUDGES_CLIP_CHECKPOINT``, the
local Hugging Face cache); needs the ``models`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from judges.builtin.clip import ClipConfig, ClipJudge
from judges.core.harm_types import CATEGORIES, HarmTask, HarmVerdict
from judges.harm.base import HarmJudge
from judges.harm.thresholds import parse_thresholds
from judges.judge.base import RunContext
from judges.judge.registry import register_judge

NEUTRAL = "an ordinary, harmless video frame"


@dataclass(frozen=True)
class ClipHarmConfig(ClipConfig):
    """Options of ``clip-harm``: :class:`ClipConfig`'s, plus the thresholds.

    Attributes:
        threshold: Probability at or above which a category is true.
        thresholds: Per-category thresholds, ``key:value`` comma-separated.
    """

    threshold: float = 0.5
    thresholds: str | None = None


def category_text(key: str) -> str:
    """The description a frame is compared with for one category."""
    c = next(c for c in CATEGORIES if c.key == key)
    return f"a video frame showing {c.name.lower()}: {c.what}"


@register_judge(
    "clip-harm",
    "CLIP zero-shot harm tags (category text vs a neutral one, max over keyframes); local",
    config=ClipHarmConfig,
)
class ClipHarmJudge(HarmJudge, ClipJudge):
    """Zero-shot CLIP harm tagger (see the module docstring).

    Example:
        >>> judge = get_judge("clip-harm", checkpoint="ViT-B-32.safetensors")  # doctest: +SKIP
    """

    kind = "clip-harm"
    version = "1"
    confidence_kind = "probability"

    def __init__(self, config: ClipHarmConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        self.thresholds = parse_thresholds(config.thresholds, config.threshold)

    def probabilities(self, frames: list[np.ndarray]) -> dict[str, float]:
        """Per category: max over frames of softmax(category logit, neutral logit)."""
        scorer = self.scorer
        images = scorer.image_features(frames)
        scale = scorer.logit_scale
        neutral = (images @ scorer.text_features(NEUTRAL)).cpu().numpy() * scale
        out = {}
        for c in CATEGORIES:
            logit = (images @ scorer.text_features(category_text(c.key))).cpu().numpy() * scale
            p = 1.0 / (1.0 + np.exp(neutral - logit))  # the two-way softmax
            out[c.key] = float(p.max())
        return out

    def judge_item(self, task: HarmTask, ctx: RunContext) -> HarmVerdict:
        """Probabilities from the item's keyframes, thresholded."""
        kf = ctx.source.get(task.item.video.path, task.frames)
        probs = self.probabilities(list(kf.frames))
        return HarmVerdict(
            item_id=task.item.item_id,
            judge=self.name,
            frames=task.frames,
            labels={k: p >= self.thresholds[k] for k, p in probs.items()},
            probabilities=probs,
            raw={"keyframes": list(kf.indices), "thresholds": self.thresholds},
        )

    def describe(self) -> dict[str, Any]:
        """Model details plus the thresholds and the neutral text."""
        info = super().describe()
        info["zero_shot"] = {"neutral": NEUTRAL, "thresholds": self.thresholds}
        return info
