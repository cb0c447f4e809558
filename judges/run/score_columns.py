"""A score judge's verdicts as columns: each video scored once, pair verdicts by array maths.

A score judge's verdict follows from two numbers (:func:`judges.judge.base.decide`), and a
SafeSora-sized run asks 1.24M verdicts of a few thousand video scores. Built one verdict object,
row tuple and commit-log line at a time, the verdicts cost a first run 15-20 us each; here the
distinct ``(video, frames)`` scores are computed (in threads, each video decoded once, each score
committed to the cache as it is made, as :meth:`ScoreJudge.score` always did) and the verdicts
are then one gather and a few comparisons per column, equal to what
:meth:`ScoreJudge.compare` gives one at a time (tests/test_score_columns.py checks them row by
row, errors included).

No commit log is written: what a killed run loses is the verdicts, which the next run derives
again from the scores already cached, in a fraction of a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from judges.cache.store import canonical
from judges.cache.verdict_rows import ROW_SCHEMA, in_order, raw_json
from judges.core.errors import ItemError
from judges.judge.base import NAN_SCORE_ERROR, NAN_SCORE_KIND, Judge, RunContext, ScoreJudge
from judges.run.verdict_lookup import Lookup, TaskIndex

OUTCOMES = ("video_0", "video_1", "tie")
"""Winner codes 0, 1, 2 (null: no winner)."""


def columnar(judge: Judge, engine: Any) -> bool:
    """Whether ``judge``'s verdicts can be made as columns (:func:`score_verdicts`).

    A score judge that keeps :class:`ScoreJudge`'s own ``score`` and ``compare`` (and the base
    ``judge_all`` and ``safe_compare``), run on this process's engine; any judge that
    overrides one of them goes verdict by verdict, as its own code says.
    """
    if not isinstance(judge, ScoreJudge) or getattr(engine, "name", None) != "local":
        return False
    kind = type(judge)
    own = (
        ("score", ScoreJudge),
        ("compare", ScoreJudge),
        ("judge_all", Judge),
        ("safe_compare", Judge),
    )
    return all(getattr(kind, name) is getattr(base, name) for name, base in own)


def _task_parts(index: TaskIndex, todo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dimension and frame-count numbers of tasks ``todo``, read back from the index's slots."""
    n_dims, n_frames = len(index.dims), len(index.frames)
    slot_of = np.empty(len(index.p), dtype=np.int64)
    filled = np.flatnonzero(index.slots >= 0)
    slot_of[index.slots[filled]] = filled
    del filled
    slot = slot_of[todo]
    del slot_of
    return ((slot // n_frames) % n_dims).astype(np.int32), (slot % n_frames).astype(np.int32)


class _Scores:
    """The distinct ``(video, frames)`` scores a task list needs, computed once each."""

    def __init__(self, judge: ScoreJudge, index: TaskIndex) -> None:
        self.judge = judge
        self.videos: list[Any] = []  # one Video per distinct (path, score inputs)
        seen: dict[tuple[str, str], int] = {}
        self.of_pair = np.empty((len(index.firsts), 2), dtype=np.int32)
        for p, task in enumerate(index.firsts):
            for side, video in enumerate((task.pair.video_0, task.pair.video_1)):
                inputs = judge.score_inputs(video)
                key = (str(video.path), canonical(inputs) if inputs else "")
                v = seen.get(key)
                if v is None:
                    v = seen[key] = len(self.videos)
                    self.videos.append(video)
                self.of_pair[p, side] = v
        self.frames = list(index.frames)  # frame count of each number f
        shape = (len(self.videos), len(self.frames))
        self.value = np.full(shape, np.nan)
        self.seconds = np.zeros(shape)
        self.failed = np.full(shape, -1, dtype=np.int32)  # index into self.errors
        self.errors: list[ItemError] = []

    def compute(self, wanted: np.ndarray, ctx: RunContext, workers: int) -> None:
        """Score every ``(v, f)`` marked in ``wanted``; a video's failure is kept, not raised.

        Run-level errors (not :class:`ItemError`) propagate, as from ``safe_compare``.
        """
        errors_lock = threading.Lock()

        def one_video(v: int) -> None:
            video = self.videos[v]
            for f in np.flatnonzero(wanted[v]).tolist():
                start = time.perf_counter()
                try:
                    self.value[v, f] = self.judge.score(video, self.frames[f], ctx)
                except ItemError as e:
                    with errors_lock:  # the index and the append together, across threads
                        self.failed[v, f] = len(self.errors)
                        self.errors.append(e)
                self.seconds[v, f] = time.perf_counter() - start

        todo = np.flatnonzero(wanted.any(axis=1)).tolist()
        name = f"{self.judge.name} (videos)"
        from tqdm import tqdm  # only when something is scored (its import is ~50 ms)

        with tqdm(total=len(todo), desc=name, unit="video", disable=not ctx.progress) as bar:
            if workers <= 1 or len(todo) <= 1:
                for v in todo:
                    one_video(v)
                    bar.update(1)
                return
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(one_video, todo):
                    bar.update(1)


def score_verdicts(
    judge: ScoreJudge,
    index: TaskIndex,
    todo: np.ndarray,
    ctx: RunContext,
    workers: int,
) -> pl.DataFrame:
    """The verdicts of tasks ``todo`` as rows: ``i``, :data:`ROW_SCHEMA`, ``key`` (null), ``p``.

    Values equal :meth:`ScoreJudge.compare`'s and :meth:`Judge.safe_compare`'s error verdicts
    (an unreadable video, an undefined or NaN score); ``latency_s`` is each verdict's share
    of the time its two scores took (they sum to the scoring time).

    Args:
        judge: The score judge.
        index: The run's task index.
        todo: The task numbers to judge.
        ctx: The run's context (keyframes, cache, memo).
        workers: Threads scoring videos (``ctx.progress``: with a bar, a video a step).

    """
    scores = _Scores(judge, index)
    n = len(todo)
    p = index.p[todo]
    d, f = _task_parts(index, todo)
    v0, v1 = scores.of_pair[p, 0], scores.of_pair[p, 1]
    wanted = np.zeros(scores.value.shape, dtype=bool)
    wanted[v0, f] = True
    wanted[v1, f] = True
    scores.compute(wanted, ctx, workers)
    columns: dict[str, pl.Series] = {
        "i": pl.Series(todo, dtype=pl.Int64),
        "pair_id": index.pair_ids().gather(pl.Series(p)),
        "judge": _cats([judge.name], np.zeros(n, dtype=np.int32)),
        "dimension": _cats(list(index.dims), d),
        "frames": pl.Series(scores.frames, dtype=pl.Int64).gather(pl.Series(f)),
    }
    del d
    # A million-row array at a time, each released once its column is made.
    failed = scores.failed[v0, f]
    failed = np.where(failed >= 0, failed, scores.failed[v1, f])  # video_0's error first
    raised = failed >= 0
    s0, s1 = scores.value[v0, f], scores.value[v1, f]
    with np.errstate(invalid="ignore"):
        diff = s0 - s1
        nan = ~raised & (np.isnan(s0) | np.isnan(s1))
        decided = ~raised & ~nan
        winner = np.where(diff > 0 if judge.higher_is_better else diff < 0, 0, 1).astype(np.int8)
        winner[(s0 == s1) | (np.abs(diff) <= judge.tie_tolerance)] = 2
        columns["score_0"], columns["score_1"] = _masked(s0, raised), _masked(s1, raised)
        del s0, s1
        np.abs(diff, out=diff)  # the margin
    columns["winner"] = _cats(list(OUTCOMES), winner, ~decided)
    status = np.where(winner == 2, 1, 0).astype(np.int8)
    status[~decided] = 2
    del winner
    columns["status"] = _cats(["ok", "tie", "error"], status)
    columns["confidence"] = _masked(diff, ~decided)
    del status, diff
    # Texts by code: ok, NaN score, then each raised error's.
    code = np.where(raised, 2 + failed, nan.astype(np.int64))
    del nan, failed
    hib = judge.higher_is_better
    kinds = [getattr(e, "kind", None) or "error" for e in scores.errors]
    errors = [None, NAN_SCORE_ERROR, *(str(e) for e in scores.errors)]
    columns["error"] = _cats(errors, code)
    columns["error_kind"] = _cats([None, NAN_SCORE_KIND, *kinds], code)
    columns["cost_usd"] = pl.repeat(None, n, dtype=pl.Float64, eager=True)
    # Times: each score's seconds shared by the verdicts that read it.
    uses = np.zeros(scores.value.shape)
    np.add.at(uses, (v0, f), 1)
    np.add.at(uses, (v1, f), 1)
    share = scores.seconds / np.maximum(uses, 1)
    columns["latency_s"] = _masked(share[v0, f] + share[v1, f], raised)
    raws = [
        raw_json({"higher_is_better": hib}),
        raw_json({"higher_is_better": hib, "error_kind": NAN_SCORE_KIND}),
        *(raw_json({"error_kind": k}) for k in kinds),
    ]
    columns["raw"] = pl.Series(raws, dtype=pl.String).gather(pl.Series(code))
    columns["key"] = pl.repeat(None, n, dtype=pl.String, eager=True)
    columns["p"] = pl.Series(p, dtype=pl.Int64)
    schema = {**ROW_SCHEMA, "i": pl.Int64, "key": pl.String, "p": pl.Int64}
    return pl.DataFrame(columns).select(list(schema)).cast(schema)  # as RowBuilder's rows


def _cats(values: Sequence[str | None], codes: np.ndarray, null: Any = None) -> pl.Series:
    """``values[code]`` per row as a categorical column (null where ``null`` is True)."""
    index = pl.Series(codes)
    if null is not None and null.any():
        index = index.set(pl.Series(null), None)  # type: ignore[arg-type]
    return pl.Series(values, dtype=pl.Categorical).gather(index)


def _masked(values: np.ndarray, null: np.ndarray) -> pl.Series:
    """``values`` as a column, null where ``null`` is True (no copy when none is)."""
    column = pl.Series(values)
    return column.set(pl.Series(null), None) if null.any() else column  # type: ignore[arg-type]


def judge_columns(judge: ScoreJudge, look: Lookup, ctx: RunContext, workers: int) -> pl.DataFrame:
    """The computed rows of ``look``'s tasks still to do (and any taken from an old cache).

    Returns:
        What :meth:`Lookup.take_made` gives (rows in task order), also kept as ``look.made``.

    """
    computed = score_verdicts(judge, look.index, look.todo, ctx, workers)
    migrated = look.take_made()  # verdicts an older version committed to SQLite
    look.made = in_order([migrated, computed], "i") if migrated.height else computed
    return look.made
