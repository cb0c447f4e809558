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
from typing import Any

from tqdm import tqdm

from judges.cache.store import Store
from judges.chat.batch_files import (
    ENDPOINT,
    TERMINAL,
    BatchOptions,
    Shard,
    line_outcome,
    unanswered,
    write_shards,
)
from judges.chat.budget import Budget
from judges.chat.client import (
    OVER_BUDGET,
    RESPONSES,
    ChatClient,
    Endpoint,
    describe_error,
    reply_data,
)
from judges.core.errors import ConfigError

BATCHES = "batches"


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
        self.dropped_params: list[str] = []  # optional parameters lines rejected (HTTP 400)

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
                # Sent without what the endpoint rejected; the key stays the full body's.
                yield key, self.chat.sendable(body), estimate * self.options.discount

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
                        updated = {**record, "status": batch.status}
                        if self.store.replace_if(BATCHES, shard_id, record, updated):
                            records[shard_id] = updated
                            continue
                        latest = self.store.get(BATCHES, shard_id)  # another process's write
                        if latest["state"] == "done":
                            failures[shard_id] = self._ingested_elsewhere(shard_id, latest)
                            done_counts[shard_id] = record["requests"]
                            del records[shard_id]
                        else:
                            records[shard_id] = latest
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
        if record["state"] == "done":  # ingested by another process (batches.py follow)
            return self._ingested_elsewhere(shard_id, record)
        before = dict(record)
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
                    if "HTTP 400" in outcome:
                        self.dropped_params += self.chat.note_unsupported(outcome)
                    continue
                data = reply_data(ChatCompletion.model_validate(body))
                data["batch"] = {"id": batch.id, "discount": discount}
                answers.append((line["custom_id"], data))
        known = set(record["keys"])
        answers = [(k, d) for k, d in answers if k in known]
        self.store.put_many(
            RESPONSES, answers
        )  # the same answers under the same keys: twice is once
        answered = {k for k, _ in answers}
        for key in known - answered - set(failures):
            failures[key] = unanswered(batch)
        cost = sum(self.chat.cost(d) or 0.0 for _, d in answers)
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
        if not self.store.replace_if(BATCHES, shard_id, before, record):
            latest = self.store.get(BATCHES, shard_id)  # another process wrote it meanwhile
            if latest["state"] == "done":
                return self._ingested_elsewhere(shard_id, latest)
            return self.ingest(shard_id, batch)  # only its status changed: again
        self.chat.stats.paid_calls += len(answers)  # counted by the one process that ingested
        self.chat.stats.batch_answers += len(answers)
        self.chat.stats.spent_usd += cost
        self.budget.settle(self._reserved.pop(shard_id, 0.0), cost)
        if failures:
            self.log(
                f"{record['judge']}: batch {batch.id} ({batch.status}) left {len(failures)} of "
                f"{record['requests']} request(s) unanswered; a rerun submits only those"
            )
        return failures

    def _ingested_elsewhere(self, shard_id: str, record: dict[str, Any]) -> dict[str, str]:
        """A batch another process ingested: its recorded outcomes, its cost settled once."""
        self.budget.settle(self._reserved.pop(shard_id, 0.0), float(record.get("cost_usd") or 0))
        return dict(record.get("outcomes") or {})

    def cancel(self, shard_id: str) -> str:
        """Ask the server to cancel a batch; its status after the request."""
        record = self.store.get(BATCHES, shard_id)
        if record["batch_id"] is None:
            raise ConfigError(f"shard {shard_id} has no batch yet (nothing to cancel)")
        try:
            return str(self.client.batches.cancel(record["batch_id"]).status)
        except Exception as e:
            raise ConfigError(f"cancel {record['batch_id']}: {describe_error(e)}") from None
