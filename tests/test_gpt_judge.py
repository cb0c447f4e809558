"""The gpt4o judge against a real HTTP server on 127.0.0.1 speaking the chat-completions API."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from chat_server import ChatServer, Reply
from conftest import make_dataset
from judges.cache.store import Store
from judges.chat.budget import Budget, BudgetExhausted
from judges.core.errors import ConfigError
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.base import RunContext, Task
from judges.judge.registry import get_judge
from judges.media.images import decode_data_url, resize_max_side
from judges.media.keyframes import KeyframeSource, extract_keyframes
from judges.run.task_runner import Runner, plan_tasks

KEY = "sk-test-secret-123"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("JUDGES_TEST_KEY", KEY)


@pytest.fixture
def pairs(tmp_path):
    return load_pairs(make_dataset(tmp_path / "d", n_pairs=3))


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "cache.sqlite") as s:
        yield s


def judge_for(server, store=None, frames=(1, 2), **options):
    options = {
        "base_url": server.url,
        "api_key_env": "JUDGES_TEST_KEY",
        "max_retries": "2",
        "timeout": "5",
        **options,
    }
    return WithContext(
        get_judge("gpt4o", **options),
        RunContext(KeyframeSource(plan=list(frames)), store, Budget(), 4),
    )


class WithContext:
    """A judge and the run context the tests hand its calls (judges keep no run state)."""

    def __init__(self, judge, ctx):
        self.judge, self.ctx = judge, ctx

    def __getattr__(self, name):
        return getattr(self.judge, name)

    def judge_all(self, tasks, ctx=None, workers=1):
        return self.judge.judge_all(tasks, ctx or self.ctx, workers)

    def plan_cost(self, tasks, ctx=None):
        return self.judge.plan_cost(tasks, ctx or self.ctx)

    def build_request(self, pair, dimension, frames, swapped=False):
        return self.judge.build_request(pair, dimension, frames, swapped, self.ctx.source)


def one(judge, pair, dim=Dimension.AESTHETICS, frames=2):
    (v,) = list(judge.judge_all([Task(pair, dim, frames)]))
    return v


def test_request_layout(pairs):
    pair = pairs[0]
    with ChatServer() as server:
        judge = judge_for(server, max_side="16", detail="low")
        v = one(judge, pair, Dimension.CORRECTNESS, 2)
        assert v.status == "ok"
        (body,) = server.requests
    assert body["model"] == "gpt-4o-2024-05-13"
    assert body["temperature"] == 0 and body["seed"] == 0 and body["logprobs"] is True
    system, user = body["messages"]
    assert system["role"] == "system" and "Dimension: correctness." in system["content"]
    for other in ("Dimension: aesthetics.", "Dimension: instruction following.", "porn"):
        assert other not in system["content"]  # only this dimension's criteria
    parts = user["content"]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert pair.prompt_text in texts[0]
    assert texts[1:5] == [
        "Frame 1 of the first video:",
        "Frame 2 of the first video:",
        "Frame 1 of the second video:",
        "Frame 2 of the second video:",
    ]
    assert "Final answer: Video 1" in texts[-1]
    images = [p["image_url"] for p in parts if p["type"] == "image_url"]
    assert len(images) == 4 and all(i["detail"] == "low" for i in images)
    # In order: video_0's keyframes, then video_1's, each a decodable JPEG at max_side.
    expected = [
        resize_max_side(f, 16)
        for v_ in (pair.video_0, pair.video_1)
        for f in extract_keyframes(v_.path, 2).frames
    ]
    for i, (image, want) in enumerate(zip(images, expected, strict=True)):
        got = decode_data_url(image["url"]).astype(int)
        assert got.shape == want.shape and max(got.shape[:2]) == 16
        # JPEG is lossy: each image must be nearest to its own keyframe among all four.
        distances = [np.abs(got - e.astype(int)).mean() for e in expected]
        assert int(np.argmin(distances)) == i, distances
    # The key travels in the header, never in the body, results or cache.
    assert KEY not in json.dumps(body)
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(v.raw) and KEY not in json.dumps(judge.describe())


def test_grid_layout_sends_one_image_per_video(pairs):
    with ChatServer() as server:
        one(judge_for(server, layout="grid", frames=(4,)), pairs[0], frames=4)
        parts = server.requests[0]["messages"][1]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 2
    assert any("Keyframes of the first video" in p.get("text", "") for p in parts)


@pytest.mark.parametrize(
    ("reply", "status", "winner"),
    [
        (Reply("Final answer: Video 1"), "ok", "video_0"),
        (
            Reply(
                "Video 1 has sharper frames, but Video 2 follows the prompt better.\n"
                "Analysis of video 1: ...\nFinal answer: Video 2"
            ),
            "ok",
            "video_1",
        ),
        (Reply("The weather is nice today."), "unparsed", None),
        (Reply(None, refusal="I can't help with that."), "refused", None),
        (Reply("I'm sorry, but I can't assist with comparing these videos."), "refused", None),
        (Reply("", finish_reason="content_filter"), "refused", None),
        (Reply("Final answer: Tie"), "unparsed", None),  # ties not offered
    ],
)
def test_outcomes(pairs, reply, status, winner):
    with ChatServer() as server:
        server.script.append(reply)
        v = one(judge_for(server), pairs[0])
    assert (v.status, v.winner) == (status, winner)
    assert v.raw["replies"][0]["text"] == (reply.content or "")
    if status == "ok":
        assert v.raw["replies"][0]["reasoning"] in reply.content


def test_tie_when_allowed(pairs):
    with ChatServer() as server:
        server.script.append(Reply("Both equal.\nFinal answer: Tie"))
        v = one(judge_for(server, allow_tie="true"), pairs[0])
        assert "Final answer: Tie" in server.requests[0]["messages"][1]["content"][-1]["text"]
    assert (v.status, v.winner) == ("tie", "tie")


def test_retry_after_429_and_500(pairs, store):
    with ChatServer() as server:
        server.script.extend(
            [
                Reply(status=429, headers={"Retry-After": "0"}, error="slow down"),
                Reply(status=500),
                Reply("Final answer: Video 2"),
            ]
        )
        judge = judge_for(server, store)
        v = one(judge, pairs[0])
        assert v.status == "ok" and v.winner == "video_1"
        assert len(server.requests) == 3
    assert judge.describe()["requests"]["retries"] == 2


def test_a_nonzero_retry_after_is_honoured(pairs, store):
    with ChatServer() as server:
        server.script.append(Reply(status=429, headers={"Retry-After": "2"}, error="slow down"))
        v = one(judge_for(server, store), pairs[0])
        assert v.status == "ok" and len(server.requests) == 2
        # The client's own backoff would retry within a second; the server asked for 2 s.
        assert server.arrivals[1] - server.arrivals[0] >= 2.0


def test_timeout_becomes_error_and_is_not_cached(pairs, store):
    with ChatServer() as server:
        server.hold()  # no reply until released: the client's 0.5 s timeout always fires
        judge = judge_for(server, store, timeout="0.5", max_retries="1")
        v = one(judge, pairs[0])
        assert v.status == "error" and "Timeout" in v.error
        assert KEY not in v.error
        assert len(server.requests) == 2  # the call and its one retry
        server.release()
        again = judge_for(server, store)
        assert one(again, pairs[0]).status == "ok"  # the error was not cached: asked again
        assert len(server.requests) == 3


def test_logprobs_confidence(pairs):
    with ChatServer() as server:
        server.script.append(Reply("Final answer: Video 2", answer_prob=0.8))
        v = one(judge_for(server), pairs[0])
        assert v.confidence == pytest.approx(0.8)
        server.script.append(Reply("Final answer: Video 2", answer_prob=None))
        assert one(judge_for(server), pairs[1]).confidence is None
        off = judge_for(server, logprobs="false")
        one(off, pairs[2])
        assert "logprobs" not in server.requests[-1]


def test_server_rejecting_logprobs_and_seed(pairs, store):
    with ChatServer(reject_params=("logprobs", "seed")) as server:
        judge = judge_for(server, store)
        v = one(judge, pairs[0])
        assert v.status == "ok" and v.confidence is None
        sent = server.requests[-1]
        assert "logprobs" not in sent and "seed" not in sent and "top_logprobs" not in sent
        n = len(server.requests)
        one(judge, pairs[1])  # remembered: no more rejected requests
        assert len(server.requests) == n + 1
    assert judge.describe()["requests"]["unsupported_params_dropped"] == [
        "logprobs",
        "seed",
        "top_logprobs",
    ]


def test_order_both(pairs):
    with ChatServer() as server:
        # Always "Video 1": in the swapped order that is video_1, so the orders disagree.
        server.responder = lambda body: Reply("Final answer: Video 1")
        judge = judge_for(server, order="both")
        v = one(judge, pairs[0])
        assert (v.status, v.winner) == ("tie", "tie") and v.raw["flip"] is True
        assert len(server.requests) == 2
        first, second = server.requests
        img = lambda b, i: [p for p in b["messages"][1]["content"] if p["type"] == "image_url"][i]  # noqa: E731
        assert img(first, 0) == img(second, 2)  # the swapped request shows video_1 first
        # Consistent: "Video 1" then "Video 2" both mean video_0.
        server.script.extend(
            [
                Reply("Final answer: Video 1", answer_prob=0.9),
                Reply("Final answer: Video 2", answer_prob=0.7),
            ]
        )
        v = one(judge, pairs[1])
        assert (v.status, v.winner) == ("ok", "video_0") and v.raw["flip"] is False
        assert v.confidence == pytest.approx(0.8)
    assert judge.describe()["requests"]["flip_rate"] == 0.5


def test_rerun_makes_zero_calls(pairs, store):
    tasks, _ = plan_tasks(
        pairs, [Dimension.AESTHETICS, Dimension.HARMLESSNESS], [1, 2], labeled_only=False
    )
    with ChatServer() as server:
        judge = judge_for(server, store)
        first = list(judge.judge_all(tasks))
        assert len(first) == len(tasks) == 12 and len(server.requests) == 12
        again = judge_for(server, store)
        second = list(again.judge_all(tasks))
        assert len(server.requests) == 12  # every answer came from the response cache
        assert again.describe()["requests"]["cached_responses"] == 12
    key = lambda v: (v.pair_id, v.dimension, v.frames)  # noqa: E731
    assert {key(v): v.winner for v in first} == {key(v): v.winner for v in second}


def test_changed_prompt_or_frames_never_reuse(pairs, store):
    with ChatServer() as server:
        one(judge_for(server, store), pairs[0], frames=1)
        one(judge_for(server, store, prompt="cot"), pairs[0], frames=1)
        one(judge_for(server, store), pairs[0], frames=2)
        assert len(server.requests) == 3
        cot = server.requests[1]["messages"][1]["content"][-1]["text"]
        assert "First analyse the first video on its own" in cot


def test_missing_key_fails_before_work(monkeypatch, pairs):
    monkeypatch.delenv("JUDGES_TEST_KEY")
    with ChatServer() as server:
        judge = judge_for(server)
        with pytest.raises(ConfigError, match="JUDGES_TEST_KEY is not set"):
            judge.check_ready()
        assert server.requests == []
    keyless = get_judge("gpt4o", api_key_env="none", base_url="http://127.0.0.1:9/v1")
    keyless.check_ready()  # a local server without keys


def test_auth_error_stops_the_run(pairs):
    with ChatServer() as server:
        server.responder = lambda body: Reply(status=401, error="Incorrect API key provided")
        judge = judge_for(server)
        tasks, _ = plan_tasks(pairs, [Dimension.AESTHETICS], [1], labeled_only=False)
        with pytest.raises(ConfigError, match="HTTP 401"):
            list(judge.judge_all(tasks))


def test_budget_stops_before_exceeding(pairs, store):
    tasks, _ = plan_tasks(
        pairs, [Dimension.AESTHETICS, Dimension.CORRECTNESS], [1], labeled_only=False
    )
    with ChatServer() as server:
        judge = judge_for(server, store, price_input="1000", price_output="0", max_tokens="50")
        body, sizes = judge.build_request(tasks[0].pair, tasks[0].dimension, 1)
        per_call = judge.estimate(body, sizes)[1]
        budget = Budget(per_call * 2.5)
        judge.ctx = RunContext(judge.ctx.source, store, budget, 1)
        done = []
        with pytest.raises(BudgetExhausted, match="rerun the same command with a higher"):
            for v in judge.judge_all(tasks):
                done.append(v)
        assert 2 <= len(done) < len(tasks)
        assert budget.spent <= budget.max_usd
        assert len(server.requests) == len(done)
        more = judge_for(server, store, price_input="1000", price_output="0", max_tokens="50")
        rest = list(more.judge_all(tasks))
        assert len(rest) == len(tasks)
        assert len(server.requests) == len(tasks)  # finished answers were not paid again


def test_dry_run_estimate_within_ten_percent(pairs, store):
    tasks, _ = plan_tasks(pairs, list(Dimension), [1, 2, 4], labeled_only=False)
    with ChatServer() as server:
        for detail in ("low", "high"):
            judge = judge_for(server, store, frames=(1, 2, 4), detail=detail, max_side="512")
            before = len(server.requests)
            plan = judge.plan_cost(tasks)
            assert len(server.requests) == before  # the estimate calls nothing
            assert plan.calls == len(tasks) and plan.cached_responses == 0
            verdicts = list(judge.judge_all(tasks))
            billed = sum(r["usage"]["prompt_tokens"] for v in verdicts for r in v.raw["replies"])
            assert len(server.requests) - before == len(tasks)
            assert abs(plan.input_tokens - billed) / billed < 0.10, (detail, plan, billed)
            assert plan.input_cost_usd == pytest.approx(plan.input_tokens * 5 / 1e6)
            assert judge.plan_cost(tasks).calls == 0  # now all cached


def test_cost_from_usage(pairs):
    with ChatServer() as server:
        v = one(judge_for(server, model="gpt-4o-mini"), pairs[0])
        usage = v.raw["replies"][0]["usage"]
    want = (usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.60) / 1e6
    assert v.cost_usd == pytest.approx(want)
    unknown = get_judge("gpt4o", model="my-local-vlm", api_key_env="none")
    assert unknown.price is None


def test_a_request_thread_still_finishing_after_its_loop_closed_is_no_error(pairs, monkeypatch):
    # The requests' thread puts "done", then lives on a moment while its event loop is already
    # closed: the caller must not try to cancel anything in that loop (it raised "Event loop
    # is closed" under load).
    import queue
    import threading
    import types

    import judges.judge.async_judge as async_judge

    done_put = threading.Event()

    class LingeringQueue(queue.Queue):
        def put(self, item, block=True, timeout=None):
            super().put(item, block, timeout)
            if item is async_judge._DONE:
                done_put.set()
                threading.Event().wait(0.5)  # the thread is alive, its loop closed

    monkeypatch.setattr(
        async_judge, "queue", types.SimpleNamespace(Queue=LingeringQueue, Empty=queue.Empty)
    )
    with ChatServer() as server:
        v = one(judge_for(server), pairs[0])
    assert done_put.is_set() and v.status == "ok"


def test_runner_integration_with_verdict_cache(pairs, store):
    tasks, _ = plan_tasks(pairs, [Dimension.HELPFULNESS], [1, 2])
    with ChatServer() as server:
        runner = Runner(store, KeyframeSource(plan=[1, 2]), progress=False)
        out = runner.run(judge_for(server), tasks)
        assert out.computed == len(tasks) == 6 and len(server.requests) == 6
        out = runner.run(judge_for(server), tasks)
        assert out.cached == 6 and len(server.requests) == 6
        assert all(math.isfinite(v.cost_usd) for v in out.verdicts)


def test_each_judge_reports_its_own_spend(pairs, store):
    """Two API judges share one budget; each reports what it spent, the run the total."""
    tasks, _ = plan_tasks(pairs, [Dimension.HELPFULNESS], [1])
    with ChatServer() as server:
        budget = Budget()
        runner = Runner(store, KeyframeSource(plan=[1]), progress=False, budget=budget)
        mini = judge_for(server, model="gpt-4o-mini", name="mini")
        big = judge_for(server, model="gpt-4o-2024-05-13", name="big")
        spent = {}
        for judge in (mini, big):
            run = runner.run(judge, tasks)
            spent[judge.name] = sum(v.cost_usd for v in run.verdicts)
    reported = {j.name: j.describe()["requests"]["spent_usd"] for j in (mini, big)}
    assert reported["mini"] == pytest.approx(spent["mini"])
    assert reported["big"] == pytest.approx(spent["big"])
    assert reported["big"] > reported["mini"] > 0
    assert budget.spent == pytest.approx(spent["mini"] + spent["big"])
    assert big.confidence_kind == "probability" and big.describe()["confidence"]["kind"] == (
        "probability"
    )
