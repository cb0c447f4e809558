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

from judges.agreement import agreement_table
from judges.base import Judge, ScoreJudge, Task, decide
from judges.datasets import Dataset, load_dataset, load_pairs, summarize
from judges.errors import ConfigError, DataError, ItemError, JudgesError, VideoError
from judges.keyframes import KeyframeSource, extract_keyframes, uniform_frames
from judges.registry import get_judge, list_judges, register_judge
from judges.tables import paper_table
from judges.types import Choice, Dimension, Keyframes, Pair, Verdict, Video

__version__ = "0.1.0"

__all__ = [
    "Choice",
    "ConfigError",
    "DataError",
    "Dataset",
    "Dimension",
    "ItemError",
    "Judge",
    "JudgesError",
    "KeyframeSource",
    "Keyframes",
    "Pair",
    "ScoreJudge",
    "Task",
    "Verdict",
    "Video",
    "VideoError",
    "__version__",
    "agreement_table",
    "decide",
    "extract_keyframes",
    "get_judge",
    "list_judges",
    "load_dataset",
    "load_pairs",
    "paper_table",
    "register_judge",
    "summarize",
    "uniform_frames",
]
