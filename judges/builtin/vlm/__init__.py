"""The ``vlm`` judge: a vision-language model compares two videos' keyframes.

``judge`` (the judge and its presets), ``config`` (its options), ``prompts`` (versioned prompts
from ``judges/prompts/<version>.toml``) and ``replies`` (reading the final choice or a refusal).
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "VlmJudge": "judge",
    "VlmConfig": "config",
    "PromptSet": "prompts",
    "load_prompts": "prompts",
    "Parsed": "replies",
    "interpret_reply": "replies",
    "parse_answer": "replies",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
