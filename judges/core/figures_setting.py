"""Whether runs draw their figures by default: ``$JUDGES_FIGURES`` (``all`` or ``none``).

One setting for every way in: the commands' ``--figures`` default and
:class:`~judges.run.agreement.AgreementConfig`'s (a notebook or script), so a machine that
sets ``JUDGES_FIGURES=none`` (sweeps, CI, test suites that read tables) draws nothing anywhere
unless a run asks.
"""

from __future__ import annotations

import os

from judges.core.errors import ConfigError

FIGURES = ("all", "none")
"""The values of ``--figures`` and ``$JUDGES_FIGURES``."""


def figures_setting() -> str:
    """``$JUDGES_FIGURES`` as given, ``all`` when unset or empty (checked by the caller)."""
    return os.environ.get("JUDGES_FIGURES") or "all"


def figures_by_default() -> bool:
    """Whether a run draws its figures unless told: ``$JUDGES_FIGURES``, else ``all``.

    Raises:
        ConfigError: ``$JUDGES_FIGURES`` is neither ``all`` nor ``none``.

    Example:
        >>> import os
        >>> kept = os.environ.pop("JUDGES_FIGURES", None)
        >>> os.environ["JUDGES_FIGURES"] = "none"
        >>> figures_by_default()
        False
        >>> del os.environ["JUDGES_FIGURES"]
        >>> figures_by_default()
        True
        >>> if kept is not None:
        ...     os.environ["JUDGES_FIGURES"] = kept

    """
    return draws(figures_setting())


def draws(value: str) -> bool:
    """Whether ``value`` (``--figures`` or ``$JUDGES_FIGURES``) asks for figures.

    Raises:
        ConfigError: ``value`` is neither ``all`` nor ``none`` (named as the variable: only it
            reaches here unchecked, argparse checks what is given on the command line).

    Example:
        >>> draws("none")
        False

    """
    if value not in FIGURES:
        raise ConfigError(f"$JUDGES_FIGURES={value!r}: choose {' or '.join(FIGURES)}")
    return value == "all"
