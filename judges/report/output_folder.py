"""The output folder of a command that is not a run (a report, a comparison, a disagreement sheet).

Such a command names its folder itself (``--out``) or takes a default with a time stamp. Like a
run's folder (:class:`~judges.report.run_folder.RunFolder`), it is claimed before any work,
written into a hidden staging folder and renamed into place at the end without replacing
anything: a named ``--out`` that exists is refused unless ``--overwrite`` was given, and two
commands started in the same second with the default name each keep their own folder (the
second becomes ``-2``). An empty folder named by ``--out`` (made beforehand for the results) is
taken over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from judges.report.run_folder import RunFolder


def claim_output(
    out: Path | None, default: Path, overwrite: bool = False, option: str = "--out"
) -> RunFolder:
    """Claim the folder a command writes: ``out`` when given, else ``default``.

    Args:
        out: The folder the user named (``None``: use ``default``, suffixed ``-2``, ``-3``...
            when it exists).
        default: The folder used when ``out`` is not given.
        overwrite: Replace ``out`` if it exists (otherwise a named folder that exists is
            refused).
        option: The option that named it, for messages.

    Returns:
        The claimed folder: write into ``.staging`` (or use :func:`staged`), then ``publish``.

    Raises:
        ConfigError: ``out`` exists (and is not empty) without ``overwrite``, is a file, or its
            parent cannot be written.

    Example:
        >>> folder = claim_output(None, Path("results/report-20261207-101500"))  # doctest: +SKIP
        >>> with staged(folder) as tmp:  # doctest: +SKIP
        ...     (tmp / "comparison.csv").write_text("...")

    """
    target = Path(out) if out is not None else Path(default)
    if out is not None and not overwrite and target.is_dir():
        with contextlib.suppress(OSError):  # not empty (or gone): RunFolder decides
            target.rmdir()  # an empty folder made for the results: the rename will take it
    return RunFolder(
        target.parent, target.name, overwrite=overwrite, explicit=out is not None, option=option
    )


@contextlib.contextmanager
def staged(folder: RunFolder) -> Iterator[Path]:
    """Write into ``folder``'s staging folder; publish it on success, discard it on failure.

    Example:
        >>> with staged(claim_output(Path("out"), Path("unused"))) as tmp:  # doctest: +SKIP
        ...     (tmp / "a.csv").write_text("x")

    """
    folder.staging.mkdir(parents=True)
    try:
        yield folder.staging
    except BaseException:
        folder.discard()
        raise
    folder.publish()
