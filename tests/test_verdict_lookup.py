"""Task numbering and the slot lookup of the columnar verdict cache (judges.run.verdict_lookup)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from cache_rows import seg_rows
from judges.cache.segments import VerdictSegments
from judges.cache.verdict_rows import in_order
from judges.core.types import Dimension, Pair, Video
from judges.judge.base import Task
from judges.run.task_plan import planned_tasks
from judges.run.task_runner import plan_tasks
from judges.run.verdict_lookup import TaskIndex

FP = "e" * 64
A, H, C = Dimension.AESTHETICS, Dimension.HELPFULNESS, Dimension.CORRECTNESS


def pairs() -> list[Pair]:
    v = [Video(f"v{i}", Path(f"/videos/v{i}.mp4"), "t", "t") for i in range(4)]
    return [
        Pair("a", "q1", "t", v[0], v[1], {A: "video_0", H: "video_1"}),
        Pair("b", "q1", "t", v[1], v[2], {A: "video_1"}),  # no helpfulness label
        Pair("c", "q2", "t", v[2], v[3], {A: "video_0", H: "video_0"}),
    ]


def test_task_index_finds_every_task_and_marks_missing_slots():
    tasks, unlabeled = plan_tasks(pairs(), [A, H], [1, None])
    assert unlabeled == {"helpfulness": 1} and len(tasks) == 10
    index = TaskIndex(tasks)
    for i, t in enumerate(tasks):
        assert index.of(t.pair.pair_id, t.dimension.value, t.frames) == i
    assert index.p.tolist() == [0, 0, 1, 1, 2, 2, 0, 0, 2, 2]
    assert index.pair_ids().to_list() == ["a", "b", "c"]
    assert [t.pair.pair_id for t in index.firsts] == ["a", "b", "c"]
    # 3 pairs x 2 dimensions x 2 frame counts; pair b has no helpfulness task.
    assert len(index.slots) == 12 and sorted(index.slots[index.slots >= 0]) == list(range(10))
    slot_b_help = (1 * 2 + index.dims["helpfulness"]) * 2 + index.frames[None]
    assert index.slots[slot_b_help] == -1


def test_slot_lookup_places_stored_rows_on_their_tasks_once(tmp_path):
    segs = VerdictSegments(tmp_path / "c.segments")
    segs.append(
        FP,
        seg_rows(
            [
                (None, "k-ab", "aesthetics", 1, "video_0"),
                (None, "k-ab", "aesthetics", None, "tie"),  # null frames: "every frame"
                (None, "k-c", "helpfulness", 1, "video_1"),
                (None, "k-c", "correctness", 1, "video_1"),  # a dimension this run does not ask
                (None, "k-zz", "aesthetics", 1, "video_1"),  # a pair this run does not hold
            ]
        ),
    )
    segs.append(
        FP, seg_rows([(None, "k-ab", "aesthetics", 1, "video_1")])
    )  # the same verdict again
    tasks = [Task(p, d, n) for p in pairs() for d in (A, H) for n in (1, None) if d in p.labels]
    index = TaskIndex(tasks)
    # Pairs a and b repeat each other's content here (one key): both find its verdicts.
    pair_index = pl.DataFrame({"pair_key": ["k-ab", "k-ab", "k-c"], "p": [0, 1, 2]})
    found = segs.lookup_slots(FP, pair_index, index.dims, index.frames, index.slots)
    got = sorted(found.select("i", "winner").rows())
    want = {
        ("a", "aesthetics", 1): "video_0",  # the first stored row wins over the repeat
        ("a", "aesthetics", None): "tie",
        ("b", "aesthetics", 1): "video_0",
        ("b", "aesthetics", None): "tie",
        ("c", "helpfulness", 1): "video_1",
    }
    assert got == sorted((index.of(*k), w) for k, w in want.items())
    assert found.columns[0] == "i" and "pair_key" not in found.columns
    assert segs.lookup_slots("0" * 64, pair_index, index.dims, index.frames, index.slots).is_empty()


def test_in_order_sorts_a_column_at_a_time_and_keeps_ordered_rows_as_they_are():
    parts = [
        pl.DataFrame({"i": [3, 0], "s": ["d", "a"]}),
        pl.DataFrame({"i": [2, 1], "s": ["c", "b"]}),
    ]
    out = in_order(parts, "i")
    assert parts == []  # given up, so nothing else holds the unsorted rows
    assert out.rows() == [(0, "a"), (1, "b"), (2, "c"), (3, "d")]
    ordered = pl.DataFrame({"i": np.arange(5), "s": list("abcde")})
    assert in_order([ordered], "i") is ordered


def _listed(ps, dims, frames, labeled_only=True, with_ties=False):
    """The task list and counts as plan_tasks made them before plans were arrays."""
    tasks, unlabeled = [], {}
    for dim in dims:
        for pair in ps:
            if labeled_only and dim not in pair.labels and not (with_ties and dim in pair.ties):
                unlabeled[dim.value] = unlabeled.get(dim.value, 0) + 1
                continue
            tasks.extend(Task(pair, dim, n) for n in frames)
    return tasks, unlabeled


def test_a_plan_indexes_exactly_as_its_task_objects_do():
    v = [Video(f"v{i}", Path(f"/videos/v{i}.mp4"), "t", "t") for i in range(4)]
    # A repeated pair id (the later record wins a slot, as with a list), a tie, a pair with no
    # label, a dimension no pair is labelled on, and a frame count asked twice.
    ps = [
        *pairs(),
        Pair("a", "q3", "t", v[3], v[0], {H: "video_0"}, ties=frozenset({A})),
        Pair("d", "q3", "t", v[0], v[2], {}),
    ]
    cases = [(ps, kwargs) for kwargs in ({}, {"with_ties": True}, {"labeled_only": False})]
    for ps, kwargs in [*cases, (pairs(), {})]:  # repeated ids, then unique ones
        plan, unlabeled = planned_tasks(ps, [H, C, A], [8, None, 8], **kwargs)
        assert plan_tasks(ps, [H, C, A], [8, None, 8], **kwargs) == (list(plan), unlabeled)
        listed, expected = _listed(ps, [H, C, A], [8, None, 8], **kwargs)
        assert list(plan) == listed and unlabeled == expected
        assert [plan[i] for i in range(len(plan))] == listed
        assert plan[-1] == listed[-1] and plan[1:3] == listed[1:3]
        fast, slow = TaskIndex(plan), TaskIndex(listed)
        assert fast.p.dtype == slow.p.dtype and fast.p.tolist() == slow.p.tolist()
        assert fast.slots.tolist() == slow.slots.tolist()
        assert fast.pair_no == slow.pair_no and fast.firsts == slow.firsts
        assert list(fast.dims.items()) == list(slow.dims.items())
        assert list(fast.frames.items()) == list(slow.frames.items())
        firsts = list({id(t.pair): t.pair for t in listed}.values())
        assert [t.pair for t in plan.pair_tasks()] == firsts
    assert TaskIndex(planned_tasks(ps, [], [1])[0]).slots.size == 0


def test_bulk_pair_keys_equal_one_at_a_time_keys():
    from judges.cache.store import canonical
    from judges.judge.registry import get_judge
    from judges.run.verdict_keys import PairKeys

    ps = pairs()
    tasks = [Task(p, A, 1) for p in ps] + [Task(ps[0], A, 1, control="reversed")]
    v0, v1, v2, v3 = (Path(f"/videos/v{i}.mp4") for i in range(4))  # pairs a: 0-1, b: 1-2, c: 2-3
    # v2's is not plain hex (encoded, escapes and all); v3 was unread (pair c has no key).
    hashes = {v0: "a" * 64, v1: f"{1:064x}", v2: 'odd "hash"\u00e9', v3: None}
    for name in ("psnr", "gpt4o"):
        judge = get_judge(name)
        keys = PairKeys(FP, "diff")
        one = [
            None
            if None in (files := [hashes[f] for f in t.files])
            else PairKeys(FP, "diff").pair_key(judge, t, files)
            for t in tasks
        ]
        assert keys.pair_keys(judge, tasks, hashes) == one
        assert one[2] is None and len(set(one) - {None}) == len(tasks) - 1
        # Both go through one encoder: its shortcut for plain hashes writes canonical's text.
        for files in (["a" * 64, f"{1:064x}"], [f"{1:064x}", 'odd "hash"\u00e9']):
            assert keys._encode_pair(judge, tasks[0], files)[0] == canonical(files)
