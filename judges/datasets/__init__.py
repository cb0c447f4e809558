"""Human preferences in any format a loader is registered for, and what travels with them.

Formats (``safesora``, ``safesora-label``, ``videogen-rewardbench``) register themselves with
:func:`register_format`; also the synthetic demo data, annotators' votes, Label Studio files,
harm items to tag, the harm consistency rule and pairs that repeat each other's videos.
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "Dataset": "registry",
    "DatasetFormat": "registry",
    "detect_format": "registry",
    "format_summary": "registry",
    "formats": "registry",
    "load_dataset": "registry",
    "load_pairs": "registry",
    "register_format": "registry",
    "summarize": "registry",
    "parse_dimensions": "registry",
    "check_labels": "registry",
    "DEMO_NOTICE": "demo",
    "demo_dataset": "demo",
    "Votes": "votes",
    "collect_votes": "votes",
    "read_votes_file": "votes",
    "LABEL_CONFIG": "label_studio",
    "label_studio_tasks": "label_studio",
    "HarmDataset": "harm_items",
    "items_from_pairs": "harm_items",
    "load_harm_dataset": "harm_items",
    "inconsistent_pairs": "harm_consistency",
    "without_harmlessness": "harm_consistency",
    "content_duplicates": "duplicates",
    "format_duplicates": "duplicates",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
