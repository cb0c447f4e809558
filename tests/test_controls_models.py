"""Controls on clip and hpsv2 (tiny random-init open_clip models, as tests/test_model_judges)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="model judges need the 'models' extra")
pytest.importorskip("open_clip", reason="model judges need the 'models' extra")

from test_controls import distinct_prompts
from test_model_judges import (  # noqa: F401 - models is a fixture
    clip_judge,
    hps_judge,
    models,
    reference_clip,
    reference_hps,
)

from conftest import make_dataset
from judges.cache.store import Store
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.controls import control_tasks
from judges.media.keyframes import KeyframeSource, extract_keyframes
from judges.run.task_runner import Runner, plan_tasks

DIM = Dimension.INSTRUCTION_FOLLOWING


@pytest.fixture
def pairs(tmp_path):
    return distinct_prompts(load_pairs(make_dataset(tmp_path / "d", n_pairs=3)))


def run_under(judge, pairs, control, store, frames=4):
    tasks, _ = plan_tasks(pairs, [DIM], [frames], labeled_only=False)
    plan = control_tasks(tasks, control, pairs)
    runner = Runner(store, KeyframeSource(plan=[frames]), progress=False)
    return list(runner.run(judge, plan.tasks, control).verdicts), plan


def test_clip_under_controls_scores_what_it_was_shown(models, pairs, tmp_path):  # noqa: F811
    judge = clip_judge(models)
    weights, name = models / "clip.pt", "test-tiny-clip"
    by_prompt = {p.prompt_id: p for p in pairs}
    with Store(tmp_path / "cache.sqlite") as store:  # the normal scores are cached first
        normal, _ = run_under(judge, pairs, "none", store)
        frozen, _ = run_under(judge, pairs, "frozen", store)
        backwards, _ = run_under(judge, pairs, "reversed", store)
        shuffled, plan = run_under(judge, pairs, "shuffled_prompt", store)
    for pair, v, f, r, s in zip(pairs, normal, frozen, backwards, shuffled, strict=True):
        frames = extract_keyframes(pair.video_0.path, 4).frames
        text = pair.video_0.video_text
        assert v.score_0 == pytest.approx(reference_clip(weights, name, frames, text), abs=1e-5)
        # frozen: the first keyframe, four times (its mean is its own score)
        ref = reference_clip(weights, name, [frames[0]] * 4, text)
        assert f.score_0 == pytest.approx(ref, abs=1e-5)
        assert f.score_0 != pytest.approx(v.score_0, abs=1e-9)  # not the cached normal score
        # reversed: the same frames, so the same mean
        assert r.score_0 == pytest.approx(v.score_0, abs=1e-9)
        # shuffled prompt: the donor pair's generator text
        donor = by_prompt[plan.donors[pair.pair_id]]
        ref = reference_clip(weights, name, frames, donor.video_0.video_text)
        assert s.score_0 == pytest.approx(ref, abs=1e-5)


def test_hpsv2_under_shuffled_prompt_reads_the_donor_prompt(models, pairs, tmp_path):  # noqa: F811
    judge = hps_judge(models)
    by_prompt = {p.prompt_id: p for p in pairs}
    with Store(tmp_path / "cache.sqlite") as store:
        run_under(judge, pairs, "none", store)
        shuffled, plan = run_under(judge, pairs, "shuffled_prompt", store)
        frozen, _ = run_under(judge, pairs, "frozen", store)
    for pair, s, f in zip(pairs, shuffled, frozen, strict=True):
        frames = extract_keyframes(pair.video_1.path, 4).frames
        donor = by_prompt[plan.donors[pair.pair_id]]
        text = judge.text_for(donor.video_1)
        ref = reference_hps(models / "hps.pt", "test-tiny-vith", frames, text, tmp_path)
        assert s.score_1 == pytest.approx(ref, abs=1e-5)
        own = judge.text_for(pair.video_1)
        ref = reference_hps(models / "hps.pt", "test-tiny-vith", [frames[0]], own, tmp_path)
        assert f.score_1 == pytest.approx(ref, abs=1e-5)
