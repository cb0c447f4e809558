"""``vlm`` judge: a vision-language model compares two videos' keyframes (GPT-4o and presets).

Any OpenAI-compatible model serves (the OpenAI API, vLLM, Ollama, LM Studio, a proxy) through
``base_url``; ``gpt4o``, ``gpt4o-0806`` and ``gpt4o-mini`` are presets of this one judge. This
module only prompts and interprets: calls, the response cache, the budget, retries and counters
belong to :class:`judges.chat.ChatClient`, and concurrency to :class:`judges.judge.base.AsyncJudge`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from judges.builtin.vlm.config import VlmConfig
from judges.builtin.vlm.cost import dry_run_plan
from judges.builtin.vlm.prompts import load_prompts
from judges.builtin.vlm.replies import interpret_reply
from judges.chat.client import ChatClient, ChatStats, Endpoint
from judges.chat.mock import is_mock
from judges.chat.pricing import PRICES_AS_OF, CostPlan, Price, estimate_prompt_tokens, price_for
from judges.chat.samples import call_samples
from judges.core.errors import ConfigError, ItemError
from judges.core.types import Dimension, Pair, Status, Verdict, Video, Winner
from judges.judge.async_judge import AsyncJudge
from judges.judge.base import RunContext, Task
from judges.judge.batch_mode import BatchMode
from judges.judge.registry import register_judge
from judges.media.images import data_url, encode_jpeg, resize_max_side, tile_grid
from judges.media.keyframes import KeyframeSource
from judges.stats.repeats import majority, sample_outcome

Request = tuple[dict[str, Any], list[tuple[int, int]]]
"""A chat-completion body and the ``(width, height)`` of each image it carries."""


@dataclass
class _Images:
    urls: list[str]
    sizes: list[tuple[int, int]]


class VlmJudge(BatchMode, AsyncJudge):
    """Pairwise VLM judge over any OpenAI-compatible chat endpoint (see :class:`VlmConfig`).

    Example:
        >>> judge = get_judge("gpt4o", prompt="cot", order="both")  # doctest: +SKIP
        >>> judge = get_judge("vlm", model="qwen2-vl", base_url="http://localhost:8000/v1",
        ...                   api_key_env="none")  # doctest: +SKIP

    """

    kind = "vlm"
    confidence_kind = "probability"
    version = "1"
    default_dimensions = None  # judges any dimension the data labels
    # Options that change how or what a request costs, not its answer: batch and online
    # answers share the verdict cache.
    non_semantic = frozenset(
        {
            "api_key_env",
            "timeout",
            "max_retries",
            "price_input",
            "price_output",
            "mode",
            "batch_discount",
            "poll_seconds",
            "batch_max_requests",
            "batch_max_mb",
            "latency_s",
        }
    )

    takes_repeats = True  # judges that ask once per request whatever ``repeats`` says: False
    # One sample: the cache identity before repeats existed.
    added_options: ClassVar[dict[str, Any]] = {"repeats": 1}

    def __init__(self, config: VlmConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        if config.repeats > 1 and not self.takes_repeats:
            raise ConfigError(f"judge {self.name!r} asks once per request; drop repeats")
        if config.repeats > 1 and config.temperature == 0:
            warnings.warn(
                f"judge {self.name!r}: repeats={config.repeats} at temperature 0: the samples "
                "may be identical (pass --judge-arg temperature=0.7 or so to sample)",
                UserWarning,
                stacklevel=2,
            )
        self.prompts = self.load_prompts(config.prompt_version)
        self.price = price_for(config.model, config.price_input, config.price_output)
        if is_mock(config.base_url):
            if config.mode == "batch":
                raise ConfigError(
                    f"judge {self.name!r}: base_url=mock answers online requests only; drop "
                    "mode=batch"
                )
            self.price = Price(0.0, 0.0)  # the stand-in costs nothing
        endpoint = Endpoint(config.base_url, config.api_key_env, config.timeout, config.max_retries)
        self.chat = ChatClient(endpoint, self.name, self.prompts.version, self.price)
        self._images: OrderedDict[tuple[str, int | None, str], _Images] = OrderedDict()
        self._images_lock = threading.Lock()
        self.both_order = 0
        self.flips = 0

    def label_for(self, label: str) -> str:
        """``-mock`` marks every table row of a run against the mock endpoint."""
        mock = is_mock(self.cfg.base_url) and not label.endswith("-mock")
        return f"{label}-mock" if mock else label

    def notice(self) -> str | None:
        """A run against ``base_url=mock`` says, wherever its numbers go, that no model answered."""
        if not is_mock(self.cfg.base_url):
            return None
        return (
            f"MOCK ENDPOINT: judge {self.name!r} was answered by a fixed rule "
            "(judges/chat/mock.py), not a model. Its numbers show the pipeline, not a judge."
        )

    def load_prompts(self, version: str) -> Any:
        """The judge's prompt set (harm judges load theirs)."""
        return load_prompts(version)

    @property
    def cfg(self) -> VlmConfig:
        """The typed options."""
        return self.config

    def check_ready(self) -> None:
        """Fail before any work when the API key is missing (naming the variable)."""
        self.chat.owner = self.name
        self.chat.check_ready()

    def check_dimensions(self, dimensions: Sequence[Dimension]) -> None:
        """Every dimension's criterion must be in the prompts (new datasets add theirs)."""
        missing = self.prompts.missing(dimensions)
        if missing:
            raise ConfigError(
                f"judge {self.name!r}: prompts {self.prompts.version} have no criteria for "
                f"{', '.join(missing)}; add [criteria] and [names] entries to "
                f"judges/prompts/{self.prompts.version}.toml (or a new version)"
            )

    async def start(self, ctx: RunContext) -> None:
        """Give the client this run's cache and budget; open it in this event loop."""
        self.chat.owner, self.chat.store, self.chat.budget = self.name, ctx.store, ctx.budget
        self.chat.open()

    async def stop(self) -> None:
        """Close the HTTP client."""
        await self.chat.aclose()

    # --- requests --------------------------------------------------------------------------

    def images(self, video: Video, frames: int | None, source: KeyframeSource) -> _Images:
        """Encoded images of a video's keyframes, cached per run (pairs share videos)."""
        # A frame control shows other frames of the same file: it is part of the key.
        key = (str(video.path), frames, getattr(source, "control_key", "none"))
        with self._images_lock:
            hit = self._images.get(key)
            if hit is not None:
                self._images.move_to_end(key)
                return hit
        kf = source.get(video.path, frames)
        pics = [resize_max_side(f, self.cfg.max_side) for f in kf.frames]
        if self.cfg.layout == "grid":
            pics = [resize_max_side(tile_grid(pics), 2048)]
        jpegs = [encode_jpeg(p, self.cfg.jpeg_quality) for p in pics]
        out = _Images([data_url(j) for j in jpegs], [(p.shape[1], p.shape[0]) for p in pics])
        with self._images_lock:
            self._images[key] = out
            while len(self._images) > 256:
                self._images.popitem(last=False)
        return out

    def build_request(
        self,
        pair: Pair,
        dimension: Dimension,
        frames: int | None,
        swapped: bool = False,
        source: KeyframeSource | None = None,
    ) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        """The chat-completion body for one comparison, and the sizes of its images.

        ``swapped`` presents video_1 first (for ``order=both``); ``source`` is the run's
        keyframes (a fresh one when ``None``).
        """
        source = source or KeyframeSource()
        first = self.images(pair.video_0, frames, source)
        second = self.images(pair.video_1, frames, source)
        if swapped:
            first, second = second, first
        cfg = self.cfg
        messages = self.prompts.messages(
            pair.prompt_text,
            dimension,
            (first.urls, second.urls),
            variant=cfg.prompt,
            allow_tie=cfg.allow_tie,
            layout=cfg.layout,
            detail=cfg.detail,
        )
        return self.chat_body(messages), first.sizes + second.sizes

    def task_requests(self, task: Any, source: KeyframeSource) -> list[Request]:
        """Every request one task needs (both presentation orders with ``order=both``)."""
        orders = [False, True] if self.cfg.order == "both" else [False]
        return [
            self.build_request(task.pair, task.dimension, task.frames, s, source) for s in orders
        ]

    def chat_body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """A chat-completion body with this judge's model and sampling options."""
        cfg = self.cfg
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
        }
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        if cfg.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body

    def estimate(self, body: dict[str, Any], sizes: list[tuple[int, int]]) -> tuple[int, float]:
        """Estimated input tokens of a request and its worst-case cost (full ``max_tokens``)."""
        tokens = estimate_prompt_tokens(body["messages"], sizes, self.cfg.detail, self.cfg.model)
        return tokens, self.worst(tokens, 1)

    def worst(self, tokens: int, outputs: int) -> float:
        """Worst-case USD of a request of ``tokens`` input returning ``outputs`` choices."""
        return self.price.cost(tokens, outputs * self.cfg.max_tokens) if self.price else 0.0

    # --- replies ---------------------------------------------------------------------------

    def interpret(self, data: dict[str, Any], swapped: bool) -> dict[str, Any]:
        """Status, winner and confidence of one reply (see :func:`interpret_reply`)."""
        return interpret_reply(data, swapped, self.cfg.allow_tie)

    def _combine(self, replies: list[dict[str, Any]]) -> tuple[Status, Winner, float | None]:
        statuses = [r["status"] for r in replies]
        if len(replies) == 1:
            r = replies[0]
            return r["status"], r["winner"], r["answer_prob"]
        for bad in ("refused", "unparsed"):
            if bad in statuses:
                return bad, None, None
        if "tie" in statuses:
            return "tie", "tie", None
        self.both_order += 1
        winners = {r["winner"] for r in replies}
        if len(winners) > 1:
            self.flips += 1
            return "tie", "tie", None
        probs = [r["answer_prob"] for r in replies if r["answer_prob"] is not None]
        return "ok", replies[0]["winner"], sum(probs) / len(probs) if len(probs) == 2 else None

    async def judge_task(self, task: Task, ctx: RunContext) -> Verdict:
        """Ask the model (in one or both presentation orders) and interpret the replies."""
        start = time.perf_counter()
        orders = [False, True] if self.cfg.order == "both" else [False]
        try:
            requests = await asyncio.to_thread(self.task_requests, task, ctx.source)
        except ItemError as e:
            return self.error_verdict(task, e)
        replies: list[dict[str, Any]] = []  # every sample of the first order, then the second's
        costs: list[float] = []
        cached, k = 0, self.cfg.repeats
        for swapped, (body, sizes) in zip(orders, requests, strict=True):
            tokens = self.estimate(body, sizes)[0]
            calls = await call_samples(self.chat, body, k, lambda m, t=tokens: self.worst(t, m))
            costs += [c.cost for c in calls if c.cost is not None]
            cached += sum(c.cached for c in calls)
            failed = next((c for c in calls if c.data is None), None)
            if failed is not None:
                return self.error_verdict(
                    task,
                    failed.error or "no reply",
                    kind="api_error",
                    raw=self._raw(replies, cached),
                    cost_usd=sum(costs) if costs else None,
                    latency_s=time.perf_counter() - start,
                )
            replies += [self.interpret(c.data, swapped) for c in calls if c.data is not None]
        if k == 1:
            status, winner, confidence = self._combine(replies)
        else:  # sample i's answer combines its replies in each order
            per_sample = [self._combine(replies[i::k]) for i in range(k)]
            outcomes = [sample_outcome(st, w) for st, w, _ in per_sample]
            status, winner, confidence = majority(outcomes)  # type: ignore[assignment]
        raw = self._raw(replies, cached)
        if k > 1:
            raw["repeats"], raw["samples"] = k, outcomes
        elif self.cfg.order == "both" and all(r["status"] == "ok" for r in replies):
            raw["flip"] = len({r["winner"] for r in replies}) > 1
        return Verdict(
            pair_id=task.pair.pair_id,
            judge=self.name,
            dimension=task.dimension,
            frames=task.frames,
            winner=winner,
            confidence=confidence,
            status=status,
            raw=raw,
            cost_usd=sum(costs) if costs else None,
            latency_s=time.perf_counter() - start,
        )

    def _raw(self, replies: list[dict[str, Any]], cached: int) -> dict[str, Any]:
        return {
            "model": self.cfg.model,
            "prompt": self.cfg.prompt,
            "prompt_version": self.prompts.version,
            "order": self.cfg.order,
            "cached_responses": cached,
            "replies": replies,
        }

    # --- planning and reporting ------------------------------------------------------------

    def plan_cost(self, tasks: list[Any], ctx: RunContext) -> CostPlan:
        """Dry run: build every request, count the calls the cache cannot answer, estimate cost."""
        return self.cost_plan(
            (request for task in tasks for request in self.task_requests(task, ctx.source)), ctx
        )

    def cost_plan(
        self, requests: Iterable[tuple[dict[str, Any], list[tuple[int, int]]]], ctx: RunContext
    ) -> CostPlan:
        """A dry run's estimate over request bodies (with their image sizes).

        Counts the calls the response cache cannot answer and their input tokens, and prices
        them with the full ``max_tokens`` of output (the worst case). With ``repeats=K`` each
        uncached sample adds ``max_tokens`` of output, and the input is counted once per
        request sent (once for the missing samples of a request with ``n``).
        """
        return dry_run_plan(self, requests, ctx)

    def request_stats(self) -> ChatStats:
        """Calls, retries, cached replies and this judge's own spend."""
        return self.chat.stats

    @property
    def flip_rate(self) -> float | None:
        """Share of pairs asked in both orders whose answers disagreed (``order=both``)."""
        return self.flips / self.both_order if self.both_order else None

    def describe(self) -> dict[str, Any]:
        """Settings plus what happened: calls, retries, cache use, flips, this judge's spend."""
        info = super().describe()
        info["prompt_version"] = self.prompts.version
        info["price_usd_per_1m"] = (
            {"input": self.price.input, "output": self.price.output, "as_of": PRICES_AS_OF}
            if self.price
            else None
        )
        info["requests"] = {
            **self.chat.stats.as_dict(),
            "flip_rate": self.flip_rate,
        }
        return info


_PRESETS = {
    "vlm": (
        "gpt-4o-2024-05-13",
        "any OpenAI-compatible VLM compares both videos (model=, base_url=)",
    ),
    "gpt4o": ("gpt-4o-2024-05-13", "GPT-4o (2024-05-13) compares both videos' keyframes"),
    "gpt4o-0806": ("gpt-4o-2024-08-06", "GPT-4o (2024-08-06) pairwise judge"),
    "gpt4o-mini": ("gpt-4o-mini", "GPT-4o-mini pairwise judge"),
}
for _name, (_model, _description) in _PRESETS.items():
    register_judge(_name, _description, config=VlmConfig, defaults={"model": _model})(VlmJudge)
