"""``clip`` judge (instruction following): CLIP image-text logit averaged over keyframes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from judges.builtin.openclip_scorer import OpenClipJudge, OpenClipOptions
from judges.core.types import Dimension
from judges.judge.model_judge import Weights, require_models, resolve_weights
from judges.judge.registry import register_judge


@dataclass(frozen=True)
class ClipConfig(OpenClipOptions):
    """Options of the ``clip`` judge (and those of :class:`OpenClipOptions`).

    Attributes:
        model: open_clip architecture.
        pretrained: open_clip pretrained tag whose weights to use (looked up in the local
            Hugging Face cache unless ``checkpoint`` is given).
        quick_gelu: Activation of the weights (default: what open_clip records for the tag;
            OpenAI's CLIP uses QuickGELU).

    """

    pretrained: str = "openai"
    quick_gelu: bool | None = None


@register_judge(
    "clip",
    "CLIP (ViT-B-32, OpenAI) image-text logit over keyframes; higher wins",
    config=ClipConfig,
)
class ClipJudge(OpenClipJudge):
    """CLIP image-text logit (logit_scale x cosine), averaged over keyframes; higher wins.

    Example:
        >>> judge = get_judge("clip", checkpoint="ViT-B-32-openai.safetensors")  # doctest: +SKIP
    """

    kind = "clip"
    confidence_unit = "logit"
    default_dimensions = (Dimension.INSTRUCTION_FOLLOWING,)
    higher_is_better = True
    use_logit_scale = True

    def _pretrained_cfg(self) -> dict[str, Any]:
        _, open_clip = require_models()
        return dict(open_clip.get_pretrained_cfg(self.config.model, self.config.pretrained) or {})

    def resolve(self) -> Weights:
        """Checkpoint option, then $JUDGES_CLIP_CHECKPOINT, then the HF cache for the tag."""
        cfg = self._pretrained_cfg()
        repo = str(cfg.get("hf_hub", "")).strip("/")
        files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
        download = (
            f"huggingface-cli download {repo} {files[0]}"
            if repo
            else f"(open_clip knows no Hugging Face source for {self.config.model}/"
            f"{self.config.pretrained}; pass checkpoint=PATH)"
        )
        return resolve_weights(
            self.config.checkpoint,
            "JUDGES_CLIP_CHECKPOINT",
            [(repo, f) for f in files] if repo else [],
            download,
            f"clip ({self.config.model}, {self.config.pretrained})",
        )

    def quick_gelu(self) -> bool:
        """The weights' activation: the option, else what open_clip records for the tag."""
        if self.config.quick_gelu is not None:
            return self.config.quick_gelu
        return bool(self._pretrained_cfg().get("quick_gelu", False))
