"""The agreement command with the gpt4o judge against a local chat-completions server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from chat_server import ChatServer, Reply, count_tokens, default_responder

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
            "--frames", "1,2", "--limit", "3", "--dims", "aesthetics,helpfulness",
            "--concurrency", "4", "--judge-arg", "max_tokens=100",
            "--dry-run", "--out", tmp_path / "r", cwd=tmp_path, key=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert server.requests == []
    assert "nothing was called or written" in res.stdout
    assert not (tmp_path / "r").exists()
    # The line the README's cost table is made of, every figure derived here: 3 pairs x 2
    # dimensions x 2 frame counts = 12 calls; gpt4o at $5 / $15 per 1M tokens; worst-case
    # output = 12 x max_tokens 100 = 1,200 tokens = $0.0180; batch = half of each; wall time =
    # 12 x max(6 s / 4 in flight, local overhead) = 18 s.
    line = next(x for x in res.stdout.splitlines() if x.startswith("gpt4o: "))
    m = re.fullmatch(
        r"gpt4o: 12 of 12 verdicts to compute, 12 API calls \(0 answered by the cache\), "
        r"~([\d,]+) input tokens; online \$([\d.]+) input \+ up to \$0\.0180 output "
        r"\(prices as of [\d-]+\); batch \$([\d.]+) \+ up to \$0\.0090; online wall time "
        r"~18 s at 4 in flight \(6 s a request, [\d.]+ ms local overhead measured\); "
        r"a batch answers within 24 h",
        line,
    )
    assert m, line
    tokens = int(m[1].replace(",", ""))
    assert float(m[2]) == round(tokens * 5 / 1e6, 4)
    assert float(m[3]) == round(tokens * 5 / 1e6 / 2, 4)


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path):
    with ChatServer() as server:
        server.hold()
        proc = subprocess.Popen(
            command(server, "--frames", "1", "--limit", "4", "--out", tmp_path / "r"),
            cwd=tmp_path,
            env={**os.environ, "JUDGES_CLI_KEY": KEY},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        server.wait_for_requests(1)  # mid-run: requests in flight, none answered
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: finished verdicts are saved in the cache" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_the_api_key_is_never_written(tmp_path):
    with ChatServer() as server:
        res = cli(
            server,
            "--frames", "1", "--limit", "2", "--dims", "aesthetics",
            "--cache-dir", tmp_path / "cache", "--out", tmp_path / "r", cwd=tmp_path,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # the key was used
    written = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    written += [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"cache.sqlite", "verdicts.parquet", "run.json"} <= names
    for path in written:  # raw bytes: SQLite pages, parquet, JSON, logs, figures
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in res.stdout + res.stderr


def test_missing_key_exits_2_before_any_request(tmp_path):
    with ChatServer() as server:
        res = cli(server, "--limit", "2", "--out", tmp_path / "r", cwd=tmp_path, key=False)
        assert server.requests == []
    assert res.returncode == 2
    assert "JUDGES_CLI_KEY is not set" in res.stderr and "Traceback" not in res.stderr


def test_no_more_than_concurrency_requests_in_flight(tmp_path):
    concurrency, total = 3, 6 * 2
    with ChatServer() as server:
        server.hold()
        proc = subprocess.Popen(
            command(server, "--frames", "1", "--limit", "6", "--dims", "aesthetics,helpfulness",
                    "--concurrency", concurrency, "--out", tmp_path / "r"),
            cwd=tmp_path,
            env={**os.environ, "JUDGES_CLI_KEY": KEY},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        # One reply at a time: before each, the run has filled every slot it may use.
        for done in range(total):
            sent, held = min(total, done + concurrency), min(concurrency, total - done)
            server.wait_until(
                lambda s=sent, h=held: (len(server.requests), server.in_flight) == (s, h),
                120,
                f"{sent} requests sent, {held} held",
            )
            server.allow(1)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert (len(server.requests), server.max_in_flight) == (total, concurrency)


def test_max_cost_stops_then_continues_with_eight_requests_in_flight(tmp_path):
    """The cap is reserved before each request is sent, so 8 requests in flight at once (the
    default) still cannot spend past it (the server's own token count prices what it answered);
    exit 3 says how to continue, and the rerun pays only for the rest."""
    args = [
        "--frames", "1", "--limit", "6", "--dims", "aesthetics,helpfulness",
        "--judge-arg", "price_input=200", "--judge-arg", "price_output=0",
        "--judge-arg", "max_tokens=16", "--out", tmp_path / "r",
    ]  # fmt: skip
    cap = 1.0
    with ChatServer() as server:
        server.hold()
        proc = subprocess.Popen(
            command(server, *args, "--max-cost", cap),
            cwd=tmp_path,
            env={**os.environ, "JUDGES_CLI_KEY": KEY},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        server.wait_for_requests(3)  # several in flight, none answered: nothing settled yet
        server.release()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 3, err
        spent = sum(count_tokens(b) for b in server.requests) * 200 / 1e6
        paid = len(server.requests)
        # Without reservations all 8 would go out at once: 8 x ~0.18 USD > 1 USD.
        assert 3 <= paid < 12 and spent <= cap
        assert "--max-cost 1.00 USD reached" in err and "rerun the same command" in err
        res = cli(server, *args, "--max-cost", "100", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert len(server.requests) == 12  # the capped run's answers were not paid again
        assert f"{12 - paid} API calls, 0 cached replies" in res.stdout


def test_killed_run_resumes_without_paying_twice(tmp_path):
    concurrency, answered = 3, 10
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
    with ChatServer() as server:
        server.hold(allow=answered)  # 10 replies, then the server holds every request
        env = {**os.environ, "JUDGES_CLI_KEY": KEY}
        proc = subprocess.Popen(
            command(server, *args),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # A slot frees only after its reply is committed, so once 10 + 3 requests have arrived
        # the 10 answers are in the cache and exactly 3 are in flight, held.
        server.wait_for_requests(answered + concurrency)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert (len(server.requests), server.in_flight) == (answered + concurrency, concurrency)
        server.release()
        res = cli(server, *args, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        counts = Counter(server.body_hashes())
    assert len(counts) == total  # every request made overall
    # Only the 3 in flight at the kill were sent again, once each.
    assert sorted(counts.values()) == [1] * (total - concurrency) + [2] * concurrency
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


@pytest.mark.figures
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
    # A pair's two requests show the same two images in swapped order; the two orders chose
    # different videos (a flip) when the server answered the same position both times.
    asked: dict[frozenset, list[str]] = {}
    for body, answer in zip(bodies, answers, strict=True):
        images = frozenset(
            part["image_url"]["url"]
            for m in body["messages"]
            if isinstance(m["content"], list)
            for part in m["content"]
            if part["type"] == "image_url"
        )
        asked.setdefault(images, []).append(answer)
    assert sorted(map(len, asked.values())) == [2] * 6
    flips = sum(a == b for a, b in asked.values())
    assert bias["n_both_decided"][0] == 6
    assert bias["flip_rate"][0] == pytest.approx(flips / 6)
    # Consistent pairs are decided and carry a probability (0.9 from the log-probabilities);
    # flipped ones are ties.
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    assert (verdicts["status"] == "ok").sum() == 6 - flips
    # The clustered interval needs 5 prompts; these 6 pairs come from fewer, so it is null.
    prompts = verdicts["prompt_id"].n_unique()
    assert bias["n_clusters"][0] == prompts < 5
    assert bias["flip_cluster_lo"].is_null().all() and bias["flip_cluster_hi"].is_null().all()
    assert bias["first_position_cluster_lo"].is_null().all()
    calibration = pl.read_csv(run / "calibration.csv")
    decided = verdicts.filter((pl.col("status") == "ok") & pl.col("human").is_not_null())
    assert decided.height > 0, "the check below needs decided, labelled pairs"
    right = (decided["winner"] == decided["human"]).mean()
    assert calibration["ece"][0] == pytest.approx(abs(right - 0.9), abs=1e-9)
    assert list((run / "figures").glob("reliability-gpt4o-aesthetics-1.png"))
    assert "Position bias" in (run / "agreement.md").read_text()
