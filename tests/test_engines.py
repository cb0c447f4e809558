"""The Ray engine on a local Ray (2 CPUs): same verdicts as the local engine (frame controls
included), retries, resume.

On the built-in demo data (48 pairs of generated mp4 clips, 16 prompts), so a bare clone runs
them too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from judges.builtin.psnr import PsnrConfig, PsnrJudge
from judges.cache.store import Store
from judges.core.errors import ConfigError
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.base import ScoreJudge, Task
from judges.judge.controls import control_tasks
from judges.judge.registry import get_judge
from judges.media.keyframes import KeyframeSource
from judges.run.engines import (
    LocalEngine,
    RayEngine,
    RayOptions,
    chunks,
    make_engine,
    source_of,
    spec_of,
)
from judges.run.task_runner import Runner, plan_tasks

ROOT = Path(__file__).resolve().parents[1]
FRAMES = [1, 2, 4, 8]
FIELDS = ["pair_id", "dimension", "frames", "winner", "status", "score_0", "score_1", "confidence"]


def test_without_ray_the_engine_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ConfigError, match=r"uv sync --extra distributed"):
        make_engine("ray")
    assert isinstance(make_engine("local"), LocalEngine)
    with pytest.raises(ConfigError, match="expected one of local, ray"):
        make_engine("spark")


def test_import_judges_never_imports_ray():
    code = (
        "import sys, judges, judges.run.session, judges.run.engines, judges.run.task_runner, "
        "judges.run.agreement;"
        "print('ray' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def test_chunks_keep_a_prompts_tasks_together(demo_data):
    pairs = load_pairs(demo_data)
    tasks, _ = plan_tasks(pairs, [Dimension.HELPFULNESS], FRAMES)
    parts = chunks(tasks, 10)
    assert sorted((t.key for part in parts for t in part), key=str) == sorted(
        (t.key for t in tasks), key=str
    )
    owner: dict[str, int] = {}
    for i, part in enumerate(parts):
        for task in part:
            assert owner.setdefault(task.pair.prompt_id, i) == i
    largest_prompt = max(
        sum(1 for t in tasks if t.pair.prompt_id == p) for p in {t.pair.prompt_id for t in tasks}
    )
    assert all(len(part) <= max(10, largest_prompt) for part in parts)


# --- on a local Ray -------------------------------------------------------------------------

ray = pytest.importorskip("ray", reason="the Ray engine needs the 'distributed' extra")


def demo_tasks(demo_data, dimensions=(Dimension.HELPFULNESS, Dimension.AESTHETICS)):
    pairs = load_pairs(demo_data)
    return plan_tasks(pairs, list(dimensions), FRAMES)[0]


def verdict_frame(verdicts) -> pl.DataFrame:
    rows = [{f: getattr(v, f) for f in FIELDS} for v in verdicts]
    for row in rows:
        row["dimension"] = str(row["dimension"])
    return pl.DataFrame(rows).sort("pair_id", "dimension", "frames")


def run_with(engine, judge, tasks, store=None):
    runner = Runner(store, KeyframeSource(FRAMES), workers=2, progress=False, engine=engine)
    return runner.run(judge, tasks)


def engine(chunk_size=16):
    return RayEngine(RayOptions(chunk_size=chunk_size))


def test_psnr_on_ray_equals_local(local_ray, demo_data):
    tasks = demo_tasks(demo_data)
    judge = get_judge("psnr")
    local = run_with(LocalEngine(), judge, tasks)
    remote = run_with(engine(), judge, tasks)
    assert remote.computed == len(tasks) == len(remote.verdicts)
    assert verdict_frame(remote.verdicts).equals(verdict_frame(local.verdicts))


def test_scores_on_ray_equals_local(local_ray, demo_data, tmp_path):
    pairs = load_pairs(demo_data)
    ids = sorted({v.video_id for p in pairs for v in (p.video_0, p.video_1)})
    scores = tmp_path / "scores.csv"
    pl.DataFrame({"video_id": ids, "quality": [float(k % 7) for k in range(len(ids))]}).write_csv(
        scores
    )
    judge = get_judge("scores", file=str(scores), column="quality")
    tasks = demo_tasks(demo_data, [Dimension.AESTHETICS])
    local = run_with(LocalEngine(), judge, tasks)
    remote = run_with(engine(), judge, tasks)
    assert verdict_frame(remote.verdicts).equals(verdict_frame(local.verdicts))
    assert {v.status for v in remote.verdicts} == {"ok"}


@pytest.fixture
def clip(local_ray, tmp_path_factory):
    pytest.importorskip("open_clip", reason="model judges need the 'models' extra")
    import open_clip
    import torch
    from test_model_judges import CONFIGS

    root = tmp_path_factory.mktemp("clip")
    (root / "test-tiny-clip.json").write_text(json.dumps(CONFIGS["test-tiny-clip"]))
    open_clip.add_model_config(root / "test-tiny-clip.json")
    torch.manual_seed(0)
    torch.save(open_clip.create_model("test-tiny-clip").state_dict(), root / "clip.pt")
    return get_judge("clip", model="test-tiny-clip", checkpoint=str(root / "clip.pt"), device="cpu")


def test_clip_on_ray_equals_local(clip, demo_data):
    tasks = demo_tasks(demo_data, [Dimension.INSTRUCTION_FOLLOWING])
    local = run_with(LocalEngine(), clip, tasks)
    remote = run_with(engine(chunk_size=40), clip, tasks)
    a, b = verdict_frame(local.verdicts), verdict_frame(remote.verdicts)
    assert a.select("pair_id", "frames", "winner", "status").equals(
        b.select("pair_id", "frames", "winner", "status")
    )
    # The same weights and frames; batched float maths on another process may differ in the
    # last bits only.
    assert (a["score_0"] - b["score_0"]).abs().max() < 1e-5


class CrashOnce(PsnrJudge):
    """psnr whose worker process dies (os._exit) the first time it scores a chosen video."""

    def __init__(self, marker: str, video_id: str) -> None:
        super().__init__(PsnrConfig())
        self.marker, self.video_id = marker, video_id

    def video_score(self, video, frames, ctx):
        if video.video_id == self.video_id and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().video_score(video, frames, ctx)


def test_a_killed_worker_is_retried_and_the_run_completes(local_ray, demo_data, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    tasks = demo_tasks(demo_data, [Dimension.HELPFULNESS])
    victim = tasks[len(tasks) // 2].pair.video_0.video_id
    marker = tmp_path / "crashed"
    judge = CrashOnce(str(marker), victim)
    remote = run_with(engine(chunk_size=8), judge, tasks)
    assert marker.exists(), "no worker died"
    assert int(marker.read_text()) != os.getpid()
    local = run_with(LocalEngine(), get_judge("psnr"), tasks)
    assert (
        verdict_frame(remote.verdicts)
        .drop("score_0", "score_1")
        .equals(verdict_frame(local.verdicts).drop("score_0", "score_1"))
    )
    assert all(v.status != "error" for v in remote.verdicts)


class Interrupting(RayEngine):
    """A Ray engine whose driver is interrupted (Ctrl-C) after ``after`` verdicts."""

    def __init__(self, after: int) -> None:
        super().__init__(RayOptions(chunk_size=8))
        self.after = after

    def judge_all(self, judge, tasks, ctx, workers):
        for i, verdict in enumerate(super().judge_all(judge, tasks, ctx, workers)):
            if i == self.after:
                raise KeyboardInterrupt
            yield verdict


def test_an_interrupted_driver_resumes_from_the_cache(local_ray, demo_data, tmp_path):
    tasks = demo_tasks(demo_data, [Dimension.HELPFULNESS])
    judge = get_judge("psnr")
    with Store(tmp_path / "cache.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            run_with(Interrupting(after=50), judge, tasks, store)
        resumed = run_with(engine(), judge, tasks, store)
    assert (resumed.cached, resumed.computed) == (50, len(tasks) - 50)
    local = run_with(LocalEngine(), judge, tasks)
    assert verdict_frame(resumed.verdicts).equals(verdict_frame(local.verdicts))


def test_agreement_command_on_ray(tmp_path, demo_data):
    """The command line: --engine ray (a local Ray of its own), recorded in run.json."""
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "agreement.py"),
            "--quiet",
            "--judge",
            "psnr",
            "--frames",
            "1,8",
            "--data",
            str(demo_data),
            "--limit",
            "12",
            "--engine",
            "ray",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "out"),
            "--run-id",
            "r",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
    )
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "out" / "r" / "run.json").read_text())
    assert info["engine"]["engine"] == "ray" and info["engine"]["resources"]["CPU"] >= 1
    verdicts = pl.read_parquet(tmp_path / "out" / "r" / "verdicts.parquet")
    pairs = load_pairs(demo_data)[:12]
    expected = plan_tasks(pairs, list(get_judge("psnr").default_dimensions), [1, 8])[0]
    assert verdicts.height == len(expected) > 0 and (verdicts["status"] != "error").all()


def test_harm_items_group_by_item_and_pairs_by_prompt(demo_data):
    from judges.run.engines import group_of

    class Item:
        item_id = "x1"

    pair = load_pairs(demo_data)[0]
    assert group_of(Item()) == "x1"
    assert group_of(Task(pair, Dimension.HELPFULNESS, 1)) == pair.prompt_id


def test_harm_scores_on_ray_equal_local(local_ray, tmp_path):
    from judges.core.harm_types import HARM_KEYS, HarmTask
    from judges.datasets.harm_items import load_harm_dataset
    from test_harm_data import make_label_set

    items = load_harm_dataset(make_label_set(tmp_path / "d", n=6)).items
    rows = [
        {"video_id": i.video.video_id, **dict.fromkeys(HARM_KEYS, 0.1 * k)}
        for k, i in enumerate(items[:-1])
    ]  # the last video has no score: an error verdict on both
    scores = tmp_path / "mod.csv"
    pl.DataFrame(rows).write_csv(scores)
    judge = get_judge("harm-scores", file=str(scores))
    tasks = [HarmTask(i, 1) for i in items]
    local = run_with(LocalEngine(), judge, tasks).verdicts
    remote = run_with(engine(chunk_size=2), judge, tasks).verdicts
    assert [(v.item_id, v.labels, v.status) for v in remote] == [
        (v.item_id, v.labels, v.status) for v in local
    ]
    assert {v.status for v in local} == {"ok", "error"}


# --- frame controls travel to Ray workers ------------------------------------------------


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
