"""``gpt4o`` judge family: a vision-language model compares two videos' keyframes.

Works with the OpenAI API and any OpenAI-compatible server (vLLM, Ollama, LM Studio, a proxy)
through ``base_url``. Requests run concurrently on ``AsyncOpenAI`` with the client's own retries
(429/5xx/timeouts, honouring Retry-After). Every reply is committed to a SQLite response cache
keyed by the exact request, so a rerun or a resumed run never pays twice; errors are not cached.
"""

from __future__ import annotations

import asyncio
import math
import os
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from judges.base import Judge, Task
from judges.budget import BudgetExhausted
from judges.cache import stable_hash
from judges.errors import ConfigError, ItemError
from judges.images import data_url, encode_jpeg, resize_max_side, tile_grid
from judges.options import build_config
from judges.parsing import looks_like_refusal, parse_answer
from judges.pricing import PRICES_AS_OF, estimate_prompt_tokens, price_for
from judges.prompting import Layout, Variant, load_prompts
from judges.registry import register_judge
from judges.types import Dimension, Pair, Status, Verdict, Video, Winner

RESPONSES = "responses"
# Parameters some OpenAI-compatible servers reject; dropped (and remembered) on a 400 naming them.
OPTIONAL_PARAMS = ("logprobs", "top_logprobs", "seed")
_DONE = object()


@dataclass(frozen=True)
class GptConfig:
    """Options of the ``gpt4o`` judge family.

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

    def __post_init__(self) -> None:
        checks = [
            (self.max_tokens >= 1, "max_tokens must be >= 1"),
            (self.max_side >= 16, "max_side must be >= 16"),
            (1 <= self.jpeg_quality <= 100, "jpeg_quality must be within 1..100"),
            (self.timeout > 0, "timeout must be > 0"),
            (self.max_retries >= 0, "max_retries must be >= 0"),
            (self.temperature >= 0, "temperature must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class _Images:
    urls: list[str]
    sizes: list[tuple[int, int]]


@dataclass
class _Call:
    data: dict[str, Any] | None
    cached: bool = False
    cost: float | None = None
    error: str | None = None


class _BudgetStop(Exception):
    """Internal: a call was not sent because it could exceed the budget."""


def reply_data(response: Any) -> dict[str, Any]:
    """The parts of a chat-completion response a verdict needs, as plain data."""
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice else None
    logprobs = None
    if choice is not None and getattr(choice, "logprobs", None) and choice.logprobs.content:
        logprobs = [
            {
                "token": t.token,
                "logprob": t.logprob,
                "top": [{"token": a.token, "logprob": a.logprob} for a in (t.top_logprobs or [])],
            }
            for t in choice.logprobs.content
        ]
    usage = response.usage
    return {
        "id": response.id,
        "model": response.model,
        "content": message.content if message else None,
        "refusal": getattr(message, "refusal", None) if message else None,
        "finish_reason": choice.finish_reason if choice else None,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        if usage
        else None,
        "logprobs": logprobs,
    }


def answer_probability(logprobs: list[dict[str, Any]] | None, start: int | None) -> float | None:
    """Probability of the answer token at character ``start``, among the answer options.

    The token covering ``start`` is found by walking the reply's tokens; its probability is
    normalised over the alternatives in ``top_logprobs`` that are themselves answers (1, 2,
    tie), so it reads as "how sure between the options". ``None`` without log-probabilities.
    """
    if not logprobs or start is None:
        return None
    offset = 0
    for tok in logprobs:
        end = offset + len(tok["token"])
        if offset <= start < end:
            chosen = math.exp(tok["logprob"])
            options = {"1", "2", "tie"}
            key = tok["token"].strip().lower()
            others = [
                math.exp(a["logprob"])
                for a in tok.get("top", [])
                if a["token"].strip().lower() in options and a["token"].strip().lower() != key
            ]
            total = chosen + sum(others)
            return chosen / total if total > 0 else None
        offset = end
    return None


class GptJudge(Judge):
    """Pairwise VLM judge through the ``openai`` client (see :class:`GptConfig`).

    Example:
        >>> judge = get_judge("gpt4o", prompt="cot", order="both")  # doctest: +SKIP
        >>> judge = get_judge("gpt4o", model="qwen2-vl", base_url="http://localhost:8000/v1",
        ...                   api_key_env="none")  # doctest: +SKIP

    """

    kind = "gpt4o"
    confidence_kind = "probability"
    version = "1"
    default_dimensions = tuple(Dimension)
    non_semantic = frozenset(
        {"api_key_env", "timeout", "max_retries", "price_input", "price_output"}
    )

    def __init__(self, config: GptConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        self.prompts = load_prompts(config.prompt_version)
        self.price = price_for(config.model, config.price_input, config.price_output)
        self.concurrency = 8
        self._images: OrderedDict[tuple[str, int | None], _Images] = OrderedDict()
        self._images_lock = threading.Lock()
        self._unsupported: set[str] = set()
        self.http_requests = 0
        self.sends = 0
        self.cached_responses = 0
        self.paid_calls = 0
        # This judge's own spend: the run's Budget is shared by every API judge of the run.
        self.spent_usd = 0.0
        self.both_order = 0
        self.flips = 0

    # --- set-up ----------------------------------------------------------------------------

    @property
    def cfg(self) -> GptConfig:
        """The typed options."""
        return self.config

    def _key_env(self) -> str | None:
        env = self.cfg.api_key_env
        return None if env is None or env.strip().lower() in ("", "none") else env

    def check_ready(self) -> None:
        """Fail before any work when the API key is missing (naming the variable)."""
        env = self._key_env()
        if env is not None and not os.environ.get(env):
            where = f" for {self.cfg.base_url}" if self.cfg.base_url else ""
            raise ConfigError(
                f"judge {self.name!r}: environment variable {env} is not set; export your API "
                f"key{where} in {env}, or pass --judge-arg api_key_env=NAME (api_key_env=none "
                "for a local server without keys)"
            )

    def _client(self) -> Any:
        try:
            import openai
        except ImportError as e:  # pragma: no cover - openai is a core dependency
            raise ConfigError("the gpt4o judge needs the openai package: uv sync") from e

        async def count(request: Any) -> None:
            self.http_requests += 1

        env = self._key_env()
        key = os.environ.get(env, "") if env else "not-needed"
        return openai.AsyncOpenAI(
            api_key=key,
            base_url=self.cfg.base_url,
            timeout=self.cfg.timeout,
            max_retries=self.cfg.max_retries,
            http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [count]}),
        )

    # --- requests --------------------------------------------------------------------------

    def images(self, video: Video, frames: int | None) -> _Images:
        """Encoded images of a video's keyframes, cached per run (pairs share videos)."""
        key = (str(video.path), frames)
        with self._images_lock:
            hit = self._images.get(key)
            if hit is not None:
                self._images.move_to_end(key)
                return hit
        kf = self.source.get(video.path, frames)
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
        self, pair: Pair, dimension: Dimension, frames: int | None, swapped: bool = False
    ) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        """The chat-completion body for one comparison, and the sizes of its images.

        ``swapped`` presents video_1 first (for ``order=both``).
        """
        first, second = self.images(pair.video_0, frames), self.images(pair.video_1, frames)
        if swapped:
            first, second = second, first
        cfg = self.cfg
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": self.prompts.messages(
                pair.prompt_text,
                dimension,
                (first.urls, second.urls),
                variant=cfg.prompt,
                allow_tie=cfg.allow_tie,
                layout=cfg.layout,
                detail=cfg.detail,
            ),
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
        }
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        if cfg.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body, first.sizes + second.sizes

    def request_key(self, body: dict[str, Any]) -> str:
        """Cache key of a request: endpoint, prompt version and the exact body (images included)."""
        return stable_hash(
            {"base_url": self.cfg.base_url, "prompts": self.prompts.version, "body": body}
        )

    def estimate(self, body: dict[str, Any], sizes: list[tuple[int, int]]) -> tuple[int, float]:
        """Estimated input tokens of a request and its worst-case cost (full ``max_tokens``)."""
        tokens = estimate_prompt_tokens(body["messages"], sizes, self.cfg.detail, self.cfg.model)
        usd = self.price.cost(tokens, self.cfg.max_tokens) if self.price else 0.0
        return tokens, usd

    def _cost(self, data: dict[str, Any]) -> float | None:
        usage = data.get("usage")
        if not usage or self.price is None:
            return None
        return self.price.cost(usage["prompt_tokens"] or 0, usage["completion_tokens"] or 0)

    async def _call(self, client: Any, body: dict[str, Any], sizes: list[tuple[int, int]]) -> _Call:
        import openai
        from openai.types.chat import ChatCompletion

        key = self.request_key(body)
        if self.store is not None:
            hit = self.store.get(RESPONSES, key)
            if hit is not None:
                self.cached_responses += 1
                return _Call(hit, cached=True, cost=self._cost(hit))
        _, estimate = self.estimate(body, sizes)
        if not self.budget.reserve(estimate):
            raise _BudgetStop
        send = {k: v for k, v in body.items() if k not in self._unsupported}
        actual = 0.0
        try:
            while True:
                self.sends += 1
                try:
                    # The client's generic post keeps its retries, timeouts, Retry-After
                    # handling and typed errors, but skips the per-call transform of the
                    # typed parameters, which walks every image part (~5 ms a request).
                    response = await client.post(
                        "/chat/completions", body=send, cast_to=ChatCompletion
                    )
                    break
                except openai.BadRequestError as e:
                    text = str(e).lower()
                    dropped = [p for p in OPTIONAL_PARAMS if p in send and p in text]
                    if not dropped:
                        raise
                    if "logprobs" in dropped:
                        dropped.append("top_logprobs")
                    self._unsupported.update(dropped)
                    send = {k: v for k, v in send.items() if k not in self._unsupported}
        except (
            openai.AuthenticationError,
            openai.PermissionDeniedError,
            openai.NotFoundError,
        ) as e:
            # Wrong key, no access or unknown model: every request would fail the same way.
            raise ConfigError(
                f"judge {self.name!r}: {_describe_error(e)} (endpoint "
                f"{self.cfg.base_url or 'OpenAI'}, model {self.cfg.model!r}); check the key in "
                f"{self._key_env()}, the model name and base_url"
            ) from None
        except (openai.APIError, openai.APIConnectionError) as e:
            return _Call(None, error=_describe_error(e))
        except Exception as e:
            return _Call(None, error=f"{type(e).__name__}: {e}")
        else:
            data = reply_data(response)
            cost = self._cost(data)
            actual = cost or 0.0
            self.spent_usd += actual
            self.paid_calls += 1
            if self.store is not None:
                self.store.put(RESPONSES, key, data)
            return _Call(data, cost=cost)
        finally:
            self.budget.settle(estimate, actual)

    def interpret(self, data: dict[str, Any], swapped: bool) -> dict[str, Any]:
        """Status, winner and confidence of one reply (winner in dataset terms, not as shown)."""
        content = data.get("content") or ""
        parsed = parse_answer(content)
        status: Status
        winner: Winner = None
        if data.get("refusal") or data.get("finish_reason") == "content_filter":
            status = "refused"
        elif parsed.answer is None:
            status = "refused" if looks_like_refusal(content) else "unparsed"
        elif parsed.answer == "tie":
            status, winner = ("tie", "tie") if self.cfg.allow_tie else ("unparsed", None)
        else:
            status = "ok"
            first_shown = parsed.answer == "1"
            winner = "video_1" if first_shown == swapped else "video_0"
        prob = answer_probability(data.get("logprobs"), parsed.start) if status == "ok" else None
        return {
            "order": "video_1 first" if swapped else "video_0 first",
            "status": status,
            "answer": parsed.answer,
            "pattern": parsed.pattern,
            "winner": winner,
            "answer_prob": prob,
            "reasoning": content[: parsed.start].rstrip() if parsed.start else content,
            "text": content,
            "refusal": data.get("refusal"),
            "finish_reason": data.get("finish_reason"),
            "usage": data.get("usage"),
            "model": data.get("model"),
        }

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

    async def _judge(self, client: Any, task: Task) -> Verdict:
        start = time.perf_counter()
        orders = [False, True] if self.cfg.order == "both" else [False]
        try:
            requests = await asyncio.to_thread(
                lambda: [
                    self.build_request(task.pair, task.dimension, task.frames, s) for s in orders
                ]
            )
        except ItemError as e:
            return self.error_verdict(task, e)
        replies: list[dict[str, Any]] = []
        costs: list[float] = []
        cached = 0
        for swapped, (body, sizes) in zip(orders, requests, strict=True):
            call = await self._call(client, body, sizes)
            if call.cost is not None:
                costs.append(call.cost)
            cached += call.cached
            if call.data is None:
                return self.error_verdict(
                    task,
                    call.error or "no reply",
                    kind="api_error",
                    raw=self._raw(replies, cached),
                    cost_usd=sum(costs) if costs else None,
                    latency_s=time.perf_counter() - start,
                )
            replies.append(self.interpret(call.data, swapped))
        status, winner, confidence = self._combine(replies)
        raw = self._raw(replies, cached)
        if self.cfg.order == "both" and all(r["status"] == "ok" for r in replies):
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

    def compare(self, pair: Pair, dimension: Dimension, frames: int | None) -> Verdict:
        """Judge one pair (runs the async machinery for a single task)."""
        (verdict,) = list(self.judge_all([Task(pair, dimension, frames)]))
        return verdict

    # --- running many ----------------------------------------------------------------------

    async def _run_async(self, tasks: list[Task], out: queue.Queue[Any]) -> None:
        client = self._client()
        sem = asyncio.Semaphore(self.concurrency)
        stopped = 0

        async def one(task: Task) -> None:
            nonlocal stopped
            async with sem:
                if self.budget.exhausted:
                    stopped += 1
                    return
                try:
                    out.put(await self._judge(client, task))
                except _BudgetStop:
                    stopped += 1

        try:
            await asyncio.gather(*(one(t) for t in tasks))
        finally:
            await client.close()
        if stopped:
            limit = self.budget.max_usd or 0.0
            out.put(
                BudgetExhausted(
                    f"--max-cost {limit:.2f} USD reached: spent {self.budget.spent:.4f} USD, "
                    f"{stopped} judgement(s) of {self.name!r} not run. Finished answers are "
                    "cached: rerun the same command with a higher --max-cost to continue "
                    "without paying for them again."
                )
            )

    def judge_all(self, tasks: Any, workers: int = 1) -> Any:
        """Judge tasks concurrently (``concurrency`` requests in flight); yields as they finish."""
        tasks = list(tasks)
        if not tasks:
            return
        out: queue.Queue[Any] = queue.Queue()
        state: dict[str, Any] = {}

        def run() -> None:
            async def main() -> None:
                state["loop"] = asyncio.get_running_loop()
                state["task"] = asyncio.current_task()
                await self._run_async(tasks, out)

            try:
                asyncio.run(main())
            except asyncio.CancelledError:
                pass
            except BaseException as e:
                out.put(e)
            finally:
                out.put(_DONE)

        thread = threading.Thread(target=run, name=f"{self.name}-requests", daemon=True)
        thread.start()
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            loop, main_task = state.get("loop"), state.get("task")
            if thread.is_alive() and loop is not None and main_task is not None:
                loop.call_soon_threadsafe(main_task.cancel)
            thread.join(timeout=30)

    def plan_cost(self, tasks: list[Task]) -> dict[str, Any]:
        """Dry run: build every request, count the calls the cache cannot answer, estimate cost."""
        calls = cached = tokens = 0
        orders = [False, True] if self.cfg.order == "both" else [False]
        for task in tasks:
            for swapped in orders:
                body, sizes = self.build_request(task.pair, task.dimension, task.frames, swapped)
                if self.store is not None and self.store.get(RESPONSES, self.request_key(body)):
                    cached += 1
                    continue
                calls += 1
                tokens += self.estimate(body, sizes)[0]
        out_tokens = calls * self.cfg.max_tokens
        return {
            "judge": self.name,
            "model": self.cfg.model,
            "calls": calls,
            "cached_responses": cached,
            "input_tokens": tokens,
            "max_output_tokens": out_tokens,
            "input_cost_usd": self.price.cost(tokens, 0) if self.price else None,
            "max_cost_usd": self.price.cost(tokens, out_tokens) if self.price else None,
            "prices_as_of": PRICES_AS_OF,
        }

    def describe(self) -> dict[str, Any]:
        """Settings plus what happened: calls, retries, cache use, flips, spend."""
        info = super().describe()
        info["prompt_version"] = self.prompts.version
        info["price_usd_per_1m"] = (
            {"input": self.price.input, "output": self.price.output, "as_of": PRICES_AS_OF}
            if self.price
            else None
        )
        info["requests"] = {
            "paid_calls": self.paid_calls,
            "cached_responses": self.cached_responses,
            "http_requests": self.http_requests,
            "retries": max(0, self.http_requests - self.sends),
            "unsupported_params_dropped": sorted(self._unsupported),
            "flip_rate": self.flips / self.both_order if self.both_order else None,
            "spent_usd": self.spent_usd,
        }
        return info


def _describe_error(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    message = getattr(e, "message", None) or str(e)
    prefix = f"{type(e).__name__}" + (f" (HTTP {status})" if status else "")
    return f"{prefix}: {message}"


def _factory(default_model: str):  # type: ignore[no-untyped-def]
    def make(**kwargs: Any) -> GptJudge:
        kwargs.setdefault("model", default_model)
        return GptJudge(build_config(GptConfig, kwargs, "gpt4o"))

    return make


register_judge("gpt4o", "GPT-4o (2024-05-13) compares both videos' keyframes; any model/base_url")(
    _factory("gpt-4o-2024-05-13")
)
register_judge("gpt4o-0806", "GPT-4o (2024-08-06) pairwise judge")(_factory("gpt-4o-2024-08-06"))
register_judge("gpt4o-mini", "GPT-4o-mini pairwise judge")(_factory("gpt-4o-mini"))
