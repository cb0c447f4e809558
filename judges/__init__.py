"""Automatic judges for text-to-video preferences, measured against human labels.

Load SafeSora-format pairs, pick keyframes, run pluggable judges and measure their agreement
with human labels. ``import judges`` never imports torch; model judges load it on demand.

Example:
    >>> import judges
    >>> "psnr" in judges.list_judges()
    True

"""

import os

# FFmpeg's own log lines ("moov atom not found", "Invalid NAL unit size", with no file name)
# would reach the console for every broken video; each failure becomes one VideoError naming
# the file instead. OpenCV reads this variable when its FFmpeg backend first starts, so it is
# set before anything here can open a video. Set it yourself to see FFmpeg's diagnostics.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# Polars' allocator (jemalloc) keeps freed pages resident for 0.5 s, then 1 s more; a run that
# builds and frees million-row frames in quick succession then holds several freed copies at
# once (1.24M verdicts: +240 MB of peak memory). Returning them after 0.1 s keeps most of that
# saving at no measurable cost in time (0 s cost 15%). Polars reads this variable when it is
# first imported and applies it after its own defaults; set it yourself to override.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")

from judges.core.lazy import lazy_face

__version__ = "0.1.0"

# The public API for notebooks and plugins: every name a user needs, each loaded on first use
# so `import judges` imports no polars statistics, matplotlib, scipy or torch.
_EXPORTS = {
    # values and errors
    "Choice": "judges.core.types",
    "Dimension": "judges.core.types",
    "Keyframes": "judges.core.types",
    "Pair": "judges.core.types",
    "Verdict": "judges.core.types",
    "Video": "judges.core.types",
    "ConfigError": "judges.core.errors",
    "DataError": "judges.core.errors",
    "ItemError": "judges.core.errors",
    "JudgesError": "judges.core.errors",
    "VideoError": "judges.core.errors",
    # data
    "Dataset": "judges.datasets.registry",
    "DatasetFormat": "judges.datasets.registry",
    "load_dataset": "judges.datasets.registry",
    "load_pairs": "judges.datasets.registry",
    "register_format": "judges.datasets.registry",
    "summarize": "judges.datasets.registry",
    "demo_dataset": "judges.datasets.demo",
    # keyframes
    "KeyframeSource": "judges.media.keyframes",
    "extract_keyframes": "judges.media.keyframes",
    "uniform_frames": "judges.media.keyframes",
    "parse_frames": "judges.media.frame_counts",
    # writing a judge
    "AsyncJudge": "judges.judge.async_judge",
    "Judge": "judges.judge.base",
    "ModelJudge": "judges.judge.model_judge",
    "RunContext": "judges.judge.task",
    "ScoreJudge": "judges.judge.base",
    "Task": "judges.judge.task",
    "decide": "judges.judge.base",
    "get_judge": "judges.judge.registry",
    "list_judges": "judges.judge.registry",
    "register_judge": "judges.judge.registry",
    # running and measuring
    "AgreementConfig": "judges.run.agreement",
    "JudgeRequest": "judges.run.session",
    "RunResult": "judges.run.results",
    "run_agreement": "judges.run.agreement",
    "BootstrapConfig": "judges.stats.bootstrap",
    "agreement_table": "judges.stats.agreement",
    "paper_table": "judges.report.tables",
}
__all__ = sorted([*_EXPORTS, "__version__"])
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
