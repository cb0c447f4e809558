"""Reading answer probabilities out of a chat reply's token log-probabilities."""

from __future__ import annotations

import math
from typing import Any


def answer_probability(
    logprobs: list[dict[str, Any]] | None, start: int | None, options: frozenset[str]
) -> float | None:
    """Probability of the answer token at character ``start``, among the answer options.

    The token covering ``start`` is found by walking the reply's tokens; its probability is
    normalised over the alternatives in ``top_logprobs`` that are themselves answers
    (``options``, lower-case), so it reads as "how sure between the options". ``None`` without
    log-probabilities.

    Example:
        >>> lp = [{"token": "Answer: ", "logprob": 0.0, "top": []},
        ...       {"token": "2", "logprob": math.log(0.75),
        ...        "top": [{"token": "1", "logprob": math.log(0.25)}]}]
        >>> answer_probability(lp, 8, frozenset({"1", "2"}))
        0.75

    """
    if not logprobs or start is None:
        return None
    offset = 0
    for tok in logprobs:
        end = offset + len(tok["token"])
        if offset <= start < end:
            chosen = math.exp(tok["logprob"])
            key = tok["token"].strip().lower()
            others = [
                math.exp(a["logprob"])
                for a in tok.get("top", [])
                if a["token"].strip().lower() in options and a["token"].strip().lower() != key
            ]
            total = chosen + sum(others)
            return chosen / total if total > 0 else None
        offset = end
    return None
