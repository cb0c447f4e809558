"""Drive judges over (pair, dimension, frames) tasks with an on-disk verdict cache.

Finished verdicts are committed to the cache in batches of at most ``COMMIT_EVERY`` verdicts or
``COMMIT_SECONDS`` of work, and whatever finished is committed when a run stops on an error or
Ctrl-C; so a ``kill -9`` loses at most the last batch and the judgements in flight, and rerunning
the same command picks up the rest. Error verdicts are never cached: a rerun retries them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from judges.base import Judge, RunContext, ScoreJudge, Task
from judges.budget import Budget
from judges.cache import CANONICAL, Store, stable_hash
from judges.engines import LocalEngine, group_of
from judges.keyframes import KeyframeSource
from judges.pricing import CostPlan
from judges.types import Dimension, Pair, Verdict

VERDICTS = "verdicts"
COMMIT_EVERY = 500
"""Verdicts committed to the cache at once (a batch is also committed after COMMIT_SECONDS)."""
COMMIT_SECONDS = 1.0


def plan_tasks(
    pairs: Sequence[Pair],
    dimensions: Sequence[Dimension],
    frames: Sequence[int | None],
    *,
    labeled_only: bool = True,
    with_ties: bool = False,
) -> tuple[list[Task], dict[str, int]]:
    """The tasks of a run, and how many (pair, dimension) combinations were left out.

    Args:
        pairs: Pairs to judge.
        dimensions: Dimensions to judge.
        frames: Frame counts (``None``: all frames).
        labeled_only: Skip a pair on a dimension it has no human label for (an agreement run
            cannot score it, and an API judge would be paid for nothing).
        with_ties: Also judge a pair on a dimension its people called even (tie-aware
            accuracy scores it); otherwise such pairs count as unlabeled.

    Returns:
        ``(tasks, unlabeled)`` where ``unlabeled`` maps a dimension to the number of pairs
        skipped for want of a label (reported, never silently dropped).

    """
    tasks: list[Task] = []
    unlabeled: Counter[str] = Counter()
    for dim in dimensions:
        for pair in pairs:
            if labeled_only and dim not in pair.labels and not (with_ties and dim in pair.ties):
                unlabeled[dim.value] += 1
                continue
            tasks.extend(Task(pair, dim, n) for n in frames)
    return tasks, dict(unlabeled)


@dataclass
class JudgeRun:
    """Verdicts of one judge over a task list, with where they came from."""

    judge: Judge
    verdicts: list[Verdict]
    cached: int = 0
    computed: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


def pair_level(judge: Judge) -> bool:
    """Whether a judge's cache inputs depend on the pair only (not on dimension or frames).

    True for the built-in ``cache_inputs`` (the pair's texts; a score judge's per-video
    inputs), or when a judge class says so with ``pair_level_inputs = True``.
    """
    declared = getattr(judge, "pair_level_inputs", None)
    if declared is not None:
        return bool(declared)
    method = getattr(judge.cache_inputs, "__func__", None)  # also through wrappers
    return method in (Judge.cache_inputs, ScoreJudge.cache_inputs)


class PairKeys:
    """Verdict keys of pair tasks, the canonical JSON spliced from per-pair parts.

    The key text is exactly :func:`stable_hash`'s for ``{"dimension", "files", "frames",
    "inputs", "judge", "strategy"}`` (sorted keys), so keys match :meth:`Runner.verdict_key`
    and existing caches; but the files and inputs are encoded once per pair rather than once
    per (dimension, frames), which made keys the largest cost of a cached rerun.
    """

    def __init__(self, fingerprint: str, strategy: str) -> None:
        self.fingerprint = fingerprint
        self.strategy = strategy
        self._pairs: dict[int, tuple[str, str]] = {}
        self._atoms: dict[Any, str] = {}

    def _atom(self, value: Any) -> str:
        text = self._atoms.get(value)
        if text is None:
            text = self._atoms[value] = CANONICAL.encode(value)
        return text

    def key(self, judge: Judge, task: Task, files: list[str]) -> str:
        """The verdict key of ``task`` (``files``: its files' content hashes).

        Per-pair parts are remembered by the pair object, which the caller's task list keeps
        alive (so its ``id`` is not reused meanwhile); build a new instance per task list.
        """
        pair_part = self._pairs.get(id(task.pair))
        if pair_part is None:
            rest = {"inputs": judge.cache_inputs(task), "judge": self.fingerprint}
            rest["strategy"] = self.strategy
            pair_part = (CANONICAL.encode(files), CANONICAL.encode(rest)[1:])
            self._pairs[id(task.pair)] = pair_part
        text = (
            f'{{"dimension":{self._atom(task.dimension.value)},"files":{pair_part[0]},'
            f'"frames":{self._atom(task.frames)},{pair_part[1]}'
        )
        return hashlib.sha256(text.encode()).hexdigest()


class Runner:
    """Runs judges over tasks, reusing the verdict cache and one keyframe source.

    Args:
        store: The cache (``None`` disables caching).
        source: The run's keyframe source (each video decoded once per run).
        workers: Threads for judges that compute locally (decoding releases the GIL).
        progress: Show a progress bar.
        budget: The run's spending cap, shared by API judges.
        concurrency: Requests in flight for API judges (``None``: the judge's default).
        engine: Where local judges compute (:mod:`judges.engines`; default: this process).

    Example:
        >>> store = Store(cache_dir / "cache.sqlite")  # doctest: +SKIP
        >>> runner = Runner(store, KeyframeSource([1, 2]))  # doctest: +SKIP
        >>> result = runner.run(get_judge("psnr"), tasks)  # doctest: +SKIP

    """

    def __init__(
        self,
        store: Store | None,
        source: KeyframeSource,
        *,
        workers: int = 1,
        progress: bool = True,
        budget: Budget | None = None,
        concurrency: int | None = None,
        engine: Any = None,
    ) -> None:
        self.workers = workers
        self.engine = engine or LocalEngine()
        self.progress = progress
        # The run's state, handed to every judge call: judges keep none of their own.
        self.ctx = RunContext(source, store, budget or Budget(), concurrency, progress)

    def verdict_key(self, judge: Judge, task: Task) -> str:
        """Cache key of a verdict: judge identity, task and the content of its inputs."""
        assert self.ctx.store is not None
        files = [self.ctx.store.file_hash(path) for path in task.files]
        return self._key(judge.fingerprint(), judge, task, files)

    def _key(self, fingerprint: str, judge: Judge, task: Task, files: list[str]) -> str:
        return stable_hash(
            {
                "judge": fingerprint,
                **task.cache_fields,
                "strategy": self.ctx.source.strategy,
                "files": files,
                "inputs": judge.cache_inputs(task),
            }
        )

    def _keys(self, judge: Judge, tasks: Sequence[Task]) -> list[str | None]:
        assert self.ctx.store is not None
        # Each file is hashed (or its hash looked up) once, not once per task that uses it.
        hashes: dict[Any, str | None] = {}
        for task in tasks:
            for path in task.files:
                if path not in hashes:
                    try:
                        hashes[path] = self.ctx.store.file_hash(path)
                    except OSError:
                        hashes[path] = None  # unreadable: the judge will report it as an error
        fingerprint = judge.fingerprint()
        spliced = PairKeys(fingerprint, self.ctx.source.strategy) if pair_level(judge) else None
        keys: list[str | None] = []
        per_pair: dict[int, list[str | None]] = {}  # a pair's file hashes, looked up once
        for task in tasks:
            pair = getattr(task, "pair", None)
            files = per_pair.get(id(pair)) if pair is not None else None
            if files is None:
                files = [hashes[p] for p in task.files]
                if pair is not None:
                    per_pair[id(pair)] = files
            if any(f is None for f in files):
                keys.append(None)
            elif spliced is not None and isinstance(task, Task):
                keys.append(spliced.key(judge, task, files))  # type: ignore[arg-type]
            else:
                keys.append(self._key(fingerprint, judge, task, files))  # type: ignore[arg-type]
        return keys

    def _split(
        self, judge: Judge, tasks: Sequence[Task]
    ) -> tuple[dict[Any, Any], list[Task], dict[Any, str | None]]:
        """Verdicts the cache already holds, the tasks still to do, and each task's cache key."""
        keys: list[str | None] = [None] * len(tasks)
        found: dict[str, Any] = {}
        if self.ctx.store is not None:
            keys = self._keys(judge, tasks)
            found = self.ctx.store.get_many(VERDICTS, [k for k in keys if k is not None])
        results: dict[Any, Any] = {}
        todo: list[Task] = []
        key_of: dict[Any, str | None] = {}
        from_cached = judge.verdict_type.from_cached
        for task, key in zip(tasks, keys, strict=True):
            key_of[task.key] = key
            if key is not None and key in found:
                # Stored verdicts are content-addressed: stamp this run's ids on them.
                results[task.key] = from_cached(found[key], task.item_id, judge.name)
            else:
                todo.append(task)
        return results, todo, key_of

    def pending(self, judge: Judge, tasks: Sequence[Task]) -> list[Task]:
        """The tasks whose verdicts the cache does not hold (what a run would compute)."""
        return self._split(judge, tasks)[1]

    def plan(self, judge: Judge, tasks: Sequence[Task]) -> CostPlan:
        """Dry run: verdicts asked, those to compute and (API judges) calls and cost."""
        todo = sorted(self.pending(judge, tasks), key=group_of)  # as run() orders them
        cost = judge.plan_cost(todo, self.ctx) or CostPlan(judge.name)
        return dataclasses.replace(cost, verdicts=len(tasks), to_compute=len(todo))

    def run(
        self,
        judge: Judge,
        tasks: Sequence[Task],
    ) -> JudgeRun:
        """Judge every task once, reading what the cache already holds.

        Returns:
            Verdicts in task order (one per task, whatever happened).

        """
        start = time.perf_counter()
        results, todo, key_of = self._split(judge, tasks)
        # A prompt's tasks together (stable: dimensions and frame counts keep their order), so
        # each video is decoded and encoded once while its pairs are judged, not once per
        # dimension pass when the dataset holds more videos than the keyframe LRU.
        todo.sort(key=group_of)
        cached_count = len(results)
        statuses: Counter[str] = Counter(v.status for v in results.values())
        bar = tqdm(
            total=len(tasks),
            initial=cached_count,
            desc=judge.name,
            unit="verdict",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        pending: list[tuple[str, Any]] = []
        last_commit = time.monotonic()
        try:
            for verdict in self.engine.judge_all(judge, todo, self.ctx, self.workers):
                tkey = verdict.task_key
                results[tkey] = verdict
                statuses[verdict.status] += 1
                key = key_of.get(tkey)
                if self.ctx.store is not None and key is not None and verdict.status != "error":
                    pending.append((key, verdict.to_dict()))
                    # Committed in batches bounded by count and time: a kill -9 loses at most
                    # the last COMMIT_EVERY verdicts or COMMIT_SECONDS of work.
                    now = time.monotonic()
                    if len(pending) >= COMMIT_EVERY or now - last_commit >= COMMIT_SECONDS:
                        self.ctx.store.put_many(VERDICTS, pending)
                        pending, last_commit = [], now
                bar.update(1)
                if self.progress:
                    postfix = {"cached": cached_count, "failed": statuses["error"]}
                    if self.ctx.budget.spent:
                        postfix["spent"] = f"${self.ctx.budget.spent:.4f}"
                    bar.set_postfix(postfix, refresh=False)
        finally:
            if self.ctx.store is not None:
                self.ctx.store.put_many(VERDICTS, pending)  # whatever finished, even on error
            bar.close()
        ordered = [results[t.key] for t in tasks]
        return JudgeRun(
            judge=judge,
            verdicts=ordered,
            cached=cached_count,
            computed=len(tasks) - cached_count,
            seconds=time.perf_counter() - start,
            statuses=dict(statuses),
        )
