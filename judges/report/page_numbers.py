"""A column of numbers for report.html, held as one float64 array until it is written.

A SafeSora-size page carries three numbers per verdict (confidence and both scores, 3.7M at
1.24M verdicts). As Python lists of floats they were 32 bytes a number, and the first run's
peak memory; :class:`PageNumbers` keeps 8 bytes a number and reads as the list it stands for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

__all__ = ["PageMembers", "PageNumbers", "as_list"]


class PageNumbers(Sequence[float | None]):
    """Numbers that read as a list of floats, ``None`` where a value is not finite.

    Args:
        values: The numbers; NaN and infinities read as ``None`` (JSON cannot hold them).

    Example:
        >>> numbers = PageNumbers(np.array([0.5, np.nan, 2.0]))
        >>> numbers[1] is None, numbers[0:3:2], list(numbers) == [0.5, None, 2.0]
        (True, [0.5, 2.0], True)

    """

    __slots__ = ("_missing", "_values")

    def __init__(self, values: np.ndarray) -> None:
        self._values = np.asarray(values, dtype=np.float64)
        missing = ~np.isfinite(self._values)
        self._missing = missing if missing.any() else None

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, i: int) -> float | None: ...

    @overload
    def __getitem__(self, i: slice) -> list[float | None]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            out = self._values[i].tolist()
            if self._missing is not None:
                for k in np.flatnonzero(self._missing[i]).tolist():
                    out[k] = None
            return out
        if self._missing is not None and self._missing[i]:
            return None
        return self._values.item(i)

    def __iter__(self) -> Iterator[float | None]:
        return iter(self[:])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PageNumbers | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PageNumbers({self[:]!r})"


class PageMembers(ABC):
    """A list of the page's data whose members are made as it is iterated, one at a time.

    The page's JSON writer (:mod:`judges.report.html_page`) encodes it member by member, so
    only one member's objects are alive at once.

    Example:
        >>> class Squares(PageMembers):
        ...     def __len__(self): return 3
        ...     def __iter__(self): return (i * i for i in range(3))
        >>> list(Squares())
        [0, 1, 4]

    """

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __iter__(self) -> Iterator[Any]: ...


def as_list(obj: Any) -> list[Any]:
    """``json.dumps``' ``default`` for a page's data: numbers and members as their lists.

    Example:
        >>> import json
        >>> json.dumps({"c": PageNumbers(np.array([1.0, np.inf]))}, default=as_list)
        '{"c": [1.0, null]}'

    """
    if isinstance(obj, PageNumbers):
        return obj[:]
    if isinstance(obj, PageMembers):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
