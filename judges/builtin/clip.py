"""``clip`` judge (instruction following), and the open_clip judge base it shares with hpsv2."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from judges.base import ScoreJudge
from judges.cache import file_sha256, stable_hash
from judges.keyframes import Keyframes
from judges.openclip import (
    OpenClipScorer,
    Weights,
    pick_device,
    pick_precision,
    require_models,
    resolve_weights,
)
from judges.registry import register_judge
from judges.types import Dimension, Video

FRAME_SCORES = "frame_scores"
Precision = Literal["auto", "fp32", "fp16", "bf16"]


class OpenClipJudge(ScoreJudge):
    """Base of the open_clip judges: a video's score is the mean of its keyframes' scores.

    Frame scores are cached per (weights, video content, frame index, text): a run over 1, 2, 4
    and 8 frames makes one batched forward pass per video (the smaller selections are subsets),
    and a rerun or another dimension makes none. The model loads only when a frame actually
    needs scoring. Subclasses set ``use_logit_scale`` and implement :meth:`resolve`.
    """

    use_logit_scale: ClassVar[bool] = True
    non_semantic = frozenset({"device", "batch_size", "checkpoint"})

    def __init__(self, config: Any, name: str | None = None) -> None:
        require_models()  # without the extra, fail here with the install command
        super().__init__(config, name)
        self.device = pick_device(config.device)
        self.precision = pick_precision(config.precision, self.device)
        self.weights = self.resolve()  # missing weights fail before any work
        self._weights_sha: str | None = None
        self._scorer: OpenClipScorer | None = None
        self._load_lock = threading.Lock()
        self._memory: dict[str, float] = {}

    def resolve(self) -> Weights:
        """Find the checkpoint file (raises ConfigError listing what was tried)."""
        raise NotImplementedError

    def quick_gelu(self) -> bool:
        """The activation the weights were trained with."""
        return False

    @property
    def weights_sha256(self) -> str:
        """Content hash of the checkpoint (part of every cache key)."""
        if self._weights_sha is None:
            path = self.weights.path
            self._weights_sha = (
                self.store.file_hash(path) if self.store is not None else file_sha256(path)
            )
        return self._weights_sha

    def fingerprint(self) -> str:
        """Settings plus the weights' content and the precision actually used."""
        return stable_hash(
            {
                "base": super().fingerprint(),
                "weights": self.weights_sha256,
                "precision": self.precision,
            }
        )

    @property
    def scorer(self) -> OpenClipScorer:
        """The loaded model (loaded on first use)."""
        with self._load_lock:
            if self._scorer is None:
                self._scorer = OpenClipScorer(
                    self.config.model,
                    self.weights,
                    self.device,
                    self.precision,
                    quick_gelu=self.quick_gelu(),
                    batch_size=self.config.batch_size,
                )
            return self._scorer

    def text_for(self, video: Video) -> str:
        """The text a video is scored against: its generator input, or the user's prompt."""
        if self.config.text == "prompt" or not video.video_text:
            return video.prompt_text
        return video.video_text

    def score_inputs(self, video: Video) -> dict[str, Any]:
        """The text is an input of the score."""
        return {"text": self.text_for(video)}

    def frame_scores(self, video: Video, kf: Keyframes, text: str) -> dict[int, float]:
        """Score of every frame in ``kf``, through the per-frame cache, one batch for the rest."""
        fingerprint = self.fingerprint()
        file = self.store.file_hash(video.path) if self.store is not None else str(video.path)
        keys = {
            i: stable_hash({"judge": fingerprint, "file": file, "frame": i, "text": text})
            for i in kf.indices
        }
        known: dict[str, Any] = {k: self._memory[k] for k in keys.values() if k in self._memory}
        if self.store is not None:
            known.update(self.store.get_many(FRAME_SCORES, list(keys.values())))
        missing = [pos for pos, i in enumerate(kf.indices) if keys[i] not in known]
        if missing:
            sims = self.scorer.similarities([kf.frames[p] for p in missing], text)
            scale = self.scorer.logit_scale if self.use_logit_scale else 1.0
            for pos, sim in zip(missing, sims, strict=True):
                key = keys[kf.indices[pos]]
                known[key] = scale * sim
                self._memory[key] = scale * sim
                if self.store is not None:
                    self.store.put(FRAME_SCORES, key, scale * sim)
        return {i: float(known[keys[i]]) for i in kf.indices}

    def video_score(self, video: Video, frames: int | None) -> float:
        """Mean frame score over the selected keyframes."""
        text = self.text_for(video)
        decoded = self.source.decoded(video.path, frames)
        chosen = self.source.get(video.path, frames)
        scores = self.frame_scores(video, decoded, text)
        return float(np.mean([scores[i] for i in chosen.indices]))

    def describe(self) -> dict[str, Any]:
        """Settings plus the weights used (path, origin, sha256), device and precision."""
        info = super().describe()
        info["weights"] = {
            "model": self.config.model,
            "path": str(self.weights.path),
            "origin": self.weights.origin,
            "sha256": self.weights_sha256,
        }
        info["device"] = self.device
        info["precision"] = self.precision
        if self._scorer is not None:
            info["image_forward_passes"] = self._scorer.image_passes
        return info


@dataclass(frozen=True)
class ClipConfig:
    """Options of the ``clip`` judge.

    Attributes:
        model: open_clip architecture.
        pretrained: open_clip pretrained tag whose weights to use (looked up in the local
            Hugging Face cache unless ``checkpoint`` is given).
        checkpoint: A local weights file (open_clip state dict, .safetensors or torch).
        quick_gelu: Activation of the weights (default: what open_clip records for the tag;
            OpenAI's CLIP uses QuickGELU).
        text: Score against the video's ``video`` text (what the generator saw) or the ``prompt``.
        device: ``auto`` (cuda, mps, cpu) or a torch device.
        precision: ``auto`` (fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16.
        batch_size: Frames per forward pass.
        tie_tolerance: Score differences up to this are ties.
    """

    model: str = "ViT-B-32"
    pretrained: str = "openai"
    checkpoint: Path | None = None
    quick_gelu: bool | None = None
    text: Literal["video", "prompt"] = "video"
    device: str = "auto"
    precision: Precision = "auto"
    batch_size: int = 32
    tie_tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


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
