"""Drive judges over (pair, dimension, frames) tasks with an on-disk verdict cache.

Finished verdicts are committed to the cache in batches of at most ``COMMIT_EVERY`` verdicts or
``COMMIT_SECONDS`` of work, and whatever finished is committed when a run stops on an error or
Ctrl-C; so a ``kill -9`` loses at most the last batch and the judgements in flight, and rerunning
the same command picks up the rest. Error verdicts are never cached: a rerun retries them.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from judges.cache.replies import Replies, spill
from judges.cache.store import Store, stable_hash
from judges.cache.verdict_rows import LazyVerdicts, verdict_cells, verdict_frame
from judges.chat.budget import Budget
from judges.chat.pricing import CostPlan
from judges.core.types import Verdict
from judges.judge.base import Judge, RunContext, Task
from judges.judge.controls import NONE, control_context, refused_verdicts, restorer
from judges.media.keyframes import KeyframeSource
from judges.run.cache_upkeep import note_use
from judges.run.engines import LocalEngine, group_of
from judges.run.score_columns import columnar, judge_columns
from judges.run.task_plan import PlannedTasks
from judges.run.task_plan import plan_tasks as plan_tasks  # where callers have imported it
from judges.run.verdict_keys import pair_level
from judges.run.verdict_lookup import Lookup

VERDICTS = "verdicts"
COMMIT_EVERY = 500
"""Verdicts committed to the cache at once (a batch is also committed after COMMIT_SECONDS)."""
COMMIT_SECONDS = 1.0


@dataclass
class JudgeRun:
    """Verdicts of one judge over a task list, with where they came from."""

    judge: Judge
    verdicts: Sequence[Any]
    """In task order: a :class:`~judges.cache.verdict_rows.LazyVerdicts` for pair judges (its
    ``frame`` is the columnar form), a list of verdict objects for other task kinds."""
    cached: int = 0
    computed: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


class Runner:
    """Runs judges over tasks, reusing the verdict cache and one keyframe source.

    Args:
        store: The cache (``None`` disables caching).
        source: The run's keyframe source (each video decoded once per run).
        workers: Threads for judges that compute locally (decoding releases the GIL).
        progress: Show a progress bar.
        budget: The run's spending cap, shared by API judges.
        concurrency: Requests in flight for API judges (``None``: the judge's default).
        engine: Where local judges compute (:mod:`judges.run.engines`; default: this process).

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
        # Beside the cache (a disk the user chose, with room for it), not the system's temporary
        # folder: where that is RAM (tmpfs), 2 GB of "spilled" replies would still sit in memory.
        self._folder = store.path.parent if store is not None else None
        self.replies = Replies(folder=self._folder)
        """The replies of every pair verdict this runner gives (their tables hold ``raw_ref``)."""

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

    def _file_hashes(self, tasks: Sequence[Any]) -> dict[Any, str | None]:
        """Each file's content hash, looked up once, not once per task that uses it."""
        assert self.ctx.store is not None
        hashes: dict[Any, str | None] = {}
        # A plan's tasks of one pair share its files: one task per pair is enough.
        for task in tasks.pair_tasks() if isinstance(tasks, PlannedTasks) else tasks:
            for path in task.files:
                if path not in hashes:
                    try:
                        hashes[path] = self.ctx.store.file_hash(path)
                    except OSError:
                        hashes[path] = None  # unreadable: the judge will report it as an error
        return hashes

    def _keys(
        self, judge: Judge, tasks: Sequence[Task], hashes: dict[Any, str | None] | None = None
    ) -> list[str | None]:
        """Every task's key, the generic way (pair judges' keys are spliced by ``Lookup``).

        ``hashes``: the files' content hashes, when the caller has them already.
        """
        hashes = self._file_hashes(tasks) if hashes is None else hashes
        fingerprint = judge.fingerprint()
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
            else:
                keys.append(self._key(fingerprint, judge, task, files))  # type: ignore[arg-type]
        return keys

    def _lookup(self, judge: Judge, tasks: Sequence[Any], replies: Replies | None = None) -> Lookup:
        """What the cache holds for ``tasks``: segment hits in bulk, the rest to do."""
        replies = self.replies if replies is None else replies
        look = Lookup(judge, tasks, self.ctx.store is not None, replies=replies)
        store = self.ctx.store
        if store is None:
            return look
        look.hashes = self._file_hashes(tasks)
        look.fingerprint = judge.fingerprint()
        about = {"name": judge.name, "judge": judge.kind, "settings": judge.settings()}
        note_use(store.segments, look.fingerprint, about)  # for experiments/cache.py list
        if pair_level(judge) and all(isinstance(t, Task) for t in tasks[:1]):
            # By (pair_key, dimension, frames): one hash per pair, not per verdict.
            look.set_found(look.cached_pairs(store.segments, self.ctx.source.strategy))
        else:
            look.keys = self._keys(judge, tasks, look.hashes)
            wanted = pl.DataFrame(
                {"i": range(len(tasks)), "key": look.keys, "pair_id": [t.item_id for t in tasks]},
                schema={"i": pl.Int64, "key": pl.String, "pair_id": pl.String},
            )
            found = store.segments.lookup(look.fingerprint, wanted.drop_nulls("key"), ["key"])
            look.set_found(found.with_columns(judge=pl.lit(judge.name)))
        if len(look.todo) and store.holds(VERDICTS):
            self._from_log(look)
        return look

    def _from_log(self, look: Lookup) -> None:
        """Verdicts an older version committed to SQLite: taken into this run's new segment."""
        assert self.ctx.store is not None
        wanted = [(i, look.key(i)) for i in look.todo.tolist()]
        logged = self.ctx.store.get_many(VERDICTS, [k for _, k in wanted if k is not None])
        if not logged:
            return
        rest = []
        for i, key in wanted:
            d = logged.get(key) if key is not None else None
            if d is None:
                rest.append(i)
            else:
                verdict = Verdict.from_cached(d, look.tasks[i].item_id, look.judge.name)
                p = int(look.index.p[i]) if look.spliced is not None else None
                look.rows.add(verdict, i, key, p)
                look.migrated.append(key)
        look.todo = np.array(rest, dtype=np.int64)

    def pending(self, judge: Judge, tasks: Sequence[Task]) -> list[Task]:
        """The tasks whose verdicts the cache does not hold (what a run would compute)."""
        if judge.verdict_type is Verdict:
            scratch = Replies(folder=self._folder)  # a plan's: not the run's replies
            try:
                return [tasks[i] for i in self._lookup(judge, tasks, scratch).todo]
            finally:
                scratch.close()
        return self._split(judge, tasks)[1]

    def plan(
        self, judge: Judge, tasks: Sequence[Task], control: str = NONE, seed: int = 0
    ) -> CostPlan:
        """Dry run: verdicts asked, those to compute and (API judges) calls and cost."""
        todo = sorted(self.pending(judge, tasks), key=group_of)  # as run() orders them
        # Under a frame control the requests carry the control's frames (as run() sends them).
        cost = judge.plan_cost(todo, control_context(self.ctx, control, seed)) or CostPlan(
            judge.name
        )
        return dataclasses.replace(cost, verdicts=len(tasks), to_compute=len(todo))

    def run(
        self, judge: Judge, tasks: Sequence[Any], control: str = NONE, seed: int = 0
    ) -> JudgeRun:
        """Judge every task once, reading what the cache already holds.

        Pair verdicts stay columnar: cached ones come from the parquet segments in batches;
        computed ones go to this run's commit log in batches, and into one new segment when the
        run finishes (:mod:`judges.cache.segments`).

        ``control``: what the tasks are judged under (:func:`~judges.judge.controls.control_tasks`
        made them; ``seed`` its seed); a judge undefined under it gets an error verdict per task.

        Returns:
            Verdicts in task order (one per task, whatever happened).

        """
        if control != NONE and (refused := refused_verdicts(judge, tasks, control)) is not None:
            frame = spill(verdict_frame(refused), self.replies)
            made = LazyVerdicts(frame, self.replies)
            return JudgeRun(judge, made, 0, len(refused), 0.0, {"error": len(refused)})
        if judge.verdict_type is not Verdict:
            if control != NONE:  # its keys would name the control its inputs never had
                raise ValueError(f"{judge.name}: controls apply to pair verdicts only")
            return self._run_objects(judge, tasks)
        start = time.perf_counter()
        look = self._lookup(judge, tasks)
        computed, cached = len(look.todo), len(tasks) - len(look.todo)
        store = self.ctx.store
        log = None
        if computed and control == NONE and columnar(judge, self.engine) and look.keys is None:
            # A score judge: its videos scored once, its verdicts made as columns.
            made = judge_columns(judge, look, self.ctx, self.workers)  # type: ignore[arg-type]
        else:
            todo = sorted((tasks[i] for i in look.todo), key=group_of)  # see _run_objects
            log = store.segments.open_log(look.fingerprint) if store is not None and todo else None

            def done(verdict: Verdict) -> str | None:
                return look.entry(look.task_of(verdict), verdict_cells(verdict))

            try:
                ctx, commit = control_context(self.ctx, control, seed), log.write if log else None
                self._drive(judge, todo, done, cached, len(tasks), commit, ctx, restorer(control))
            finally:
                if log is not None:
                    log.close(remove=False)  # until its rows are in a segment (below)
            del todo
            made = look.take_made()  # in task order, so a rerun reads the segment in order
        if store is not None:
            store.segments.append(look.fingerprint, look.segment_rows(made))
            if log is not None:
                log.path.unlink(missing_ok=True)
            if look.migrated:  # verdicts an older version committed to SQLite
                store.delete_many(VERDICTS, look.migrated)
            store.segments.recover(look.fingerprint)  # logs of killed runs become a segment
            store.segments.merge(look.fingerprint)
        del made
        frame = look.result()
        if not np.array_equal(frame["i"].to_numpy(), np.arange(len(tasks))):
            # Every task answers exactly once (rows are in task order, so i is 0..n-1).
            raise RuntimeError(f"{judge.name}: {frame.height} verdicts for {len(tasks)} tasks")
        counts = frame["status"].value_counts().iter_rows()
        return JudgeRun(
            judge=judge,
            verdicts=LazyVerdicts(frame.drop("i"), self.replies),
            cached=cached,
            computed=computed,
            seconds=time.perf_counter() - start,
            statuses={str(k): int(v) for k, v in counts},
        )

    def _drive(
        self,
        judge: Judge,
        todo: Sequence[Any],
        done: Callable[[Any], Any],
        cached: int,
        total: int,
        commit: Callable[[list[Any]], None] | None,
        ctx: RunContext | None = None,
        restore: Callable[[Any], Any] | None = None,
    ) -> Counter[str]:
        """Run ``todo`` on the engine; ``done`` takes each verdict, gives what to commit or None.

        ``commit`` gets batches bounded by count and time: a kill -9 loses at most the last
        COMMIT_EVERY verdicts or COMMIT_SECONDS of work (and whatever was in flight). ``ctx``:
        the calls' context (default: the run's); ``restore`` maps each verdict first.
        """
        statuses: Counter[str] = Counter()
        from tqdm import tqdm  # only when something is judged: its import reads every dist-info

        bar = tqdm(
            total=total,
            initial=cached,
            desc=judge.name,
            unit="verdict",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        pending: list[Any] = []
        last_commit = time.monotonic()
        try:
            for verdict in self.engine.judge_all(judge, todo, ctx or self.ctx, self.workers):
                if restore is not None:
                    verdict = restore(verdict)
                entry = done(verdict)
                statuses[verdict.status] += 1
                if commit is not None and entry is not None:
                    pending.append(entry)
                    now = time.monotonic()
                    if len(pending) >= COMMIT_EVERY or now - last_commit >= COMMIT_SECONDS:
                        commit(pending)
                        pending, last_commit = [], now
                bar.update(1)
                if self.progress:
                    postfix = {"cached": cached, "failed": statuses["error"]}
                    if self.ctx.budget.spent:
                        postfix["spent"] = f"${self.ctx.budget.spent:.4f}"
                    bar.set_postfix(postfix, refresh=False)
        finally:
            if commit is not None:
                commit(pending)  # whatever finished, even on error
            bar.close()
        return statuses

    def _split(
        self, judge: Judge, tasks: Sequence[Any]
    ) -> tuple[dict[Any, Any], list[Any], dict[Any, str | None]]:
        """Object path (harm items): cached verdicts, the tasks still to do, and their keys."""
        keys: list[str | None] = [None] * len(tasks)
        found: dict[str, Any] = {}
        if self.ctx.store is not None:
            keys = self._keys(judge, tasks)
            found = self.ctx.store.get_many(VERDICTS, [k for k in keys if k is not None])
        results: dict[Any, Any] = {}
        todo: list[Any] = []
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

    def _run_objects(self, judge: Judge, tasks: Sequence[Any]) -> JudgeRun:
        """Verdicts as objects, cached in SQLite (harm items: a few per item, not millions)."""
        start = time.perf_counter()
        results, todo, key_of = self._split(judge, tasks)
        # A prompt's tasks together (stable: dimensions and frame counts keep their order), so
        # each video is decoded and encoded once while its pairs are judged, not once per
        # dimension pass when the dataset holds more videos than the keyframe LRU.
        todo.sort(key=group_of)
        cached = len(results)
        before: Counter[str] = Counter(v.status for v in results.values())

        def done(verdict: Any) -> tuple[str, Any] | None:
            results[verdict.task_key] = verdict
            key = key_of.get(verdict.task_key)
            if key is None or verdict.status == "error":
                return None
            return (key, verdict.to_dict())

        store = self.ctx.store
        commit = (lambda batch: store.put_many(VERDICTS, batch)) if store is not None else None
        statuses = before + self._drive(judge, todo, done, cached, len(tasks), commit)
        return JudgeRun(
            judge=judge,
            verdicts=[results[t.key] for t in tasks],
            cached=cached,
            computed=len(tasks) - cached,
            seconds=time.perf_counter() - start,
            statuses=dict(statuses),
        )
