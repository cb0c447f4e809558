"""Versioned prompts of VLM harm judges (``judges/prompts/harm/<version>.toml``) and replies.

The system message carries the preamble, the prompt-asks rule and the twelve categories (from
:data:`judges.harm.CATEGORIES`); the user message the prompt, each keyframe captioned in time
order, and the reply contract: a JSON object with exactly the 12 keys, each true or false.
:func:`interpret_harm_reply` reads a reply: the last JSON object in it, checked against the
contract (a missing or extra key, or a non-boolean value, is ``unparsed``).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from judges.builtin.vlm.prompts import Layout, Variant
from judges.builtin.vlm.replies import looks_like_refusal
from judges.core.errors import ConfigError
from judges.core.harm_types import CATEGORIES, HARM_KEYS

JSON_SCHEMA: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "harm_labels",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {k: {"type": "boolean"} for k in HARM_KEYS},
            "required": list(HARM_KEYS),
            "additionalProperties": False,
        },
    },
}


@dataclass(frozen=True)
class HarmPrompts:
    """One version of the harm prompts."""

    version: str
    data: dict[str, Any]

    def system(self) -> str:
        """Preamble, the prompt-asks rule and every category's criterion."""
        s = self.data["system"]
        lines = [f"- {c.key}: {c.name} - {c.what}" for c in CATEGORIES]
        return "\n\n".join(
            [
                s["preamble"].strip(),
                s["rule"].strip(),
                s["categories_intro"] + "\n" + "\n".join(lines),
            ]
        )

    def messages(
        self, prompt_text: str, images: list[str], *, variant: Variant, layout: Layout, detail: str
    ) -> list[dict[str, Any]]:
        """Chat messages for tagging one text-video pair (images in time order)."""
        user = self.data["user"]
        parts: list[dict[str, Any]] = [
            {"type": "text", "text": user["intro"].format(prompt=prompt_text)}
        ]
        for k, url in enumerate(images, 1):
            caption = user["grid"] if layout == "grid" else user["frame"].format(k=k)
            parts.append({"type": "text", "text": caption})
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
        how = self.data["answer"][variant].strip().format(keys=", ".join(HARM_KEYS))
        parts.append({"type": "text", "text": how})
        return [
            {"role": "system", "content": self.system()},
            {"role": "user", "content": parts},
        ]


@cache
def load_harm_prompts(version: str = "harm-v1") -> HarmPrompts:
    """Load ``judges/prompts/harm/<version without 'harm-'>.toml``.

    Raises:
        ConfigError: no such version (listing the available ones).

    """
    folder = resources.files("judges") / "prompts" / "harm"
    path = folder / f"{version.removeprefix('harm-')}.toml"
    if not path.is_file():
        available = sorted(
            "harm-" + p.name.removesuffix(".toml")
            for p in folder.iterdir()
            if p.name.endswith(".toml")
        )
        raise ConfigError(
            f"unknown harm prompt version {version!r}; available: {', '.join(available)}"
        )
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != version:
        raise ConfigError(f"{path}: declares version {data.get('version')!r}, expected {version!r}")
    return HarmPrompts(version, data)


def last_json_object(text: str) -> tuple[Any, int] | None:
    """The last top-level ``{...}`` in ``text`` that parses as JSON, and where it starts.

    Example:
        >>> last_json_object('I think {"a": 1} then {"b": true}.')
        ({'b': True}, 22)

    """
    decoder = json.JSONDecoder()
    start = text.rfind("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
            if isinstance(obj, dict):
                return obj, start
        except json.JSONDecodeError:
            pass
        start = text.rfind("{", 0, start)
    return None


def interpret_harm_reply(data: dict[str, Any]) -> dict[str, Any]:
    """Status and labels of one chat reply (see the module docstring).

    Example:
        >>> r = interpret_harm_reply({"content": "Looks fine. " + json.dumps(
        ...     dict.fromkeys(HARM_KEYS, False))})
        >>> r["status"], sum(r["labels"].values())
        ('ok', 0)

    """
    content = data.get("content") or ""
    out: dict[str, Any] = {"status": "unparsed", "labels": None, "problem": None}
    found = last_json_object(content)
    if data.get("refusal") or data.get("finish_reason") == "content_filter":
        out["status"] = "refused"
    elif found is None:
        out["status"] = "refused" if looks_like_refusal(content) else "unparsed"
        out["problem"] = "no JSON object in the reply"
    else:
        obj, start = found
        missing = [k for k in HARM_KEYS if k not in obj]
        extra = [k for k in obj if k not in HARM_KEYS]
        wrong = [k for k in HARM_KEYS if k in obj and not isinstance(obj[k], bool)]
        if missing or extra or wrong:
            out["problem"] = "; ".join(
                p
                for p in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "",
                    f"not true/false: {', '.join(wrong)}" if wrong else "",
                )
                if p
            )
        else:
            out["status"], out["labels"] = "ok", {k: obj[k] for k in HARM_KEYS}
        out["reasoning"] = content[:start].rstrip()
    out.update(
        text=content,
        refusal=data.get("refusal"),
        finish_reason=data.get("finish_reason"),
        usage=data.get("usage"),
        model=data.get("model"),
    )
    return out
