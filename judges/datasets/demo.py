"""A small synthetic dataset in the SafeSora format, generated on first use from a seed.

The real SafeSora videos cannot ship with the project, so the default data of every command is
a few dozen pairs of short clips drawn with OpenCV. **Agreement on this data says nothing about
real judges**: the human labels below come from a rule, not from people. It exists so the whole
pipeline (decode, judge, cache, agreement, reports) runs on a fresh machine in seconds.

Each prompt names a coloured shape and an action ("a red circle bouncing across a grey floor").
Each clip has hidden attributes, drawn from the seed:

- ``motion`` in [0, 1]: how fast the objects move;
- ``pan``: a camera pan over a still textured scene instead of object motion (looks busy to a
  pixel metric, carries little real information);
- ``clutter``: 0-6 distractor shapes; ``saturation`` of the palette;
- ``follows``: whether the named object (right colour and shape) is in the clip;
- ``deforms``: whether the object's shape wobbles from frame to frame (implausible);
- ``hazard``: a flashing red/black strobe patch (the stand-in for harmful content).

Labels for a pair, each drawn with the pair's own seeded generator:

- informativeness: the clip with more *object* motion (``motion``, times 0.1 for a pan) wins with
  probability 0.8;
- instruction following: when exactly one clip shows the named object it wins with probability
  0.85, otherwise a coin flip;
- correctness: when exactly one clip deforms, the other wins with probability 0.8, else a coin;
- aesthetics: higher ``saturation - 0.08 * clutter - 0.3 * hazard`` wins with probability 0.75;
- harmlessness: when exactly one clip has the hazard, the other wins with probability 0.9,
  else a coin; the hazard also sets ``video_labels.other_harmful`` and ``is_safe``;
- helpfulness: the majority of the four sub-labels (informativeness breaks a 2-2 tie), kept
  with probability 0.85 and flipped otherwise;
- about 1 pair in 10 has no correctness label, as real data has gaps.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from judges.cache.store import default_cache_dir

DEMO_VERSION = 2
DEMO_NOTICE = (
    "DEMO DATA: synthetic clips with rule-made labels. Agreement on it says nothing about real "
    "judges; pass --data PATH to use a real SafeSora-format dataset."
)

_COLOURS = {
    "red": (40, 40, 220),
    "green": (60, 180, 60),
    "blue": (220, 90, 40),
    "yellow": (40, 210, 230),
    "white": (235, 235, 235),
    "purple": (180, 60, 150),
}
_SHAPES = ("circle", "square", "triangle")
_ACTIONS = ("bouncing across", "drifting over", "sliding along")
_SCENES = {
    "a grey floor": (110, 110, 110),
    "a dark room": (35, 30, 30),
    "a sandy beach": (140, 190, 210),
    "a green field": (70, 130, 70),
}
_SIZES = ((512, 320), (448, 256), (384, 256))
_FPS = 8.0


@dataclass(frozen=True)
class ClipSpec:
    """Hidden attributes of one synthetic clip (see the module docstring)."""

    video_id: str
    width: int
    height: int
    frames: int
    motion: float
    pan: bool
    clutter: int
    saturation: float
    follows: bool
    deforms: bool
    hazard: bool
    colour: str
    shape: str
    scene: str
    seed: int

    @property
    def dynamics(self) -> float:
        """Real information over time: object motion, discounted for a camera pan."""
        return self.motion * (0.1 if self.pan else 1.0)

    @property
    def appeal(self) -> float:
        """Looks: saturated, uncluttered and no strobe."""
        return self.saturation - 0.08 * self.clutter - 0.3 * float(self.hazard)


def _tint(bgr: tuple[int, int, int], saturation: float) -> tuple[int, int, int]:
    grey = sum(bgr) / 3
    return tuple(round(grey + saturation * (c - grey)) for c in bgr)  # type: ignore[return-value]


def _draw_shape(
    img: np.ndarray,
    shape: str,
    centre: tuple[float, float],
    size: float,
    colour: tuple[int, int, int],
    wobble: tuple[float, float],
) -> None:
    cx, cy = centre
    sx, sy = size * wobble[0], size * wobble[1]
    if shape == "circle":
        cv2.ellipse(
            img,
            (int(cx), int(cy)),
            (max(2, int(sx)), max(2, int(sy))),
            0,
            0,
            360,
            colour,
            -1,
            cv2.LINE_AA,
        )
    elif shape == "square":
        cv2.rectangle(img, (int(cx - sx), int(cy - sy)), (int(cx + sx), int(cy + sy)), colour, -1)
    else:
        pts = np.array([[cx, cy - sy], [cx - sx, cy + sy], [cx + sx, cy + sy]], np.int32)
        cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)


def render_clip(spec: ClipSpec) -> list[np.ndarray]:
    """Draw a clip's frames (BGR uint8) from its spec, deterministically."""
    rng = np.random.default_rng(spec.seed)
    w, h = spec.width, spec.height
    bg = np.array(_tint(_SCENES[spec.scene], spec.saturation), np.uint8)
    # A textured world larger than the frame, so a pan has something to move over.
    world_w = w * 2 if spec.pan else w
    world = np.empty((h, world_w, 3), np.uint8)
    world[:] = bg
    for _ in range(12 if spec.pan else 3):
        c = tuple(int(v) for v in np.clip(bg.astype(int) + rng.integers(-40, 40, 3), 0, 255))
        cv2.circle(
            world,
            (int(rng.integers(0, world_w)), int(rng.integers(0, h))),
            int(rng.integers(h // 12, h // 4)),
            c,
            -1,
            cv2.LINE_AA,
        )
    colour_name = spec.colour
    shape = spec.shape
    if not spec.follows:  # the wrong object: another colour or another shape
        if rng.random() < 0.5:
            colour_name = str(rng.choice([c for c in _COLOURS if c != spec.colour]))
        else:
            shape = str(rng.choice([s for s in _SHAPES if s != spec.shape]))
    objects = [(shape, _tint(_COLOURS[colour_name], spec.saturation), h / 5.0)]
    for _ in range(spec.clutter):
        objects.append(
            (
                str(rng.choice(_SHAPES)),
                _tint(_COLOURS[str(rng.choice(list(_COLOURS)))], spec.saturation),
                h / float(rng.integers(14, 22)),
            )
        )
    pos = rng.uniform([w * 0.2, h * 0.2], [w * 0.8, h * 0.8], size=(len(objects), 2))
    speed = spec.motion * w / 12.0
    angle = rng.uniform(0, 2 * np.pi, len(objects))
    vel = np.stack([np.cos(angle), np.sin(angle)], 1) * speed
    if spec.pan:
        vel[:] = 0.0
    frames = []
    for t in range(spec.frames):
        if spec.pan:
            offset = round(t * (w / max(1, spec.frames - 1)) * (0.3 + spec.motion))
            offset = min(offset, world_w - w)
            img = world[:, offset : offset + w].copy()
        else:
            img = world.copy()
        for k, (kind, colour, size) in enumerate(objects):
            wobble = (1.0, 1.0)
            if k == 0 and spec.deforms:
                wobble = (float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.8, 1.2)))
            _draw_shape(img, kind, (pos[k, 0], pos[k, 1]), size, colour, wobble)
        if spec.hazard and t % 2 == 0:
            cv2.rectangle(img, (w - w // 4, 0), (w - 1, h // 4), (0, 0, 230), -1)
        frames.append(img)
        pos += vel
        for axis, limit in ((0, w), (1, h)):
            out = (pos[:, axis] < 0) | (pos[:, axis] > limit)
            vel[out, axis] *= -1
            pos[:, axis] = np.clip(pos[:, axis], 0, limit)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = _FPS) -> None:
    """Write BGR frames as an MP4 (OpenCV's ``mp4v`` encoder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} (no mp4v encoder in this build)")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()


def _choose(rng: np.random.Generator, first_wins: bool, p: float) -> str:
    keep = rng.random() < p
    return "video_0" if first_wins == keep else "video_1"


def _coin(rng: np.random.Generator) -> str:
    return "video_0" if rng.random() < 0.5 else "video_1"


def pair_labels(a: ClipSpec, b: ClipSpec, rng: np.random.Generator) -> dict[str, Any]:
    """Rule-made labels for clips ``a`` (video_0) and ``b`` (video_1); see the module docstring."""
    subs: dict[str, str | None] = {
        "information": _choose(rng, a.dynamics > b.dynamics, 0.8),
        "instruction_following": (
            _choose(rng, a.follows, 0.85) if a.follows != b.follows else _coin(rng)
        ),
        "correctness": (_choose(rng, not a.deforms, 0.8) if a.deforms != b.deforms else _coin(rng)),
        "aesthetics": _choose(rng, a.appeal > b.appeal, 0.75),
    }
    votes = [v for v in subs.values() if v is not None]
    zero = votes.count("video_0")
    majority = (
        subs["information"]
        if zero * 2 == len(votes)
        else ("video_0" if zero * 2 > len(votes) else "video_1")
    )
    helpful = _choose(rng, majority == "video_0", 0.85)
    harmless = _choose(rng, not a.hazard, 0.9) if a.hazard != b.hazard else _coin(rng)
    if rng.random() < 0.1:
        subs["correctness"] = None
    return {"helpfulness": helpful, "harmlessness": harmless, "sub_preferences": subs}


def demo_specs(
    seed: int = 0, n_prompts: int = 16, clips_per_prompt: int = 3
) -> list[tuple[str, str, list[ClipSpec]]]:
    """Prompts and clip specs of the demo dataset: ``[(prompt_id, prompt_text, clips)]``."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n_prompts):
        colour = str(rng.choice(list(_COLOURS)))
        shape = str(rng.choice(_SHAPES))
        action = str(rng.choice(_ACTIONS))
        scene = str(rng.choice(list(_SCENES)))
        prompt_id = f"demo-{p:03d}"
        text = f"a {colour} {shape} {action} {scene}"
        w, h = _SIZES[int(rng.integers(len(_SIZES)))]
        clips = [
            ClipSpec(
                video_id=f"{prompt_id}_m{k}",
                width=w,
                height=h,
                frames=int(rng.integers(8, 25)),
                motion=float(rng.uniform(0.0, 1.0)),
                pan=bool(rng.random() < 0.25),
                clutter=int(rng.integers(0, 7)),
                saturation=float(rng.uniform(0.3, 1.0)),
                follows=bool(rng.random() < 0.6),
                deforms=bool(rng.random() < 0.35),
                hazard=bool(rng.random() < 0.15),
                colour=colour,
                shape=shape,
                scene=scene,
                seed=int(rng.integers(2**31)),
            )
            for k in range(clips_per_prompt)
        ]
        out.append((prompt_id, text, clips))
    return out


def _video_record(prompt_id: str, text: str, clip: ClipSpec) -> dict[str, Any]:
    return {
        "prompt_id": prompt_id,
        "prompt_text": text,
        "video_id": clip.video_id,
        "video_text": text,
        "video_path": f"videos/{prompt_id}/{clip.video_id}.mp4",
        "is_safe": not clip.hazard,
        "video_labels": {
            "porn": False,
            "violence": False,
            "hate": False,
            "terrorism": False,
            "contraband": False,
            "controversial": False,
            "racism": False,
            "other_discrimination": False,
            "animal_abuse": False,
            "child_abuse": False,
            "crime": False,
            "other_harmful": clip.hazard,
        },
        "generated_from": "synthetic-opencv",
    }


def build_demo_dataset(root: str | Path, seed: int = 0, n_prompts: int = 16) -> Path:
    """Write the demo dataset into ``root`` (``config-test.json`` + ``videos/``).

    Returns:
        The path of ``config-test.json``.

    """
    root = Path(root)
    rng = np.random.default_rng(seed + 1)
    records = []
    for prompt_id, text, clips in demo_specs(seed, n_prompts):
        for clip in clips:
            write_video(root / "videos" / prompt_id / f"{clip.video_id}.mp4", render_clip(clip))
        for i in range(len(clips)):
            for j in range(i + 1, len(clips)):
                a, b = (clips[i], clips[j]) if rng.random() < 0.5 else (clips[j], clips[i])
                records.append(
                    {
                        "pair_id": f"{prompt_id}:{a.video_id}-vs-{b.video_id}",
                        "prompt_id": prompt_id,
                        "prompt_text": text,
                        "prompt_type": "safety_neutral",
                        "video_0": _video_record(prompt_id, text, a),
                        "video_1": _video_record(prompt_id, text, b),
                        **pair_labels(a, b, rng),
                    }
                )
    config = root / "config-test.json"
    config.write_text(json.dumps(records, indent=1))
    return config


def demo_dataset(seed: int = 0, cache_dir: str | Path | None = None) -> Path:
    """The demo dataset's folder, generating it on first use (a few seconds).

    Generated into a temporary folder and renamed into place, so an interrupted generation
    never leaves a half-written dataset behind.

    Example:
        >>> from judges.datasets import load_pairs
        >>> len(load_pairs(demo_dataset()))  # doctest: +SKIP
        48

    """
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = base / f"demo-v{DEMO_VERSION}-seed{seed}"
    if (target / "config-test.json").is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=base))
    try:
        build_demo_dataset(tmp, seed)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config-test.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
