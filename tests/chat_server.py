"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat completions, files and batches.

``POST /v1/chat/completions``: each request takes the next scripted :class:`Reply` (or the
default responder's). It records every request (headers and JSON body) so tests can assert what
a judge actually sent. Token usage is counted independently of the toolkit's estimator: text by
word pieces, images by decoding each data URL and applying the tile rule to its real size.

``/v1/files`` (multipart upload, ``GET /v1/files/{id}/content``) and ``/v1/batches`` (create,
retrieve, list, cancel) follow OpenAI's Batch API: a batch is worked off by a thread of the
server after :attr:`BatchPlan.delay` seconds, each line answered by the same responder as an
online call, and it ends ``completed``, ``expired`` (half its lines answered) or ``failed``
(validation failed) as the plan says; per-line failures go to the error file.

Tests that kill or time out a client never race a clock: :meth:`ChatServer.hold` keeps replies
back (all, or all after the first ``allow``) until the test calls :meth:`ChatServer.allow` or
:meth:`ChatServer.release`, and :meth:`ChatServer.wait_for_requests` blocks until requests have
arrived. ``in_flight`` / ``max_in_flight`` count requests received and not yet answered.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import hashlib
import itertools
import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

_PIECES = re.compile(r"\w+|[^\w\s]")


@dataclass
class Reply:
    content: str | None = "Final answer: Video 1"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    refusal: str | None = None
    finish_reason: str = "stop"
    answer_prob: float | None = 0.9  # probability given to the answer token when logprobs asked
    error: str | None = None  # error message for non-200 replies


def count_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens of a request as this server bills them (independent of the toolkit)."""
    total = 3
    for message in body["messages"]:
        total += 3
        content = message["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for part in parts:
            if part["type"] == "text":
                total += len(_PIECES.findall(part["text"]))
            else:
                url = part["image_url"]["url"]
                raw = base64.b64decode(url.partition("base64,")[2])
                img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
                h, w = img.shape[:2]
                detail = part["image_url"].get("detail", "auto")
                total += _image_tokens(w, h, detail)
    return total


def _image_tokens(w: float, h: float, detail: str) -> int:
    if detail == "low":
        return 85
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def _logprobs(content: str, prob: float) -> dict[str, Any]:
    tokens = re.findall(r"\s+|\w+|[^\w\s]", content)
    answer_index = max((i for i, t in enumerate(tokens) if t in ("1", "2")), default=None)
    out = []
    for i, tok in enumerate(tokens):
        if i == answer_index:
            other = "2" if tok == "1" else "1"
            top = [
                {"token": tok, "logprob": math.log(prob), "bytes": None},
                {"token": other, "logprob": math.log(1 - prob), "bytes": None},
            ]
            out.append(
                {"token": tok, "logprob": math.log(prob), "bytes": None, "top_logprobs": top}
            )
        else:
            out.append(
                {
                    "token": tok,
                    "logprob": -0.01,
                    "bytes": None,
                    "top_logprobs": [{"token": tok, "logprob": -0.01, "bytes": None}],
                }
            )
    return {"content": out, "refusal": None}


def default_responder(body: dict[str, Any]) -> Reply:
    """Answer 1 or 2 from a hash of the request (deterministic, varied)."""
    digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).digest()
    return Reply(content=f"Reasoning about both videos.\nFinal answer: Video {1 + digest[0] % 2}")


def content_key(body: dict[str, Any]) -> str:
    """A request's messages, hashed (what a sample is a sample of)."""
    return hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()


def choice_body(body: dict[str, Any], index: int) -> dict[str, Any]:
    """What choice ``index`` of a request with ``n`` is answered as: a request with ``seed +
    index`` (``choice: index`` without a seed), so K calls and one call with ``n=K`` agree."""
    out = {k: v for k, v in body.items() if k != "n"}
    if index and out.get("seed") is not None:
        out["seed"] = out["seed"] + index
    elif index:
        out["choice"] = index
    return out


def seeded_responder(p_first: float = 0.5, salt: int = 0) -> Callable[[dict[str, Any]], Reply]:
    """A sampling model's stand-in: Video 1 with probability ``p_first``, drawn from a generator
    seeded by the request's messages and seed (same request and seed, same answer)."""

    def respond(body: dict[str, Any]) -> Reply:
        rng = random.Random(f"{content_key(body)}|{body.get('seed')}|{body.get('choice')}|{salt}")
        return Reply(content=f"Sampled.\nFinal answer: Video {1 if rng.random() < p_first else 2}")

    return respond


def table_responder(answers: dict[str, list[str]]) -> Callable[[dict[str, Any]], Reply]:
    """Answers written out per sample: ``{text in the request: [answer of seed 0, seed 1, ...]}``
    (an answer is ``1``, ``2``, ``Tie`` or any other text, sent as ``Final answer: <it>``)."""

    def respond(body: dict[str, Any]) -> Reply:
        text = json.dumps(body["messages"])
        (key,) = [k for k in answers if k in text]
        return Reply(content=f"Final answer: {answers[key][body['seed']]}")

    return respond


@dataclass
class BatchPlan:
    """How the server works off batches.

    Attributes:
        delay: Seconds from creation to the batch's end.
        outcome: ``completed``, ``expired`` (only the first half of the lines answered) or
            ``failed`` (validation failed; nothing answered).
        fail_line: Lines for which it returns True are answered with a 500 in the error file.
        gate: Batches stay ``in_progress``, answering nothing, until this event is set (tests
            clear it to hold them, then set it).
    """

    delay: float = 0.3
    outcome: str = "completed"
    fail_line: Callable[[dict[str, Any]], bool] | None = None
    gate: threading.Event = field(default_factory=lambda: _set(threading.Event()))


def _set(event: threading.Event) -> threading.Event:
    event.set()
    return event


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections when a client opens dozens at
    # once, and each drop costs a one-second SYN retransmit.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client killed by a test: nothing to report
        super().handle_error(request, client_address)


class ChatServer:
    """Start with ``with ChatServer() as server: ... server.url``."""

    def __init__(
        self,
        responder: Callable[[dict[str, Any]], Reply] = default_responder,
        reject_params: tuple[str, ...] = (),
        count_usage: bool = True,
    ) -> None:
        self.script: deque[Reply] = deque()
        self.responder = responder
        self.reject_params = reject_params
        # Benchmarks turn this off: decoding every image would be the server's cost, not ours.
        self.count_usage = count_usage
        self.requests: list[dict[str, Any]] = []
        self.usages: list[dict[str, int]] = []  # each completed chat reply's billed tokens
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each chat request
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)
        self._allowance: int | None = None  # None: answer everything; n: n more, hold the rest
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm and delayed
            # ACKs each keep-alive reply would stall ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if self.path.endswith("/files"):
                    return self._send(*server.upload(self.headers, raw))
                if "/batches" in self.path:
                    return self._send(*server.batch_post(self.path, raw))
                body = json.loads(raw)
                with server.lock:
                    server.requests.append(body)
                    server.arrivals.append(time.monotonic())
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = server.script.popleft() if server.script else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server._changed.notify_all()
                try:
                    if not self.path.endswith("/chat/completions"):
                        status, payload, headers = 404, {"error": {"message": "not found"}}, {}
                    else:
                        server._await_turn()
                        status, payload, headers = server.complete(body, reply)
                finally:
                    with server.lock:  # answered: no longer in flight, before the client knows
                        server.in_flight -= 1
                        server._changed.notify_all()
                self._send(status, payload, headers)

            def do_GET(self) -> None:
                status, payload = server.get(self.path)
                if isinstance(payload, bytes):
                    return self._send_bytes(status, payload, "application/octet-stream")
                self._send(status, payload)

            def _send_bytes(self, status: int, data: bytes, kind: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); nothing to do

        self.batch_plan = BatchPlan()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_lines = 0  # lines answered by batches (each a paid request)
        self.batch_polls = 0  # GETs of one batch (a client polling it)
        self._ids = itertools.count(1)
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.batch_plan.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- holding replies (tests control time by events, not by sleeps) -------------------------

    def hold(self, allow: int = 0) -> None:
        """Answer ``allow`` more chat requests, then hold every later one until released."""
        with self.lock:
            self._allowance = allow
            self._changed.notify_all()

    def allow(self, n: int = 1) -> None:
        """Let ``n`` more held (or future) requests be answered."""
        with self.lock:
            if self._allowance is not None:
                self._allowance += n
            self._changed.notify_all()

    def release(self) -> None:
        """Answer every held request and every later one."""
        with self.lock:
            self._allowance = None
            self._changed.notify_all()

    def wait_for_requests(self, n: int, timeout: float = 120.0) -> None:
        """Block until ``n`` chat requests have arrived (AssertionError after ``timeout``)."""
        self.wait_until(lambda: len(self.requests) >= n, timeout, f"{n} requests")

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Block until ``condition()`` (called under the server's lock) holds."""
        with self.lock:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(
                    f"waited {timeout} s for {what}; {len(self.requests)} requests arrived, "
                    f"{self.in_flight} in flight"
                )

    def _await_turn(self) -> None:
        with self.lock:
            self._changed.wait_for(lambda: self._allowance is None or self._allowance > 0)
            if self._allowance is not None:
                self._allowance -= 1

    # --- chat completions ----------------------------------------------------------------------

    def complete(
        self, body: dict[str, Any], reply: Reply | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, JSON payload and headers answering one chat-completion request."""
        rejected = [p for p in self.reject_params if p in body]
        if rejected:
            error = {
                "message": f"Unsupported parameter: '{rejected[0]}'",
                "type": "invalid_request_error",
                "param": rejected[0],
            }
            return 400, {"error": error}, {}
        # n choices: choice j is answered as the request with seed + j (see choice_body).
        replies = [reply or self.responder(choice_body(body, j)) for j in range(body.get("n", 1))]
        reply = replies[0]
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            error = {"message": reply.error or "scripted", "type": "server_error"}
            return reply.status, {"error": error}, reply.headers
        choices = []
        for j, r in enumerate(replies):
            choice: dict[str, Any] = {
                "index": j,
                "message": {"role": "assistant", "content": r.content, "refusal": r.refusal},
                "finish_reason": r.finish_reason,
                "logprobs": None,
            }
            if body.get("logprobs") and r.content and r.answer_prob is not None:
                choice["logprobs"] = _logprobs(r.content, r.answer_prob)
            choices.append(choice)
        prompt_tokens = count_tokens(body) if self.count_usage else 1000
        completion = sum(len(_PIECES.findall(r.content or "")) for r in replies)
        with self.lock:
            self.usages.append({"prompt_tokens": prompt_tokens, "completion_tokens": completion})
        payload = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
            },
        }
        return 200, payload, reply.headers

    # --- files and batches ------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _file(self, data: bytes, purpose: str, filename: str) -> dict[str, Any]:
        with self.lock:
            file_id = self._new_id("file")
            self.files[file_id] = data
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }

    def upload(self, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /v1/files`` (multipart: ``purpose`` and ``file``)."""
        head = f"Content-Type: {headers.get('Content-Type')}\r\n\r\n".encode()
        message = email.parser.BytesParser().parsebytes(head + raw)
        fields = {
            part.get_param("name", header="content-disposition"): part
            for part in message.get_payload()
        }
        if "file" not in fields or "purpose" not in fields:
            return 400, {"error": {"message": "file and purpose are required"}}
        part = fields["file"]
        purpose = fields["purpose"].get_payload(decode=True).decode()
        return 200, self._file(part.get_payload(decode=True), purpose, part.get_filename() or "")

    def batch_post(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /v1/batches`` (create) and ``POST /v1/batches/{id}/cancel``."""
        if path.endswith("/cancel"):
            batch_id = path.split("/")[-2]
            with self.lock:
                batch = self.batches.get(batch_id)
                if batch is None:
                    return 404, {"error": {"message": f"no batch {batch_id}"}}
                if batch["status"] in ("validating", "in_progress"):
                    batch["status"] = "cancelling"
                return 200, copy.deepcopy(batch)
        body = json.loads(raw)
        if body.get("input_file_id") not in self.files:
            return 400, {"error": {"message": "unknown input_file_id"}}
        lines = self.files[body["input_file_id"]].decode().splitlines()
        with self.lock:
            batch_id = self._new_id("batch")
            batch = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body["endpoint"],
                "completion_window": body["completion_window"],
                "input_file_id": body["input_file_id"],
                "metadata": body.get("metadata"),
                "status": "validating",
                "created_at": int(time.time()),
                "output_file_id": None,
                "error_file_id": None,
                "errors": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            }
            self.batches[batch_id] = batch
        threading.Thread(target=self._work, args=(batch_id, lines), daemon=True).start()
        return 200, copy.deepcopy(batch)

    def _work(self, batch_id: str, lines: list[str]) -> None:
        plan = self.batch_plan
        batch = self.batches[batch_id]
        with self.lock:
            if batch["status"] == "validating":
                batch["status"] = "in_progress"
        if plan.outcome == "failed":
            with self.lock:
                batch["status"] = "failed"
                batch["errors"] = {
                    "object": "list",
                    "data": [{"code": "invalid_request", "message": "scripted failure"}],
                }
            return
        plan.gate.wait()
        answer = lines if plan.outcome == "completed" else lines[: len(lines) // 2]
        out: list[str] = []
        errors: list[str] = []
        start = time.monotonic()
        for i, line in enumerate(answer):
            # Line i is answered once its share of the (current) delay has passed; a cancel
            # is noticed within a few milliseconds.
            while time.monotonic() < start + self.batch_plan.delay * (i + 1) / len(lines):
                if batch["status"] == "cancelling":
                    break
                time.sleep(0.01)
            with self.lock:
                if batch["status"] == "cancelling":
                    break
            request = json.loads(line)
            if plan.fail_line is not None and plan.fail_line(request["body"]):
                status, payload = 500, {"error": {"message": "scripted line failure"}}
            else:
                status, payload, _ = self.complete(request["body"], None)
            record = {
                "id": self._new_id("batch_req"),
                "custom_id": request["custom_id"],
                "response": {"status_code": status, "request_id": "req", "body": payload},
                "error": None,
            }
            with self.lock:
                self.batch_lines += 1
                counts = batch["request_counts"]
                if status == 200:
                    counts["completed"] += 1
                    out.append(json.dumps(record))
                else:
                    counts["failed"] += 1
                    errors.append(json.dumps(record))
        with self.lock:
            if out:
                batch["output_file_id"] = self._file_locked("\n".join(out) + "\n")
            if errors:
                batch["error_file_id"] = self._file_locked("\n".join(errors) + "\n")
            if batch["status"] == "cancelling":
                batch["status"] = "cancelled"
            else:
                batch["status"] = "completed" if plan.outcome == "completed" else "expired"

    def _file_locked(self, text: str) -> str:
        file_id = self._new_id("file")
        self.files[file_id] = text.encode()
        return file_id

    def get(self, path: str) -> tuple[int, dict[str, Any] | bytes]:
        """``GET`` of a file's content, a batch, or the list of batches."""
        parts = path.split("?")[0].rstrip("/").split("/")
        with self.lock:
            if parts[-1] == "content" and parts[-2] in self.files:
                return 200, self.files[parts[-2]]
            if parts[-1] == "batches":
                data = [copy.deepcopy(b) for b in reversed(self.batches.values())]
                return 200, {"object": "list", "data": data, "has_more": False}
            if parts[-1] in self.batches:
                self.batch_polls += 1
                self._changed.notify_all()
                return 200, copy.deepcopy(self.batches[parts[-1]])
        return 404, {"error": {"message": f"not found: {path}"}}

    def body_hashes(self) -> list[str]:
        with self.lock:
            return [
                hashlib.sha256(json.dumps(b, sort_keys=True).encode()).hexdigest()
                for b in self.requests
            ]


def main() -> None:
    """Serve in a process of its own (benchmarks): ``python chat_server.py LATENCY_S``.

    Prints the base URL on the first line, then serves until stdin closes.
    """
    import sys

    latency = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0

    def respond(body: dict[str, Any]) -> Reply:
        reply = default_responder(body)
        reply.delay = latency
        return reply

    with ChatServer(responder=respond, count_usage=False) as server:
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
