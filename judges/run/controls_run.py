"""The controls of an agreement run: each judge again under each control, next to the normal run.

:func:`run_controls` judges every task of the normal run under each control
(:mod:`judges.judge.controls`) through the same runner, cache and engine, and returns the
verdicts as a verdict table with the ``control`` and ``control_prompt_id`` columns (the
prompt a borrowing control took the prompt or video from); :func:`with_controls` puts them
under the normal run's verdicts, the form ``verdicts.parquet`` keeps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from judges.cache.verdict_rows import held_frame
from judges.chat.pricing import CostPlan
from judges.core.types import Dimension, Pair
from judges.judge.base import Judge
from judges.judge.controls import NONE, ControlPlan, control_tasks
from judges.report.run_folder import verdict_table
from judges.run.task_runner import Runner, plan_tasks

CONTROL_COLUMNS = {"control": pl.String, "control_prompt_id": pl.String}


def with_controls(verdicts: pl.DataFrame, controlled: pl.DataFrame | None) -> pl.DataFrame:
    """The normal run's verdict table (control ``none``) with the controls' rows under it.

    Example:
        >>> with_controls(pl.DataFrame({"pair_id": ["a"]}), None).row(0)
        ('a', 'none', None)

    """
    normal = verdicts.with_columns(
        control=pl.lit(NONE, pl.String), control_prompt_id=pl.lit(None, pl.String)
    )
    if controlled is None or controlled.is_empty():
        return normal
    return pl.concat([normal, controlled.select(normal.columns)])


def each_control(
    judges: Sequence[Judge],
    plan: Mapping[str, Sequence[Dimension]],
    pairs: Sequence[Pair],
    frames: Sequence[int | None],
    controls: Sequence[str],
    seed: int = 0,
) -> Iterator[tuple[Judge, ControlPlan]]:
    """Each judge's tasks under each control but ``none``, planned as the normal run plans them.

    Nothing is planned when ``none`` is the only control (a run without controls pays nothing).
    """
    wanted = [c for c in controls if c != NONE]
    if not wanted:
        return
    for judge in judges:
        tasks, _ = plan_tasks(pairs, plan[judge.name], frames, with_ties=True)
        for control in wanted:
            yield judge, control_tasks(tasks, control, pairs, seed)


def run_controls(
    runner: Runner,
    judges: Sequence[Judge],
    plan: Mapping[str, Sequence[Dimension]],
    pairs: Sequence[Pair],
    frames: Sequence[int | None],
    controls: Sequence[str],
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[pl.DataFrame | None, list[dict[str, Any]]]:
    """Every judge's tasks under each control but ``none``; verdicts and what each run did.

    Args:
        runner: The run's runner (its cache, keyframes and engine).
        judges: The judges.
        plan: Each judge's dimensions (by judge name), as the normal run judged them.
        pairs: The run's pairs.
        frames: The run's frame counts.
        controls: Control names (``none`` is skipped: the normal run is the caller's).
        seed: Seed of the derangement and of the random frame orders.
        log: Where progress lines go.

    Returns:
        ``(verdicts, runs)``: a verdict table with :data:`CONTROL_COLUMNS` (``None`` when
        there is no control), and for run.json one entry per judge and control.

    """
    parts: list[pl.DataFrame] = []
    runs: list[dict[str, Any]] = []
    kinds = {j.name: j.confidence_kind for j in judges}
    for judge, made in each_control(judges, plan, pairs, frames, controls, seed):
        control = made.control
        run = runner.run(judge, made.tasks, control, seed)
        table = verdict_table(held_frame(run.verdicts), pairs, kinds)
        donor = table["pair_id"].replace_strict(
            dict(made.donors), default=None, return_dtype=pl.String
        )
        parts.append(table.with_columns(control=pl.lit(control), control_prompt_id=donor))
        runs.append(
            {
                "judge": judge.name,
                "control": control,
                "verdicts": len(run.verdicts),
                "cached": run.cached,
                "computed": run.computed,
                "statuses": run.statuses,
            }
        )
        log(f"{judge.name} under control {control}: {run.computed} judged, {run.cached} cached")
    return (pl.concat(parts) if parts else None), runs


def control_plans(
    runner: Runner,
    judges: Sequence[Judge],
    plan: Mapping[str, Sequence[Dimension]],
    pairs: Sequence[Pair],
    frames: Sequence[int | None],
    config: Any,
) -> list[CostPlan]:
    """Dry run: each judge's plan under each control, labelled ``judge [control]``.

    ``config`` has ``controls`` and ``control_seed`` (an ``AgreementConfig``). Each control is
    a run of its own: its calls and cost add to the normal run's.
    """
    out: list[CostPlan] = []
    seed = config.control_seed
    for judge, made in each_control(judges, plan, pairs, frames, config.controls, seed):
        if judge.control_reason(made.control) is not None:  # refused: nothing to compute
            cost = CostPlan(judge.name, verdicts=len(made.tasks))
        else:
            cost = runner.plan(judge, made.tasks, made.control, seed)
        out.append(dataclasses.replace(cost, judge=f"{judge.name} [{made.control}]"))
    return out
