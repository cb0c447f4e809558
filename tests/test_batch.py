"""The Batch API mode of VLM judges against the local server's /v1/files and /v1/batches."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import openai
import polars as pl
import pytest
from test_cli_gpt import KEY, command

from chat_server import ChatServer
from judges.cache.store import Store
from judges.chat.batch import BATCHES, BatchRunner
from judges.chat.batch_files import BatchOptions, request_line, write_shards
from judges.chat.client import RESPONSES, ChatClient, Endpoint
from judges.chat.pricing import Price
from judges.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BATCHES_CMD = ROOT / "experiments" / "batches.py"


def agreement(server, tmp_path, *args, mode="batch", out="out"):
    """test_cli_gpt's gpt4o command, in ``mode``, on 4 demo pairs x 2 dimensions x 2 frames."""
    options = f"--judge-arg mode={mode} --judge-arg poll_seconds=0.1 --frames 1,2 --limit 4"
    return command(
        server,
        *options.split(),
        *("--dims", "aesthetics,harmlessness", "--cache-dir", tmp_path / "cache"),
        *("--out", tmp_path / out, *args),
    )


def run(cmd, **kw):
    env = {**os.environ, "JUDGES_CLI_KEY": KEY}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, **kw)


def verdicts(out: Path) -> pl.DataFrame:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return pl.read_parquet(run_dir / "verdicts.parquet").sort("pair_id", "dimension", "frames")


# --- shards -------------------------------------------------------------------------------


def test_shards_respect_request_and_byte_limits(tmp_path):
    requests = [(f"k{i}", {"model": "m", "pad": "x" * 100}, 0.01) for i in range(10)]
    line = len(request_line("k0", requests[0][1]))
    shards = write_shards(iter(requests), tmp_path, "t", BatchOptions(max_requests=4))
    assert [len(s.keys) for s in shards] == [4, 4, 2]
    assert [s.keys[0] for s in shards] == ["k0", "k4", "k8"]
    assert math.isclose(sum(s.estimate_usd for s in shards), 0.10)
    # Bytes bind first: three lines fit, the fourth would not.
    shards = write_shards(iter(requests), tmp_path, "b", BatchOptions(max_bytes=3 * line + 5))
    assert [len(s.keys) for s in shards] == [3, 3, 3, 1]
    for shard in shards:
        data = shard.path.read_bytes()
        assert len(data) == shard.bytes <= 3 * line + 5
        assert [json.loads(x)["custom_id"] for x in data.splitlines()] == shard.keys
    with pytest.raises(ConfigError, match="max_side"):
        write_shards(iter(requests), tmp_path, "c", BatchOptions(max_bytes=line - 1))


# --- the agreement command in batch mode --------------------------------------------------


def test_batch_run_equals_online_run_costs_half_and_shares_the_cache(tmp_path):
    with ChatServer() as server:
        online = run(agreement(server, tmp_path / "a", mode="online"))
        assert online.returncode == 0, online.stderr
        assert len(server.requests) == 16 and not server.batches
        server.batch_plan.delay = 0.2
        batch = run(agreement(server, tmp_path / "b", "--judge-arg", "batch_max_requests=6"))
        assert batch.returncode == 0, batch.stderr
        assert len(server.requests) == 16, "batch mode sent a request online"
        assert len(server.batches) == 3 and server.batch_lines == 16  # 6 + 6 + 4
        a, b = verdicts(tmp_path / "a" / "out"), verdicts(tmp_path / "b" / "out")
        cols = ["pair_id", "dimension", "frames", "winner", "confidence", "status"]
        assert a.select(cols).equals(b.select(cols))
        assert (b["status"] == "ok").all()
        # Same replies (the server is deterministic), half the price.
        assert b["cost_usd"].to_list() == pytest.approx([c / 2 for c in a["cost_usd"]])
        # Interchangeable: online mode reads batch answers, batch mode reads online answers.
        again = run(agreement(server, tmp_path / "b", "--run-id", "x", mode="online"))
        assert again.returncode == 0, again.stderr
        again = run(agreement(server, tmp_path / "a", "--run-id", "y"))
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == 16 and len(server.batches) == 3


def test_failed_lines_and_expired_batches_are_named_and_retried_alone(tmp_path):
    with ChatServer() as server:
        server.batch_plan.delay = 0.1
        marker = "Dimension: aesthetics."
        server.batch_plan.fail_line = lambda body: marker in json.dumps(body["messages"])
        res = run(agreement(server, tmp_path))
        assert res.returncode == 0, res.stderr  # 8 of 16 failed: not more than half
        v = verdicts(tmp_path / "out")
        failed = v.filter(pl.col("status") == "error")
        assert set(failed["dimension"]) == {"aesthetics"} and failed.height == 8
        assert failed["error"].str.contains("HTTP 500: scripted line failure").all()
        # A rerun submits only the 8 failed requests; this time the batch expires half-way.
        server.batch_plan.fail_line = None
        server.batch_plan.outcome = "expired"
        res = run(agreement(server, tmp_path, "--overwrite", "--run-id", "r2"))
        assert res.returncode == 0, res.stderr  # 4 of 16 failed
        last = server.batches[max(server.batches, key=lambda b: int(b.split("-")[1]))]
        assert last["request_counts"]["total"] == 8
        v = verdicts_of(tmp_path / "out" / "r2")
        errors = v.filter(pl.col("status") == "error")
        assert errors.height == 4
        assert errors["error"].str.contains("expired").all()
        # And the last 4 in a third batch.
        server.batch_plan.outcome = "completed"
        res = run(agreement(server, tmp_path, "--overwrite", "--run-id", "r3"))
        assert res.returncode == 0, res.stderr
        assert (verdicts_of(tmp_path / "out" / "r3")["status"] == "ok").all()
        # Lines worked: 16, then the 8 that failed (4 answered before expiry), then 4.
        assert len(server.batches) == 3 and server.batch_lines == 16 + 4 + 4
        assert not server.requests


def verdicts_of(run_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "verdicts.parquet")


def test_max_cost_refuses_a_batch_before_creating_it(tmp_path):
    with ChatServer() as server:
        res = run(agreement(server, tmp_path, "--max-cost", "0.01"))
        assert res.returncode == 3, res.stderr
        assert "--max-cost" in res.stderr
        assert not server.batches and not server.files


def test_kill_while_polling_resumes_the_same_batch(tmp_path):
    with ChatServer() as server:
        server.batch_plan.gate.clear()  # the batch stays in progress until the test says
        proc = subprocess.Popen(
            agreement(server, tmp_path),
            env={**os.environ, "JUDGES_CLI_KEY": KEY},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server.wait_until(lambda: server.batch_polls >= 2, 120, "the run polling its batch")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(server.batches) == 1
        (batch,) = server.batches.values()
        assert batch["status"] == "in_progress"
        server.batch_plan.gate.set()
        res = run(agreement(server, tmp_path, "--run-id", "resumed"))
        assert res.returncode == 0, res.stderr
        assert len(server.batches) == 1, "a second batch was created"
        assert server.batch_lines == 16 and not server.requests  # nothing paid twice
        v = verdicts_of(tmp_path / "out" / "resumed")
        assert v.height == 16 and (v["status"] == "ok").all()


# --- the runner's steps -------------------------------------------------------------------


def runner_for_server(server, tmp_path, **options) -> tuple[BatchRunner, Store]:
    store = Store(tmp_path / "cache.sqlite")
    chat = ChatClient(Endpoint(server.url, "none"), "judge-x", "v1", Price(2.0, 8.0), store)
    opts = BatchOptions(poll_seconds=0.05, **options)
    return BatchRunner(chat, store, opts), store


def bodies(n: int) -> list[tuple[str, dict, float]]:
    out = []
    for i in range(n):
        body = {"model": "m", "messages": [{"role": "user", "content": f"question {i}"}]}
        out.append((f"key{i}", body, 0.01))
    return out


def test_a_batch_created_but_not_recorded_is_found_by_its_input_file(tmp_path):
    with ChatServer() as server:
        server.batch_plan.delay = 0.1
        runner, store = runner_for_server(server, tmp_path)
        (shard,) = write_shards(iter(bodies(3)), tmp_path / "s", "t", runner.options)
        shard_id = runner.upload(shard)
        record = store.get(BATCHES, shard_id)
        assert record["state"] == "uploaded" and record["batch_id"] is None
        # The process created the batch and died before recording it.
        client = openai.OpenAI(api_key="x", base_url=server.url)
        lost = client.batches.create(
            input_file_id=record["input_file_id"],
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        assert runner.create(shard_id)["batch_id"] == lost.id
        assert len(server.batches) == 1
        failures = runner.follow([shard_id])
        assert failures == {shard_id: {}}
        done = store.get(BATCHES, shard_id)
        assert done["state"] == "done" and done["answered"] == 3
        answers = store.get_many(RESPONSES, ["key0", "key1", "key2"])
        assert {a["batch"]["id"] for a in answers.values()} == {lost.id}
        assert done["cost_usd"] == pytest.approx(sum(runner.chat.cost(a) for a in answers.values()))


def test_failed_batch_names_the_server_reason(tmp_path):
    with ChatServer() as server:
        server.batch_plan.outcome = "failed"
        runner, store = runner_for_server(server, tmp_path)
        outcomes = runner.run(iter(bodies(2)))
        assert set(outcomes) == {"key0", "key1"}
        assert all("failed: scripted failure" in o for o in outcomes.values())
        assert store.get(RESPONSES, "key0") is None


def test_batches_command_lists_follows_and_cancels(tmp_path):
    with ChatServer() as server:
        server.batch_plan.delay = 30.0
        runner, store = runner_for_server(server, tmp_path)
        shards = write_shards(iter(bodies(4)), tmp_path / "s", "t", BatchOptions(max_requests=2))
        ids = [runner.upload(s) for s in shards]
        batch_ids = [runner.create(i)["batch_id"] for i in ids]
        store.close()
        base = [sys.executable, str(BATCHES_CMD), "--cache-dir", str(tmp_path)]
        listed = run([*base, "list"])
        assert listed.returncode == 0, listed.stderr
        assert all(b in listed.stdout for b in batch_ids) and "in_progress" in listed.stdout
        cancelled = run([*base, "cancel", batch_ids[0]])
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"{batch_ids[0]}: cancelling" in cancelled.stdout
        assert server.batches[batch_ids[1]]["status"] == "in_progress"
        server.batch_plan.delay = 0.0
        followed = run([*base, "follow", "--poll-seconds", "0.1", "--judge", "judge-x"])
        assert followed.returncode == 0, followed.stderr
        assert f"{batch_ids[0]}: cancelled" in followed.stdout
        unknown = run([*base, "cancel", "batch-nope"])
        assert unknown.returncode == 2 and "no batch batch-nope" in unknown.stderr


def test_a_run_follows_only_the_unfinished_batches_holding_its_requests(tmp_path):
    with ChatServer() as server:
        server.batch_plan.delay = 0.1
        runner, store = runner_for_server(server, tmp_path)
        (shard,) = write_shards(iter(bodies(2)), tmp_path / "s", "t", runner.options)
        other = runner.create(runner.upload(shard))  # another run's batch, never followed
        mine = [(f"mine{i}", body, usd) for i, (_, body, usd) in enumerate(bodies(5)[2:])]
        assert runner.run(iter(mine)) == {}
        assert store.get(BATCHES, other["shard"])["state"] == "created"
        assert store.get_many(RESPONSES, ["key0", "key1"]) == {}
        assert set(store.get_many(RESPONSES, [k for k, _, _ in mine])) == {
            "mine0",
            "mine1",
            "mine2",
        }
        # A run asking for one of the other batch's requests follows that batch instead.
        assert runner.run(iter(bodies(1))) == {}
        assert store.get(BATCHES, other["shard"])["state"] == "done"
        assert "keys" not in store.get(BATCHES, other["shard"])
        assert len(server.batches) == 2


def test_batch_lines_rejecting_an_optional_parameter_are_resent_without_it(tmp_path):
    with ChatServer(reject_params=("logprobs",)) as server:
        server.batch_plan.delay = 0.1
        res = run(agreement(server, tmp_path))
        assert res.returncode == 0, res.stderr
        first, second = sorted(server.batches.values(), key=lambda b: int(b["id"].split("-")[1]))
        assert first["request_counts"]["failed"] == 16  # every line: 400 naming logprobs
        assert second["request_counts"]["completed"] == 16
        assert not server.requests
    v = verdicts(tmp_path / "out")
    assert v.height == 16 and (v["status"] == "ok").all()
    assert v["confidence"].is_null().all()  # no log-probabilities without logprobs


def test_an_endpoint_without_the_batch_api_is_one_line_exit_2(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    class Closed:
        url = f"http://127.0.0.1:{port}/v1"

    res = run(agreement(Closed(), tmp_path, "--judge-arg", "max_retries=0"))
    assert res.returncode == 2, res.stderr
    assert "the Batch API at" in res.stderr and "Traceback" not in res.stderr
