"""The OpenAI Batch API for VLM judges: the same requests as online, at the batch price.

A judge in ``mode=batch`` hands :class:`BatchRunner` every request its tasks need. The runner

1. skips requests the response cache answers and requests an unfinished batch already holds;
2. writes the rest as JSONL (``custom_id`` = the request's response-cache key, so an answer maps
   straight back to its cache entry) in shards of at most ``max_requests`` lines and
   ``max_bytes`` (base64 keyframes make the byte limit bind first);
3. per shard: reserves its worst-case cost at the batch price against ``--max-cost`` (a shard
   that does not fit is not created), uploads it, records the file id, creates the batch
   (``/v1/chat/completions``, 24 h window) and records the batch id, each step committed to the
   cache before the next; a process killed at any point resumes the same batches (an uploaded
   file whose batch id was lost is looked up by ``input_file_id`` among the server's batches),
   so no batch is ever created twice;
4. polls until every batch ends, with progress from the batches' request counts;
5. downloads output and error files and caches each answer under its request key, exactly as
   an online call would (plus ``batch: {id, discount}``, which prices it); every request without
   an answer gets a named outcome (the line's error, or the batch expired, failed or was
   cancelled), which the judge reports as that task's error. Errors are not cached, so a rerun
   sends only those again.

Batch answers and online answers are interchangeable: a request answered either way is never
paid for again. ``experiments/batches.py`` lists, follows and cancels batches.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from judges.budget import Budget
from judges.cache import Store
from judges.chat import (
    OVER_BUDGET,
    RESPONSES,
    ChatClient,
    Endpoint,
    describe_error,
    reply_data,
)
from judges.errors import ConfigError

BATCHES = "batches"
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


def open_client(endpoint: Endpoint) -> Any:
    """A synchronous ``openai`` client for the endpoint (batches are few, slow calls)."""
    import os

    import openai

    env = endpoint.key_env
    return openai.OpenAI(
        api_key=os.environ.get(env, "") if env else "not-needed",
        base_url=endpoint.base_url,
        timeout=endpoint.timeout,
        max_retries=endpoint.max_retries,
    )


class BatchRunner:
    """Submits, resumes, polls and ingests one judge's batches (see the module docstring).

    Args:
        chat: The judge's chat client (endpoint, response-cache keys, prices).
        store: The cache: batch records and answers.
        options: Discount, poll interval and shard limits.
        budget: The run's spending cap.
        progress: Show a progress bar while polling.
        log: Where one-line notices go.

    Example:
        >>> runner = BatchRunner(judge.chat, store, BatchOptions(poll_seconds=5))  # doctest: +SKIP
        >>> failures = runner.run(requests)  # doctest: +SKIP

    """

    def __init__(
        self,
        chat: ChatClient,
        store: Store,
        options: BatchOptions,
        budget: Budget | None = None,
        *,
        progress: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.chat = chat
        self.store = store
        self.options = options
        self.budget = budget or Budget()
        self.progress = progress
        self.log = log or (lambda _msg: None)
        self.folder = store.path.parent / "batches"
        self._client: Any = None
        self._reserved: dict[str, float] = {}

    @property
    def client(self) -> Any:
        """The ``openai`` client (created on first use)."""
        if self._client is None:
            self._client = open_client(self.chat.endpoint)
        return self._client

    def records(self, *, unfinished: bool = True) -> dict[str, dict[str, Any]]:
        """This endpoint's batch records (by shard id); only those not yet ingested by default."""
        return {
            shard_id: rec
            for shard_id, rec in self.store.items(BATCHES).items()
            if rec["base_url"] == self.chat.endpoint.base_url
            and (not unfinished or rec["state"] != "done")
        }

    # --- the whole flow ---------------------------------------------------------------------

    def run(self, requests: Iterable[tuple[str, dict[str, Any], float]]) -> dict[str, str]:
        """Have every request answered through batches; the outcome of each one that was not.

        Args:
            requests: ``(response-cache key, body, worst-case online USD)`` per request.

        Returns:
            Request key -> why it has no answer (answers themselves are in the cache).

        """
        # Unfinished batches (a killed run's) that hold some of these requests: followed, not
        # submitted again. Other runs' unfinished batches are left alone.
        shard_of = {key: shard for shard, rec in self.records().items() for key in rec["keys"]}
        touched: set[str] = set()
        wanted: set[str] = set()

        def todo() -> Iterable[tuple[str, dict[str, Any], float]]:
            for key, body, estimate in requests:
                if key in wanted:
                    continue
                wanted.add(key)
                if key in shard_of:
                    touched.add(shard_of[key])
                    continue
                if self.store.get(RESPONSES, key) is not None:
                    continue
                yield key, body, estimate * self.options.discount

        prefix = f"{self.chat.owner}-{time.strftime('%Y%m%d-%H%M%S')}"
        shards = write_shards(todo(), self.folder, prefix, self.options)
        unfinished = {shard: self.store.get(BATCHES, shard) for shard in sorted(touched)}
        if unfinished:
            self.log(f"{self.chat.owner}: resuming {len(unfinished)} unfinished batch(es)")
        outcomes: dict[str, str] = {}
        for shard in shards:
            if outcomes or not self.budget.reserve(shard.estimate_usd):
                # Shards are created in order; once one is refused, so is the rest.
                outcomes.update(dict.fromkeys(shard.keys, OVER_BUDGET))
                shard.path.unlink(missing_ok=True)
                continue
            shard_id = self.upload(shard)
            self._reserved[shard_id] = shard.estimate_usd
            unfinished[shard_id] = self.store.get(BATCHES, shard_id)
        for shard_id in list(unfinished):
            unfinished[shard_id] = self.create(shard_id)
        for failed in self.follow(list(unfinished)).values():
            outcomes.update((k, v) for k, v in failed.items() if k in wanted)
        return outcomes

    # --- steps ------------------------------------------------------------------------------

    def upload(self, shard: Shard) -> str:
        """Upload a shard and record it (state ``uploaded``); returns its shard id."""
        with shard.path.open("rb") as fh:
            uploaded = self.client.files.create(file=(shard.path.name, fh), purpose="batch")
        shard_id = hashlib.sha256("\n".join(shard.keys).encode()).hexdigest()[:24]
        record = {
            "shard": shard_id,
            "judge": self.chat.owner,
            "base_url": self.chat.endpoint.base_url,
            "api_key_env": self.chat.endpoint.api_key_env,
            "state": "uploaded",
            "input_file_id": uploaded.id,
            "batch_id": None,
            "status": None,
            "keys": shard.keys,
            "requests": len(shard.keys),
            "bytes": shard.bytes,
            "estimate_usd": shard.estimate_usd,
            "discount": self.options.discount,
            "price": [self.chat.price.input, self.chat.price.output] if self.chat.price else None,
            "created": time.time(),
        }
        self.store.put(BATCHES, shard_id, record)
        shard.path.unlink(missing_ok=True)  # the server holds it now
        return shard_id

    def create(self, shard_id: str) -> dict[str, Any]:
        """Create the batch of an uploaded shard, unless the server already has it."""
        record = self.store.get(BATCHES, shard_id)
        if record["batch_id"] is not None:
            return record
        # A kill between creating the batch and recording its id: find it by its input file.
        existing = next(
            (
                b
                for b in self.client.batches.list(limit=100)
                if b.input_file_id == record["input_file_id"]
            ),
            None,
        )
        batch = existing or self.client.batches.create(
            input_file_id=record["input_file_id"],
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={"judge": record["judge"], "shard": shard_id},
        )
        record.update(batch_id=batch.id, state="created", status=batch.status)
        self.store.put(BATCHES, shard_id, record)
        self.log(f"{record['judge']}: batch {batch.id} holds {record['requests']} request(s)")
        return record

    def follow(self, shard_ids: list[str]) -> dict[str, dict[str, str]]:
        """Poll the batches until each has ended and been ingested; their failures by shard."""
        records = {s: self.store.get(BATCHES, s) for s in shard_ids}
        records = {s: r for s, r in records.items() if r is not None and r["state"] != "done"}
        failures: dict[str, dict[str, str]] = {}
        if not records:
            return failures
        total = sum(r["requests"] for r in records.values())
        bar = tqdm(
            total=total,
            desc=f"{self.chat.owner} batches",
            unit="request",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        done_counts: dict[str, int] = {}
        try:
            while records:
                for shard_id, record in list(records.items()):
                    batch = self.client.batches.retrieve(record["batch_id"])
                    counts = batch.request_counts
                    done_counts[shard_id] = (counts.completed + counts.failed) if counts else 0
                    if batch.status in TERMINAL:
                        failures[shard_id] = self.ingest(shard_id, batch)
                        done_counts[shard_id] = record["requests"]
                        del records[shard_id]
                    elif batch.status != record["status"]:
                        record["status"] = batch.status
                        self.store.put(BATCHES, shard_id, record)
                bar.n = sum(done_counts.values())
                bar.refresh()
                if records:
                    time.sleep(self.options.poll_seconds)
        finally:
            bar.close()
        return failures

    def ingest(self, shard_id: str, batch: Any) -> dict[str, str]:
        """Cache a finished batch's answers; the outcome of each request it did not answer."""
        from openai.types.chat import ChatCompletion

        record = self.store.get(BATCHES, shard_id)
        discount = record["discount"]
        answers: list[tuple[str, dict[str, Any]]] = []
        failures: dict[str, str] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            text = self.client.files.content(file_id).text
            for raw in text.splitlines():
                if not raw.strip():
                    continue
                line = json.loads(raw)
                body, outcome = line_outcome(batch.id, line)
                if body is None:
                    failures[line["custom_id"]] = outcome
                    continue
                data = reply_data(ChatCompletion.model_validate(body))
                data["batch"] = {"id": batch.id, "discount": discount}
                answers.append((line["custom_id"], data))
        known = set(record["keys"])
        answers = [(k, d) for k, d in answers if k in known]
        self.store.put_many(RESPONSES, answers)
        answered = {k for k, _ in answers}
        for key in known - answered - set(failures):
            failures[key] = unanswered(batch)
        cost = sum(self.chat.cost(d) or 0.0 for _, d in answers)
        self.chat.stats.paid_calls += len(answers)
        self.chat.stats.batch_answers += len(answers)
        self.chat.stats.spent_usd += cost
        self.budget.settle(self._reserved.pop(shard_id, 0.0), cost)
        record.pop("keys")  # a finished record is read by every later run: keep it small
        record.update(
            state="done",
            status=batch.status,
            answered=len(answers),
            failed=len(failures),
            outcomes=failures,
            cost_usd=cost,
            ended=time.time(),
        )
        self.store.put(BATCHES, shard_id, record)
        if failures:
            self.log(
                f"{record['judge']}: batch {batch.id} ({batch.status}) left {len(failures)} of "
                f"{record['requests']} request(s) unanswered; a rerun submits only those"
            )
        return failures

    def cancel(self, shard_id: str) -> str:
        """Ask the server to cancel a batch; its status after the request."""
        record = self.store.get(BATCHES, shard_id)
        if record["batch_id"] is None:
            raise ConfigError(f"shard {shard_id} has no batch yet (nothing to cancel)")
        try:
            return str(self.client.batches.cancel(record["batch_id"]).status)
        except Exception as e:
            raise ConfigError(f"cancel {record['batch_id']}: {describe_error(e)}") from None


def runner_for(store: Store, record: dict[str, Any], options: BatchOptions) -> BatchRunner:
    """A runner for a recorded batch, from what its record holds (for the batches command)."""
    from judges.pricing import Price

    endpoint = Endpoint(record["base_url"], record["api_key_env"])
    price = Price(*record["price"]) if record.get("price") else None
    chat = ChatClient(endpoint, record["judge"], "", price, store)
    return BatchRunner(chat, store, options, progress=True, log=print)
