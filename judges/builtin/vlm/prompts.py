"""Versioned prompts for VLM pairwise judges, read from ``judges/prompts/<version>.toml``.

The message layout follows the paper: a system message with the expert preamble and the one
dimension's guideline; a user message with the question and the prompt, then "Frame k of the
first video" + image for each keyframe of the first video, the same for the second, then the
answer instructions.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from judges.core.errors import ConfigError
from judges.core.types import Dimension

Variant = Literal["zero_shot", "cot"]
Layout = Literal["frames", "grid"]


@dataclass(frozen=True)
class PromptSet:
    """One version of the judge prompts (see ``judges/prompts/v1.toml``)."""

    version: str
    data: dict[str, Any]

    def missing(self, dimensions: Iterable[Dimension]) -> list[str]:
        """Criteria these prompts lack for ``dimensions`` (each dimension names its criterion)."""
        have = self.data.get("criteria", {})
        names = self.data.get("names", {})
        return sorted(
            {d.criterion for d in dimensions if d.criterion not in have or d.criterion not in names}
        )

    def name(self, dimension: Dimension) -> str:
        """The dimension's display name in prompts."""
        return str(self.data["names"][dimension.criterion])

    def system(self, dimension: Dimension) -> str:
        """System message: the shared preamble plus this dimension's guideline only."""
        preamble = self.data["system"]["preamble"].strip()
        return f"{preamble}\n\n{self.data['criteria'][dimension.criterion].strip()}"

    def instructions(self, dimension: Dimension, variant: Variant, allow_tie: bool) -> str:
        """The closing instructions: how to reason, then the required final line."""
        how = self.data["answer"][variant].strip().format(dimension=self.name(dimension))
        final = self.data["answer"]["final_with_tie" if allow_tie else "final"].strip()
        return f"{how}\n{final}"

    def messages(
        self,
        prompt_text: str,
        dimension: Dimension,
        images: tuple[list[str], list[str]],
        *,
        variant: Variant,
        allow_tie: bool,
        layout: Layout,
        detail: str,
    ) -> list[dict[str, Any]]:
        """Chat messages for one comparison.

        Args:
            prompt_text: The T2V prompt both videos answer.
            dimension: The dimension judged.
            images: Data URLs of the first and second video's images, in presentation order
                (one tiled image per video with ``layout="grid"``).
            variant: ``zero_shot`` or ``cot``.
            allow_tie: Whether "Final answer: Tie" is offered.
            layout: ``frames`` (one image part per keyframe) or ``grid``.
            detail: The image ``detail`` parameter (``low``/``high``/``auto``).

        """
        user = self.data["user"]
        parts: list[dict[str, Any]] = [
            {
                "type": "text",
                "text": user["intro"]
                .strip()
                .format(dimension=self.name(dimension), prompt=prompt_text),
            }
        ]
        for ordinal, urls in zip(user["ordinals"], images, strict=True):
            for k, url in enumerate(urls, 1):
                caption = (
                    user["grid"].format(ordinal=ordinal)
                    if layout == "grid"
                    else user["frame"].format(k=k, ordinal=ordinal)
                )
                parts.append({"type": "text", "text": caption})
                parts.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
        parts.append({"type": "text", "text": self.instructions(dimension, variant, allow_tie)})
        return [
            {"role": "system", "content": self.system(dimension)},
            {"role": "user", "content": parts},
        ]


@cache
def load_prompts(version: str = "v1") -> PromptSet:
    """Load a prompt version shipped in ``judges/prompts/``.

    Raises:
        ConfigError: no such version (listing the available ones).

    """
    folder = resources.files("judges") / "prompts"
    path = folder / f"{version}.toml"
    if not path.is_file():
        available = sorted(
            p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
        )
        raise ConfigError(f"unknown prompt version {version!r}; available: {', '.join(available)}")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != version:
        raise ConfigError(f"{path}: declares version {data.get('version')!r}, expected {version!r}")
    prompts = PromptSet(version, data)
    missing = prompts.missing(Dimension)  # SafeSora's six are always needed
    if missing:
        raise ConfigError(f"{path}: no criteria for {', '.join(missing)}")
    return prompts
