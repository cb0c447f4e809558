"""open_clip machinery shared by the ``clip`` and ``hpsv2`` judges.

The scorer (batched image features, cached text features), the judge base (a video's score is
the mean of its keyframes' scores, cached per frame) and the options both judges take.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from judges.cache.store import Store, stable_hash
from judges.core.errors import ConfigError
from judges.core.types import Video
from judges.judge.base import RunContext
from judges.judge.model_judge import ModelJudge, Precision, Weights, load_state_dict, require_models
from judges.media.keyframes import Keyframes

FRAME_SCORES = "frame_scores"


def _quiet_random_init(record: logging.LogRecord) -> bool:
    # open_clip warns "initialized randomly" when built without a pretrained tag; the weights
    # are loaded right after, so the warning would only mislead.
    return "No pretrained weights loaded" not in record.getMessage()


class OpenClipScorer:
    """An open_clip model with batched image and cached text features.

    Args:
        model_name: open_clip architecture (e.g. ``ViT-B-32``).
        weights: The checkpoint to load (strictly: every key must match).
        device: torch device string.
        precision: ``fp32``, ``fp16`` or ``bf16``.
        quick_gelu: The activation the weights were trained with (OpenAI's CLIP: True).
        batch_size: Frames per forward pass.
    """

    def __init__(
        self,
        model_name: str,
        weights: Weights,
        device: str,
        precision: str,
        quick_gelu: bool = False,
        batch_size: int = 32,
    ) -> None:
        torch, open_clip = require_models()
        self.torch = torch
        # Read before building: a corrupt or truncated file fails in milliseconds, not after
        # the seconds that initialising the architecture's random weights takes.
        state = load_state_dict(weights.path, model_name)
        root = logging.getLogger()
        root.addFilter(_quiet_random_init)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name,
                pretrained=None,
                precision="fp32",
                device="cpu",
                force_quick_gelu=quick_gelu,
            )
        except RuntimeError as e:
            raise ConfigError(f"unknown open_clip model {model_name!r}: {e}") from None
        finally:
            root.removeFilter(_quiet_random_init)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()
            detail = "; ".join(line.strip() for line in first[:3])
            raise ConfigError(
                f"{weights.path}: does not match the {model_name} architecture ({detail[:400]}); "
                "check the model= option and that the file is the right checkpoint"
            ) from None
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
        self.model = model.to(device=device, dtype=dtype).eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.logit_scale = float(model.logit_scale.exp().item())
        self.image_passes = 0
        self._texts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def pixels(self, frames: Sequence[np.ndarray]) -> Any:
        """Preprocess RGB uint8 frames exactly as open_clip preprocesses PIL images."""
        from PIL import Image

        return self.torch.stack([self.preprocess(Image.fromarray(f)) for f in frames])

    def image_features(self, frames: Sequence[np.ndarray]) -> Any:
        """Normalised image features, ``batch_size`` frames per forward pass."""
        out = []
        with self._lock, self.torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                batch = self.pixels(frames[start : start + self.batch_size])
                batch = batch.to(self.device, dtype=self.dtype)
                self.image_passes += 1
                out.append(self.model.encode_image(batch, normalize=True).float())
        return self.torch.cat(out)

    def text_features(self, text: str) -> Any:
        """Normalised text features, computed once per text and reused."""
        with self._lock:
            hit = self._texts.get(text)
            if hit is None:
                with self.torch.inference_mode():
                    tokens = self.tokenizer([text]).to(self.device)
                    hit = self.model.encode_text(tokens, normalize=True).float()[0]
                self._texts[text] = hit
            return hit

    def similarities(self, frames: Sequence[np.ndarray], text: str) -> list[float]:
        """Cosine similarity of each frame with ``text``."""
        images = self.image_features(frames)
        return (images @ self.text_features(text)).cpu().tolist()


@dataclass(frozen=True)
class OpenClipOptions:
    """Options every open_clip judge takes.

    Attributes:
        model: open_clip architecture.
        checkpoint: A local weights file (open_clip state dict, .safetensors or torch).
        text: Score against the video's ``video`` text (what the generator saw) or the ``prompt``.
        device: ``auto`` (cuda, mps, cpu) or a torch device.
        precision: ``auto`` (fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16.
        batch_size: Frames per forward pass.
        tie_tolerance: Score differences up to this are ties.

    """

    model: str = "ViT-B-32"
    checkpoint: Path | None = None
    text: Literal["video", "prompt"] = "video"
    device: str = "auto"
    precision: Precision = "auto"
    batch_size: int = 32
    tie_tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


class OpenClipJudge(ModelJudge):
    """Base of the open_clip judges: a video's score is the mean of its keyframes' scores.

    Frame scores are cached per (weights, video content, frame index, text): a run over 1, 2, 4
    and 8 frames makes one batched forward pass per video (the smaller selections are subsets),
    and a rerun or another dimension makes none. The model loads only when a frame actually
    needs scoring. Subclasses set ``use_logit_scale`` and implement :meth:`resolve`.
    """

    use_logit_scale: ClassVar[bool] = True

    def __init__(self, config: Any, name: str | None = None) -> None:
        super().__init__(config, name)
        self._scorer: OpenClipScorer | None = None
        self._load_lock = threading.Lock()
        self._memory: dict[str, float] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to another process (a Ray actor): the loaded model and the lock stay here;
        # the receiver loads the weights once, on first use.
        state = super().__getstate__()
        state.update(_scorer=None, _load_lock=None, _memory={})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._load_lock = threading.Lock()

    def quick_gelu(self) -> bool:
        """The activation the weights were trained with."""
        return False

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

    def frame_scores(
        self, video: Video, kf: Keyframes, text: str, store: Store | None = None
    ) -> dict[int, float]:
        """Score of every frame in ``kf``, through the per-frame cache, one batch for the rest."""
        fingerprint = self.fingerprint()
        file = store.file_hash(video.path) if store is not None else str(video.path)
        keys = {
            i: stable_hash({"judge": fingerprint, "file": file, "frame": i, "text": text})
            for i in kf.indices
        }
        known: dict[str, Any] = {k: self._memory[k] for k in keys.values() if k in self._memory}
        if store is not None:
            known.update(store.get_many(FRAME_SCORES, list(keys.values())))
        missing = [pos for pos, i in enumerate(kf.indices) if keys[i] not in known]
        if missing:
            sims = self.scorer.similarities([kf.frames[p] for p in missing], text)
            scale = self.scorer.logit_scale if self.use_logit_scale else 1.0
            for pos, sim in zip(missing, sims, strict=True):
                key = keys[kf.indices[pos]]
                known[key] = scale * sim
                self._memory[key] = scale * sim
                if store is not None:
                    store.put(FRAME_SCORES, key, scale * sim)
        return {i: float(known[keys[i]]) for i in kf.indices}

    def video_score(self, video: Video, frames: int | None, ctx: RunContext) -> float:
        """Mean frame score over the selected keyframes."""
        text = self.text_for(video)
        decoded = ctx.source.decoded(video.path, frames)
        chosen = ctx.source.get(video.path, frames)
        scores = self.frame_scores(video, decoded, text, ctx.store)
        return float(np.mean([scores[i] for i in chosen.indices]))

    def describe(self) -> dict[str, Any]:
        """Model judge details plus the forward passes made."""
        info = super().describe()
        if self._scorer is not None:
            info["image_forward_passes"] = self._scorer.image_passes
        return info
