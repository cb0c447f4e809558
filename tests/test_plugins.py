"""Judges from other packages: a wheel built here, installed into a temporary folder, found
through the ``t2v_judges`` entry-point group without touching this repository.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''"""A judge shipped by another package: mean brightness of the keyframes."""

from dataclasses import dataclass

from judges.judge.base import ScoreJudge
from judges.core.types import Dimension


@dataclass(frozen=True)
class BrightnessConfig:
    """Options.

    Attributes:
        tie_tolerance: Score differences up to this are ties.

    """

    tie_tolerance: float = 0.0


class BrightnessJudge(ScoreJudge):
    """Mean brightness of the keyframes; brighter wins."""

    kind = "brightness"
    config_class = BrightnessConfig
    default_dimensions = (Dimension.AESTHETICS,)

    def video_score(self, video, frames, ctx):
        kf = ctx.source.get(video.path, frames)
        return float(sum(f.mean() for f in kf.frames) / len(kf.frames))
'''


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(folder: Path, entry_point: str) -> Path:
    """A minimal, valid wheel holding the plugin module and its entry point."""
    dist = "t2v_brightness_plugin-0.1.dist-info"
    files = {
        "t2v_brightness_plugin/__init__.py": PLUGIN.encode(),
        f"{dist}/METADATA": b"Metadata-Version: 2.1\nName: t2v-brightness-plugin\nVersion: 0.1\n",
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[t2v_judges]\n{entry_point}\n".encode(),
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "t2v_brightness_plugin-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


def install(wheel: Path, target: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH, so the test cannot install the plugin wheel")
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--offline",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )


def run(args: list[str], target: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "agreement.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_installed_plugin_is_listed_and_runs(tmp_path):
    wheel = build_wheel(tmp_path, "brightness = t2v_brightness_plugin:BrightnessJudge")
    target = tmp_path / "site"
    install(wheel, target)
    listed = run(["--list-judges", "-v"], target, tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("brightness"))
    assert "Mean brightness of the keyframes" in line and "[plugin t2v-brightness-plugin]" in line
    assert "tie_tolerance (float, default 0.0): Score differences up to this are ties." in (
        listed.stdout
    )
    res = run(
        ["--judge", "brightness", "--frames", "1,2", "--quiet", "--out", str(tmp_path / "r")],
        target,
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "| brightness | aesthetics |" in res.stdout
    # Without the package installed, the judge does not exist.
    plain = run(["--list-judges"], tmp_path / "empty", tmp_path)
    assert "brightness" not in plain.stdout


def test_broken_plugin_is_reported_not_fatal(tmp_path):
    wheel = build_wheel(tmp_path, "dim = t2v_brightness_plugin:NoSuchJudge")
    target = tmp_path / "site"
    install(wheel, target)
    listed = run(["--list-judges"], target, tmp_path)
    assert listed.returncode == 0
    assert "psnr" in listed.stdout
    assert "dim          FAILED TO LOAD (plugin): AttributeError" in listed.stdout
    res = run(["--judge", "dim", "--quiet"], target, tmp_path)
    assert res.returncode == 2 and "failed to load" in res.stderr
