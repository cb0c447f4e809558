"""Per-frame costs behind the README's plan for scoring SafeSora's 57,333 videos with Ray.

- decode: keyframe extraction (every frame decoded and differenced) per frame of a T2V-sized
  clip (512x320, 16 frames, the VideoCrafter2 shape; and 1280x720, 48 frames);
- clip: image-tower forward pass per frame of a random-init ViT-B-32 (the clip judge's
  architecture), batch 16, fp32, on this machine's CPU (and on CUDA when present, fp16);
- hpsv2: the same for ViT-H-14 (HPSv2's tower), batch 8.
Random weights cost what trained ones do. Prints milliseconds per frame.

    uv run --extra models python benchmarks/frame_costs.py
"""

from __future__ import annotations

import time

import open_clip
import torch

from _clips import clip
from judges.media.keyframes import extract_keyframes


def per_frame(fn, frames: int, repeat: int = 2) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best / frames * 1000


def tower(name: str, batch: int, device: str, dtype: torch.dtype) -> float:
    model = open_clip.create_model(name).eval().to(device, dtype=dtype)
    size = model.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    pixels = torch.randn(batch, 3, size, size, device=device, dtype=dtype)

    def run() -> None:
        with torch.inference_mode():
            model.encode_image(pixels)
        if device == "cuda":
            torch.cuda.synchronize()

    return per_frame(run, batch)


def main() -> None:
    for w, h, n in ((512, 320, 16), (1280, 720, 48)):
        path, codec = clip(w, h, n, seed=1)
        ms = per_frame(lambda p=path, n=n: extract_keyframes(p, n), n)
        print(f"decode + keyframes {w}x{h} ({codec.split()[0]}): {ms:7.2f} ms/frame (1 core)")
    devices = [("cpu", torch.float32)]
    if torch.cuda.is_available():
        devices.append(("cuda", torch.float16))
    torch.manual_seed(0)
    for device, dtype in devices:
        threads = torch.get_num_threads() if device == "cpu" else None
        where = f"{device} ({threads} threads)" if threads else f"{device} fp16"
        for name, batch in (("ViT-B-32", 16), ("ViT-H-14", 8)):
            ms = tower(name, batch, device, dtype)
            print(f"{name:<9} image tower on {where}: {ms:8.1f} ms/frame (batch {batch})")


if __name__ == "__main__":
    main()
