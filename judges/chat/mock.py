"""``base_url=mock``: an in-process stand-in for an OpenAI-compatible server. Not a model.

It lets anyone see what a VLM run looks like (requests, cache, tables, reports) offline and
without an API key, as inspect_ai's mock model does. It answers by a fixed, documented rule,
every reply starts with :data:`NOT_A_MODEL`, replies cost nothing, and the judge's label gets
``-mock`` so no table can pass its numbers off as a model's:

- **a pairwise request** (two videos' keyframes as images, each after a text naming "the
  first video" or "the second video"): the video whose keyframe images are larger in total
  (base64 JPEG bytes, so more visual detail) wins; equal sizes answer Video 1;
- **a request with a JSON schema** (``response_format``, as the harm judges send): each boolean
  property is true when the first text of the user's message (where the prompt is; the
  instructions name every category) names it (``violence``, or ``animal abuse`` for
  ``animal_abuse``).

Only ``/chat/completions`` is served (online mode; the Batch API is not mocked).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

MOCK = "mock"
"""The ``base_url`` value that selects this stand-in."""

NOT_A_MODEL = "[mock endpoint: a fixed rule, not a model]"
"""How every reply of the stand-in starts."""

_TOKENS_PER_IMAGE = 85  # what a low-detail image costs at OpenAI, for a plausible `usage`


def is_mock(base_url: str | None) -> bool:
    """Whether ``base_url`` selects the stand-in.

    Example:
        >>> is_mock("mock"), is_mock(" MOCK "), is_mock("http://localhost:8000/v1")
        (True, True, False)

    """
    return base_url is not None and base_url.strip().lower() == MOCK


def _parts(body: dict[str, Any], role: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        if role is not None and message.get("role") != role:
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append({"type": "text", "text": content})
        elif isinstance(content, list):
            out.extend(p for p in content if isinstance(p, dict))
    return out


def _image_sizes(parts: list[dict[str, Any]]) -> tuple[int, int]:
    """Total image bytes of the first and the second video."""
    sizes = [0, 0]
    images: list[int] = []
    side: int | None = None
    for part in parts:
        if part.get("type") == "text":
            text = str(part.get("text", "")).lower()
            if "second video" in text:
                side = 1
            elif "first video" in text:
                side = 0
        elif part.get("type") == "image_url":
            url = part.get("image_url", {}).get("url", "")
            images.append(len(url))
            if side is not None:
                sizes[side] += len(url)
    if sizes == [0, 0] and images:  # no markers: the first half of the images is video 1
        half = len(images) // 2
        sizes = [sum(images[:half]), sum(images[half:])]
    return sizes[0], sizes[1]


def mock_content(body: dict[str, Any]) -> str:
    """The reply text the rule gives for a chat-completions request body.

    Example:
        >>> body = {"messages": [{"role": "user", "content": [
        ...     {"type": "text", "text": "Frame 1 of the first video:"},
        ...     {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
        ...     {"type": "text", "text": "Frame 1 of the second video:"},
        ...     {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAAAAAA"}},
        ... ]}]}
        >>> mock_content(body).splitlines()[-1]
        'Final answer: Video 2'

    """
    parts = _parts(body)
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    if schema:
        # The first text of the user's message holds the prompt; the instructions after it
        # (and the system message) name every category.
        texts = [p for p in _parts(body, role="user") if p.get("type") == "text"]
        text = str(texts[0].get("text", "")).lower() if texts else ""
        answer = {
            key: key in text or key.replace("_", " ") in text
            for key, spec in schema.get("properties", {}).items()
            if spec.get("type") == "boolean"
        }
        return f"{NOT_A_MODEL} Categories the prompt names are tagged.\n{json.dumps(answer)}"
    first, second = _image_sizes(parts)
    winner = 2 if second > first else 1
    return (
        f"{NOT_A_MODEL} The first video's keyframes total {first} bytes, the second's "
        f"{second}; the larger wins (equal: Video 1).\nFinal answer: Video {winner}"
    )


def mock_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` object answering ``body`` by the rule."""
    content = mock_content(body)
    parts = _parts(body)
    text_chars = sum(len(str(p.get("text", ""))) for p in parts if p.get("type") == "text")
    images = sum(1 for p in parts if p.get("type") == "image_url")
    prompt_tokens = text_chars // 4 + images * _TOKENS_PER_IMAGE
    completion_tokens = len(content) // 4
    return {
        "id": "mock-" + hashlib.sha256(content.encode()).hexdigest()[:16],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model", MOCK)),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def mock_transport() -> Any:
    """An ``httpx`` transport that answers ``/chat/completions`` by the rule (404 otherwise)."""
    import importlib

    import openai

    # The HTTP library openai's client is built on (httpx, or a fork of it in some releases):
    # the transport must be that library's.
    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    httpx = importlib.import_module(base.__module__.split(".")[0])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json=mock_completion(json.loads(request.content)))
        message = f"{request.url.path}: the mock endpoint serves /chat/completions only"
        return httpx.Response(404, json={"error": {"message": message, "type": "not_found"}})

    return httpx.MockTransport(handle)
