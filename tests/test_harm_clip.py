"""The CLIP zero-shot harm baseline with a small random-init open_clip model, and the
cross-fitted per-category thresholds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from judges.core.harm_types import HARM_KEYS, HarmItem, HarmTask, HarmVerdict
from judges.core.types import Video
from judges.harm.thresholds import best_threshold, refit
from judges.stats.ties import folds_by_cluster

torch = pytest.importorskip("torch", reason="clip-harm needs the 'models' extra")
open_clip = pytest.importorskip("open_clip", reason="clip-harm needs the 'models' extra")

from test_model_judges import models  # noqa: E402, F401  (the tiny models fixture)

from judges.datasets.harm_items import load_harm_dataset  # noqa: E402
from judges.harm.clip import NEUTRAL, category_text  # noqa: E402
from judges.judge.base import RunContext  # noqa: E402
from judges.judge.registry import get_judge  # noqa: E402
from judges.media.keyframes import KeyframeSource, extract_keyframes  # noqa: E402
from test_harm_data import make_label_set  # noqa: E402


def test_clip_harm_probabilities_equal_a_per_frame_reference(models, tmp_path):  # noqa: F811
    items = load_harm_dataset(make_label_set(tmp_path, n=2)).items
    judge = get_judge(
        "clip-harm",
        model="test-tiny-clip",
        checkpoint=str(models / "clip.pt"),
        device="cpu",
        thresholds="violence:0.4",
    )
    assert judge.task_kind == "harm"
    ctx = RunContext(KeyframeSource(plan=[2]))
    (v,) = list(judge.judge_all([HarmTask(items[1], 2)], ctx))
    assert v.status == "ok" and set(v.probabilities) == set(HARM_KEYS)
    # Reference: plain open_clip, one frame and one text per forward pass.
    m, _, preprocess = open_clip.create_model_and_transforms("test-tiny-clip")
    m.load_state_dict(torch.load(models / "clip.pt", weights_only=True))
    m.eval()
    tok = open_clip.get_tokenizer("test-tiny-clip")
    from PIL import Image

    frames = extract_keyframes(items[1].video.path, 2).frames
    with torch.no_grad():
        scale = m.logit_scale.exp().item()
        feats = [
            m.encode_image(preprocess(Image.fromarray(f)).unsqueeze(0), normalize=True)
            for f in frames
        ]
        neutral = m.encode_text(tok([NEUTRAL]), normalize=True)
        for key in ("violence", "porn"):
            text = m.encode_text(tok([category_text(key)]), normalize=True)
            probs = [
                1 / (1 + math.exp(scale * ((f @ neutral.T).item() - (f @ text.T).item())))
                for f in feats
            ]
            assert v.probabilities[key] == pytest.approx(max(probs), abs=1e-4)
    assert v.labels["violence"] == (v.probabilities["violence"] >= 0.4)
    assert v.labels["porn"] == (v.probabilities["porn"] >= 0.5)


@pytest.mark.parametrize("seed", range(8))
def test_best_threshold_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(40), 1)
    y = rng.random(40) < 0.3
    best = max(
        [math.inf, *sorted(set(p.tolist()), reverse=True)],
        key=lambda t: (((p >= t) == y).sum(), t),
    )
    assert best_threshold(p, y) == best


def test_refit_is_cross_fitted_by_prompt():
    # Two prompts (folds by hash), probabilities that separate the labels at different cuts.
    def item(i: int, prompt: str, harmful: bool) -> HarmItem:
        labels = dict.fromkeys(HARM_KEYS, False) | {"violence": harmful}
        return HarmItem(
            f"{prompt}/v{i}",
            prompt,
            "p",
            Video(
                f"v{i}",
                path=__import__("pathlib").Path("/x"),
                prompt_text="p",
                video_text="p",
                harm_labels=labels,
            ),
        )

    prompts = [f"q{k}" for k in range(40)]
    items, verdicts = [], []
    rng = np.random.default_rng(0)
    for i, (prompt, harmful) in enumerate(itertools.product(prompts, (True, False))):
        items.append(item(i, prompt, harmful))
        probs = dict.fromkeys(HARM_KEYS, 0.1) | {
            "violence": float(0.6 + 0.3 * rng.random() if harmful else 0.5 * rng.random())
        }
        verdicts.append(
            HarmVerdict(
                items[-1].item_id, "j", 1, {k: False for k in HARM_KEYS}, probabilities=probs
            )
        )
    verdicts.append(HarmVerdict("q0/none", "j", 1, None, status="error"))
    out, fitted = refit(verdicts, items)
    t = fitted["j"]["1"]["violence"]
    harmful = [v.probabilities["violence"] for n, v in enumerate(verdicts[:-1]) if n % 2 == 0]
    harmless = [v.probabilities["violence"] for n, v in enumerate(verdicts[:-1]) if n % 2 == 1]
    assert max(harmless) < t <= min(harmful)  # separates the classes
    # Each item is labelled with the threshold fit on the other half of the prompts.
    folds = folds_by_cluster([i.prompt_id for i in items])
    p = np.array([v.probabilities["violence"] for v in verdicts[:-1]])
    y = np.array([i.video.harm_labels["violence"] for i in items])
    for n, v in enumerate(out[:-1]):
        other = folds != folds[n]
        assert v.labels["violence"] == (p[n] >= best_threshold(p[other], y[other]))
    assert out[-1].status == "error" and out[-1].labels is None
    assert "cross-fitted" in out[0].raw["thresholds"]
