"""clip and hpsv2 judges with small random-init open_clip models saved to checkpoint files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model judges need the 'models' extra")
open_clip = pytest.importorskip("open_clip", reason="model judges need the 'models' extra")

from conftest import FETV_DEV, fetv_dev_or_none, make_dataset, write_video  # noqa: E402
from judges.cache.store import Store  # noqa: E402
from judges.core.errors import ConfigError  # noqa: E402
from judges.core.types import Dimension, Pair, Video  # noqa: E402
from judges.datasets import load_pairs  # noqa: E402
from judges.judge.base import RunContext, Task  # noqa: E402
from judges.judge.registry import get_judge  # noqa: E402
from judges.media.keyframes import KeyframeSource, extract_keyframes  # noqa: E402
from judges.run.task_runner import Runner, plan_tasks  # noqa: E402

TEXT = {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}
CONFIGS = {
    # CLIP-style (ViT-B-32 shape, tiny)
    "test-tiny-clip": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": TEXT,
    },
    # ViT-H-14-shaped stand-in for HPS (patch 14, head_width, same config keys)
    "test-tiny-vith": {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 28,
            "layers": 2,
            "width": 64,
            "head_width": 32,
            "patch_size": 14,
        },
        "text_cfg": {**TEXT, "heads": 4},
    },
}


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Register the tiny configs and save random weights in the formats the judges load."""
    root = tmp_path_factory.mktemp("models")
    for name, cfg in CONFIGS.items():
        (root / f"{name}.json").write_text(json.dumps(cfg))
        open_clip.add_model_config(root / f"{name}.json")
    torch.manual_seed(0)
    clip = open_clip.create_model("test-tiny-clip")
    torch.save(clip.state_dict(), root / "clip.pt")
    from safetensors.torch import save_file

    save_file(clip.state_dict(), root / "clip.safetensors")
    hps = open_clip.create_model("test-tiny-vith")
    torch.save({"state_dict": hps.state_dict()}, root / "hps.pt")  # HPSv2's layout
    return root


@pytest.fixture
def pairs(tmp_path):
    return load_pairs(make_dataset(tmp_path / "d", n_pairs=3))


def clip_judge(models, **kw):
    return get_judge(
        "clip", model="test-tiny-clip", checkpoint=str(models / "clip.pt"), device="cpu", **kw
    )


def hps_judge(models, **kw):
    return get_judge(
        "hpsv2", model="test-tiny-vith", checkpoint=str(models / "hps.pt"), device="cpu", **kw
    )


def reference_clip(weights: Path, model: str, frames, text: str) -> float:
    """SafeSora's reference: PIL image through open_clip's preprocess, one frame and the text
    per forward pass, logits_per_image averaged."""
    m, _, preprocess = open_clip.create_model_and_transforms(model)
    m.load_state_dict(torch.load(weights, weights_only=True))
    m.eval()
    tokens = open_clip.get_tokenizer(model)([text])
    from PIL import Image

    out = []
    with torch.no_grad():
        for f in frames:
            image = preprocess(Image.fromarray(f)).unsqueeze(0)
            img = m.encode_image(image, normalize=True)
            txt = m.encode_text(tokens, normalize=True)
            out.append((m.logit_scale.exp() * img @ txt.T).item())
    return float(np.mean(out))


def reference_hps(weights: Path, model: str, frames, text: str, tmp: Path) -> float:
    """HPSv2's own scorer: each frame written to a PNG, opened with PIL, normalised dot."""
    import cv2
    from PIL import Image

    m, _, preprocess = open_clip.create_model_and_transforms(model)
    m.load_state_dict(torch.load(weights, weights_only=True)["state_dict"])
    m.eval()
    tokens = open_clip.get_tokenizer(model)([text])
    out = []
    with torch.no_grad():
        for f in frames:
            png = tmp / "temp.png"
            cv2.imwrite(str(png), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            image = preprocess(Image.open(png)).unsqueeze(0)
            img = m.encode_image(image, normalize=True)
            txt = m.encode_text(tokens, normalize=True)
            out.append(torch.diagonal(img @ txt.T).item())
    return float(np.mean(out))


def test_import_does_not_load_torch_until_asked():
    import subprocess

    code = "import sys, judges; judges.get_judge('psnr'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_preprocessing_matches_pil_from_png(models, tmp_path):
    import cv2
    from PIL import Image

    judge = clip_judge(models)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(3)]
    fetv = fetv_dev_or_none()  # real keyframes too where the shared data is beside the clone
    if fetv is not None:
        frames += extract_keyframes(sorted(fetv.glob("videos/*/*.mp4"))[0], 2).frames
    ours = judge.scorer.pixels(frames)
    for f, tensor in zip(frames, ours, strict=True):
        png = tmp_path / "f.png"
        cv2.imwrite(str(png), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        theirs = judge.scorer.preprocess(Image.open(png))
        assert torch.allclose(tensor, theirs, atol=1e-6)


def test_clip_batched_scores_equal_per_frame_reference(models, pairs):
    judge = clip_judge(models)
    for pair in pairs:
        for n in (1, 4, None):
            score = judge.video_score(pair.video_0, n, RunContext())
            frames = extract_keyframes(pair.video_0.path, n or 10**9).frames
            ref = reference_clip(
                models / "clip.pt", "test-tiny-clip", frames, pair.video_0.video_text
            )
            assert score == pytest.approx(ref, abs=1e-5)


def test_hpsv2_scores_equal_hpsv2_reference(models, pairs, tmp_path):
    judge = hps_judge(models)
    assert judge.use_logit_scale is False
    for pair in pairs[:2]:
        frames = extract_keyframes(pair.video_1.path, 4).frames
        ref = reference_hps(models / "hps.pt", "test-tiny-vith", frames, pair.prompt_text, tmp_path)
        assert judge.video_score(pair.video_1, 4, RunContext()) == pytest.approx(ref, abs=1e-5)


@pytest.mark.fetv_dev
def test_scores_on_real_videos(models):
    pair = load_pairs(FETV_DEV)[0]
    judge = clip_judge(models, text="prompt")
    frames = extract_keyframes(pair.video_0.path, 8).frames
    ref = reference_clip(models / "clip.pt", "test-tiny-clip", frames, pair.prompt_text)
    assert judge.video_score(pair.video_0, 8, RunContext()) == pytest.approx(ref, abs=1e-5)


def test_safetensors_checkpoint_and_text_choice(models, pairs):
    a = clip_judge(models)
    b = get_judge(
        "clip", model="test-tiny-clip", checkpoint=str(models / "clip.safetensors"), device="cpu"
    )
    assert a.video_score(pairs[0].video_0, 2, RunContext()) == pytest.approx(
        b.video_score(pairs[0].video_0, 2, RunContext())
    )
    assert a.fingerprint() != b.fingerprint() or a.weights_sha256 == b.weights_sha256
    video = pairs[0].video_0
    refined = Video(video.video_id, video.path, "a cat", "a fluffy orange cat on a sofa")
    assert a.text_for(refined) == "a fluffy orange cat on a sofa"
    assert clip_judge(models, text="prompt").text_for(refined) == "a cat"


def test_winner_direction_and_tie_tolerance(models, pairs):
    judge = clip_judge(models)
    for pair in pairs:
        v = judge.compare(pair, Dimension.INSTRUCTION_FOLLOWING, 2)
        assert v.status == "ok"
        assert v.winner == ("video_0" if v.score_0 > v.score_1 else "video_1")
        assert v.confidence == pytest.approx(abs(v.score_0 - v.score_1))
    loose = clip_judge(models, tie_tolerance="1000")
    assert loose.compare(pairs[0], Dimension.INSTRUCTION_FOLLOWING, 2).winner == "tie"
    assert judge.default_dimensions == (Dimension.INSTRUCTION_FOLLOWING,)
    assert hps_judge(models).default_dimensions == (Dimension.AESTHETICS,)


def test_one_forward_pass_per_video_and_cache_hits(models, pairs, tmp_path):
    frames = [1, 2, 4, 8]
    tasks, _ = plan_tasks(pairs, [Dimension.HELPFULNESS, Dimension.INFORMATIVENESS], frames)
    with Store(tmp_path / "c.sqlite") as store:
        judge = clip_judge(models)
        first = Runner(store, KeyframeSource(plan=frames), progress=False).run(judge, tasks)
        assert all(v.status == "ok" for v in first.verdicts)
        assert judge.scorer.image_passes == 6  # 3 pairs x 2 videos, one batch each
        again = clip_judge(models)
        second = Runner(store, KeyframeSource(plan=frames), progress=False).run(again, tasks)
        assert second.cached == len(tasks) and again._scorer is None  # never even loaded
        # Another dimension: new verdicts, but every frame score comes from the cache.
        third = clip_judge(models)
        other, _ = plan_tasks(pairs, [Dimension.AESTHETICS], frames, labeled_only=False)
        Runner(store, KeyframeSource(plan=frames), progress=False).run(third, other)
        assert third._scorer is None


def test_changed_checkpoint_invalidates_cache(models, pairs, tmp_path):
    weights = tmp_path / "w.pt"
    torch.manual_seed(1)
    torch.save(open_clip.create_model("test-tiny-clip").state_dict(), weights)
    tasks, _ = plan_tasks(pairs[:1], [Dimension.INSTRUCTION_FOLLOWING], [2], labeled_only=False)
    with Store(tmp_path / "c.sqlite") as store:

        def run():
            judge = get_judge("clip", model="test-tiny-clip", checkpoint=str(weights), device="cpu")
            out = Runner(store, KeyframeSource(plan=[2]), progress=False).run(judge, tasks)
            return judge, out.verdicts[0]

        judge, before = run()
        torch.manual_seed(2)
        torch.save(open_clip.create_model("test-tiny-clip").state_dict(), weights)
        judge, after = run()
        assert judge._scorer is not None and judge._scorer.image_passes == 2
        assert after.score_0 != before.score_0


def test_missing_weights_error_lists_what_was_tried(monkeypatch, tmp_path):
    monkeypatch.delenv("JUDGES_CLIP_CHECKPOINT", raising=False)
    monkeypatch.delenv("JUDGES_HPSV2_CHECKPOINT", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ConfigError) as err:
        get_judge("clip")
    text = str(err.value)
    assert "$JUDGES_CLIP_CHECKPOINT (not set)" in text
    assert "timm/vit_base_patch32_clip_224.openai/open_clip_model.safetensors" in text
    assert "huggingface-cli download timm/vit_base_patch32_clip_224.openai" in text
    with pytest.raises(ConfigError) as err:
        get_judge("hpsv2")
    assert "huggingface-cli download xswu/HPSv2 HPS_v2.1_compressed.pt" in str(err.value)
    monkeypatch.setenv("JUDGES_HPSV2_CHECKPOINT", str(tmp_path / "nope.pt"))
    with pytest.raises(ConfigError, match=r"nope\.pt \(no such file\)"):
        get_judge("hpsv2", version="v2.0")
    with pytest.raises(ConfigError, match="does not exist"):
        get_judge("clip", checkpoint=str(tmp_path / "missing.pt"))


def test_weights_found_by_env_and_hf_cache(models, monkeypatch, tmp_path):
    monkeypatch.setenv("JUDGES_HPSV2_CHECKPOINT", str(models / "hps.pt"))
    judge = get_judge("hpsv2", model="test-tiny-vith", device="cpu")
    assert judge.weights.origin == "$JUDGES_HPSV2_CHECKPOINT"
    monkeypatch.delenv("JUDGES_HPSV2_CHECKPOINT")
    # A Hugging Face cache laid out as huggingface_hub writes it.
    hf = tmp_path / "hf"
    snap = hf / "models--xswu--HPSv2" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "HPS_v2.1_compressed.pt").write_bytes((models / "hps.pt").read_bytes())
    (hf / "models--xswu--HPSv2" / "refs").mkdir()
    (hf / "models--xswu--HPSv2" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(hf))
    judge = get_judge("hpsv2", model="test-tiny-vith", device="cpu")
    assert judge.weights.origin.startswith("Hugging Face cache")
    assert judge.describe()["weights"]["sha256"] == judge.weights_sha256


def test_corrupt_and_mismatched_checkpoints(models, pairs, tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"definitely not a checkpoint")
    judge = get_judge("clip", model="test-tiny-clip", checkpoint=str(bad), device="cpu")
    with pytest.raises(ConfigError, match=r"corrupt\.pt: cannot read the checkpoint"):
        judge.video_score(pairs[0].video_0, 1, RunContext())
    wrong = get_judge(
        "hpsv2", model="test-tiny-vith", checkpoint=str(models / "clip.pt"), device="cpu"
    )
    with pytest.raises(ConfigError, match="does not match the test-tiny-vith architecture"):
        wrong.video_score(pairs[0].video_0, 1, RunContext())
    with pytest.raises(ConfigError, match="unknown open_clip model"):
        get_judge(
            "clip", model="no-such-model", checkpoint=str(models / "clip.pt"), device="cpu"
        ).video_score(pairs[0].video_0, 1, RunContext())


def test_checkpoint_errors_become_a_clear_cli_error(models, tmp_path):
    """A bad checkpoint must stop the run with one line, not error every verdict."""
    import subprocess

    data = make_dataset(tmp_path / "d", n_pairs=2)
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"nope")
    script = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
    res = subprocess.run(
        [
            sys.executable,
            str(script),
            "--quiet",
            "--judge",
            "clip",
            "--judge-arg",
            f"checkpoint={bad}",
            "--data",
            str(data),
            "--dims",
            "helpfulness",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2
    assert "corrupt.pt: cannot read the checkpoint" in res.stderr and "Traceback" not in res.stderr


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ConfigError, match="uv sync --extra models"):
        get_judge("clip")


def test_unreadable_video_is_an_error_verdict(models, tmp_path):
    good = write_video(tmp_path / "a.avi", [np.zeros((8, 8, 3), np.uint8)] * 3)
    bad = tmp_path / "b.avi"
    bad.write_bytes(b"junk")
    pair = Pair("p", "p", "x", Video("a", good, "x", "x"), Video("b", bad, "x", "x"))
    v = clip_judge(models).safe_compare(Task(pair, Dimension.AESTHETICS, 1))
    assert v.status == "error" and "b.avi" in v.error


def test_model_judge_base_puts_the_weights_in_the_fingerprint(tmp_path):
    """A new model judge cannot serve scores of other weights: the base hashes them."""
    from dataclasses import dataclass

    from judges.judge.model_judge import ModelJudge, Weights

    @dataclass(frozen=True)
    class Options:
        device: str = "cpu"
        precision: str = "auto"

    class Tiny(ModelJudge):
        kind = "tiny"

        def resolve(self):
            return Weights(tmp_path / "w.bin", "test")

        def video_score(self, video, frames, ctx):
            return 0.0

    (tmp_path / "w.bin").write_bytes(b"weights A")
    first = Tiny(Options())
    fingerprint_a = first.fingerprint()
    (tmp_path / "w.bin").write_bytes(b"weights B")
    second = Tiny(Options())
    assert first.settings() == second.settings()
    assert fingerprint_a != second.fingerprint()
    assert (
        second.describe()["weights"]["sha256"]
        == __import__("hashlib").sha256(b"weights B").hexdigest()
    )
