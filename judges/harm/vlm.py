"""``vlm-harm`` judge: a vision-language model tags one text-video pair with the 12 harm labels.

Any OpenAI-compatible model serves (presets ``gpt4o-harm``, ``gpt4o-mini-harm``). It shares the
preference judge's machinery (:class:`judges.builtin.vlm.judge.VlmJudge`: keyframe images, the chat
client with its cache, budget, retries and dry run, concurrency), and replaces the prompt and the
reply contract: a JSON object with exactly the 12 keys (:mod:`judges.harm.prompts`). With
``structured=true`` (default) the request asks for that JSON schema as ``response_format``; a
server that rejects it gets the request without it, remembered for later calls.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from judges.builtin.vlm.judge import Request, VlmConfig, VlmJudge
from judges.core.errors import ItemError
from judges.core.harm_types import HarmItem, HarmTask, HarmVerdict
from judges.harm.base import HarmJudge
from judges.harm.prompts import JSON_SCHEMA, interpret_harm_reply, load_harm_prompts
from judges.judge.base import RunContext
from judges.judge.registry import register_judge
from judges.media.keyframes import KeyframeSource


@dataclass(frozen=True)
class HarmVlmConfig(VlmConfig):
    """Options of ``vlm-harm`` and its presets: :class:`VlmConfig`'s, plus ``structured``.

    ``order``, ``allow_tie`` and ``logprobs`` do not apply (one video, twelve answers).

    Attributes:
        structured: Ask for the 12-key JSON schema as ``response_format``.
    """

    prompt_version: str = "harm-v1"
    logprobs: bool = False
    structured: bool = True


class VlmHarmJudge(HarmJudge, VlmJudge):
    """Harm labels of one text-video pair from a VLM (see the module docstring).

    Example:
        >>> judge = get_judge("gpt4o-harm", prompt="cot")  # doctest: +SKIP
    """

    kind = "vlm-harm"
    takes_repeats = False  # one structured reply per item
    version = "1"
    confidence_kind = None

    def load_prompts(self, version: str) -> Any:
        """The harm prompt set."""
        return load_harm_prompts(version)

    def check_dimensions(self, dimensions: Any) -> None:
        """A harm judge has no preference dimensions."""

    def build_harm_request(
        self, item: HarmItem, frames: int | None, source: KeyframeSource | None = None
    ) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        """The chat-completion body for tagging one item, and the sizes of its images."""
        images = self.images(item.video, frames, source or KeyframeSource())
        cfg = self.cfg
        body = self.chat_body(
            self.prompts.messages(
                item.prompt_text,
                images.urls,
                variant=cfg.prompt,
                layout=cfg.layout,
                detail=cfg.detail,
            )
        )
        if cfg.structured and cfg.prompt == "zero_shot":
            body["response_format"] = JSON_SCHEMA  # CoT replies reason in prose first
        return body, images.sizes

    async def judge_task(self, task: HarmTask, ctx: RunContext) -> HarmVerdict:  # type: ignore[override]
        """Ask the model once and read the 12 labels from its reply."""
        start = time.perf_counter()
        try:
            ((body, sizes),) = await asyncio.to_thread(self.task_requests, task, ctx.source)
        except ItemError as e:
            return self.error_verdict(task, e)
        call = await self.chat.call(body, self.estimate(body, sizes)[1])
        raw: dict[str, Any] = {
            "model": self.cfg.model,
            "prompt": self.cfg.prompt,
            "prompt_version": self.prompts.version,
            "cached_responses": call.cached,
        }
        if call.data is None:
            return self.error_verdict(
                task,
                call.error or "no reply",
                kind="api_error",
                raw=raw,
                cost_usd=call.cost,
                latency_s=time.perf_counter() - start,
            )
        reply = interpret_harm_reply(call.data)
        raw["reply"] = reply
        return HarmVerdict(
            item_id=task.item.item_id,
            judge=self.name,
            frames=task.frames,
            labels=reply["labels"],
            status=reply["status"],
            raw=raw,
            error=reply["problem"] if reply["status"] != "ok" else None,
            cost_usd=call.cost,
            latency_s=time.perf_counter() - start,
        )

    def task_requests(self, task: Any, source: KeyframeSource) -> list[Request]:
        """The one request tagging an item."""
        return [self.build_harm_request(task.item, task.frames, source)]


_PRESETS = {
    "vlm-harm": ("gpt-4o-2024-05-13", "any OpenAI-compatible VLM tags the 12 harm labels"),
    "gpt4o-harm": ("gpt-4o-2024-05-13", "GPT-4o (2024-05-13) tags the 12 harm labels"),
    "gpt4o-mini-harm": ("gpt-4o-mini", "GPT-4o-mini tags the 12 harm labels"),
}
for _name, (_model, _description) in _PRESETS.items():
    register_judge(_name, _description, config=HarmVlmConfig, defaults={"model": _model})(
        VlmHarmJudge
    )
