"""API judges in batch mode: a judge with ``mode=batch`` has the Batch API answer its requests.

The batches themselves (sharding, upload, polling, ingesting answers into the response cache)
are :class:`judges.chat.batch.BatchRunner`'s; this mixin is the judge's side of it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from judges.chat.batch import BatchRunner
from judges.chat.client import ChatClient, describe_error
from judges.core.errors import ConfigError, ItemError
from judges.judge.base import RunContext


class BatchMode:
    """Mixin of API judges with a ``mode`` option: ``batch`` has batches answer every request.

    The judge provides ``chat`` (its :class:`ChatClient`), ``cfg.mode``, ``cfg.batch_options``,
    :meth:`task_requests` and :meth:`estimate`. Every request goes through
    :class:`BatchRunner`; the tasks are then judged exactly as online, from the response cache
    the batches filled. A request no batch answered becomes that task's error verdict, naming
    why; nothing is sent online.
    """

    def judge_all(self, tasks: Iterable[Any], ctx: Any = None, workers: int = 1) -> Iterator[Any]:
        """Judge tasks online, or (``mode=batch``) have batches answer them first."""
        tasks = list(tasks)
        judge: Any = self
        if judge.cfg.mode == "batch" and tasks:
            judge.chat.batch_outcomes = self.run_batches(tasks, ctx or RunContext())
        try:
            yield from super().judge_all(tasks, ctx, workers)  # type: ignore[misc]
        finally:
            judge.chat.batch_outcomes = None

    def run_batches(self, tasks: list[Any], ctx: Any) -> dict[str, str]:
        """Submit (or resume) the batches answering ``tasks``; outcomes of unanswered requests."""
        judge: Any = self
        if ctx.store is None:
            raise ConfigError(
                f"judge {judge.name!r}: mode=batch keeps batch ids and answers in the cache; "
                "run without --no-cache"
            )
        chat: ChatClient = judge.chat
        chat.owner, chat.store, chat.budget = judge.name, ctx.store, ctx.budget

        def requests() -> Iterator[tuple[str, dict[str, Any], float]]:
            for task in tasks:
                try:
                    built = judge.task_requests(task, ctx.source)
                except ItemError:
                    continue  # the judging pass reports it as this task's error
                for body, sizes in built:
                    yield chat.request_key(body), body, judge.estimate(body, sizes)[1]

        runner = BatchRunner(
            chat,
            ctx.store,
            judge.cfg.batch_options,
            ctx.budget,
            progress=ctx.progress,
            log=(lambda msg: print(msg, file=sys.stderr)) if ctx.progress else None,
        )
        import openai

        try:
            outcomes = runner.run(requests())
            if runner.dropped_params:  # lines rejected an optional parameter: resend without
                outcomes = runner.run(requests())
        except (openai.APIError, openai.APIConnectionError) as e:  # batch ids so far are kept
            where = chat.endpoint.base_url or "OpenAI"
            raise ConfigError(
                f"judge {judge.name!r}: the Batch API at {where} failed: {describe_error(e)}. "
                "Created batches are recorded (rerun to resume); mode=online needs no batches"
            ) from None
        return outcomes
