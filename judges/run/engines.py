"""Where a run's local work happens: in this process (``local``) or on a Ray cluster (``ray``).

The engine only decides where verdicts are *computed*. The driver keeps everything else: it
reads the verdict cache, hands the engine the tasks still to do, and commits what comes back
(:class:`judges.run.task_runner.Runner`), so nothing is written from a worker and a rerun
resumes exactly as on the local engine.

On Ray (Ray core tasks and actors; Ray Data would add a dataset layer for what is a list of
chunks, so core keeps the code smaller):

- tasks are cut into chunks of whole prompts (pairs of a prompt share videos, so each video is
  decoded once per chunk);
- score judges (``psnr``, ``scores``) run a chunk per CPU task: decode the keyframes, score,
  return the verdicts; a task whose worker dies is retried by Ray;
- model judges (``clip``, ``hpsv2``, any :class:`~judges.judge.model_judge.ModelJudge`) run in a
  pool of actors that each load the weights once (``num_gpus=1`` per actor when the cluster
  has GPUs), fed by CPU tasks that extract each chunk's keyframes, so decoding and the
  forward passes overlap; a dead actor is restarted and its chunk retried;
- API judges keep their own concurrency on the driver: their work is waiting on a server, and
  Ray would add a process hop for nothing.

Workers read the videos at the paths the driver sees: on a cluster the dataset must be on
shared storage (or object storage mounted) at the same path on every node, and every node needs
the same environment (``uv sync --extra distributed --extra models``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from judges.core.errors import ConfigError, ItemError
from judges.judge.async_judge import AsyncJudge
from judges.judge.base import Judge, RunContext, Task
from judges.judge.task_groups import group_of
from judges.media.frame_controls import ControlledSource
from judges.media.keyframes import Keyframes, KeyframeSource

ENGINES = ("local", "ray")
INSTALL_HINT = "uv sync --extra distributed   (or: pip install 't2v-judges[distributed]')"


def require_ray() -> Any:
    """Import ray, or fail with the command that installs it.

    Raises:
        ConfigError: the ``distributed`` extra is not installed.

    """
    # Under `uv run`, Ray would start workers with `uv run` again, which re-syncs the project
    # without the extras this run was started with (and without ray itself). Workers must use
    # this very interpreter and environment.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"--engine ray needs ray, which is not installed; install the extra: {INSTALL_HINT}"
        ) from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """How the Ray engine runs.

    Attributes:
        address: ``None`` starts a local Ray for this run; ``auto`` joins the cluster this
            machine belongs to; ``ray://host:port`` connects to a remote cluster.
        num_cpus: CPUs of a local Ray (``None``: all of this machine's).
        chunk_size: Tasks per Ray task or actor call (whole prompts are kept together).
        actors: Model-judge actors (``None``: one per GPU, else one per two CPUs).
        max_retries: Retries of a chunk whose worker or actor died.

    """

    address: str | None = None
    num_cpus: int | None = None
    chunk_size: int = 64
    actors: int | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if self.actors is not None and self.actors < 1:
            raise ValueError("actors must be >= 1")


def chunks(tasks: Sequence[Task], size: int) -> list[list[Task]]:
    """Tasks in chunks of about ``size``, never splitting a prompt's tasks across chunks.

    Example:
        >>> [len(c) for c in chunks([], 4)]
        []

    """
    by_group: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_group[group_of(task)].append(task)
    out: list[list[Task]] = []
    current: list[Task] = []
    for group in by_group.values():
        if current and len(current) + len(group) > size:
            out.append(current)
            current = []
        current.extend(group)
    if current:
        out.append(current)
    return out


def video_requests(tasks: Iterable[Any]) -> list[tuple[str, int | None]]:
    """The distinct ``(video path, frames)`` a chunk's tasks read."""
    seen: dict[tuple[str, int | None], None] = {}
    for task in tasks:
        for path in task.files:
            seen[(str(path), task.frames)] = None
    return list(seen)


SourceSpec = tuple[tuple[int | None, ...], str, str, int]
"""A keyframe source's plan, strategy, control and its seed (a worker builds its own source)."""


def spec_of(source: Any) -> SourceSpec:
    """What a worker needs to build ``source`` again (a control's source: the control too)."""
    base = getattr(source, "base", source)
    return (
        base.plan,
        base.strategy,
        getattr(source, "control", "none"),
        getattr(source, "seed", 0),
    )


def source_of(spec: SourceSpec) -> Any:
    """The keyframe source ``spec`` describes (a frame control's wraps a plain one).

    Example:
        >>> source_of(((2,), "diff", "reversed", 0)).control
        'reversed'

    """
    plan, strategy, control, seed = spec
    source = KeyframeSource(plan, strategy)  # type: ignore[arg-type]
    return source if control == "none" else ControlledSource(source, control, seed)


def judge_chunk(
    judge: Judge,
    tasks: list[Any],
    spec: SourceSpec,
    preloaded: dict[tuple[str, int | None], Keyframes] | None = None,
) -> list[Any]:
    """A chunk's verdicts, computed in a worker with no cache (the driver owns it)."""
    source = source_of(spec)
    if preloaded:
        source.preload(preloaded)
    return list(judge.judge_all(tasks, RunContext(source, store=None), workers=1))


def extract_chunk(
    requests: list[tuple[str, int | None]], spec: SourceSpec
) -> dict[tuple[str, int | None], Keyframes]:
    """Decode a chunk's keyframes (a CPU task feeding model actors).

    Unreadable videos are left out; the actor's own attempt reports each as its task's error.
    """
    source = source_of(spec)
    out: dict[tuple[str, int | None], Keyframes] = {}
    for path, n in requests:
        try:
            out.update(source.decoded_entry(path, n))
        except ItemError:
            continue
    return out


class LocalEngine:
    """This process: the judge's own ``judge_all`` (threads for local judges)."""

    name = "local"

    def judge_all(
        self, judge: Judge, tasks: Sequence[Any], ctx: RunContext, workers: int
    ) -> Iterator[Any]:
        """Verdicts as they finish."""
        return judge.judge_all(tasks, ctx, workers=workers)

    def describe(self) -> dict[str, Any]:
        """What run.json records."""
        return {"engine": self.name}

    def close(self) -> None:
        """Nothing to release."""


class RayEngine:
    """Ray core tasks and actors (see the module docstring).

    Args:
        options: Address, CPUs of a local Ray, chunk size, actors, retries.

    Example:
        >>> engine = RayEngine(RayOptions(num_cpus=2))  # doctest: +SKIP
        >>> verdicts = list(engine.judge_all(get_judge("psnr"), tasks, ctx, 2))  # doctest: +SKIP

    """

    name = "ray"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self.ray = require_ray()
        self._started = False

    def start(self) -> None:
        """Start a local Ray, or connect to ``address`` (once)."""
        ray = self.ray
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if self.options.address is None:
            kwargs["num_cpus"] = self.options.num_cpus
        try:
            ray.init(address=self.options.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(
                f"--ray-address {self.options.address}: cannot connect ({e}); start the "
                "cluster with `ray start --head`, or leave --ray-address out for a local Ray"
            ) from None
        self._started = True

    def describe(self) -> dict[str, Any]:
        """What run.json records: the engine, its address and the cluster's resources."""
        info: dict[str, Any] = {"engine": self.name, "address": self.options.address}
        if self.ray.is_initialized():
            info["resources"] = {
                k: v
                for k, v in self.ray.cluster_resources().items()
                if k in ("CPU", "GPU", "memory")
            }
        info["chunk_size"] = self.options.chunk_size
        return info

    def judge_all(
        self, judge: Judge, tasks: Sequence[Any], ctx: RunContext, workers: int
    ) -> Iterator[Any]:
        """Verdicts as chunks finish; API judges stay on the driver."""
        if isinstance(judge, AsyncJudge) or not tasks:
            yield from judge.judge_all(tasks, ctx, workers=workers)
            return
        self.start()
        from judges.judge.model_judge import ModelJudge

        parts = chunks(list(tasks), self.options.chunk_size)
        spec = spec_of(ctx.source)
        if isinstance(judge, ModelJudge):
            yield from self._actors(judge, parts, spec)
        else:
            yield from self._tasks(judge, parts, spec)

    def _tasks(self, judge: Judge, parts: list[list[Any]], spec: SourceSpec) -> Iterator[Any]:
        ray = self.ray
        remote = ray.remote(judge_chunk).options(max_retries=self.options.max_retries)
        judge_ref = ray.put(judge)
        pending = [remote.remote(judge_ref, part, spec) for part in parts]
        yield from self._drain(pending)

    def _actors(self, judge: Judge, parts: list[list[Any]], spec: SourceSpec) -> Iterator[Any]:
        ray = self.ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus = int(ray.cluster_resources().get("CPU", 1))
        count = self.options.actors or (gpus or max(1, cpus // 2))
        count = min(count, len(parts))

        class _Scorer:
            def __init__(self, judge: Judge) -> None:
                self.judge = judge  # weights load on first use, once per actor

            def run(
                self,
                tasks: list[Any],
                spec: SourceSpec,
                preloaded: dict[tuple[str, int | None], Keyframes],
            ) -> list[Any]:
                return judge_chunk(self.judge, tasks, spec, preloaded)

        actor_cls = ray.remote(_Scorer).options(
            num_gpus=1 if gpus else 0,
            num_cpus=1,
            max_restarts=self.options.max_retries,
            max_task_retries=self.options.max_retries,
        )
        judge_ref = ray.put(judge)
        actors = [actor_cls.remote(judge_ref) for _ in range(count)]
        # Keyframes come from CPU tasks that need no actor's CPU: decoding overlaps scoring.
        extract = ray.remote(extract_chunk).options(
            num_cpus=0.5 if gpus == 0 else 1, max_retries=self.options.max_retries
        )
        frames = [extract.remote(video_requests(part), spec) for part in parts]
        pending = [
            actors[i % count].run.remote(part, spec, frames[i]) for i, part in enumerate(parts)
        ]
        try:
            yield from self._drain(pending)
        finally:
            for actor in actors:
                ray.kill(actor)

    def _drain(self, pending: list[Any]) -> Iterator[Any]:
        ray = self.ray
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield from ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=False)

    def close(self) -> None:
        """Shut down the local Ray this engine started (a joined cluster keeps running)."""
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False


def make_engine(name: str, options: RayOptions | None = None) -> LocalEngine | RayEngine:
    """The engine named on the command line.

    Raises:
        ConfigError: an unknown engine, or ``ray`` without the extra installed.

    """
    if name == "local":
        return LocalEngine()
    if name == "ray":
        return RayEngine(options)
    raise ConfigError(f"--engine {name!r}: expected one of {', '.join(ENGINES)}")
