"""Typed judge options: ``--judge-arg key=value`` strings coerced by a config dataclass's hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from judges.core.errors import ConfigError

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}
_NONE = {"none", "null", ""}


def _coerce(value: str, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if type(None) in get_args(hint) and value.strip().lower() in _NONE:
            return None
        errors = []
        for arg in args:
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: cannot read {value!r}")
    if origin is Literal:
        allowed = get_args(hint)
        for option in allowed:
            if str(option) == value:
                return option
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, allowed))}")
    if origin is tuple:
        (item, *_) = get_args(hint) or (str,)
        return tuple(_coerce(v.strip(), item, where) for v in value.split(",") if v.strip())
    if hint is bool:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint in (int, float):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if hint is Path:
        return Path(value).expanduser()
    return value


def build_config(cls: type[T], kwargs: Mapping[str, Any], owner: str) -> T:
    """Instantiate the options dataclass ``cls`` from keyword arguments.

    String values (from the command line) are converted by the field's type hint; values of
    the right type pass through.

    Args:
        cls: A dataclass type.
        kwargs: Option names and values.
        owner: Name used in error messages (the judge's name).

    Raises:
        ConfigError: an unknown option (listing the valid ones) or an unreadable value.

    Example:
        >>> @dataclasses.dataclass
        ... class Opts:
        ...     tie_tolerance: float = 0.0
        >>> build_config(Opts, {"tie_tolerance": "0.5"}, "psnr")
        Opts(tie_tolerance=0.5)

    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in names:
            raise ConfigError(
                f"judge {owner!r} has no option {key!r}; its options are: {', '.join(names)}"
            )
        where = f"judge {owner!r} option {key!r}"
        values[key] = _coerce(value, hints[key], where) if isinstance(value, str) else value
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"judge {owner!r}: {e}") from None


def config_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as JSON-ready data (paths as strings)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out
