"""Harm labels, the safety half of the paper.

A slice on top of the rest: judges that tag the
12 harm categories of one text-video pair (``vlm``, ``clip``, ``scores``, on the contract in
``base``), their prompts, thresholds, metrics against crowdworkers, the harm agreement run, its
report and harm pre-labelling. The types are :mod:`judges.core.harm_types` (the loaders below
need them).
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "CATEGORIES": "judges.core.harm_types",
    "HARM_KEYS": "judges.core.harm_types",
    "Category": "judges.core.harm_types",
    "HarmItem": "judges.core.harm_types",
    "HarmTask": "judges.core.harm_types",
    "HarmVerdict": "judges.core.harm_types",
    "HarmJudge": "base",
    "parse_thresholds": "thresholds",
    "derived_harmlessness": "metrics",
    "harm_agreement_table": "metrics",
    "harm_verdict_table": "metrics",
    "HarmConfig": "agreement",
    "HarmResult": "agreement",
    "run_harm": "agreement",
    "HarmPrelabelConfig": "prelabel",
    "run_harm_prelabel": "prelabel",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
