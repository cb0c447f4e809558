"""Running judges, and the runs users start.

One run's set-up (``session``), driving judges over tasks with the verdict
cache (``task_runner``, ``verdict_keys``, ``verdict_lookup``), where local work happens
(``engines``: this process or Ray), and the two runs users start: ``agreement`` (judges against
human labels) and ``prelabel`` (confident verdicts as pre-annotations).
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "AgreementConfig": "agreement",
    "DryRun": "results",
    "RunResult": "results",
    "run_agreement": "agreement",
    "JudgeRequest": "session",
    "Session": "session",
    "SessionConfig": "session",
    "JudgeRun": "task_runner",
    "Runner": "task_runner",
    "plan_tasks": "task_plan",
    "planned_tasks": "task_plan",
    "PlannedTasks": "task_plan",
    "LocalEngine": "engines",
    "RayEngine": "engines",
    "make_engine": "engines",
    "PrelabelConfig": "prelabel",
    "PrelabelOptions": "prelabel",
    "run_prelabel": "prelabel",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
