"""clip and hpsv2 judges vs SafeSora's reference procedures, same videos and weights, on CPU.

- clip: a full-size random-init ViT-B-32 (the architecture of the paper's OpenAI weights). The
  reference scores every frame with one forward pass of (image, text) each, as
  ``safe_sora/metrics.py`` does; the judge decodes once, preprocesses in memory, runs all
  frames in batches and encodes the text once.
- hpsv2: the reference writes each frame to a temporary PNG, reopens it with PIL and scores
  image and text per frame, as ``hpsv2.score`` does. ViT-H-14 is too slow on 2 CPU cores, so a
  random-init ViT-B-16 stands in for the tower (same code path, smaller transformer).
Both sides score every frame (equal frames). Target (issue #4): >= 2x, identical scores.
Run: uv run --extra models python benchmarks/model_judges.py
"""

from __future__ import annotations

import os
import tempfile
import time

import cv2
import numpy as np
import open_clip
import torch

from _clips import WORK
from judges.datasets import load_pairs
from judges.datasets.demo import demo_dataset
from judges.judge.base import RunContext
from judges.judge.registry import get_judge
from judges.media.video import iter_frames


def weights(model: str, layout: str) -> str:
    path = WORK / f"random-{model}.pt"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        state = open_clip.create_model(model).state_dict()
        torch.save({"state_dict": state} if layout == "hps" else state, path)
    return str(path)


def reference_clip(model, preprocess, tokenizer, path, text):
    from PIL import Image

    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in iter_frames(path)]
    tokens = tokenizer([text])
    out = []
    for f in frames:
        image = preprocess(Image.fromarray(f)).unsqueeze(0)
        with torch.no_grad():  # one (image, text) forward pass per frame, as the reference
            img = model.encode_image(image, normalize=True)
            txt = model.encode_text(tokens, normalize=True)
            logits_per_image = model.logit_scale.exp() * img @ txt.T
        out.append(logits_per_image[0][0].item())
    return float(np.mean(out)), len(frames)


def reference_hps(model, preprocess, tokenizer, path, text, tmp):
    from PIL import Image

    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in iter_frames(path)]
    out = []
    for f in frames:
        png = os.path.join(tmp, "temp.png")
        Image.fromarray(f).save(png)
        with torch.no_grad():
            image = preprocess(Image.open(png)).unsqueeze(0)
            img = model.encode_image(image, normalize=True)
            txt = model.encode_text(tokenizer([text]), normalize=True)
            out.append(torch.diagonal(img @ txt.T).item())
        os.remove(png)
    return float(np.mean(out)), len(frames)


def compare(label, judge, reference, videos):
    start = time.perf_counter()
    ref = [reference(v.path, v.video_text) for v in videos]
    ref_t = time.perf_counter() - start
    frames = sum(n for _, n in ref)
    start = time.perf_counter()
    ctx = RunContext()  # no cache: every frame is scored
    ours = [judge.video_score(v, None, ctx) for v in videos]
    our_t = time.perf_counter() - start
    diff = max(abs(a - b) for (a, _), b in zip(ref, ours, strict=True))
    print(
        f"  {label}: {frames} frames  reference {frames / ref_t:6.1f} frames/s  judge "
        f"{frames / our_t:6.1f} frames/s  speed-up {ref_t / our_t:.2f}x  max |diff| {diff:.1e}"
    )


def main() -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    os.environ.setdefault("JUDGES_CACHE_DIR", tempfile.mkdtemp(prefix="judges-bench-"))
    pairs = load_pairs(demo_dataset())
    videos = [p.video_0 for p in pairs[:6]]
    print(
        f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}; every frame of "
        f"{len(videos)} demo videos (8-24 frames, up to 512x320)"
    )

    ckpt = weights("ViT-B-32", "clip")
    judge = get_judge("clip", checkpoint=ckpt, quick_gelu="true", device="cpu")
    _ = judge.scorer  # load outside the timing, as the reference's model is
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", force_quick_gelu=True)
    model.load_state_dict(torch.load(ckpt, weights_only=True))
    model.eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    compare(
        "clip ViT-B-32 (random init, full size)",
        judge,
        lambda p, t: reference_clip(model, preprocess, tokenizer, p, t),
        videos,
    )

    ckpt = weights("ViT-B-16", "hps")
    judge = get_judge("hpsv2", model="ViT-B-16", checkpoint=ckpt, device="cpu")
    _ = judge.scorer
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-16")
    model.load_state_dict(torch.load(ckpt, weights_only=True)["state_dict"])
    model.eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    with tempfile.TemporaryDirectory() as tmp:
        compare(
            "hpsv2 route, ViT-B-16 stand-in tower",
            judge,
            lambda p, t: reference_hps(model, preprocess, tokenizer, p, t, tmp),
            videos,
        )


if __name__ == "__main__":
    main()
