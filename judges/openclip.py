"""open_clip machinery shared by the model judges (``clip``, ``hpsv2``).

torch and open_clip are an optional extra and are imported only inside these functions, so
``import judges`` stays light. Weights are never fetched behind the user's back: they come from
an explicit path, an environment variable or the local Hugging Face cache (looked up offline),
and when none has them the error lists every place tried and the command that downloads them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judges.errors import ConfigError

INSTALL_HINT = "uv sync --extra models   (or: pip install 't2v-judges[models]')"


def require_models() -> tuple[Any, Any]:
    """Import torch and open_clip, or fail with the install command.

    Raises:
        ConfigError: the ``models`` extra is not installed.
    """
    try:
        import open_clip
        import torch
    except ImportError as e:
        raise ConfigError(
            f"model judges need torch and open_clip ({e.name} is missing); install the extra: "
            f"{INSTALL_HINT}"
        ) from None
    return torch, open_clip


def pick_device(device: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu."""
    torch, _ = require_models()
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_precision(precision: str, device: str) -> str:
    """``auto``: half precision on a GPU, fp32 on the CPU."""
    if precision != "auto":
        return precision
    return "fp16" if device.startswith(("cuda", "mps")) else "fp32"


@dataclass(frozen=True)
class Weights:
    """A resolved checkpoint file and how it was found."""

    path: Path
    origin: str


def resolve_weights(
    explicit: Path | None,
    env_var: str,
    hf_files: Sequence[tuple[str, str]],
    download: str,
    what: str,
) -> Weights:
    """Find a checkpoint: explicit path, then ``$env_var``, then the local HF cache (offline).

    Args:
        explicit: ``checkpoint=`` judge option.
        env_var: Environment variable that may name the file.
        hf_files: ``(repo_id, filename)`` candidates in the Hugging Face cache.
        download: The command that downloads the file on a machine with internet.
        what: What the weights are (for messages).

    Raises:
        ConfigError: listing every location tried, how to point at a file and the download.
    """
    if explicit is not None:
        if Path(explicit).is_file():
            return Weights(Path(explicit), "checkpoint option")
        raise ConfigError(f"{what}: checkpoint {explicit} does not exist (checkpoint= option)")
    tried: list[str] = []
    env = os.environ.get(env_var)
    if env:
        if Path(env).expanduser().is_file():
            return Weights(Path(env).expanduser(), f"${env_var}")
        tried.append(f"${env_var}={env} (no such file)")
    else:
        tried.append(f"${env_var} (not set)")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - open_clip depends on huggingface_hub
        try_to_load_from_cache = None
    # Read at call time (huggingface_hub reads its constants once, at import).
    cache_dir = os.environ.get("HF_HUB_CACHE")
    for repo, filename in hf_files:
        found = (
            try_to_load_from_cache(repo, filename, cache_dir=cache_dir)
            if try_to_load_from_cache
            else None
        )
        if isinstance(found, str) and Path(found).is_file():
            return Weights(Path(found), f"Hugging Face cache ({repo}/{filename})")
        tried.append(f"Hugging Face cache: {repo}/{filename}")
    lines = "\n  ".join(tried)
    raise ConfigError(
        f"no weights found for {what}. Tried:\n  {lines}\n"
        f"Point at a file with --judge-arg checkpoint=PATH or {env_var}=PATH, or download it "
        f"on a machine with internet:\n  {download}"
    )


def load_state_dict(path: Path, what: str) -> dict[str, Any]:
    """Read a checkpoint's state dict (``.safetensors`` or a torch file, weights only).

    Accepts a bare state dict or one under ``state_dict`` (as HPSv2 ships it), with or without
    a ``module.`` prefix.

    Raises:
        ConfigError: the file is unreadable or holds no state dict.
    """
    torch, _ = require_models()
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(
            f"{path}: cannot read the checkpoint for {what} ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200] if str(e) else ''}); the file may be corrupt or "
            "incomplete: download it again"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ConfigError(f"{path}: holds no state dict for {what}")
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


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
        state = load_state_dict(weights.path, model_name)
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
