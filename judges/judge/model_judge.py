"""What every model judge shares: the optional extra, devices, weights, and their identity.

torch (and the libraries of each model) are an optional extra and are imported only inside
these functions, so ``import judges`` stays light. Weights are never fetched behind the user's
back: they come from an explicit path, an environment variable or the local Hugging Face cache
(looked up offline), and when none has them the error lists every place tried and the command
that downloads them.

:class:`ModelJudge` is the base of judges that run a local model: it resolves the weights before
any work and puts their content hash (and the precision used) into the judge's fingerprint, so a
new model judge cannot serve cached scores of other weights by forgetting to.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from judges.cache.store import file_sha256, stable_hash
from judges.core.errors import ConfigError
from judges.judge.base import ScoreJudge

Precision = Literal["auto", "fp32", "fp16", "bf16"]
# Weights files are large: hash each (path, size, mtime) once per process.
_WEIGHT_HASHES: dict[tuple[str, int, int], str] = {}


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


class ModelJudge(ScoreJudge):
    """Base of judges that score videos with local model weights.

    Subclasses implement :meth:`resolve` (find the checkpoint, raising ConfigError that lists
    what was tried) and read ``config.device`` and ``config.precision``. The weights' content
    hash joins the fingerprint here, once for every model judge.
    """

    non_semantic = frozenset({"device", "batch_size", "checkpoint"})

    def __init__(self, config: Any, name: str | None = None) -> None:
        require_models()  # without the extra, fail here with the install command
        super().__init__(config, name)
        self.device = pick_device(config.device)
        self.precision = pick_precision(config.precision, self.device)
        self.weights = self.resolve()  # missing weights fail before any work
        self._weights_sha: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # Unpickled on another machine (a Ray actor): ``device=auto`` means that machine's GPU.
        # The precision stays the driver's: it is part of the cache identity of every score.
        if getattr(self.config, "device", "auto") == "auto":
            self.device = pick_device("auto")

    @abc.abstractmethod
    def resolve(self) -> Weights:
        """Find the checkpoint file (raises ConfigError listing what was tried)."""

    @property
    def weights_sha256(self) -> str:
        """Content hash of the checkpoint (part of every cache key); hashed once per process."""
        if self._weights_sha is None:
            path = self.weights.path
            st = path.stat()
            key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
            if key not in _WEIGHT_HASHES:
                _WEIGHT_HASHES[key] = file_sha256(path)
            self._weights_sha = _WEIGHT_HASHES[key]
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

    def describe(self) -> dict[str, Any]:
        """Settings plus the weights used (path, origin, sha256), device and precision."""
        info = super().describe()
        info["weights"] = {
            "model": getattr(self.config, "model", None),
            "path": str(self.weights.path),
            "origin": self.weights.origin,
            "sha256": self.weights_sha256,
        }
        info["device"] = self.device
        info["precision"] = self.precision
        return info
