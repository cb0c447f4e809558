"""Base class of judges whose work waits on I/O: one async method, concurrency handled here.

Kept apart from :mod:`judges.judge.base` (the synchronous contract every judge follows) so each
module stays small; API judges (:mod:`judges.builtin.vlm.judge`) build on it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from judges.chat.budget import BudgetExhausted, BudgetStop
from judges.core.types import Dimension, Pair, Verdict
from judges.judge.base import Judge, RunContext, Task

_DONE = object()


class AsyncJudge(Judge):
    """A judge whose work waits on I/O (an API): implement one ``async`` method.

    :meth:`judge_task` judges one task; this class runs up to ``concurrency`` of them at once
    on an event loop in a background thread and hands verdicts to the (synchronous) runner as
    they finish. A task whose call would exceed the run's budget raises
    :class:`~judges.chat.budget.BudgetStop`; the run then ends with ``BudgetExhausted`` after every
    finished verdict was handed over (and cached). :meth:`start` and :meth:`stop` open and
    close per-run resources (HTTP clients belong to one event loop).

    Example:
        >>> class Echo(AsyncJudge):  # doctest: +SKIP
        ...     async def judge_task(self, task):
        ...         return Verdict(task.pair.pair_id, self.name, task.dimension, task.frames,
        ...                        "video_0")

    """

    default_concurrency: ClassVar[int] = 8

    async def start(self, ctx: RunContext) -> None:
        """Open per-run resources inside the event loop (``ctx``: the run's cache, budget...)."""

    async def stop(self) -> None:
        """Close what :meth:`start` opened."""

    @abc.abstractmethod
    async def judge_task(self, task: Task, ctx: RunContext) -> Verdict:
        """Judge one task (a failure of this item is an error Verdict, not an exception)."""

    def compare(
        self, pair: Pair, dimension: Dimension, frames: int | None, ctx: RunContext | None = None
    ) -> Verdict:
        """Judge one pair (runs the async machinery for a single task)."""
        (verdict,) = list(self.judge_all([Task(pair, dimension, frames)], ctx))
        return verdict

    async def _run_async(self, tasks: list[Task], ctx: RunContext, out: queue.Queue[Any]) -> None:
        sem = asyncio.Semaphore(ctx.concurrency or self.default_concurrency)
        budget = ctx.budget
        stopped = 0

        async def one(task: Task) -> None:
            nonlocal stopped
            async with sem:
                if budget.exhausted:
                    stopped += 1
                    return
                try:
                    out.put(await self.judge_task(task, ctx))
                except BudgetStop:
                    stopped += 1

        await self.start(ctx)
        try:
            await asyncio.gather(*(one(t) for t in tasks))
        finally:
            await self.stop()
        if stopped:
            limit = budget.max_usd or 0.0
            out.put(
                BudgetExhausted(
                    f"--max-cost {limit:.2f} USD reached: spent {budget.spent:.4f} USD, "
                    f"{stopped} judgement(s) of {self.name!r} not run. Finished answers are "
                    "cached: rerun the same command with a higher --max-cost to continue "
                    "without paying for them again."
                )
            )

    def judge_all(
        self, tasks: Iterable[Task], ctx: RunContext | None = None, workers: int = 1
    ) -> Iterator[Verdict]:
        """Judge tasks concurrently (``ctx.concurrency`` in flight); yields as they finish."""
        tasks = list(tasks)
        if not tasks:
            return
        run_ctx = ctx or RunContext()
        out: queue.Queue[Any] = queue.Queue()
        state: dict[str, Any] = {}

        def run() -> None:
            async def main() -> None:
                state["loop"] = asyncio.get_running_loop()
                state["task"] = asyncio.current_task()
                await self._run_async(tasks, run_ctx, out)

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
        done = False
        try:
            while True:
                item = _get(out)
                if item is _DONE:
                    done = True
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            loop, main_task = state.get("loop"), state.get("task")
            if not done and thread.is_alive() and loop is not None and main_task is not None:
                # Stopped early (an error, a closed generator): cancel the requests in flight.
                # The loop may close between the check and the call; then nothing is left.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(main_task.cancel)
            thread.join(timeout=30)


def _get(out: queue.Queue[Any]) -> Any:
    """``out.get()`` that Ctrl-C interrupts.

    Once polars' threads exist, SIGINT does not wake a main thread blocked in an untimed lock
    wait, so a run waiting on a stalled server would ignore Ctrl-C; a timed wait returns to
    Python often enough to raise KeyboardInterrupt (tests/test_cli_gpt.py checks exit 130).
    """
    while True:
        try:
            return out.get(timeout=0.2)
        except queue.Empty:
            continue
