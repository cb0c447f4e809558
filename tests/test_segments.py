"""The columnar verdict cache: parquet segments, commit logs, recovery, and verdict frames."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

from cache_rows import count_entries, seg_rows
from conftest import BrightnessJudge, make_dataset
from judges.cache.segments import VerdictSegments, log_line, read_log
from judges.cache.store import Store
from judges.cache.verdict_rows import LazyVerdicts, verdict_cells, verdict_frame
from judges.core.types import Dimension, Pair, Verdict, Video
from judges.datasets import load_pairs
from judges.media.keyframes import KeyframeSource
from judges.report.run_folder import verdict_table
from judges.run.task_runner import VERDICTS, Runner, plan_tasks

FP = "f" * 64


def test_lookup_by_key_and_by_pair_key_with_null_frames(tmp_path):
    segs = VerdictSegments(tmp_path / "c.segments")
    segs.append(
        FP,
        seg_rows(
            [("k1", "p1", "aesthetics", 1, "video_0"), ("k2", "p1", "aesthetics", None, "tie")]
        ),
    )
    wanted = pl.DataFrame({"i": [0, 1, 2], "key": ["k2", "nope", "k1"]})
    found = segs.lookup(FP, wanted, ["key"]).sort("i")
    assert found.select("i", "winner").rows() == [(0, "tie"), (2, "video_0")]
    by_pair = pl.DataFrame(
        {
            "i": [5, 6, 7],
            "pair_key": ["p1", "p1", "p2"],
            "dimension": ["aesthetics"] * 3,
            "frames": [None, 2, 1],
        },
        schema={"i": pl.Int64, "pair_key": pl.String, "dimension": pl.String, "frames": pl.Int64},
    )
    found = segs.lookup(FP, by_pair, ["pair_key", "dimension", "frames"])
    assert found.select("i", "winner").rows() == [(5, "tie")]  # null frames ("all") match null
    assert segs.lookup("0" * 64, wanted, ["key"]).is_empty()  # another judge's cache


def test_repeated_keys_match_once_and_merge_folds_segments(tmp_path):
    segs = VerdictSegments(tmp_path / "c.segments")
    # The runner writes each content once (test_equal_content_is_cached_once); a repeat across
    # segments (a crash between rename and log delete) still matches each wanted row once.
    segs.append(FP, seg_rows([("k1", "p1", "aesthetics", 1, "video_0")] * 3))
    for n in range(9):
        segs.append(
            FP,
            seg_rows(
                [("k1", "p1", "aesthetics", 1, "video_0"), (f"x{n}", "q", "aesthetics", 1, "tie")]
            ),
        )
    wanted = pl.DataFrame({"i": [0, 1], "key": ["k1", "x8"]})
    assert segs.lookup(FP, wanted, ["key"]).sort("i").select("i", "winner").rows() == [
        (0, "video_0"),
        (1, "tie"),
    ]
    assert len(segs.files(FP)) == 10
    assert segs.merge(FP, max_segments=8)
    assert len(segs.files(FP)) == 1 and segs.count(FP) == 10  # merged: k1 once, x0..x8
    assert not segs.merge(FP, max_segments=8)  # nothing to fold
    assert segs.lookup(FP, wanted, ["key"]).height == 2


def test_a_dead_runs_log_is_recovered_and_a_live_ones_is_not(tmp_path):
    segs = VerdictSegments(tmp_path / "c.segments")
    cells = verdict_cells(Verdict("a", "j", Dimension.AESTHETICS, 2, "video_1", 3.0, 1.0))
    dead = segs.open_log(FP)
    dead.write([log_line("k1", "p1", cells[2:]), log_line("k2", "p1", cells[2:])])
    with open(dead.path, "a") as fh:  # a kill in the middle of a line
        fh.write('["k3", "p1", "aesth')
    dead.close(remove=False)
    live = segs.open_log(FP)
    live.write([log_line("k9", "p9", cells[2:])])
    assert read_log(dead.path).height == 2
    assert segs.recover(FP) == 2
    assert segs.logs(FP) == [live.path]  # the live run keeps its log
    found = segs.lookup(FP, pl.DataFrame({"i": [0, 1, 2], "key": ["k1", "k2", "k9"]}), ["key"])
    assert found.sort("i").select("key", "winner", "score_0").rows() == [
        ("k1", "video_1", 3.0),
        ("k2", "video_1", 3.0),
    ]
    live.close(remove=True)
    assert segs.logs() == []


def test_lazy_verdicts_round_trip_every_field():
    verdicts = [
        Verdict(
            "a", "psnr", Dimension.AESTHETICS, None, "video_0", 30.5, 29.0, 1.5, raw={"x": [1, 2]}
        ),
        Verdict(
            "b",
            "gpt",
            Dimension.HARMLESSNESS,
            4,
            None,
            status="error",
            error="boom",
            raw={"error_kind": "http"},
            cost_usd=0.01,
            latency_s=2.0,
        ),
        Verdict("c", "psnr", Dimension.CORRECTNESS, 1, None, math.nan, 1.0, status="error"),
    ]
    lazy = LazyVerdicts(verdict_frame(verdicts))
    assert len(lazy) == 3
    assert lazy[0] == verdicts[0] and lazy[1] == verdicts[1] and lazy[-2] == verdicts[1]
    assert math.isnan(lazy[2].score_0) and lazy[2].pair_id == "c"
    assert [v.pair_id for v in lazy] == ["a", "b", "c"] and lazy[1:2] == [verdicts[1]]
    assert lazy.frame["error_kind"].to_list() == [None, "http", None]
    assert json.loads(lazy.frame["raw"][0]) == {"x": [1, 2]}


def test_verdict_table_from_a_frame_equals_the_one_from_objects():
    v0, v1 = Video("v0", Path("a.mp4"), "p", "p"), Video("v1", Path("b.mp4"), "p", "p")
    pairs = [
        Pair("a", "q1", "p", v0, v1, {Dimension.AESTHETICS: "video_0"}),
        Pair("b", "q2", "p", v1, v0, {}, ties=frozenset({Dimension.AESTHETICS})),
        Pair("c", "q2", "p", v1, v0, {Dimension.CORRECTNESS: "video_1"}),
    ]
    verdicts = [
        Verdict("a", "psnr", Dimension.AESTHETICS, 1, "video_1", 1.0, 2.0, 1.0),
        Verdict("b", "psnr", Dimension.AESTHETICS, 1, "tie", status="tie"),
        Verdict("c", "psnr", Dimension.AESTHETICS, 2, None, status="error", error="x"),
        Verdict("c", "gpt", Dimension.CORRECTNESS, None, "video_1", confidence=0.9),
        Verdict("zz", "gpt", Dimension.CORRECTNESS, 1, "video_0"),  # a pair not in the data
    ]
    kinds = {"psnr": "margin", "gpt": "probability"}
    table = verdict_table(verdicts, pairs, kinds)
    assert table.equals(verdict_table(verdict_frame(verdicts), pairs, kinds))
    assert table.select("pair_id", "human", "match", "confidence_kind", "prompt_id").rows() == [
        ("a", "video_0", False, "margin", "q1"),
        ("b", "tie", True, None, "q2"),
        ("c", None, None, None, "q2"),
        ("c", "video_1", True, "probability", "q2"),
        ("zz", None, None, None, None),
    ]


def test_a_cache_from_before_segments_is_read_and_moved(tmp_path):
    """Verdicts an older version committed to SQLite count as cached, once, then live in a
    segment; the SQLite rows go."""
    pairs = load_pairs(make_dataset(tmp_path / "d", n_pairs=4))
    tasks, _ = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [1, 2])
    db = tmp_path / "c.sqlite"
    with Store(db) as store:
        runner = Runner(store, KeyframeSource(plan=[1, 2]), progress=False)
        first = runner.run(BrightnessJudge(), tasks)
        # What the old runner would have left: every verdict in SQLite under its key.
        judge = BrightnessJudge()
        old = [
            (runner.verdict_key(judge, t), v.to_dict())
            for t, v in zip(tasks, first.verdicts, strict=True)
        ]
        for path in store.segments.files(judge.fingerprint()):
            path.unlink()
        store.put_many(VERDICTS, old[:5])
        again = runner.run(judge, tasks)
        assert (again.cached, again.computed) == (5, 3)  # 3 from the cached video scores
        assert (
            verdict_frame(again.verdicts)
            .drop("latency_s")
            .equals(verdict_frame(first.verdicts).drop("latency_s"))
        )
        assert count_entries(db, VERDICTS) == 8 and not store.holds(VERDICTS)
        third = runner.run(BrightnessJudge(), tasks)
        assert (third.cached, third.computed) == (8, 0)
        assert third.verdicts == again.verdicts


def test_equal_content_is_cached_once(tmp_path):
    """Pairs repeating another pair's videos and texts share its cache rows: one per content."""
    data = make_dataset(tmp_path / "d", n_pairs=3)
    records = json.loads(data.read_text())
    records += [{**r, "pair_id": f"{r['pair_id']}-again"} for r in records]
    data.write_text(json.dumps(records))
    pairs = load_pairs(data)
    tasks, _ = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [1, 2])
    with Store(tmp_path / "c.sqlite") as store:
        runner = Runner(store, KeyframeSource(plan=[1, 2]), progress=False)
        first = runner.run(BrightnessJudge(), tasks)
        assert store.segments.count() == 6 and first.computed == 12
        again = runner.run(BrightnessJudge(), tasks)
        assert (again.cached, again.computed) == (12, 0)
        assert [v.pair_id for v in again.verdicts] == [t.pair.pair_id for t in tasks]
        assert [v.winner for v in again.verdicts] == [v.winner for v in first.verdicts]


def test_a_killed_runs_log_counts_as_cached_and_a_dry_run_writes_nothing(tmp_path):
    pairs = load_pairs(make_dataset(tmp_path / "d", n_pairs=3))
    tasks, _ = plan_tasks(pairs, [Dimension.INFORMATIVENESS], [1, 2])
    with Store(tmp_path / "c.sqlite") as store:
        runner = Runner(store, KeyframeSource(plan=[1, 2]), progress=False)
        first = runner.run(BrightnessJudge(), tasks)
        fp = BrightnessJudge().fingerprint()
        segment = store.segments.files(fp)[0]
        # As if the run had been killed: its rows only in a log that no process holds.
        rows = pl.read_parquet(segment)
        segment.unlink()
        log = store.segments.open_log(fp)
        log.write([log_line(r[0], r[1], r[2:]) for r in rows.head(4).iter_rows()])
        log.close(remove=False)
        held = len(runner.replies)
        assert len(runner.pending(BrightnessJudge(), tasks)) == 2  # 4 of 6 from the log
        assert store.segments.files(fp) == [] and len(store.segments.logs(fp)) == 1
        assert len(runner.replies) == held  # a plan's lookup keeps no reply in the run's
        again = runner.run(BrightnessJudge(), tasks)
        assert (again.cached, again.computed) == (4, 2)
        assert [v.winner for v in again.verdicts] == [v.winner for v in first.verdicts]
        assert store.segments.logs() == [] and store.segments.count(fp) == 6
