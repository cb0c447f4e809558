"""Importing seaborn without the scipy parts the toolkit's figures never use.

``import seaborn`` imports ``scipy.stats`` (for ``kdeplot``'s KDE) and ``scipy.cluster`` (for
``clustermap``), and with them scipy's linalg, sparse and spatial: 0.6-1.0 s of a command that
draws six small figures, more than the drawing itself on a cached rerun. Seaborn treats scipy as
optional (it falls back to its own KDE and refuses only ``clustermap``), and the toolkit's figures
use ``set_theme``, ``color_palette`` and ``heatmap``, none of which touch scipy.

So a command-line process (and only one: :func:`allow_lean_import` is called by
``judges.cli.run_main``) imports seaborn with those two scipy modules hidden. A notebook or any
other library user gets seaborn as usual, because user code there may call ``clustermap`` later
in the same process.
"""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["allow_lean_import", "import_seaborn"]

# Modules seaborn imports only inside a try/except ImportError (seaborn 0.13).
_OPTIONAL_FOR_SEABORN = ("scipy.stats", "scipy.cluster")
_lean = False


def allow_lean_import(allowed: bool = True) -> None:
    """Let :func:`import_seaborn` skip seaborn's optional scipy imports in this process.

    Example:
        >>> allow_lean_import(False)  # the default: seaborn as usual

    """
    global _lean
    _lean = allowed


def import_seaborn() -> ModuleType:
    """``seaborn``, imported lean where :func:`allow_lean_import` allowed it.

    Already imported (by the user or before): that module, untouched. Otherwise, when lean, the
    scipy modules seaborn can do without are hidden from its import (and only from it: they are
    importable again straight after, for any code that needs them).

    Example:
        >>> sns = import_seaborn()
        >>> sns.__name__
        'seaborn'

    """
    if "seaborn" in sys.modules or not _lean:
        import seaborn

        return seaborn
    hidden = [name for name in _OPTIONAL_FOR_SEABORN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail
    try:
        import seaborn

        return seaborn
    except ImportError:  # a seaborn that needs them after all: forget the partial import
        for name in [m for m in sys.modules if m == "seaborn" or m.startswith("seaborn.")]:
            del sys.modules[name]
    finally:  # before any import below: the hidden modules are importable again
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    import seaborn

    return seaborn
