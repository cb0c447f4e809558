from __future__ import annotations

import shutil

import pytest

from cache_rows import count_entries
from conftest import BrightnessConfig, BrightnessJudge, make_dataset
from judges.cache.store import Store
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.options import build_config
from judges.judge.registry import get_judge
from judges.media.keyframes import KeyframeSource
from judges.run.task_runner import VERDICTS, Runner, pair_level, plan_tasks


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "data", n_pairs=5)


def run(pairs, judge, store, frames=(1, 2), dims=(Dimension.INFORMATIVENESS,)):
    tasks, unlabeled = plan_tasks(pairs, list(dims), list(frames))
    runner = Runner(store, KeyframeSource(plan=frames), progress=False)
    return runner.run(judge, tasks), tasks, unlabeled


def test_plan_reports_unlabeled(dataset):
    pairs = load_pairs(dataset)
    tasks, unlabeled = plan_tasks(pairs, [Dimension.INFORMATIVENESS, Dimension.CORRECTNESS], [1, 4])
    assert len(tasks) == 10
    assert unlabeled == {"correctness": 5}
    all_tasks, none = plan_tasks(pairs, [Dimension.CORRECTNESS], [1], labeled_only=False)
    assert len(all_tasks) == 5 and none == {}


def test_rerun_reads_cache_and_computes_nothing(dataset, tmp_path):
    pairs = load_pairs(dataset)
    with Store(tmp_path / "c.sqlite") as store:
        judge = BrightnessJudge()
        first, tasks, _ = run(pairs, judge, store)
        assert first.computed == 10 and first.cached == 0
        assert judge.calls == 20  # 5 pairs x 2 videos x 2 frame counts
        assert [v.pair_id for v in first.verdicts] == [t.pair.pair_id for t in tasks]
        again = BrightnessJudge()
        second, _, _ = run(pairs, again, store)
        assert second.computed == 0 and second.cached == 10 and again.calls == 0
        strip = lambda vs: [(v.pair_id, v.frames, v.winner, v.score_0, v.score_1) for v in vs]  # noqa: E731
        assert strip(second.verdicts) == strip(first.verdicts)
        # Another dimension reuses the per-video scores: verdicts computed, no video rescored.
        third = BrightnessJudge()
        out, _, _ = run(pairs, third, store, dims=(Dimension.HELPFULNESS,))
        assert out.computed == 10 and third.calls == 0


def test_changed_settings_do_not_reuse(dataset, tmp_path):
    pairs = load_pairs(dataset)
    with Store(tmp_path / "c.sqlite") as store:
        run(pairs, BrightnessJudge(), store)
        other = BrightnessJudge(build_config(BrightnessConfig, {"tie_tolerance": "0.1"}, "b"))
        out, _, _ = run(pairs, other, store)
        assert out.cached == 0 and other.calls == 20


def test_moved_dataset_still_hits(dataset, tmp_path):
    with Store(tmp_path / "c.sqlite") as store:
        run(load_pairs(dataset), BrightnessJudge(), store)
        moved = tmp_path / "moved"
        shutil.copytree(dataset.parent, moved)
        judge = BrightnessJudge()
        out, _, _ = run(load_pairs(moved), judge, store)
        assert out.cached == 10 and judge.calls == 0


def test_errors_are_not_cached_and_retried(dataset, tmp_path):
    pairs = load_pairs(dataset)
    broken = pairs[2].video_1.path
    good = broken.read_bytes()
    broken.write_bytes(b"not a video")
    with Store(tmp_path / "c.sqlite") as store:
        out, _, _ = run(pairs, BrightnessJudge(), store)
        errors = [v for v in out.verdicts if v.status == "error"]
        assert len(errors) == 2 and all(broken.name in v.error for v in errors)
        assert out.statuses["error"] == 2
        assert count_entries(tmp_path / "c.sqlite", VERDICTS) == 8
        broken.write_bytes(good)
        judge = BrightnessJudge()
        again, _, _ = run(pairs, judge, store)
        assert again.cached == 8 and again.computed == 2
        assert all(v.status == "ok" for v in again.verdicts)


def test_interrupted_run_resumes(dataset, tmp_path):
    pairs = load_pairs(dataset)
    tasks, _ = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [1, 2])

    class Interrupted(BrightnessJudge):
        """Ctrl-C arrives while the fourth verdict is being computed."""

        def compare(self, pair, dimension, frames, ctx=None):
            if self.calls >= 6:  # two scores per verdict
                raise KeyboardInterrupt
            return super().compare(pair, dimension, frames, ctx)

    with Store(tmp_path / "c.sqlite") as store:
        runner = Runner(store, KeyframeSource(plan=[1, 2]), progress=False)
        with pytest.raises(KeyboardInterrupt):
            runner.run(Interrupted(), tasks)
        assert count_entries(tmp_path / "c.sqlite", VERDICTS) == 3
        out = runner.run(BrightnessJudge(), tasks)
        assert out.cached == 3 and out.computed == 7


def test_threaded_run_matches_sequential(dataset, tmp_path):
    pairs = load_pairs(dataset)
    tasks, _ = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [1, 2, 4])
    seq = Runner(None, KeyframeSource(plan=[1, 2, 4]), progress=False).run(BrightnessJudge(), tasks)
    par = Runner(None, KeyframeSource(plan=[1, 2, 4]), workers=3, progress=False).run(
        BrightnessJudge(), tasks
    )
    assert [(v.pair_id, v.frames, v.winner) for v in seq.verdicts] == [
        (v.pair_id, v.frames, v.winner) for v in par.verdicts
    ]


def test_spliced_pair_keys_equal_the_canonical_keys(tmp_path):
    """The fast per-pair key path gives exactly the generic path's keys (so existing caches
    stay valid), for built-in judges; a judge whose inputs depend on the task is not spliced.
    """
    pairs = load_pairs(make_dataset(tmp_path / "d", n_pairs=3))
    tasks, _ = plan_tasks(pairs, [Dimension.AESTHETICS, Dimension.HELPFULNESS], [1, None, 8])
    with Store(tmp_path / "c.sqlite") as store:
        runner = Runner(store, KeyframeSource([1, 8, None]), progress=False)
        plugin = BrightnessJudge(BrightnessConfig())
        for judge in (get_judge("psnr"), get_judge("gpt4o"), plugin):
            assert pair_level(judge)
            look = runner._lookup(judge, tasks)
            assert look.spliced is not None
            fast = [look.key(i) for i in range(len(tasks))]
            assert fast == [runner.verdict_key(judge, t) for t in tasks]
            assert len(set(fast)) == len(tasks) == 9  # 3 pairs x 3 frame counts labelled

        class PerDimension(BrightnessJudge):
            def cache_inputs(self, task):
                return {"dimension_text": task.dimension.value}

        odd = PerDimension(BrightnessConfig())
        assert not pair_level(odd)
        look = runner._lookup(odd, tasks)
        assert look.spliced is None
        assert [look.key(i) for i in range(len(tasks))] == [
            runner.verdict_key(odd, t) for t in tasks
        ]
