"""A score judge's verdicts made as columns equal the ones made one at a time, row by row."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import judges.run.task_runner as task_runner
from conftest import BrightnessJudge, make_dataset
from judges.cache.segments import VerdictSegments
from judges.cache.store import Store
from judges.cache.verdict_rows import verdict_frame
from judges.core.errors import UndefinedScoreError
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.base import ScoreJudge
from judges.media.keyframes import KeyframeSource
from judges.run.engines import LocalEngine
from judges.run.score_columns import columnar
from judges.run.task_runner import Runner, plan_tasks

DIMS = [Dimension.INFORMATIVENESS, Dimension.AESTHETICS]


class Awkward(BrightnessJudge):
    """Brightness, except for chosen videos: NaN, infinity, an undefined score, a fixed value."""

    kind = "awkward-brightness"
    higher_is_better = False

    def __init__(self, special: dict[str, object]) -> None:
        super().__init__()
        self.special = special

    def video_score(self, video, frames, ctx):
        what = self.special.get(video.path.name)
        if what == "undefined":
            raise UndefinedScoreError(f"{video.path}: nothing after frame 0 at {frames}")
        if what is not None:
            return float(what)  # type: ignore[arg-type]
        return super().video_score(video, frames, ctx)


def _run(pairs, judge, store, columns: bool, monkeypatch, workers: int = 2):
    if not columns:
        monkeypatch.setattr(task_runner, "columnar", lambda judge, engine: False)
    tasks, _ = plan_tasks(pairs, DIMS, [1, 2, None], labeled_only=False)
    runner = Runner(store, KeyframeSource(plan=[1, 2, None]), workers=workers, progress=False)
    out = runner.run(judge, tasks)
    monkeypatch.undo()
    return out


def _special(pairs) -> dict[str, object]:
    """Pair 0: two infinities (a tie, its margin NaN); pair 1: equal scores; then a NaN score
    and an undefined one."""
    return {
        pairs[0].video_0.path.name: math.inf,
        pairs[0].video_1.path.name: math.inf,
        pairs[1].video_0.path.name: 5.0,
        pairs[1].video_1.path.name: 5.0,
        pairs[2].video_0.path.name: math.nan,
        pairs[4].video_1.path.name: "undefined",
    }


@pytest.mark.parametrize("cache", [True, False])
def test_columns_equal_verdicts_made_one_at_a_time(tmp_path, monkeypatch, cache):
    data = make_dataset(tmp_path / "data", n_pairs=12)
    pairs = load_pairs(data)
    broken = pairs[3].video_1.path
    broken.write_bytes(b"not a video")  # an unreadable file: an error verdict from both paths
    special = _special(pairs)
    frames = {}
    for columns in (False, True):
        store = Store(tmp_path / f"c-{columns}.sqlite") if cache else None
        out = _run(pairs, Awkward(special), store, columns, monkeypatch)
        assert out.computed == 12 * 2 * 3 and out.cached == 0
        frames[columns] = verdict_frame(out.verdicts)  # replies read back
        if store is not None:
            store.close()
    old, new = frames[False], frames[True]
    assert new.schema == old.schema
    # latency_s is wall time: null for the same verdicts (raised errors), a number elsewhere.
    assert new["latency_s"].is_null().to_list() == old["latency_s"].is_null().to_list()
    assert new.drop("latency_s").equals(old.drop("latency_s"), null_equal=True)
    statuses = set(new["status"].to_list())
    assert statuses == {"ok", "tie", "error"}
    kinds = set(new["error_kind"].drop_nulls().to_list())
    assert {"nan_score", "undefined_score"} <= kinds and len(kinds) >= 3  # and the bad file
    assert new.filter(pl.col("confidence").is_nan()).height > 0  # equal infinities: a tie


def test_rerun_reads_the_columns_segment(tmp_path, monkeypatch):
    pairs = load_pairs(make_dataset(tmp_path / "data", n_pairs=6))
    with Store(tmp_path / "c.sqlite") as store:
        judge = BrightnessJudge()
        first = _run(pairs, judge, store, True, monkeypatch)
        assert judge.calls == 12 * 3  # each (video, frames) scored once
        segments = VerdictSegments(tmp_path / "c.segments")
        assert not segments.logs() and segments.count() == 6 * 2 * 3  # no commit log
        again = BrightnessJudge()
        second = _run(pairs, again, store, True, monkeypatch)
        assert second.cached == 36 and second.computed == 0 and again.calls == 0
        assert (
            verdict_frame(second.verdicts)
            .drop("latency_s")
            .equals(verdict_frame(first.verdicts).drop("latency_s"))
        )


def test_partly_cached_run_computes_only_the_rest(tmp_path, monkeypatch):
    pairs = load_pairs(make_dataset(tmp_path / "data", n_pairs=6))
    with Store(tmp_path / "c.sqlite") as store:
        _run(pairs[:3], BrightnessJudge(), store, True, monkeypatch)
        out = _run(pairs, BrightnessJudge(), store, True, monkeypatch, workers=1)
        assert (out.cached, out.computed) == (18, 18)
        assert out.verdicts.frame["pair_id"].to_list() == [
            t.pair.pair_id for t in plan_tasks(pairs, DIMS, [1, 2, None], labeled_only=False)[0]
        ]
        assert np.all(out.verdicts.frame["status"].to_numpy() != "error")


def test_only_judges_with_the_base_methods_go_as_columns():
    class OwnCompare(BrightnessJudge):
        kind = "own-compare"

        def compare(self, pair, dimension, frames, ctx=None):
            return super().compare(pair, dimension, frames, ctx)

    class NotScore(ScoreJudge):
        kind = "own-score"

        def score(self, video, frames, ctx):
            return 1.0

        def video_score(self, video, frames, ctx):
            return 1.0

    assert columnar(BrightnessJudge(), LocalEngine())
    assert not columnar(OwnCompare(), LocalEngine())
    assert not columnar(NotScore(), LocalEngine())
    assert not columnar(BrightnessJudge(), object())  # another engine (Ray) goes as before


def test_an_interrupted_run_keeps_its_scores(tmp_path, monkeypatch):
    """Each score is committed as it is made: a run stopped part-way (Ctrl-C, a kill) leaves
    them, and the next run scores only the rest before it derives every verdict."""
    pairs = load_pairs(make_dataset(tmp_path / "data", n_pairs=6))

    class Stopping(BrightnessJudge):
        kind = "brightness"  # the same fingerprint as BrightnessJudge

        def video_score(self, video, frames, ctx):
            if self.calls == 10:
                raise KeyboardInterrupt
            return super().video_score(video, frames, ctx)

    with Store(tmp_path / "c.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            _run(pairs, Stopping(), store, True, monkeypatch, workers=1)
        judge = BrightnessJudge()
        out = _run(pairs, judge, store, True, monkeypatch)
        assert out.computed == 36 and judge.calls == 36 - 10  # the first 10 scores were kept
