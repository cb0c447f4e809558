"""API prices and token estimates for the VLM judges.

Prices are USD per million tokens as OpenAI listed them on the date below; override them per
judge with ``price_input`` / ``price_output`` when they change or for other endpoints.

Image tokens follow OpenAI's published rule for GPT-4o-class models: ``detail=low`` costs a
fixed base; ``high`` fits the image into 2048x2048, then scales its shorter side down to 768,
and costs ``base + tile * (number of 512-pixel tiles)``. ``auto`` is estimated as ``high`` (an
upper bound). gpt-4o-mini bills images at its own, larger token counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PRICES_AS_OF = "2024-11-20"

# model -> (USD per 1M input tokens, USD per 1M output tokens)
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-2024-11-20": (2.50, 10.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini-2024-07-18": (0.15, 0.60),
    "gpt-4o-mini": (0.15, 0.60),
}

# model family -> (base tokens, tokens per 512px tile)
_IMAGE_TOKENS = {"gpt-4o-mini": (2833, 5667), "default": (85, 170)}
MESSAGE_OVERHEAD = 3  # tokens per chat message
REPLY_PRIMING = 3  # tokens that start the assistant's reply


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Cost in USD of one call.

        Example:
            >>> Price(5.0, 15.0).cost(1_000_000, 0)
            5.0

        """
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def price_for(
    model: str, input_override: float | None = None, output_override: float | None = None
) -> Price | None:
    """The model's price (overrides win); ``None`` when the model is unknown and not overridden."""
    table = PRICES.get(model)
    if table is None and input_override is None and output_override is None:
        return None
    base = table or (0.0, 0.0)
    return Price(
        base[0] if input_override is None else input_override,
        base[1] if output_override is None else output_override,
    )


def image_tokens(width: int, height: int, detail: str = "auto", model: str = "gpt-4o") -> int:
    """Input tokens an image costs under OpenAI's tile rule.

    Example:
        >>> image_tokens(1024, 1024, "high")  # 768x768 -> 4 tiles
        765
        >>> image_tokens(1024, 1024, "low")
        85

    """
    base, tile = _IMAGE_TOKENS["gpt-4o-mini" if "mini" in model else "default"]
    if detail == "low":
        return base
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return base + tile * tiles


def text_tokens(text: str) -> int:
    """Rough token count of English text (about four characters a token)."""
    return math.ceil(len(text) / 4)


def estimate_prompt_tokens(
    messages: Iterable[Mapping[str, Any]],
    image_sizes: Iterable[tuple[int, int]],
    detail: str,
    model: str,
) -> int:
    """Input tokens of a chat request: text by a character rule, images by the tile rule.

    Args:
        messages: Chat messages; content is a string or a list of parts.
        image_sizes: ``(width, height)`` of each image sent.
        detail: The ``detail`` the images are sent with.
        model: Model name (gpt-4o-mini bills images differently).

    """
    total = REPLY_PRIMING
    for message in messages:
        total += MESSAGE_OVERHEAD
        content = message.get("content")
        if isinstance(content, str):
            total += text_tokens(content)
        elif isinstance(content, list):
            total += sum(text_tokens(p.get("text", "")) for p in content if p.get("type") == "text")
    total += sum(image_tokens(w, h, detail, model) for w, h in image_sizes)
    return total


@dataclass(frozen=True)
class CostPlan:
    """What a dry run found a judge would do and cost.

    Attributes:
        judge: The judge's label.
        verdicts: Verdicts the run needs.
        to_compute: Verdicts the verdict cache does not hold.
        calls: API calls the response cache cannot answer.
        cached_responses: Requests the response cache answers.
        input_tokens: Estimated input tokens of the calls.
        max_output_tokens: Output tokens at most (``max_tokens`` per call).
        input_cost_usd: Estimated input cost (``None``: no price known).
        max_cost_usd: Worst-case total cost (``None``: no price known).
        prices_as_of: Date of the price table.
        model: The model asked.
        batch_discount: Batch price as a share of the online price (``None``: no batch mode).
        mode: ``online`` or ``batch``: how the run would send the calls.
        concurrency: Requests in flight online.
        latency_s: Expected seconds per online request (the judge's ``latency_s``).
        overhead_s: Measured local seconds per request (building, encoding, hashing it).

    """

    judge: str
    verdicts: int = 0
    to_compute: int = 0
    calls: int = 0
    cached_responses: int | None = None
    input_tokens: int | None = None
    max_output_tokens: int | None = None
    input_cost_usd: float | None = None
    max_cost_usd: float | None = None
    prices_as_of: str | None = None
    model: str | None = None
    batch_discount: float | None = None
    mode: str = "online"
    concurrency: int | None = None
    latency_s: float | None = None
    overhead_s: float | None = None

    @property
    def batch_input_cost_usd(self) -> float | None:
        """Estimated input cost at the batch price."""
        if self.input_cost_usd is None or self.batch_discount is None:
            return None
        return self.input_cost_usd * self.batch_discount

    @property
    def batch_max_cost_usd(self) -> float | None:
        """Worst-case total cost at the batch price."""
        if self.max_cost_usd is None or self.batch_discount is None:
            return None
        return self.max_cost_usd * self.batch_discount

    @property
    def wall_s(self) -> float | None:
        """Estimated online wall time in seconds.

        Each call costs the larger of the model's latency shared by the requests in flight and
        the local overhead of building it (the two overlap). Rate limits are not modelled.
        """
        if self.latency_s is None or not self.concurrency or self.overhead_s is None:
            return None
        return self.calls * max(self.latency_s / self.concurrency, self.overhead_s)

    def describe(self) -> str:
        """One line for the console: verdicts, calls, tokens, both prices and wall time.

        Example:
            >>> CostPlan("psnr", verdicts=8, to_compute=2).describe()
            'psnr: 2 of 8 verdicts to compute, 0 API calls'

        """
        line = f"{self.judge}: {self.to_compute} of {self.verdicts} verdicts to compute, "
        line += f"{self.calls:,} API calls"
        if self.input_tokens is None:
            return line
        line += f" ({self.cached_responses} answered by the cache), ~{self.input_tokens:,} input "
        line += "tokens"
        if self.input_cost_usd is None or self.max_cost_usd is None:
            return line + ", no price known for this model (set price_input/price_output)"
        output = self.max_cost_usd - self.input_cost_usd
        line += (
            f"; online ${self.input_cost_usd:,.4f} input + up to ${output:,.4f} output"
            f" (prices as of {self.prices_as_of})"
        )
        if self.batch_max_cost_usd is not None and self.batch_input_cost_usd is not None:
            line += (
                f"; batch ${self.batch_input_cost_usd:,.4f} + up to "
                f"${self.batch_max_cost_usd - self.batch_input_cost_usd:,.4f}"
            )
        if self.wall_s is not None:
            line += (
                f"; online wall time ~{format_duration(self.wall_s)} at {self.concurrency} in "
                f"flight ({self.latency_s:g} s a request, {self.overhead_s * 1000:.1f} ms local "
                "overhead measured); a batch answers within 24 h"
            )
        if self.mode == "batch":
            line += " [mode=batch]"
        return line


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.4 h`` or ``2.1 days``.

    Example:
        >>> format_duration(7200)
        '2.0 h'

    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
