"""Shared command-line plumbing: ordered ``--judge``/``--judge-arg`` parsing and error exits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from judges.chat.budget import BudgetExhausted
from judges.core.errors import JudgesError
from judges.core.figures_setting import FIGURES, draws, figures_setting
from judges.run.session import JudgeRequest

EXIT_USER_ERROR = 2
EXIT_BUDGET = 3
EXIT_FAILED_VERDICTS = 4
"""Written everything, but more than half of some judge's verdicts failed."""


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` shows each option's default (flags and options without one say nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "(default" in text
            or default in (None, False, argparse.SUPPRESS)
        ):
            return text
        if isinstance(default, list | tuple) and not default:
            return text
        return f"{text} (default: %(default)s)"


class JudgeAction(argparse.Action):
    """``--judge NAME``: start a new judge; later ``--judge-arg`` options belong to it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Append a new judge request."""
        judges = list(getattr(namespace, self.dest, None) or [])
        judges.append(JudgeRequest(str(values), {}))
        setattr(namespace, self.dest, judges)


class JudgeArgAction(argparse.Action):
    """``--judge-arg key=value``: an option of the most recent ``--judge``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Attach ``key=value`` to the last judge request."""
        judges = getattr(namespace, "judges", None) or []
        if not judges:
            parser.error(f"{option_string} {values}: put it after the --judge it belongs to")
        key, sep, value = str(values).partition("=")
        if not sep or not key.strip():
            parser.error(f"{option_string} {values}: expected key=value")
        judges[-1].options[key.strip()] = value


def add_judge_arguments(parser: argparse.ArgumentParser, repeatable: bool = True) -> None:
    """Add ``--judge``/``--judge-arg``/``--list-judges``."""
    parser.add_argument(
        "--judge",
        dest="judges",
        action=JudgeAction,
        metavar="NAME",
        help="judge to run (repeatable); see --list-judges"
        if repeatable
        else "the judge (one); see --list-judges",
    )
    parser.add_argument(
        "--judge-arg",
        action=JudgeArgAction,
        metavar="KEY=VALUE",
        help="option of the preceding --judge (repeatable), e.g. safesora_compat=true; "
        "name=LABEL labels its results",
    )
    parser.add_argument(
        "--list-judges",
        action="count",
        default=0,
        help="list judges and exit; -v after it (--list-judges -v) adds every option",
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help=argparse.SUPPRESS)


def add_cache_damage_arguments(parser: argparse.ArgumentParser) -> None:
    """``--verify-cache`` and ``--ignore-damaged-cache``, the same for every run command."""
    parser.add_argument(
        "--verify-cache",
        action="store_true",
        help="check every page of cache.sqlite (PRAGMA quick_check) before any work",
    )
    parser.add_argument(
        "--ignore-damaged-cache",
        action="store_true",
        help="when cache.sqlite is damaged, go on with the response cache off (default: stop "
        "with the steps that recover it)",
    )


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--ray-address`` (see :mod:`judges.run.engines`)."""
    parser.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="where local judges compute: this process, or Ray (needs the distributed extra)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="with --engine ray: auto (this machine's cluster) or ray://host:port "
        "(default: start a local Ray)",
    )


def add_report_arguments(parser: argparse.ArgumentParser, rebuild: bool = False) -> None:
    """How ``report.html`` finds its videos (see :mod:`judges.report.html_page`)."""
    group = parser.add_argument_group("report.html")
    group.add_argument(
        "--video-url-prefix",
        metavar="URL",
        help="load videos from URL + their path under the dataset's video folder (a served "
        "dataset) instead of by path relative to the report",
    )
    group.add_argument(
        "--copy-videos",
        action="store_true",
        help="hard-link (or copy) every video into report_files/ so the folder stands alone",
    )
    group.add_argument(
        "--max-keyframe-videos",
        type=int,
        default=2000,
        metavar="N",
        help="decode keyframe thumbnails only when the run has at most N videos",
    )
    if not rebuild:
        group.add_argument("--no-html", action="store_true", help="write no report.html")


def add_figures_argument(parser: argparse.ArgumentParser) -> None:
    """``--figures all|none``, its default from ``$JUDGES_FIGURES`` (else ``all``)."""
    parser.add_argument(
        "--figures",
        choices=FIGURES,
        default=figures_setting(),  # checked by figures_wanted: argparse checks given values
        help="all: draw the figures (PNG and SVG, shown in report.html); none: tables, files and "
        "report.html only, no matplotlib (default: $JUDGES_FIGURES or all)",
    )


def figures_wanted(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Whether to draw, from ``--figures``; a wrong ``$JUDGES_FIGURES`` is a usage error.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_figures_argument(parser)
        >>> figures_wanted(parser, parser.parse_args(["--figures", "none"]))
        False

    """
    try:
        return draws(args.figures)
    except JudgesError as e:  # argparse checks given values, not defaults
        parser.error(str(e))


def report_options(args: argparse.Namespace) -> Any:
    """The :class:`~judges.report.html_page.HtmlReportOptions` the arguments ask for (or None)."""
    from judges.report.html_page import HtmlReportOptions

    if getattr(args, "no_html", False):
        return None
    if args.max_keyframe_videos < 0:
        raise JudgesError("--max-keyframe-videos must be >= 0")
    return HtmlReportOptions(
        video_url_prefix=args.video_url_prefix,
        copy_videos=args.copy_videos,
        max_keyframe_videos=args.max_keyframe_videos,
        cache_dir=getattr(args, "cache_dir", None),
    )


def print_judges(verbose: bool = False, harm: bool | None = None) -> None:
    """``--list-judges``: registered judges with their descriptions (and options).

    Args:
        verbose: Also list every option with its type, default and meaning.
        harm: ``True`` lists only harm judges (``harm.py``), ``False`` only pair judges
            (``agreement.py``), ``None`` both.

    """
    from judges.harm.base import HarmJudge
    from judges.judge.registry import judge_specs, plugin_errors

    for name, spec in judge_specs().items():
        is_harm = spec.judge is not None and issubclass(spec.judge, HarmJudge)
        if harm is not None and spec.judge is not None and is_harm != harm:
            continue
        origin = "" if spec.origin == "builtin" else f" [{spec.origin}]"
        print(f"{name:<12} {spec.description}{origin}")
        if not verbose:
            continue
        for option in spec.options():
            default = "none" if option["default"] is None else option["default"]
            print(f"    {option['name']} ({option['type']}, default {default}): {option['help']}")
        print()
    for name, error in plugin_errors().items():
        print(f"{name:<12} FAILED TO LOAD (plugin): {error}")


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """Run a command's main: user errors print one line (exit 2), budget reached 3, Ctrl-C 130."""
    from judges.report.seaborn_import import allow_lean_import

    allow_lean_import()  # a command's process: no user code calls seaborn's clustermap later
    try:
        return main(argv)
    except BudgetExhausted as e:
        print(f"stopped: {e}", file=sys.stderr)
        return EXIT_BUDGET
    except JudgesError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(
            "interrupted: finished verdicts are saved in the cache; rerun the same command to "
            "resume without recomputing them",
            file=sys.stderr,
        )
        return 130
