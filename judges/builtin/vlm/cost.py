"""A VLM judge's dry-run estimate: calls, tokens and worst-case cost of what the cache lacks."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from judges.chat.pricing import PRICES_AS_OF, CostPlan
from judges.chat.samples import missing_samples, sends_for
from judges.judge.base import RunContext


def dry_run_plan(
    judge: Any, requests: Iterable[tuple[dict[str, Any], list[tuple[int, int]]]], ctx: RunContext
) -> CostPlan:
    """The estimate of :meth:`judges.builtin.vlm.judge.VlmJudge.cost_plan` (which see).

    Example:
        >>> plan = dry_run_plan(judge, judge_requests, ctx)  # doctest: +SKIP

    """
    cfg = judge.cfg
    judge.chat.store = ctx.store
    calls = cached = tokens = built = out_tokens = 0
    start = time.perf_counter()
    for body, sizes in requests:
        built += 1
        missing = missing_samples(judge.chat, body, cfg.repeats)
        cached += cfg.repeats - len(missing)
        if not missing:
            continue
        sends = sends_for(judge.chat, missing)
        calls += sends
        tokens += sends * judge.estimate(body, sizes)[0]
        out_tokens += len(missing) * cfg.max_tokens
    overhead = (time.perf_counter() - start) / built if built else 0.0
    return CostPlan(
        judge=judge.name,
        model=cfg.model,
        calls=calls,
        cached_responses=cached,
        input_tokens=tokens,
        max_output_tokens=out_tokens,
        input_cost_usd=judge.price.cost(tokens, 0) if judge.price else None,
        max_cost_usd=judge.price.cost(tokens, out_tokens) if judge.price else None,
        prices_as_of=PRICES_AS_OF,
        batch_discount=cfg.batch_discount,
        mode=cfg.mode,
        concurrency=ctx.concurrency or judge.default_concurrency,
        latency_s=cfg.latency_s,
        overhead_s=overhead,
    )
