"""What a judge is: the contracts every judge implements and the registry that finds them.

``task`` (:class:`Task`, :class:`RunContext`), ``base`` (:class:`Judge`,
:class:`ScoreJudge`), ``async_judge`` (API judges), ``batch_mode`` (API judges on the Batch
API), ``model_judge`` (local model judges: extras, devices, weights), ``options`` (typed
``--judge-arg`` options), ``task_groups`` (which tasks share videos) and ``registry`` (names,
presets and the ``t2v_judges`` entry points).
Implementations live above, in :mod:`judges.builtin` and :mod:`judges.harm`; the registry finds
them by module name, as it finds plugins by entry point.
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "Judge": "base",
    "RunContext": "task",
    "ScoreJudge": "base",
    "Task": "task",
    "decide": "base",
    "AsyncJudge": "async_judge",
    "BatchMode": "batch_mode",
    "ModelJudge": "model_judge",
    "Weights": "model_judge",
    "resolve_weights": "model_judge",
    "build_config": "options",
    "config_dict": "options",
    "group_of": "task_groups",
    "whole_groups": "task_groups",
    "JudgeSpec": "registry",
    "UnknownJudgeError": "registry",
    "get_judge": "registry",
    "judge_specs": "registry",
    "list_judges": "registry",
    "register_judge": "registry",
    "unregister_judge": "registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
