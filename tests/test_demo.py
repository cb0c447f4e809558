from __future__ import annotations

import json

import numpy as np

from judges.datasets import load_dataset, summarize
from judges.datasets.demo import ClipSpec, demo_dataset, demo_specs, pair_labels, render_clip
from judges.media.video import count_frames


def test_demo_dataset_is_valid_and_deterministic(tmp_path):
    root = demo_dataset(cache_dir=tmp_path / "a")
    assert demo_dataset(cache_dir=tmp_path / "a") == root  # generated once
    ds = load_dataset(root)
    s = summarize(ds.pairs)
    assert s["pairs"] == 48 and s["videos"] == 48 and s["prompts"] == 16
    for dim, c in s["labels"].items():
        assert c["labeled"] >= 36, dim  # about 1 in 10 correctness labels is left out
        assert 0.25 < c["video_0_share"] < 0.75, dim  # no degenerate class balance
    other = demo_dataset(cache_dir=tmp_path / "b")
    a = json.loads((root / "config-test.json").read_text())
    b = json.loads((other / "config-test.json").read_text())
    assert a == b
    for p in ds.pairs[:6]:
        assert 8 <= count_frames(p.video_0.path) <= 24


def test_rendering_is_seeded():
    _, _, clips = demo_specs(seed=3, n_prompts=1)[0]
    a, b = render_clip(clips[0]), render_clip(clips[0])
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len(a) == clips[0].frames and a[0].shape == (clips[0].height, clips[0].width, 3)


def spec(**kw):
    base = dict(
        video_id="v",
        width=64,
        height=48,
        frames=8,
        motion=0.5,
        pan=False,
        clutter=0,
        saturation=0.8,
        follows=True,
        deforms=False,
        hazard=False,
        colour="red",
        shape="circle",
        scene="a grey floor",
        seed=0,
    )
    return ClipSpec(**{**base, **kw})


def test_label_rule_follows_its_documented_probabilities():
    rng = np.random.default_rng(0)
    fast, slow = spec(motion=0.9), spec(motion=0.1)
    wins = [
        pair_labels(fast, slow, rng)["sub_preferences"]["information"] == "video_0"
        for _ in range(4000)
    ]
    assert abs(np.mean(wins) - 0.8) < 0.03
    safe, hazard = spec(), spec(hazard=True)
    wins = [pair_labels(hazard, safe, rng)["harmlessness"] == "video_1" for _ in range(4000)]
    assert abs(np.mean(wins) - 0.9) < 0.03
    pan = spec(motion=0.9, pan=True)  # a pan carries less real motion than slow objects
    assert pan.dynamics < slow.dynamics
