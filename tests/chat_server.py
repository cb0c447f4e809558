"""A real HTTP server on 127.0.0.1 that speaks OpenAI's POST /v1/chat/completions.

Each request takes the next scripted :class:`Reply` (or the default responder's). It records
every request (headers and JSON body) so tests can assert what a judge actually sent. Token
usage is counted independently of the toolkit's estimator: text by word pieces, images by
decoding each data URL and applying the tile rule to its real size.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
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


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections when a client opens dozens at
    # once, and each drop costs a one-second SYN retransmit.
    request_queue_size = 256


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
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
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
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = server.script.popleft() if server.script else None
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                rejected = [p for p in server.reject_params if p in body]
                if rejected:
                    return self._send(
                        400,
                        {
                            "error": {
                                "message": f"Unsupported parameter: '{rejected[0]}'",
                                "type": "invalid_request_error",
                                "param": rejected[0],
                            }
                        },
                    )
                reply = reply or server.responder(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    return self._send(
                        reply.status,
                        {"error": {"message": reply.error or "scripted", "type": "server_error"}},
                        reply.headers,
                    )
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.content,
                        "refusal": reply.refusal,
                    },
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
                if body.get("logprobs") and reply.content and reply.answer_prob is not None:
                    choice["logprobs"] = _logprobs(reply.content, reply.answer_prob)
                prompt_tokens = count_tokens(body) if server.count_usage else 1000
                completion = len(_PIECES.findall(reply.content or ""))
                payload = {
                    "id": f"chatcmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [choice],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion,
                        "total_tokens": prompt_tokens + completion,
                    },
                }
                self._send(200, payload, reply.headers)

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

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

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
