"""Package faces that load their modules on first use, so ``import judges`` stays light.

Each package's ``__init__.py`` names its public names and the module that defines each; a name
is imported when first read (PEP 562). Importing ``judges.report.tables`` therefore runs the
``judges.report`` face without importing matplotlib, and ``import judges`` imports neither
polars' statistics nor matplotlib, scipy or torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_face(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose names live in its modules.

    Args:
        package: The package's ``__name__``.
        exports: Public name -> module that defines it, relative to the package
            (``"agreement"``) or absolute (``"judges.stats.agreement"``).

    Returns:
        The package's module-level ``__getattr__`` and ``__dir__``.

    Example:
        >>> getattr_, dir_ = lazy_face("judges.stats", {"wilson_interval": "classic"})
        >>> getattr_("wilson_interval")(7, 10)[0] < 0.7
        True

    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = module if module.startswith("judges") else f"{package}.{module}"
        return getattr(importlib.import_module(target), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
