"""Reading a VLM judge's reply: the final choice, and whether it declined.

The prompts ask for a last line ``Final answer: Video 1`` / ``Video 2`` (or ``Tie``). Models
also write ``[[1]]``, ``Answer: 2``, ``**Video 2**`` or a bare ``1``; all are accepted. A
chain-of-thought reply mentions both videos on the way, so the *last* well-formed answer wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from judges.chat.logprobs import answer_probability
from judges.core.types import Status, Winner

Answer = Literal["1", "2", "tie"]

_WORD = {"1": "1", "2": "2", "first": "1", "second": "2", "one": "1", "two": "2", "tie": "tie"}
_CHOICE = r"(?:video\s*|the\s+)?(1|2|first|second|one|two|tie)\b(?:\s+video)?"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("final answer", re.compile(r"final\s+answer\s*[:：\-]?\s*[*_\"'`\[(]*\s*" + _CHOICE, re.I)),
    ("double brackets", re.compile(r"\[\[\s*(?:video\s*)?(1|2|tie)\s*\]\]", re.I)),
    (
        "answer",
        re.compile(
            r"\b(?:answer|judg(?:e)?ment|verdict|choice)\s*[:：]\s*[*_\"'`]*\s*" + _CHOICE, re.I
        ),
    ),
    ("bold video", re.compile(r"\*\*\s*video\s*(1|2)\s*\*\*", re.I)),
]
_BARE = re.compile(r"^\W*(?:video\s*)?(1|2)\W*$", re.I)
_DECLINES = re.compile(
    r"\b(?:I(?:'m| am)\s+(?:sorry|unable|not able)|I\s+(?:can(?:'|no)t|cannot|won't|will not)\s+"
    r"(?:help|assist|comply|provide|evaluate|compare|judge|do that|fulfil)|"
    r"(?:can(?:'|no)t|cannot|unable to)\s+(?:help|assist)\s+with)",
    re.I,
)


@dataclass(frozen=True)
class Parsed:
    """A parsed reply: the choice in presentation order, and where it was found."""

    answer: Answer | None
    pattern: str | None = None
    start: int | None = None
    end: int | None = None


def parse_answer(text: str | None) -> Parsed:
    """Find the last well-formed answer in a reply.

    Returns:
        ``answer`` is ``"1"``/``"2"`` (the first/second video *as presented*), ``"tie"`` or
        ``None`` when no answer is found.

    Example:
        >>> parse_answer("Video 1 is sharp, but Video 2 follows it. Final answer: Video 2").answer
        '2'
        >>> parse_answer("[[1]]").answer
        '1'

    """
    if not text:
        return Parsed(None)
    best: Parsed | None = None
    for name, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if best is None or m.end(1) > (best.end or -1):
                best = Parsed(_WORD[m.group(1).lower()], name, m.start(1), m.end(1))
    if best is not None:
        return best
    bare = _BARE.match(text.strip())
    if bare:
        offset = text.index(bare.group(1), text.find(text.strip()))
        return Parsed(_WORD[bare.group(1).lower()], "bare", offset, offset + 1)
    return Parsed(None)


def looks_like_refusal(text: str | None) -> bool:
    """Whether a reply with no answer declines the task ("I'm sorry, I can't help with that").

    Example:
        >>> looks_like_refusal("I'm sorry, but I can't assist with that request.")
        True

    """
    return bool(text) and bool(_DECLINES.search(text or ""))


ANSWERS = frozenset({"1", "2", "tie"})


def interpret_reply(data: dict[str, Any], swapped: bool, allow_tie: bool) -> dict[str, Any]:
    """Status, winner and confidence of one chat reply (winner in dataset terms, not as shown).

    Args:
        data: The reply as plain data (:func:`judges.chat.client.reply_data`).
        swapped: Whether video_1 was shown first.
        allow_tie: Whether the prompt offered a tie (otherwise a tie is ``unparsed``).

    """
    content = data.get("content") or ""
    parsed = parse_answer(content)
    status: Status
    winner: Winner = None
    if data.get("refusal") or data.get("finish_reason") == "content_filter":
        status = "refused"
    elif parsed.answer is None:
        status = "refused" if looks_like_refusal(content) else "unparsed"
    elif parsed.answer == "tie":
        status, winner = ("tie", "tie") if allow_tie else ("unparsed", None)
    else:
        status = "ok"
        first_shown = parsed.answer == "1"
        winner = "video_1" if first_shown == swapped else "video_0"
    prob = (
        answer_probability(data.get("logprobs"), parsed.start, ANSWERS) if status == "ok" else None
    )
    return {
        "order": "video_1 first" if swapped else "video_0 first",
        "status": status,
        "answer": parsed.answer,
        "pattern": parsed.pattern,
        "winner": winner,
        "answer_prob": prob,
        "reasoning": content[: parsed.start].rstrip() if parsed.start else content,
        "text": content,
        "refusal": data.get("refusal"),
        "finish_reason": data.get("finish_reason"),
        "usage": data.get("usage"),
        "model": data.get("model"),
    }
