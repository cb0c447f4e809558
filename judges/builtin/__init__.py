"""The built-in pair judges.

One module each: ``psnr``, ``clip``, ``hpsv2``, ``scores`` and the
``vlm`` package (GPT-4o and any OpenAI-compatible VLM). Importing a module registers its judge;
:mod:`judges.judge.registry` imports them by name, the way it loads plugins.
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "PsnrConfig": "psnr",
    "PsnrJudge": "psnr",
    "ClipConfig": "clip",
    "ClipJudge": "clip",
    "Hpsv2Config": "hpsv2",
    "Hpsv2Judge": "hpsv2",
    "ScoresConfig": "scores",
    "ScoresJudge": "scores",
    "OpenClipJudge": "openclip_scorer",
    "OpenClipScorer": "openclip_scorer",
    "VlmJudge": "judges.builtin.vlm.judge",
    "VlmConfig": "judges.builtin.vlm.config",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
