"""Runs of whole prompts for threads (judges.judge.task_groups) and the pool that uses them."""

from __future__ import annotations

import threading
from collections import defaultdict

from conftest import make_dataset
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.task_groups import group_of, whole_groups
from judges.run.task_runner import plan_tasks


def test_runs_hold_whole_prompts(tmp_path):
    pairs = load_pairs(make_dataset(tmp_path / "d", n_pairs=6))
    tasks, _ = plan_tasks(pairs, [Dimension.AESTHETICS, Dimension.HELPFULNESS], [1, 2])
    tasks.sort(key=group_of)
    runs = list(whole_groups(tasks, 3))
    assert [t for run in runs for t in run] == tasks  # every task once, in order
    owner: dict[str, int] = {}
    for n, run in enumerate(runs):
        for t in run:
            assert owner.setdefault(group_of(t), n) == n  # a prompt never spans two runs
    assert all(len(run) >= 3 for run in runs[:-1])
    assert len(list(whole_groups(tasks, 10**6))) == 1
    assert list(whole_groups([], 4)) == []


def test_two_threads_never_judge_one_prompt_at_once(tmp_path, monkeypatch):
    pairs = load_pairs(make_dataset(tmp_path / "d", n_pairs=8))
    tasks, _ = plan_tasks(pairs, list(Dimension.known())[:3], [1, 2, 4, 8])
    tasks.sort(key=group_of)
    from judges.judge.registry import get_judge

    judge = get_judge("psnr")
    threads_of: dict[str, set[int]] = defaultdict(set)
    compare = judge.safe_compare

    def spy(task, ctx):
        threads_of[group_of(task)].add(threading.get_ident())
        return compare(task, ctx)

    monkeypatch.setattr(judge, "safe_compare", spy)
    verdicts = list(judge.judge_all(tasks, workers=2))
    assert sorted(v.task_key for v in verdicts) == sorted(t.key for t in tasks)
    assert len(threads_of) == 8  # every prompt judged
    assert len(set().union(*threads_of.values())) == 2  # by both threads
    # Each prompt's tasks went to one thread, so no two threads decoded its videos together.
    assert all(len(ids) == 1 for ids in threads_of.values())
