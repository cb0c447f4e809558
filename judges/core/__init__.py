"""Core values every layer shares, and the errors that name the fix.

Dimensions, videos, pairs, keyframes, verdicts, the harm labels' types, and the errors that
name the file or record at fault and the fix.

The bottom layer: it imports nothing else from the library.
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "ALL_FRAMES": "types",
    "CHOICES": "types",
    "STATUSES": "types",
    "Choice": "types",
    "Dimension": "types",
    "Keyframes": "types",
    "Pair": "types",
    "Verdict": "types",
    "Video": "types",
    "Winner": "types",
    "frames_label": "types",
    "ConfigError": "errors",
    "DataError": "errors",
    "ItemError": "errors",
    "JudgesError": "errors",
    "UndefinedScoreError": "errors",
    "VideoError": "errors",
    "CATEGORIES": "harm_types",
    "HARM_KEYS": "harm_types",
    "Category": "harm_types",
    "HarmItem": "harm_types",
    "HarmTask": "harm_types",
    "HarmVerdict": "harm_types",
    "check_harm_labels": "harm_types",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
