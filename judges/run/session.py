"""One run session: the set-up every command shares, done once and checked before any work.

A :class:`Session` turns a :class:`SessionConfig` and the requested judges into what a run
needs: the judges (built, their settings checked, their keys present), the cache folder (proven
writable), the dataset (or the built-in demo data, with its notice), the keyframe source and the
runner. ``agreement.py``, ``prelabel.py``, ``--summary`` and the benchmarks all go through it, so
a rule about refusing early is written once.

Example:
    >>> config = SessionConfig(data=Path("SafeSora/config-test.json.gz"))  # doctest: +SKIP
    >>> with Session(config, [JudgeRequest("psnr")], frames=[1, 2, 4, 8]) as session:
    ...     dataset = session.load()
    ...     run = session.runner.run(session.judges[0], tasks)  # doctest: +SKIP

"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from judges.cache.store import Store, default_cache_dir
from judges.chat.budget import Budget
from judges.core.errors import ConfigError
from judges.datasets import Dataset, load_dataset
from judges.datasets.demo import DEMO_NOTICE, demo_dataset
from judges.judge.base import Judge
from judges.judge.registry import get_judge
from judges.media.keyframes import STRATEGIES, KeyframeSource, Strategy
from judges.report.run_folder import check_writable_dir
from judges.run.engines import RayOptions, make_engine
from judges.run.task_runner import Runner


@dataclass(frozen=True)
class JudgeRequest:
    """A judge to build: registry name and options (strings are fine, they are coerced)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def log_to_stderr(msg: str) -> None:
    """Where a session's notices go by default."""
    print(msg, file=sys.stderr)


@dataclass(kw_only=True)
class SessionConfig:
    """What every command's run shares; checked when created.

    Attributes:
        data: Pairs file or dataset folder; ``None`` uses the built-in demo data.
        video_dir: Force SafeSora's ``<video_dir>/<prompt_id>/<video_id>.mp4`` layout.
        skip_missing: Drop pairs whose video files are missing instead of failing.
        limit: Use only the first ``limit`` pairs.
        cache_dir: Cache folder (default: ``$JUDGES_CACHE_DIR`` or ``~/.cache/t2v-judges``).
        use_cache: Read and write the cache.
        strategy: Keyframe selection, ``diff`` (the paper's) or ``uniform``.
        workers: Threads for locally computed judges.
        progress: Show progress bars.
        concurrency: API requests in flight per API judge (``None``: the judge's default, 8).
        max_cost: Stop before API spend would exceed this many USD (``None``: no cap).
        data_format: Dataset format (``None``: detected from ``data``).
        engine: Where local judges compute: ``local`` (this process) or ``ray``.
        ray_address: With ``engine="ray"``: ``None`` starts a local Ray, ``auto`` joins this
            machine's cluster, ``ray://host:port`` a remote one.
        verify_cache: Check every page of ``cache.sqlite`` before any work (``--verify-cache``).
        ignore_damaged_cache: Go on with the response cache off when ``cache.sqlite`` is
            damaged (``--ignore-damaged-cache``), instead of stopping with the recovery steps.

    Raises:
        ConfigError: an option out of range (named as on the command line).

    """

    data: Path | None = None
    video_dir: Path | None = None
    skip_missing: bool = False
    limit: int | None = None
    cache_dir: Path | None = None
    use_cache: bool = True
    strategy: Strategy = "diff"
    workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    progress: bool = True
    concurrency: int | None = None
    max_cost: float | None = None
    data_format: str | None = None
    engine: str = "local"
    ray_address: str | None = None
    verify_cache: bool = False
    ignore_damaged_cache: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.limit is None or self.limit >= 1, "--limit must be >= 1"),
            (self.workers >= 1, "--workers must be >= 1"),
            (self.concurrency is None or self.concurrency >= 1, "--concurrency must be >= 1"),
            (self.max_cost is None or self.max_cost >= 0, "--max-cost must be >= 0"),
            (self.strategy in STRATEGIES, f"--keyframes must be one of {', '.join(STRATEGIES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def build_judges(requests: Sequence[JudgeRequest]) -> list[Judge]:
    """Instantiate the requested judges; labels must be unique within a run."""
    judges = [get_judge(r.name, **dict(r.options)) for r in requests]
    seen: set[str] = set()
    for judge in judges:
        if judge.name in seen:
            raise ConfigError(
                f"two judges are labelled {judge.name!r}; give one another label with "
                "--judge-arg name=LABEL"
            )
        seen.add(judge.name)
    return judges


def check_settings(
    judges: Sequence[Judge], strategy: Strategy, frames: Sequence[int | None]
) -> None:
    """Refuse a judge x keyframe setting whose output would be undefined for every pair.

    Raises:
        ConfigError: naming the judge, the setting and the fix.

    """
    for judge in judges:
        for n in frames:
            reason = judge.undefined_reason(strategy, n)
            if reason is not None:
                raise ConfigError(f"judge {judge.name!r}: {reason}")


class Session:
    """Judges, cache, data, keyframes and runner for one run, refused early when they cannot work.

    Building a session builds the judges and checks everything that needs no data: each judge
    x frame setting is defined, the cache folder is writable and, unless ``dry_run``, each judge
    is ready (API keys). :meth:`load` reads the data; :attr:`runner` opens the cache.

    Args:
        config: The shared options.
        judges: The judges to build (an empty list is allowed for data-only commands).
        frames: The frame counts the run will ask for (``None``: every frame).
        dry_run: Skip readiness checks (a dry run calls nothing).
        log: Where notices go (stderr by default).
        task_kind: What the command's judges must judge (``pair`` preferences or ``harm``
            labels); a judge of the other kind is refused naming the command that runs it.

    """

    def __init__(
        self,
        config: SessionConfig,
        judges: Sequence[JudgeRequest] = (),
        frames: Sequence[int | None] = (),
        *,
        dry_run: bool = False,
        log: Callable[[str], None] = log_to_stderr,
        task_kind: str = "pair",
    ) -> None:
        self.config = config
        self.frames = list(dict.fromkeys(frames))
        self.log = log
        self.judges = build_judges(judges)
        for judge in self.judges:
            if judge.task_kind != task_kind:
                command = "experiments/harm.py" if judge.task_kind == "harm" else "agreement.py"
                raise ConfigError(
                    f"judge {judge.name!r} judges {judge.task_kind} tasks, this command "
                    f"{task_kind} tasks; run it with {command}"
                )
        check_settings(self.judges, config.strategy, self.frames)
        if not dry_run:
            for judge in self.judges:
                judge.check_ready()  # e.g. a missing API key fails here, before any work
        self.demo = config.data is None
        self.cache_dir = config.cache_dir or default_cache_dir()
        if config.use_cache or self.demo:
            check_writable_dir(self.cache_dir, "--cache-dir")
        self.source = KeyframeSource(plan=self.frames, strategy=config.strategy)
        self.budget = Budget(config.max_cost)
        # Refused here (before any work) when ray is not installed.
        self.engine = make_engine(config.engine, RayOptions(address=config.ray_address))
        self._store: Store | None = None
        self._runner: Runner | None = None
        if not dry_run:
            _ = self.store  # a damaged cache stops the run here, before any work
        for judge in self.judges:
            if (notice := judge.notice()) is not None:
                self.log(notice)

    @property
    def notice(self) -> str | None:
        """What every output of the run must say: demo data, judges that are not models."""
        parts = [DEMO_NOTICE] if self.demo else []
        parts += [n for judge in self.judges if (n := judge.notice())]
        return "\n".join(parts) or None

    def data_path(self) -> Path:
        """The configured data, or the demo data (built on first use, with its notice)."""
        if self.demo:
            self.log(DEMO_NOTICE)
            return demo_dataset(cache_dir=self.cache_dir)
        return Path(self.config.data)  # type: ignore[arg-type]

    def load(self) -> Dataset:
        """The run's dataset: the configured data, or the demo data when none.

        ``--limit`` is applied and pairs skipped for missing videos are reported.

        Raises:
            DataError: invalid data or missing videos.
            ConfigError: no pairs left to judge.

        """
        dataset = load_dataset(
            self.data_path(),
            self.config.video_dir,
            skip_missing=self.config.skip_missing,
            format=self.config.data_format if not self.demo else None,
        )
        if dataset.skipped:
            self.log(
                f"skipped {len(dataset.skipped)} pair(s) with missing video files "
                f"(listed in run.json under data.skipped_missing)"
            )
        if self.config.limit is not None:
            dataset = replace(dataset, pairs=dataset.pairs[: self.config.limit])
        if not dataset.pairs:
            raise ConfigError(f"{dataset.source}: no pairs to judge")
        return dataset

    @property
    def store(self) -> Store | None:
        """The cache (opened on first use; ``None`` with ``use_cache=False``)."""
        if self._store is None and self.config.use_cache:
            self._store = Store(
                self.cache_dir / "cache.sqlite",
                verify=self.config.verify_cache,
                ignore_damage=self.config.ignore_damaged_cache,
                warn=lambda msg: self.log(f"warning: {msg}"),
            )
        return self._store

    @property
    def runner(self) -> Runner:
        """The runner over the cache, keyframe source and budget."""
        if self._runner is None:
            self._runner = Runner(
                self.store,
                self.source,
                workers=self.config.workers,
                progress=self.config.progress,
                budget=self.budget,
                concurrency=self.config.concurrency,
                engine=self.engine,
            )
        return self._runner

    def close(self) -> None:
        """Release the judges' resources and the cache."""
        for judge in self.judges:
            judge.close()
        self.engine.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
