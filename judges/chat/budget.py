"""A spending cap shared by every API judge of a run (``--max-cost``)."""

from __future__ import annotations

import threading

from judges.core.errors import JudgesError


class BudgetExhausted(JudgesError):
    """The run stopped before exceeding its ``--max-cost``; finished work is kept."""


class BudgetStop(Exception):
    """One call was not sent because it could push the run past its spending cap."""


class Budget:
    """Tracks money spent and reserved by in-flight calls against an optional cap.

    A call reserves its worst-case cost (estimated input tokens, ``max_tokens`` of output)
    before it is sent, and settles to the actual cost from ``usage`` when it returns, so the
    run never sends a call that could push it over the cap.

    Example:
        >>> b = Budget(1.0)
        >>> b.reserve(0.6), b.reserve(0.6)
        (True, False)
        >>> b.settle(0.6, 0.1); b.spent
        0.1

    """

    def __init__(self, max_usd: float | None = None) -> None:
        if max_usd is not None and max_usd < 0:
            raise ValueError(f"max cost must be >= 0, got {max_usd}")
        self.max_usd = max_usd
        self.spent = 0.0
        self.reserved = 0.0
        self.refused = 0
        self._lock = threading.Lock()

    def reserve(self, estimate: float) -> bool:
        """Reserve ``estimate`` USD; ``False`` (and nothing reserved) if it would exceed the cap."""
        with self._lock:
            if self.max_usd is not None and self.spent + self.reserved + estimate > self.max_usd:
                self.refused += 1
                return False
            self.reserved += estimate
            return True

    def settle(self, estimate: float, actual: float) -> None:
        """Replace a reservation by the actual cost (0 for a failed call)."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - estimate)
            self.spent += actual

    @property
    def exhausted(self) -> bool:
        """Whether a call was refused for lack of budget."""
        return self.refused > 0
