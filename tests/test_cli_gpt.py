"""The agreement command with the gpt4o judge against a local chat-completions server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from chat_server import ChatServer, Reply, default_responder

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
KEY = "sk-cli-secret-456"


def command(server, *args):
    return [
        sys.executable,
        str(SCRIPT),
        "--quiet",
        "--judge",
        "gpt4o",
        "--judge-arg",
        f"base_url={server.url}",
        "--judge-arg",
        "api_key_env=JUDGES_CLI_KEY",
        "--judge-arg",
        "max_side=64",
        *map(str, args),
    ]


def cli(server, *args, cwd, key=True):
    env = {**os.environ}
    if key:
        env["JUDGES_CLI_KEY"] = KEY
    else:
        env.pop("JUDGES_CLI_KEY", None)
    return subprocess.run(
        command(server, *args), cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def test_agreement_command_end_to_end(tmp_path):
    with ChatServer() as server:
        res = cli(
            server,
            "--frames",
            "1,2",
            "--limit",
            "4",
            "--dims",
            "aesthetics,harmlessness",
            "--out",
            tmp_path / "r",
            "--run-id",
            "g",
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr
        assert len(server.requests) == 4 * 2 * 2
    assert "| gpt4o | aesthetics |" in res.stdout
    assert "16 API calls, 0 cached replies, 0 retries" in res.stdout
    run = tmp_path / "r" / "g"
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    assert verdicts.height == 16 and set(verdicts["status"]) == {"ok"}
    raw = json.loads(verdicts["raw"][0])
    assert raw["prompt_version"] == "v1" and raw["replies"][0]["text"].startswith("Reasoning")
    info = json.loads((run / "run.json").read_text())
    judge = info["judges"][0]
    assert judge["prompt_version"] == "v1" and judge["settings"]["model"] == "gpt-4o-2024-05-13"
    assert judge["settings"]["base_url"] == server.url
    assert info["cost_usd"] > 0 and judge["requests"]["paid_calls"] == 16
    table = pl.read_csv(run / "agreement.csv")
    assert table["cost_usd"].sum() == pytest.approx(info["cost_usd"])
    assert table["cost_usd"].sum() == pytest.approx(verdicts["cost_usd"].sum())
    assert KEY not in (run / "run.json").read_text()
    assert KEY not in res.stdout + res.stderr


def test_dry_run_calls_nothing(tmp_path):
    with ChatServer() as server:
        res = cli(
            server,
            "--frames",
            "1,2,4,8",
            "--limit",
            "3",
            "--dry-run",
            "--out",
            tmp_path / "r",
            cwd=tmp_path,
            key=False,
        )
        assert res.returncode == 0, res.stderr
        assert server.requests == []
    assert "nothing was called or written" in res.stdout
    assert "API calls" in res.stdout and "input tokens" in res.stdout
    assert not (tmp_path / "r").exists()


def test_missing_key_exits_2_before_any_request(tmp_path):
    with ChatServer() as server:
        res = cli(server, "--limit", "2", "--out", tmp_path / "r", cwd=tmp_path, key=False)
        assert server.requests == []
    assert res.returncode == 2
    assert "JUDGES_CLI_KEY is not set" in res.stderr and "Traceback" not in res.stderr


def test_max_cost_stops_then_continues(tmp_path):
    common = [
        "--frames",
        "1",
        "--limit",
        "3",
        "--dims",
        "aesthetics,helpfulness",
        "--judge-arg",
        "price_input=200",
        "--judge-arg",
        "price_output=0",
        "--judge-arg",
        "max_tokens=16",
        "--concurrency",
        "1",
        "--out",
        tmp_path / "r",
    ]
    with ChatServer() as server:
        res = cli(server, *common, "--max-cost", "0.5", cwd=tmp_path)
        assert res.returncode == 3, res.stderr
        assert (
            "--max-cost 0.50 USD reached" in res.stderr and "rerun the same command" in res.stderr
        )
        paid = len(server.requests)
        assert 0 < paid < 6
        res = cli(server, *common, "--max-cost", "100", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert len(server.requests) == 6  # the first run's answers were not paid again
        assert f"{6 - paid} API calls, 0 cached replies" in res.stdout


def test_killed_run_resumes_without_paying_twice(tmp_path):
    def slow(body):
        reply = default_responder(body)
        reply.delay = 0.15
        return reply

    concurrency = 3
    args = [
        "--frames",
        "1,2",
        "--limit",
        "6",
        "--dims",
        "aesthetics,informativeness",
        "--concurrency",
        str(concurrency),
        "--out",
        tmp_path / "r",
    ]
    total = 6 * 2 * 2
    with ChatServer(responder=slow) as server:
        env = {**os.environ, "JUDGES_CLI_KEY": KEY}
        proc = subprocess.Popen(
            command(server, *args),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while len(server.requests) < 10 and time.time() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = len(server.requests)
        assert 10 <= killed_at < total
        res = cli(server, *args, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        counts = Counter(server.body_hashes())
    assert len(counts) == total  # every request made overall
    repeated = [h for h, c in counts.items() if c > 1]
    assert all(c == 2 for c in counts.values() if c > 1)
    assert len(repeated) <= concurrency  # only those in flight at the kill were sent again
    table = pl.read_csv(next((tmp_path / "r").iterdir()) / "agreement.csv")
    assert table["n_labeled"].sum() == total


@pytest.mark.parametrize("flag", ["--concurrency", "--max-cost"])
def test_bad_numbers(tmp_path, flag):
    with ChatServer() as server:
        res = cli(server, flag, "-1", cwd=tmp_path)
    assert res.returncode == 2 and flag in res.stderr


def test_refusals_are_counted_not_dropped(tmp_path):
    with ChatServer() as server:
        server.responder = lambda body: Reply(None, refusal="I can't help with that.")
        res = cli(
            server,
            "--frames",
            "1",
            "--limit",
            "3",
            "--dims",
            "harmlessness",
            "--out",
            tmp_path / "r",
            cwd=tmp_path,
        )
    assert res.returncode == 0, res.stderr
    table = pl.read_csv(next((tmp_path / "r").iterdir()) / "agreement.csv")
    row = table.row(0, named=True)
    assert row["refused_rate"] == 1.0 and row["agreement"] == 0.0 and row["n_labeled"] == 3


def test_both_orders_give_position_bias_and_calibration_files(tmp_path):
    with ChatServer() as server:
        res = cli(
            server,
            "--frames",
            "1",
            "--limit",
            "6",
            "--dims",
            "aesthetics",
            "--judge-arg",
            "order=both",
            "--bootstrap",
            "300",
            "--out",
            tmp_path / "r",
            "--run-id",
            "b",
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr
        bodies = list(server.requests)
    # Independently: the server answered "Video 1" (the video shown first) by a hash.
    answers = [default_responder(b).content.rstrip()[-1] for b in bodies]
    run = tmp_path / "r" / "b"
    bias = pl.read_csv(run / "position_bias.csv")
    assert bias["n_replies"][0] == len(answers) == 12
    assert bias["first_position_rate"][0] == pytest.approx(answers.count("1") / 12)
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    flips = sum(json.loads(r)["flip"] for r in verdicts["raw"] if "flip" in json.loads(r))
    assert bias["flip_rate"][0] == pytest.approx(flips / bias["n_both_decided"][0])
    # The clustered interval needs 5 prompts; these 6 pairs come from fewer, so it is null.
    prompts = verdicts["prompt_id"].n_unique()
    assert bias["n_clusters"][0] == prompts < 5
    assert bias["flip_cluster_lo"].is_null().all() and bias["flip_cluster_hi"].is_null().all()
    assert bias["first_position_cluster_lo"].is_null().all()
    # Decided verdicts carry a probability (0.9 from the server's log-probabilities).
    calibration = pl.read_csv(run / "calibration.csv")
    decided = verdicts.filter((pl.col("status") == "ok") & pl.col("human").is_not_null())
    if decided.height:
        right = (decided["winner"] == decided["human"]).mean()
        assert calibration["ece"][0] == pytest.approx(abs(right - 0.9), abs=1e-9)
        assert list((run / "figures").glob("reliability-gpt4o-aesthetics-1.png"))
    assert "Position bias" in (run / "agreement.md").read_text()
