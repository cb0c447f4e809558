"""Judge registry: names map to small factory functions.

Factories import their heavy dependencies (torch, open_clip, openai) inside the function, so
``import judges`` and :func:`list_judges` stay light; a missing optional package surfaces only
when that judge is asked for, as an error naming the install command.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from judges.base import Judge
from judges.errors import ConfigError

Factory = Callable[..., Judge]


@dataclass(frozen=True)
class JudgeSpec:
    """A registered judge: its name, factory and one-line description."""

    name: str
    factory: Factory
    description: str = ""


_REGISTRY: dict[str, JudgeSpec] = {}
_BUILTINS_LOADED = False


class UnknownJudgeError(ConfigError, KeyError):
    """No judge of that name; the message lists close matches and every known name."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_judge(name: str, description: str = "") -> Callable[[Factory], Factory]:
    """Register a judge factory under ``name``.

    Example:
        >>> @register_judge("my-metric", "my metric, higher wins")  # doctest: +SKIP
        ... def make_my_metric(**kwargs) -> Judge:
        ...     return MyMetricJudge(**kwargs)

    """

    def decorate(factory: Factory) -> Factory:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"a judge named {name!r} is already registered")
        _REGISTRY[name] = JudgeSpec(name, factory, description)
        return factory

    return decorate


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        importlib.import_module("judges.builtin")
        _BUILTINS_LOADED = True


def list_judges() -> list[str]:
    """Names of every registered judge, sorted.

    Example:
        >>> "psnr" in list_judges()
        True

    """
    _load_builtins()
    return sorted(_REGISTRY)


def judge_descriptions() -> dict[str, str]:
    """Registered names with their one-line descriptions."""
    _load_builtins()
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


def get_judge(name: str, /, **kwargs: Any) -> Judge:
    """Build a judge by registry name.

    Args:
        name: Registry name (see :func:`list_judges`).
        **kwargs: The judge's options; strings are converted by the option's type. ``name=``
            sets the label its verdicts carry (to compare two settings of one judge).

    Raises:
        UnknownJudgeError: no such judge (a ``KeyError`` listing close matches).
        ConfigError: an unknown option or a bad value.

    Example:
        >>> judge = get_judge("psnr", tie_tolerance="0.01")
        >>> judge.name, judge.higher_is_better
        ('psnr', False)

    """
    _load_builtins()
    spec = _REGISTRY.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownJudgeError(
            f"unknown judge {name!r}; {hint}known judges: {', '.join(sorted(_REGISTRY))}"
        )
    label = kwargs.pop("name", None) or name
    judge = spec.factory(**kwargs)
    judge.name = str(label)
    return judge
