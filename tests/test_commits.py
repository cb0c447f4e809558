"""The verdict cache is committed in batches: a kill -9 loses at most the last batch, and a
rerun recomputes exactly what was not committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from conftest import make_dataset
from judges.cache.segments import VerdictSegments, read_log
from judges.cache.store import Store

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    import judges.run.task_runner as task_runner
    from judges.judge.base import ScoreJudge
    from judges.cache.segments import VerdictSegments, read_log
    from judges.cache.store import Store
    from judges.datasets import load_pairs
    from judges.media.keyframes import KeyframeSource
    from judges.run.task_runner import Runner, plan_tasks
    from judges.core.types import Dimension

    task_runner.COMMIT_EVERY = 5  # small batches, so a short run commits some
    # One verdict at a time, as a judge with its own compare() goes (a plain score judge's
    # verdicts are made as columns from its cached scores: tests/test_score_columns.py).
    task_runner.columnar = lambda judge, engine: False
    db = Path(sys.argv[2])
    block = sys.argv[3] == "block"
    calls = 0

    def committed():
        segments = VerdictSegments(db.with_suffix(".segments"))
        return sum(read_log(log).height for log in segments.logs())

    class Blocking(ScoreJudge):
        kind = "blocking-brightness"
        higher_is_better = True
        def video_score(self, video, frames, ctx):
            global calls
            calls += 1
            if block and calls > 24:
                # Some batch is committed (the runner commits while this worker scores the
                # next task): say so, then hang until killed. No clock decides anything.
                while committed() == 0:
                    threading.Event().wait(0.01)
                print("blocked", flush=True)
                threading.Event().wait()
            kf = ctx.source.get(video.path, frames)
            return float(sum(f.mean() for f in kf.frames) / len(kf.frames))

    pairs = load_pairs(sys.argv[1])
    tasks, _ = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [1, 2])
    with Store(db) as store:
        runner = Runner(store, KeyframeSource(plan=[1, 2]), workers=1, progress=False)
        run = runner.run(Blocking(), tasks)
    print(run.cached, run.computed)
    """
)


def _stored(db) -> int:
    """Verdicts committed: lines in the running (or killed) run's commit log."""
    segments = VerdictSegments(db.with_suffix(".segments"))
    return sum(read_log(log).height for log in segments.logs())


def test_kill_9_loses_at_most_the_last_batch(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=30)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    db = tmp_path / "cache.sqlite"
    total = 30 * 2
    proc = subprocess.Popen(
        [sys.executable, str(script), str(data), str(db), "block"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline() == "blocked\n"  # a batch is committed; the run hangs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = _stored(db)
    assert 0 < committed < total  # one time-bounded batch landed, the rest was in memory
    res = subprocess.run(
        [sys.executable, str(script), str(data), str(db), "run"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    cached, computed = map(int, res.stdout.split())
    assert (cached, computed) == (committed, total - committed)  # exactly the lost ones
    # The finished rerun folded the killed run's log and its own into parquet segments.
    assert _stored(db) == 0
    assert VerdictSegments(db.with_suffix(".segments")).count() == total


def test_put_many_is_one_transaction(tmp_path):
    with Store(tmp_path / "c.sqlite") as store:
        store.put_many("ns", [(f"k{i}", {"v": i}) for i in range(1200)])
        assert store.get_many("ns", [f"k{i}" for i in range(1200)])["k1199"] == {"v": 1199}
        store.put_many("ns", [])
