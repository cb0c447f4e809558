"""Frame controls travel to Ray workers: a control's verdicts on Ray equal the local ones."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_engines import FRAMES, demo_tasks, engine, verdict_frame

from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.base import ScoreJudge
from judges.judge.controls import control_tasks
from judges.media.keyframes import KeyframeSource
from judges.run.engines import LocalEngine, source_of, spec_of
from judges.run.task_runner import Runner

pytest.importorskip("ray", reason="the Ray engine needs the 'distributed' extra")


class FirstShown(ScoreJudge):
    """Brightness of the first keyframe it is shown: order-sensitive on purpose."""

    kind = "first-shown"

    def video_score(self, video, frames, ctx):
        return float(np.mean(ctx.source.get(video.path, frames).frames[0]))


def test_source_spec_carries_the_control():
    spec = spec_of(source_of(((2, 4), "uniform", "shuffled_frames", 7)))
    assert spec == ((2, 4), "uniform", "shuffled_frames", 7)
    assert spec_of(KeyframeSource((1,))) == ((1,), "diff", "none", 0)


def test_frame_controls_on_ray_equal_local(local_ray, demo_data):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack this module
    pairs = load_pairs(demo_data)
    tasks = demo_tasks(demo_data, [Dimension.AESTHETICS])
    judge = FirstShown()

    def run(eng, control):
        made = control_tasks(tasks, control, pairs, seed=3)
        runner = Runner(None, KeyframeSource(FRAMES), workers=2, progress=False, engine=eng)
        return verdict_frame(runner.run(judge, made.tasks, control, seed=3).verdicts)

    normal = run(LocalEngine(), "none")
    for control in ("reversed", "shuffled_frames", "swapped"):
        local, remote = run(LocalEngine(), control), run(engine(), control)
        assert remote.equals(local), control
        if control != "swapped":  # the control reached the judge: some scores moved
            assert (local["score_0"] != normal["score_0"]).any(), control
