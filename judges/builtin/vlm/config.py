"""Options of the ``vlm`` judge and its presets (kept apart so the judge module stays small)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from judges.builtin.vlm.prompts import Layout, Variant
from judges.chat.batch_files import BatchOptions


@dataclass(frozen=True)
class VlmConfig:
    """Options of the ``vlm`` judge and its presets (``gpt4o``, ``gpt4o-0806``, ``gpt4o-mini``).

    Attributes:
        model: Model name sent to the endpoint (paper: gpt-4o-2024-05-13, gpt-4o-2024-08-06,
            gpt-4o-mini).
        prompt: ``zero_shot`` or ``cot`` (analyse each video, then compare).
        prompt_version: Version of ``judges/prompts/<version>.toml``.
        base_url: OpenAI-compatible endpoint (default: the OpenAI API).
        api_key_env: Environment variable holding the key; ``none`` for keyless local servers.
        temperature: Sampling temperature.
        max_tokens: Reply length cap (also the output side of the cost cap's estimate).
        seed: Sent when the server accepts it; ``none`` to omit.
        detail: Image detail: ``low``, ``high`` or ``auto``.
        max_side: Longest side of each frame image, in pixels.
        jpeg_quality: JPEG quality of the images.
        layout: ``frames`` (an image per keyframe) or ``grid`` (one tiled image per video).
        allow_tie: Offer "Final answer: Tie".
        order: ``fixed`` (the paper's) or ``both`` (ask in both orders; disagreement is a tie).
        logprobs: Ask for token log-probabilities to measure answer confidence.
        timeout: Seconds per request before it is retried.
        max_retries: Retries per request (429, 5xx, timeouts, connection errors).
        price_input: USD per million input tokens (default: the dated table).
        price_output: USD per million output tokens (default: the dated table).
        mode: ``online`` (one call per request) or ``batch`` (OpenAI's Batch API: same requests
            and cache, batch price, answers within 24 h; see :mod:`judges.chat.batch`).
        batch_discount: Batch price as a share of the online price.
        poll_seconds: Seconds between polls of unfinished batches.
        batch_max_requests: Requests per batch file at most.
        batch_max_mb: Megabytes per batch file at most.
        latency_s: Expected seconds per online request (the dry run's wall-time estimate).
        repeats: Samples per request (K): the verdict is the majority of K answers, each sample
            cached on its own (see :mod:`judges.chat.samples`); wants ``temperature > 0``.

    """

    model: str = "gpt-4o-2024-05-13"
    prompt: Variant = "zero_shot"
    prompt_version: str = "v1"
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 1024
    seed: int | None = 0
    detail: Literal["low", "high", "auto"] = "auto"
    max_side: int = 768
    jpeg_quality: int = 90
    layout: Layout = "frames"
    allow_tie: bool = False
    order: Literal["fixed", "both"] = "fixed"
    logprobs: bool = True
    timeout: float = 120.0
    max_retries: int = 4
    price_input: float | None = None
    price_output: float | None = None
    mode: Literal["online", "batch"] = "online"
    batch_discount: float = 0.5
    poll_seconds: float = 30.0
    batch_max_requests: int = 50_000
    batch_max_mb: float = 200.0
    latency_s: float = 6.0
    repeats: int = 1

    def __post_init__(self) -> None:
        self.batch_options  # noqa: B018 - validates the batch options
        checks = [
            (self.max_tokens >= 1, "max_tokens must be >= 1"),
            (self.max_side >= 16, "max_side must be >= 16"),
            (1 <= self.jpeg_quality <= 100, "jpeg_quality must be within 1..100"),
            (self.timeout > 0, "timeout must be > 0"),
            (self.max_retries >= 0, "max_retries must be >= 0"),
            (self.temperature >= 0, "temperature must be >= 0"),
            (
                isinstance(self.repeats, int) and not isinstance(self.repeats, bool),
                f"repeats must be a whole number, got {self.repeats!r}",
            ),
            (not isinstance(self.repeats, int) or self.repeats >= 1, "repeats must be >= 1"),
            (
                self.repeats == 1 or self.mode == "online",
                "repeats > 1 needs mode=online (batches ask one sample per request)",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def batch_options(self) -> BatchOptions:
        """The Batch API settings."""
        return BatchOptions(
            discount=self.batch_discount,
            poll_seconds=self.poll_seconds,
            max_requests=self.batch_max_requests,
            max_bytes=int(self.batch_max_mb * 1024 * 1024),
        )
