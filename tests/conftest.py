from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from judges.judge.base import ScoreJudge
from judges.judge.registry import register_judge, unregister_judge

# Read by ray when it is imported: under `uv run`, Ray would start its workers with `uv run`
# again, re-syncing the project without the extras (and without ray). judges.run.engines sets it
# too, but a test module may import ray first.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

FETV_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "fetv-dev"
NO_FETV_DEV = f"real data: {FETV_DEV} (../shared/data/fetv-dev beside the clone) is not present"
# CI lays ../shared beside its checkout and sets this (.ci/run): there a real-data test that would
# skip fails instead, so CI never passes with the real-data checks silently left out.
REQUIRE_REAL_DATA = os.environ.get("T2V_REQUIRE_REAL_DATA", "") not in ("", "0")


def fetv_dev_or_none() -> Path | None:
    """fetv-dev's folder, or None where a bare clone lacks it (a failure under CI)."""
    if FETV_DEV.is_dir():
        return FETV_DEV
    if REQUIRE_REAL_DATA:
        pytest.fail(f"T2V_REQUIRE_REAL_DATA is set but {NO_FETV_DEV}", pytrace=False)
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fetv_dev: uses ../shared/data/fetv-dev; skips with the reason where it is absent, "
        "fails instead under T2V_REQUIRE_REAL_DATA=1 (CI)",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("fetv_dev") is not None and fetv_dev_or_none() is None:
        pytest.skip(NO_FETV_DEV)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under T2V_REQUIRE_REAL_DATA, any skip that names the shared data is a failure.

    The marker covers the tests written for fetv-dev; this catches a skip added any other way
    (a ``pytest.skip`` or ``skipif`` whose reason names ``../shared`` or fetv-dev).
    """
    report = yield
    if REQUIRE_REAL_DATA and report.skipped:
        reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else "")
        if "../shared" in reason or "fetv-dev" in reason:
            report.outcome = "failed"
            report.longrepr = f"T2V_REQUIRE_REAL_DATA is set, but the test skipped: {reason}"
    return report


@pytest.fixture(scope="session")
def demo_data(_shared_demo: Path) -> Path:
    """The built-in demo dataset's pairs file (48 pairs of generated clips), built once per
    session: the same copy every test's cache links (no test writes into it)."""
    return _shared_demo / "config-test.json"


@dataclasses.dataclass(frozen=True)
class BrightnessConfig:
    """Options of the test judge.

    Attributes:
        tie_tolerance: Score differences up to this are ties.

    """

    tie_tolerance: float = 0.0


class BrightnessJudge(ScoreJudge):
    """Test judge: mean brightness of the keyframes, brighter wins. Counts its work."""

    kind = "brightness"
    higher_is_better = True

    def __init__(self, config: BrightnessConfig | None = None, name: str | None = None) -> None:
        super().__init__(config or BrightnessConfig(), name)
        self.calls = 0

    def video_score(self, video: Any, frames: int | None, ctx: Any) -> float:
        self.calls += 1
        kf = ctx.source.get(video.path, frames)
        return float(np.mean([f.mean() for f in kf.frames]))


@pytest.fixture
def fake_judge():
    """The test judge registered as ``fake-brightness`` for this test only."""
    register_judge("fake-brightness", "test judge", config=BrightnessConfig)(BrightnessJudge)
    yield "fake-brightness"
    unregister_judge("fake-brightness")


@pytest.fixture(scope="session")
def _shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo dataset as ``demo_dataset()`` generates it, once per session (or xdist worker)."""
    from judges.datasets.demo import demo_dataset

    return demo_dataset(cache_dir=tmp_path_factory.mktemp("shared-demo"))


@pytest.fixture(scope="session")
def _shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's store of report.html's video previews and keyframe thumbnails."""
    root = tmp_path_factory.mktemp("shared-media")
    for name in ("previews", "thumbnails"):
        (root / name).mkdir()
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    _shared_demo: Path,
    _shared_media: Path,
):
    """Tests never touch the user's real cache.

    Each test's cache holds the session's demo dataset (a link: no test writes into it), so the
    many command-line runs on demo data do not each generate its 48 clips again (0.4-0.6 s of
    CPU a run). ``tests/test_demo.py`` checks the generation itself, in caches of its own.

    Its ``previews`` and ``thumbnails`` folders are the session's too, as they are one user's
    across runs: both are keyed by the video's content and written aside and renamed, and
    making them for the demo's 96 videos was 1-2 s of CPU of every first report.html. The tests
    of their making (``test_previews.py``, ``test_html_report.py``, ``test_rerun_fixed_cost.py``)
    give their runs caches of their own.
    """
    cache = tmp_path_factory.mktemp("cache")
    (cache / _shared_demo.name).symlink_to(_shared_demo, target_is_directory=True)
    for name in ("previews", "thumbnails"):
        (cache / name).symlink_to(_shared_media / name, target_is_directory=True)
    monkeypatch.setenv("JUDGES_CACHE_DIR", str(cache))


@pytest.fixture(autouse=True)
def _figures_where_looked_at(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """``agreement.py``, ``report.py`` and in-process ``run_agreement`` runs (whose
    ``AgreementConfig.figures`` follows ``$JUDGES_FIGURES`` too) draw no figures unless the test
    is marked ``figures``; module-scoped runs that are looked at ask with ``figures=True``.

    Drawing is 1-2.5 s of CPU of a small run, most of a command-line test's time, and most of
    those tests read tables and files. Tests that look at figures or at report.html's figures
    carry ``@pytest.mark.figures`` (as do the figure modules' own tests, which call the drawing
    code directly either way); ``--figures none`` itself is tested in
    ``tests/test_rerun_fixed_cost.py``.
    """
    if request.node.get_closest_marker("figures") is None:
        monkeypatch.setenv("JUDGES_FIGURES", "none")
    else:
        monkeypatch.delenv("JUDGES_FIGURES", raising=False)


def bare_env() -> dict[str, str]:
    """A command's environment without the caller's: a plain PATH, and the test's own cache and
    figures setting (``_isolated_cache``, ``_figures_where_looked_at``) carried over."""
    keep = ("JUDGES_CACHE_DIR", "JUDGES_FIGURES")
    return {"PATH": "/usr/bin:/bin", **{k: os.environ[k] for k in keep if k in os.environ}}


def write_video(path: Path, frames_rgb: Sequence[np.ndarray], fps: float = 8.0) -> Path:
    """Write RGB frames losslessly (FFV1 in AVI) so decoded pixels equal the input exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    assert writer.isOpened(), "this OpenCV build cannot write FFV1"
    for f in frames_rgb:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def solid(value: int | tuple[int, int, int], h: int = 24, w: int = 32) -> np.ndarray:
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = value
    return frame


def video_record(prompt_id: str, video_id: str, path: str, text: str = "a red ball") -> dict:
    return {
        "prompt_id": prompt_id,
        "prompt_text": text,
        "video_id": video_id,
        "video_text": text,
        "video_path": path,
    }


def make_dataset(
    root: Path, n_pairs: int = 4, labels: dict[str, Any] | None = None, seed: int = 0
) -> Path:
    """A small SafeSora-format dataset of lossless random clips; returns the config path."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_pairs):
        pid = f"p{i}"
        vids = []
        for side in (0, 1):
            vid = f"{pid}_v{side}"
            rel = f"videos/{pid}/{vid}.avi"
            n_frames = int(rng.integers(3, 10))
            frames = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(n_frames)]
            write_video(root / rel, frames)
            vids.append(video_record(pid, vid, rel))
        record = {
            "pair_id": f"pair-{i}",
            "prompt_id": pid,
            "prompt_text": "a red ball",
            "video_0": vids[0],
            "video_1": vids[1],
            "helpfulness": "video_0" if i % 2 else "video_1",
            "sub_preferences": {"information": "video_1" if i % 3 else "video_0"},
        }
        if labels:
            record.update(labels)
        records.append(record)
    config = root / "config-test.json"
    config.write_text(json.dumps(records))
    return config


def write_broken_videos(folder: Path) -> dict[str, Path]:
    """Files named like videos that are not complete, decodable videos, by failure reason.

    Returns ``{reason code the toolkit must report: path}``.
    """
    import wave

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    out: dict[str, Path] = {}
    png = folder / "image.mp4"  # a PNG renamed .mp4: FFmpeg opens it as a 1-frame "video"
    ok, buf = cv2.imencode(".png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    assert ok
    png.write_bytes(buf.tobytes())
    out["not_a_video"] = png
    out["empty_file"] = folder / "zero.mp4"
    out["empty_file"].write_bytes(b"")
    # An AVI cut to a third: its header declares 12 frames, two decode.
    full = write_video(
        folder / "full.avi", [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(12)]
    )
    cut = folder / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    full.unlink()
    out["truncated"] = cut
    # Audio only: a container with no video stream.
    audio = folder / "audio.mp4"
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(rng.integers(-3000, 3000, 8000, dtype=np.int16).tobytes())
    out["unreadable_video"] = audio
    return out


CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright (no browser download), one per test module.

    Skipped with the reason where Chromium or Playwright is missing; with ``CI`` set, that
    fails instead (CI installs Chromium, so a skip there would hide the browser tests). Module
    scope, not session: Playwright's sync API keeps an event loop running on this thread while
    it lives, and other modules' ``asyncio.run`` would refuse to start under it.
    """
    import shutil

    candidates = (
        (os.environ["JUDGES_CHROMIUM"],)
        if os.environ.get("JUDGES_CHROMIUM")
        else (
            *CHROMIUM_PATHS,
            shutil.which("chromium") or "",
        )
    )
    path = next((p for p in candidates if p and Path(p).is_file()), None)
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (uv sync installs it with the dev group)"
    if problem is None and path is None:
        tried = ", ".join(c for c in candidates if c)
        problem = f"no Chromium at {tried} (apt-get install chromium, or set JUDGES_CHROMIUM)"
    if problem is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"browser tests cannot run in CI: {problem}")
        pytest.skip(problem)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path, args=["--autoplay-policy=no-user-gesture-required"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    """A local Ray of 2 CPUs for the session (or xdist worker): starting one is 5-7 s.

    Its workers register the tiny open_clip configs of the model tests when they import
    open_clip. Engines connect to it and leave it running (``RayEngine`` shuts down only a Ray it
    started itself).
    """
    ray = pytest.importorskip("ray", reason="the Ray engine needs the 'distributed' extra")
    configs = tmp_path_factory.mktemp("ray-configs")
    try:
        from test_model_judges import CONFIGS

        for name, cfg in CONFIGS.items():
            (configs / f"{name}.json").write_text(json.dumps(cfg))
    except (ImportError, pytest.skip.Exception):  # no models extra: the clip test skips
        pass
    folder = str(configs)

    def register_configs() -> None:
        # Registered when a worker first imports open_clip, not at worker start: importing it
        # (and torch) costs every worker 2-4 s of CPU, and only the clip test's workers need it.
        import importlib.abc
        import importlib.machinery
        import sys

        def register(open_clip) -> None:
            for path in Path(folder).glob("*.json"):
                open_clip.add_model_config(path)

        if "open_clip" in sys.modules:
            register(sys.modules["open_clip"])
            return

        class RegisterAfterImport(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name != "open_clip":
                    return None
                sys.meta_path.remove(self)
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                if spec is None or spec.loader is None:
                    return spec
                load = spec.loader.exec_module

                def exec_module(module) -> None:
                    load(module)
                    register(module)

                spec.loader.exec_module = exec_module
                return spec

        sys.meta_path.insert(0, RegisterAfterImport())

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": register_configs},
    )
    yield
    ray.shutdown()
