"""Judge registry: names map to judge classes and their typed options, or to factories.

A judge registers its class with the dataclass of its options; :func:`get_judge` turns
``--judge-arg key=value`` strings into that dataclass (see :mod:`judges.judge.options`) and
builds the judge. Presets are the same class under another name with other defaults
(``gpt4o-mini`` is ``vlm`` with ``model=gpt-4o-mini``). Judge modules import their heavy
dependencies (torch, open_clip, openai) inside methods, so ``import judges`` and
:func:`list_judges` stay light.

Judges from other packages are found through the ``t2v_judges`` entry-point group: a package
declares ``[project.entry-points.t2v_judges] my-judge = "my_pkg.judges"`` (a module that calls
:func:`register_judge` when imported) or ``= "my_pkg.judges:MyJudge"`` (a :class:`Judge`
subclass whose ``config_class`` attribute is its options dataclass), registered under the entry
point's name.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar

from judges.core.errors import ConfigError
from judges.judge.base import Judge
from judges.judge.options import build_config

ENTRY_POINT_GROUP = "t2v_judges"
BUILTIN_JUDGES = (
    "judges.builtin.psnr",
    "judges.builtin.clip",
    "judges.builtin.hpsv2",
    "judges.builtin.scores",
    "judges.builtin.vlm.judge",
    "judges.harm.clip",
    "judges.harm.scores",
    "judges.harm.vlm",
)
"""Modules that register the built-in judges when imported, loaded by name as plugins are (the
registry sits below the judges it finds, so it never imports them by an import statement)."""
Factory = Callable[..., Judge]
T = TypeVar("T")


@dataclass(frozen=True)
class JudgeSpec:
    """A registered judge.

    Attributes:
        name: Registry name.
        description: One line for ``--list-judges``.
        judge: The judge class (with ``config``), or ``None`` for a plain factory.
        config: The options dataclass (``None``: a factory taking keyword arguments).
        defaults: Option values this name presets (``model=`` for ``gpt4o-mini``).
        factory: A plain factory, for judges registered without a config class.
        origin: Where it came from (``builtin`` or the entry point's distribution).

    """

    name: str
    description: str = ""
    judge: type[Judge] | None = None
    config: type | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    factory: Factory | None = None
    origin: str = "builtin"

    def build(self, options: Mapping[str, Any]) -> Judge:
        """A judge of this spec from user options (strings are coerced by type)."""
        if self.factory is not None:
            return self.factory(**{**self.defaults, **options})
        assert self.judge is not None and self.config is not None
        config = build_config(self.config, {**self.defaults, **options}, self.name)
        return self.judge(config)

    def options(self) -> list[dict[str, Any]]:
        """Each option's name, type, default and one-line help (from the config docstring)."""
        if self.config is None:
            return []
        hints = typing.get_type_hints(self.config)
        helps: dict[str, str] = {}
        for cls in reversed(self.config.__mro__):  # a subclass's text wins over its base's
            helps.update(_attribute_help(cls.__doc__ or ""))
        out = []
        for f in dataclasses.fields(self.config):
            default = self.defaults.get(f.name, f.default)
            if default is dataclasses.MISSING:
                default = None
            out.append(
                {
                    "name": f.name,
                    "type": _type_name(hints[f.name]),
                    "default": default,
                    "help": helps.get(f.name, ""),
                }
            )
        return out


_REGISTRY: dict[str, JudgeSpec] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_LOADED = False
_loading_origin = "builtin"


class UnknownJudgeError(ConfigError, KeyError):
    """No judge of that name; the message lists close matches and every known name."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_judge(
    name: str,
    description: str = "",
    *,
    config: type | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[T], T]:
    """Register a judge class (with its options dataclass) or a factory under ``name``.

    Args:
        name: Registry name.
        description: One line for ``--list-judges``.
        config: The options dataclass. With it, decorate the judge class; without it,
            decorate a factory ``(**options) -> Judge``.
        defaults: Preset option values (a preset is a class registered under another name).

    Raises:
        ValueError: ``name`` is taken by another judge.

    Example:
        >>> @dataclass(frozen=True)
        ... class BrightnessConfig:
        ...     tie_tolerance: float = 0.0
        >>> @register_judge("brightness-doc", "mean brightness", config=BrightnessConfig)
        ... class BrightnessJudge(ScoreJudge):  # doctest: +SKIP
        ...     def video_score(self, video, frames): ...

    """

    def decorate(target: T) -> T:
        if config is not None:
            spec = JudgeSpec(
                name,
                description,
                judge=target,  # type: ignore[arg-type]
                config=config,
                defaults=dict(defaults or {}),
                origin=_loading_origin,
            )
        else:
            spec = JudgeSpec(
                name,
                description,
                factory=target,  # type: ignore[arg-type]
                defaults=dict(defaults or {}),
                origin=_loading_origin,
            )
        old = _REGISTRY.get(name)
        if old is not None and (old.judge, old.factory) != (spec.judge, spec.factory):
            raise ValueError(f"a judge named {name!r} is already registered ({old.origin})")
        _REGISTRY[name] = spec
        return target

    return decorate


def unregister_judge(name: str) -> None:
    """Remove a registration (tests; a plugin replacing a judge). Unknown names are ignored."""
    _REGISTRY.pop(name, None)


def _load() -> None:
    """Register the built-in judges, then every ``t2v_judges`` entry point, once."""
    global _LOADED, _loading_origin
    if _LOADED:
        return
    _LOADED = True
    for module in BUILTIN_JUDGES:
        importlib.import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _loading_origin = f"plugin {ep.dist.name if ep.dist else ep.value}"
        try:
            loaded = ep.load()
            if isinstance(loaded, type) and issubclass(loaded, Judge) and ep.name not in _REGISTRY:
                cfg = getattr(loaded, "config_class", None)
                if not dataclasses.is_dataclass(cfg):
                    raise TypeError(
                        f"{ep.value} has no options dataclass in its 'config_class' attribute"
                    )
                doc = (loaded.__doc__ or "").strip().splitlines()
                register_judge(ep.name, doc[0] if doc else "", config=cfg)(loaded)  # type: ignore[arg-type]
        except Exception as e:  # a broken plugin must not break the other judges
            _PLUGIN_ERRORS[ep.name] = f"{type(e).__name__}: {e}"
        finally:
            _loading_origin = "builtin"


def list_judges() -> list[str]:
    """Names of every registered judge, sorted.

    Example:
        >>> "psnr" in list_judges()
        True

    """
    _load()
    return sorted(_REGISTRY)


def judge_specs() -> dict[str, JudgeSpec]:
    """Every registered judge's spec, by name."""
    _load()
    return {name: _REGISTRY[name] for name in sorted(_REGISTRY)}


def plugin_errors() -> dict[str, str]:
    """Entry points that failed to load, with the error (shown by ``--list-judges``)."""
    _load()
    return dict(_PLUGIN_ERRORS)


def get_judge(name: str, /, **kwargs: Any) -> Judge:
    """Build a judge by registry name.

    Args:
        name: Registry name (see :func:`list_judges`).
        **kwargs: The judge's options; strings are converted by the option's type. ``name=``
            sets the label its verdicts carry (to compare two settings of one judge).

    Raises:
        UnknownJudgeError: no such judge (a ``KeyError`` listing close matches).
        ConfigError: an unknown option or a bad value, or a plugin that failed to load.

    Example:
        >>> judge = get_judge("psnr", tie_tolerance="0.01")
        >>> judge.name, judge.higher_is_better
        ('psnr', False)

    """
    _load()
    spec = _REGISTRY.get(name)
    if spec is None:
        if name in _PLUGIN_ERRORS:
            raise ConfigError(f"judge {name!r} (a plugin) failed to load: {_PLUGIN_ERRORS[name]}")
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownJudgeError(
            f"unknown judge {name!r}; {hint}known judges: {', '.join(sorted(_REGISTRY))}"
        )
    options = dict(kwargs)
    label = options.pop("name", None) or name
    judge = spec.build(options)
    judge.name = judge.label_for(str(label))
    return judge


def _type_name(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    text = text or str(hint).replace("typing.", "").replace("pathlib.", "")
    return text


def _attribute_help(doc: str) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Attributes:`` section (continuations joined)."""
    out: dict[str, str] = {}
    section_indent: int | None = None
    current: str | None = None
    entry_indent = 0
    for line in doc.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped == "Attributes:":
            section_indent = indent
            continue
        if section_indent is None or not stripped:
            continue
        if indent <= section_indent:  # the next section
            break
        name, sep, text = stripped.partition(":")
        if sep and " " not in name and (current is None or indent <= entry_indent):
            current, entry_indent = name, indent
            out[name] = text.strip()
        elif current is not None:
            out[current] += " " + stripped
    return out
