"""Controls: the same judge on deliberately broken inputs ("is the judge looking?").

A control is a named transformation of a task's inputs, applied before the judge sees them,
that removes the information a dimension needs. Text and order controls give the task a
transformed pair (the judge reads ``task.pair`` as always); frame controls give the run's
context a :class:`~judges.media.frame_controls.ControlledSource` (the judge reads
``ctx.source`` as always). So every judge kind sees transformed inputs through the path it
already uses, and nothing here or in a judge branches on a judge's name.

- ``none``: the normal run (the reference every control is compared with).
- ``shuffled_prompt``: each pair is judged with the prompt (and generator texts) of a pair from
  another prompt: a seeded derangement across prompts (:func:`prompt_derangement`).
- ``frozen``: each video becomes its first selected keyframe repeated (no motion).
- ``reversed``: the keyframes in reverse time order.
- ``swapped``: video 0 and video 1 exchanged; the verdict is mapped back to the pair's own
  order (:func:`restore_verdict`), so a judge without position bias changes no verdict.
- ``shuffled_frames``: the keyframes in a seeded random order.
- ``other_video``: video 1 replaced by video 1 of a pair from another prompt.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from judges.core.errors import ConfigError, UndefinedScoreError
from judges.core.types import Pair, Verdict
from judges.judge.base import Judge
from judges.judge.task import RunContext, Task
from judges.media.frame_controls import FRAME_CONTROLS, ControlledSource, control_key

NONE = "none"
BORROWING = ("shuffled_prompt", "other_video")
"""Controls that take the prompt or a video from a pair of another prompt (its donor)."""
CONTROLS: tuple[str, ...] = (NONE, "shuffled_prompt", *FRAME_CONTROLS, "swapped", "other_video")
"""Every control name, ``none`` (the normal run) first."""

REMOVES: dict[str, str] = {
    NONE: "nothing",
    "shuffled_prompt": "the prompt",
    "frozen": "the motion",
    "reversed": "the frame order",
    "shuffled_frames": "the frame order",
    "swapped": "which video comes first",
    "other_video": "the second video",
}
"""What each control takes from the judge (the console's sentences name it)."""

PHRASES: dict[str, str] = {
    NONE: "normal",
    "shuffled_prompt": "with shuffled prompts",
    "frozen": "with frozen videos",
    "reversed": "with reversed frames",
    "shuffled_frames": "with shuffled frames",
    "swapped": "with the videos swapped",
    "other_video": "with video 1 from another prompt",
}


def parse_controls(names: Iterable[str] | str | None) -> tuple[str, ...]:
    """Checked control names, ``none`` first and always present, each once.

    Args:
        names: Names (or one comma-separated string); ``None`` is the normal run alone.

    Raises:
        ConfigError: an unknown name (the message suggests the closest one).

    Example:
        >>> parse_controls("swapped,frozen")
        ('none', 'swapped', 'frozen')
        >>> parse_controls(["none", "frozen", "frozen"])
        ('none', 'frozen')

    """
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out = [NONE]
    for raw in names or ():
        name = raw.strip()
        if name not in CONTROLS:
            close = difflib.get_close_matches(name, CONTROLS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"--control {name!r}: unknown control{hint} (choose from {', '.join(CONTROLS)})"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def prompt_derangement(prompt_ids: Sequence[str], seed: int = 0) -> dict[str, str]:
    """A seeded map of each prompt to another one: no prompt maps to itself.

    The distinct prompts are put in a seeded random order and each maps to the next one in it
    (the last to the first): a random cyclic permutation, which is a derangement.

    Raises:
        ConfigError: fewer than two distinct prompts (nothing to substitute).

    Example:
        >>> m = prompt_derangement(["a", "b", "b", "c"], seed=1)
        >>> sorted(m) == sorted(m.values()) == ["a", "b", "c"], any(k == v for k, v in m.items())
        (True, False)

    """
    unique = sorted(set(prompt_ids))
    if len(unique) < 2:
        raise ConfigError(
            f"a control that borrows from another prompt needs 2 prompts or more; the data has "
            f"{len(unique)} (use more pairs, or drop shuffled_prompt/other_video)"
        )
    order = [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]
    return {p: order[(k + 1) % len(order)] for k, p in enumerate(order)}


def substitutes(pairs: Sequence[Pair], seed: int = 0) -> dict[str, Pair]:
    """For each pair, the pair of another prompt it borrows from (by pair id).

    The ``j``-th pair of prompt ``P`` (in data order) borrows from pair ``j mod m`` of the
    prompt :func:`prompt_derangement` maps ``P`` to (which has ``m`` pairs).

    Example:
        >>> from judges.datasets.demo import demo_pairs  # doctest: +SKIP
        >>> subs = substitutes(pairs)  # doctest: +SKIP

    """
    by_prompt: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_prompt.setdefault(pair.prompt_id, []).append(pair)
    mapping = prompt_derangement(list(by_prompt), seed)
    out: dict[str, Pair] = {}
    for prompt, members in by_prompt.items():
        donors = by_prompt[mapping[prompt]]
        for j, pair in enumerate(members):
            out[pair.pair_id] = donors[j % len(donors)]
    return out


def controlled_pair(pair: Pair, control: str, donor: Pair | None = None) -> Pair:
    """The pair a judge sees under ``control`` (the same object for frame controls and none).

    ``donor``: the pair of another prompt that ``shuffled_prompt`` and ``other_video`` borrow
    from (see :func:`substitutes`). The pair id, prompt id and labels stay the pair's own.

    Raises:
        ValueError: a borrowing control without a donor.

    """
    if control == "swapped":
        return dataclasses.replace(pair, video_0=pair.video_1, video_1=pair.video_0)
    if control not in BORROWING:
        return pair
    if donor is None:
        raise ValueError(f"control {control!r} needs a donor pair for {pair.pair_id}")
    if control == "other_video":
        return dataclasses.replace(pair, video_1=donor.video_1)
    text = donor.prompt_text
    videos = {
        name: dataclasses.replace(
            getattr(pair, name), prompt_text=text, video_text=getattr(donor, name).video_text
        )
        for name in ("video_0", "video_1")
    }
    return dataclasses.replace(pair, prompt_text=text, **videos)


@dataclass(frozen=True)
class ControlPlan:
    """A control's tasks, and the prompt each pair borrowed (by pair id) where it borrows.

    Attributes:
        control: The control's name.
        tasks: The tasks to run (each carries the control and the pair the judge sees).
        donors: ``pair_id -> prompt id`` of the pair it borrowed from (empty when none).
        seed: The seed of the derangement and of the random frame orders.

    """

    control: str
    tasks: list[Task]
    donors: dict[str, str] = field(default_factory=dict)
    seed: int = 0


def control_tasks(
    tasks: Sequence[Task], control: str, pairs: Sequence[Pair], seed: int = 0
) -> ControlPlan:
    """The tasks of a run under ``control``, built from the normal run's tasks.

    Args:
        tasks: The normal run's tasks.
        control: A name in :data:`CONTROLS`.
        pairs: Every pair of the run (the derangement draws donors from them).
        seed: The seed of the derangement and of the random frame orders.

    Example:
        >>> plan = control_tasks(tasks, "shuffled_prompt", pairs, seed=0)  # doctest: +SKIP
        >>> plan.tasks[0].pair.prompt_text != tasks[0].pair.prompt_text  # doctest: +SKIP
        True

    """
    parse_controls([control])
    if control == NONE:
        return ControlPlan(control, list(tasks), seed=seed)
    borrowing = control in BORROWING
    donors = substitutes(pairs, seed) if borrowing else {}
    seen: dict[str, Pair] = {}  # one transformed pair object per pair (keys are built per pair)
    out: list[Task] = []
    for task in tasks:
        pid = task.pair.pair_id
        pair = seen.get(pid)
        if pair is None:
            pair = seen[pid] = controlled_pair(task.pair, control, donors.get(pid))
        # The task's control as cache keys name it (with the seed where the frames depend on it).
        out.append(Task(pair, task.dimension, task.frames, control_key(control, seed)))
    used = {pid: donors[pid].prompt_id for pid in seen} if borrowing else {}
    return ControlPlan(control, out, used, seed)


def control_context(ctx: RunContext, control: str, seed: int = 0) -> RunContext:
    """The run context a control's judge calls get: frame controls transform the keyframes.

    Example:
        >>> control_context(RunContext(), "reversed").source.control
        'reversed'
        >>> control_context(RunContext(), "swapped").source.control
        'none'

    """
    if control not in FRAME_CONTROLS:
        return ctx
    return dataclasses.replace(ctx, source=ControlledSource(ctx.source, control, seed))  # type: ignore[arg-type]


def restore_verdict(verdict: Verdict, control: str) -> Verdict:
    """A verdict in the pair's own order: ``swapped`` exchanges winner and scores back.

    Example:
        >>> from judges.core.types import Dimension
        >>> v = Verdict("p", "j", Dimension.AESTHETICS, 4, "video_0", score_0=1.0, score_1=0.0)
        >>> w = restore_verdict(v, "swapped")
        >>> w.winner, w.score_0, w.score_1
        ('video_1', 0.0, 1.0)

    """
    if control != "swapped":
        return verdict
    back = {"video_0": "video_1", "video_1": "video_0"}
    return dataclasses.replace(
        verdict,
        winner=back.get(verdict.winner, verdict.winner),  # type: ignore[arg-type]
        score_0=verdict.score_1,
        score_1=verdict.score_0,
    )


def refused_verdicts(judge: Judge, tasks: Sequence[Task], control: str) -> list[Verdict] | None:
    """An ``undefined_score`` error verdict per task if ``judge`` is undefined under ``control``.

    ``None`` when the judge can run under it (:meth:`Judge.control_reason` says why not).
    """
    reason = judge.control_reason(control) if control != NONE else None
    if reason is None:
        return None
    error = UndefinedScoreError(reason)
    return [judge.error_verdict(task, error) for task in tasks]


def restorer(control: str) -> Callable[[Verdict], Verdict] | None:
    """What maps a control's verdicts back to the pair's own order (``None``: nothing to do).

    Example:
        >>> restorer("frozen") is None, restorer("swapped") is not None
        (True, True)

    """
    if control != "swapped":
        return None
    return lambda verdict: restore_verdict(verdict, control)
