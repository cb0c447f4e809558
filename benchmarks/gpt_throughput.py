"""Throughput and per-request overhead of the gpt4o judge against a local chat server.

- requests/s at concurrency 1, 8 and 32 with a fixed 200 ms reply latency, against the ideal
  concurrency / latency (target: within 10%);
- per-request overhead with a zero-latency server, split into image encoding, cache and
  parsing (target: small next to image encoding);
- a fully cached rerun of >= 1,000 requests (target: under 2 s).
The server runs in a process of its own, so its JSON parsing does not share the judge's GIL.
Run: uv run python benchmarks/gpt_throughput.py
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"

from judges.cache.store import Store  # noqa: E402
from judges.chat.budget import Budget  # noqa: E402
from judges.core.types import Dimension  # noqa: E402
from judges.datasets import load_pairs  # noqa: E402
from judges.datasets.demo import demo_dataset  # noqa: E402
from judges.judge.base import RunContext  # noqa: E402
from judges.judge.registry import get_judge  # noqa: E402
from judges.media.keyframes import KeyframeSource  # noqa: E402
from judges.run.session import JudgeRequest, Session, SessionConfig  # noqa: E402
from judges.run.task_runner import plan_tasks  # noqa: E402

LATENCY = 0.2


class Server:
    """tests/chat_server.py in a subprocess; ``url`` and ``requests`` (served so far)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, str(TESTS / "chat_server.py"), str(self.latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def make_judge(server, store, frames, concurrency):
    judge = get_judge(
        "gpt4o", base_url=server.url, api_key_env="none", max_side="256", detail="low"
    )
    CONTEXTS[id(judge)] = RunContext(KeyframeSource(plan=frames), store, Budget(), concurrency)
    return judge


CONTEXTS: dict[int, RunContext] = {}  # each benchmark judge's run context


def ctx_of(judge):
    return CONTEXTS[id(judge)]


def run_all(judge, tasks):
    return judge.judge_all(tasks, ctx_of(judge))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    os.environ.setdefault("JUDGES_CACHE_DIR", tempfile.mkdtemp(prefix="judges-bench-"))
    pairs = load_pairs(demo_dataset())
    tasks, _ = plan_tasks(pairs, list(Dimension), [1, 2, 4, 8], labeled_only=False)

    print(
        f"throughput, server latency {LATENCY * 1e3:.0f} ms per reply (no cache; keyframes "
        "and JPEGs prepared beforehand, measured separately below):"
    )
    with Server(LATENCY) as server:
        for concurrency, n in ((1, 20), (8, 160), (32, 512)):
            judge = make_judge(server, None, [1, 2, 4, 8], concurrency)
            for t in tasks[: n + 2]:
                judge.build_request(t.pair, t.dimension, t.frames, False, ctx_of(judge).source)
            list(
                judge.judge_all(tasks[n : n + 2], ctx_of(judge))
            )  # open the connection, warm the client
            seconds, out = timed(lambda j=judge, n=n: list(run_all(j, tasks[:n])))
            rate = len(out) / seconds
            ideal = concurrency / LATENCY
            print(
                f"  concurrency {concurrency:2d}: {rate:6.1f} req/s  ideal {ideal:6.1f}  "
                f"ratio {rate / ideal:.3f}"
            )

    print("\nper-request overhead, zero-latency server (concurrency 1):")
    with Server(0.0) as server:
        sample = tasks[:200]
        with Store(Path(tempfile.mkdtemp()) / "c.sqlite") as store:
            judge = make_judge(server, store, [1, 2, 4, 8], 1)
            encode, bodies = timed(
                lambda: [
                    judge.build_request(t.pair, t.dimension, t.frames, False, ctx_of(judge).source)
                    for t in sample
                ]
            )
            again, _ = timed(
                lambda: [
                    judge.build_request(t.pair, t.dimension, t.frames, False, ctx_of(judge).source)
                    for t in sample
                ]
            )
            keys, _ = timed(lambda: [judge.chat.request_key(b) for b, _ in bodies])
            data = {"content": "Let me compare.\nFinal answer: Video 2", "logprobs": None}
            parse, _ = timed(lambda: [judge.interpret(data, False) for _ in sample])
            put, _ = timed(lambda: [store.put("bench", str(i), data) for i in range(len(sample))])
            get, _ = timed(lambda: [store.get("bench", str(i)) for i in range(len(sample))])
            total, _ = timed(
                lambda: list(
                    (lambda j: j.judge_all(sample, ctx_of(j)))(
                        make_judge(server, store, [1, 2, 4, 8], 1)
                    )
                )
            )
        n = len(sample)
        print(
            f"  end to end: {total / n * 1e3:6.2f} ms/request (decode + encode + HTTP + "
            "cache + parse)"
        )
        print(
            f"  keyframes + JPEG encoding (first time per video/frames): {encode / n * 1e3:6.2f}"
            f" ms/request; reused within the run: {again / n * 1e3:6.3f} ms"
        )
        print(
            f"  request hashing: {keys / n * 1e3:6.3f} ms   cache put+get: "
            f"{(put + get) / n * 1e3:6.3f} ms   parsing: {parse / n * 1e3:6.3f} ms"
        )

    print("\nfully cached rerun (through a run session, as agreement.py runs):")
    with Server(0.0) as server:
        frames = [1, 2, 4, 8]
        config = SessionConfig(cache_dir=Path(tempfile.mkdtemp()), progress=False, concurrency=32)
        request = JudgeRequest(
            "gpt4o",
            {"base_url": server.url, "api_key_env": "none", "max_side": "256", "detail": "low"},
        )

        def session_run():
            with Session(config, [request], frames) as session:
                (judge,) = session.judges
                session.runner.run(judge, tasks)
                return judge.request_stats().paid_calls

        session_run()  # pays for every request once
        seconds, calls = timed(session_run)
        print(
            f"  {len(tasks)} requests via the run's verdict cache: {seconds:.2f} s, "
            f"{calls} API calls"
        )
        with Session(config, [request], frames) as session:
            (judge,) = session.judges
            ctx = RunContext(session.source, session.store, session.budget, 32)
            seconds, _ = timed(lambda: list(judge.judge_all(tasks, ctx)))
            calls = judge.request_stats().paid_calls
        print(
            f"  {len(tasks)} requests via the response cache (requests rebuilt, images "
            f"re-encoded): {seconds:.2f} s, {calls} API calls"
        )


if __name__ == "__main__":
    main()
