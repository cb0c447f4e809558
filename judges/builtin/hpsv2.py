"""``hpsv2`` judge (aesthetics): Human Preference Score v2 through open_clip directly.

HPS v2 is open_clip's ViT-H-14 fine-tuned on human preferences. The model is built without
pretrained weights and the HPS state dict is loaded over it; a frame's score is the dot product
of the normalised image and text features, as HPSv2's own scorer computes it. This avoids the
``hpsv2`` package, whose wheel pins pytest==7.2.0 and protobuf<4 and downloads base weights it
then overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from judges.builtin.openclip_scorer import OpenClipJudge, OpenClipOptions
from judges.core.types import Dimension
from judges.judge.model_judge import Weights, resolve_weights
from judges.judge.registry import register_judge

HPS_REPO = "xswu/HPSv2"
HPS_FILES = {"v2.1": "HPS_v2.1_compressed.pt", "v2.0": "HPS_v2_compressed.pt"}


@dataclass(frozen=True)
class Hpsv2Config(OpenClipOptions):
    """Options of the ``hpsv2`` judge (and those of :class:`OpenClipOptions`).

    Attributes:
        version: ``v2.1`` (the paper's) or ``v2.0``.
        model: open_clip architecture the checkpoint belongs to.
        batch_size: Frames per forward pass.

    """

    model: str = "ViT-H-14"
    batch_size: int = 16
    version: Literal["v2.1", "v2.0"] = "v2.1"


@register_judge(
    "hpsv2", "HPS v2.1 (open_clip ViT-H-14) score over keyframes; higher wins", config=Hpsv2Config
)
class Hpsv2Judge(OpenClipJudge):
    """Mean HPS v2 score over keyframes; higher wins.

    Example:
        >>> judge = get_judge("hpsv2", checkpoint="HPS_v2.1_compressed.pt")  # doctest: +SKIP
    """

    kind = "hpsv2"
    confidence_unit = "HPS score"
    default_dimensions = (Dimension.AESTHETICS,)
    higher_is_better = True
    use_logit_scale = False

    def resolve(self) -> Weights:
        """Checkpoint option, then $JUDGES_HPSV2_CHECKPOINT, then the HF cache."""
        filename = HPS_FILES[self.config.version]
        return resolve_weights(
            self.config.checkpoint,
            "JUDGES_HPSV2_CHECKPOINT",
            [(HPS_REPO, filename)],
            f"huggingface-cli download {HPS_REPO} {filename}",
            f"hpsv2 ({self.config.version}, {self.config.model})",
        )
