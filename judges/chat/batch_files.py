"""Batch API files: shard limits, the JSONL requests, and reading back a batch's result lines.

Pure functions and values, no network: :mod:`judges.chat.batch` drives the API with them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.core.errors import ConfigError

ENDPOINT = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class BatchOptions:
    """How a judge uses the Batch API.

    Attributes:
        discount: Batch price as a share of the online price (OpenAI: half).
        poll_seconds: Seconds between polls of unfinished batches.
        max_requests: Requests per shard at most (OpenAI's limit: 50,000).
        max_bytes: Bytes per shard file at most (OpenAI's limit: 200 MB).
    """

    discount: float = 0.5
    poll_seconds: float = 30.0
    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 <= self.discount <= 1:
            raise ValueError("batch_discount must be within 0..1")
        if self.poll_seconds <= 0 or self.max_requests < 1 or self.max_bytes < 1:
            raise ValueError("poll_seconds, batch_max_requests and batch_max_mb must be > 0")


@dataclass
class Shard:
    """One JSONL file of requests on its way to becoming a batch."""

    path: Path
    keys: list[str] = field(default_factory=list)
    bytes: int = 0
    estimate_usd: float = 0.0


def request_line(key: str, body: dict[str, Any]) -> bytes:
    """One line of a batch input file.

    Example:
        >>> json.loads(request_line("k1", {"model": "m"}))["custom_id"]
        'k1'

    """
    line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def write_shards(
    requests: Iterable[tuple[str, dict[str, Any], float]],
    folder: Path,
    prefix: str,
    options: BatchOptions,
) -> list[Shard]:
    """Stream ``(key, body, worst-case USD)`` requests into JSONL shards within the limits.

    Raises:
        ConfigError: one request alone is larger than ``max_bytes``.

    """
    folder.mkdir(parents=True, exist_ok=True)
    shards: list[Shard] = []
    handle: Any = None
    try:
        for key, body, estimate in requests:
            line = request_line(key, body)
            if len(line) > options.max_bytes:
                raise ConfigError(
                    f"one batch request is {len(line) / 2**20:.1f} MB, over the "
                    f"{options.max_bytes / 2**20:.0f} MB a batch file may hold; lower max_side or "
                    "the frame count, or use layout=grid"
                )
            shard = shards[-1] if shards else None
            if (
                shard is None
                or len(shard.keys) >= options.max_requests
                or shard.bytes + len(line) > options.max_bytes
            ):
                if handle is not None:
                    handle.close()
                shard = Shard(folder / f"{prefix}-{len(shards):04d}.jsonl")
                shards.append(shard)
                handle = shard.path.open("wb")
            handle.write(line)
            shard.keys.append(key)
            shard.bytes += len(line)
            shard.estimate_usd += estimate
    finally:
        if handle is not None:
            handle.close()
    return shards


def line_outcome(batch_id: str, record: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """A batch output line's chat-completion body (``None`` when it failed) and its outcome."""
    response = record.get("response") or {}
    error = record.get("error")
    status = response.get("status_code")
    body = response.get("body") or {}
    if error:
        return None, f"batch {batch_id}: {error.get('code') or 'error'}: {error.get('message')}"
    if status != 200:
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else body
        return None, f"batch {batch_id}: HTTP {status}: {message}"
    return body, "ok"


def unanswered(batch: Any) -> str:
    """The outcome of a request its batch ended without answering."""
    status = batch.status
    if status == "expired":
        return f"batch {batch.id} expired (24 h window) before answering this request"
    if status == "cancelled":
        return f"batch {batch.id} was cancelled before answering this request"
    if status == "failed":
        errors = getattr(batch, "errors", None)
        messages = [e.message for e in (errors.data or [])] if errors and errors.data else []
        return f"batch {batch.id} failed: {'; '.join(m for m in messages if m) or 'no reason'}"
    return f"batch {batch.id} ended ({status}) without an answer for this request"
