"""Runs sharing one cache at once, as real processes: nothing lost, nothing paid or kept twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from test_batch import BATCHES_CMD, agreement, run, verdicts_of
from test_cli_gpt import KEY

from chat_server import ChatServer
from conftest import make_dataset
from judges.cache.segments import VerdictSegments
from judges.cache.store import Store
from judges.chat.inflight import INFLIGHT

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
ARGS = ["--quiet", "--judge", "psnr", "--frames", "1,2,4", "--data"]
COLUMNS = ["pair_id", "dimension", "frames", "winner", "status", "score_0", "score_1"]


def table(run_dir: Path) -> list[tuple]:
    return sorted(pl.read_parquet(run_dir / "verdicts.parquet").select(COLUMNS).rows(), key=str)


def test_two_runs_of_one_judge_on_one_cache_at_once(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=8)
    env = {**os.environ, "JUDGES_CACHE_DIR": str(tmp_path / "cache")}

    def start(run_id: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                *ARGS,
                str(data),
                "--out",
                str(tmp_path / "r"),
                "--run-id",
                run_id,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    procs = [start("a"), start("b")]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    assert [err for _, err in outputs] == ["", ""]
    assert table(tmp_path / "r" / "a") == table(tmp_path / "r" / "b")
    # A third run finds every verdict (nothing lost), each once (nothing served twice).
    third = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *ARGS,
            str(data),
            "--out",
            str(tmp_path / "r"),
            "--run-id",
            "c",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert third.returncode == 0, third.stderr
    assert "psnr: 0 computed, 24 from cache" in third.stdout
    assert table(tmp_path / "r" / "c") == table(tmp_path / "r" / "a")
    # Both runs may have stored what they computed; a merge keeps each verdict once.
    segments = VerdictSegments(tmp_path / "cache" / "cache.segments")
    (folder,) = segments.folders()
    assert not list(folder.glob("log-*.jsonl"))  # every log folded into a segment
    fingerprint = folder.name
    segments.merge(fingerprint, max_segments=0)
    assert segments.count(fingerprint) == 24


def test_a_batch_run_alongside_batches_follow(tmp_path):
    """The run and ``batches.py follow`` poll the same batch: it is paid and cached once."""
    env = {**os.environ, "JUDGES_CLI_KEY": KEY}
    with ChatServer() as server:
        server.batch_plan.delay = 4.0
        proc = subprocess.Popen(
            agreement(server, tmp_path, "--run-id", "a"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not server.batches and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.batches, "no batch was created"
        follow = [sys.executable, str(BATCHES_CMD), "--cache-dir", str(tmp_path / "cache")]
        followed = run([*follow, "follow", "--poll-seconds", "0.1"])
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert followed.returncode == 0, followed.stderr
        assert len(server.batches) == 1 and server.batch_lines == 16 and not server.requests
        first = verdicts_of(tmp_path / "out" / "a")
        assert first.height == 16 and (first["status"] == "ok").all()
        again = run(agreement(server, tmp_path, "--run-id", "b"))
        assert again.returncode == 0, again.stderr
        # Nothing paid twice, nothing lost: the rerun is answered from the cache alone.
        assert len(server.batches) == 1 and server.batch_lines == 16 and not server.requests
        cols = ["pair_id", "dimension", "frames", "winner"]
        second = verdicts_of(tmp_path / "out" / "b")
        assert second.select(cols).sort(cols).equals(first.select(cols).sort(cols))


def test_two_online_api_runs_on_one_cache_pay_each_request_once(tmp_path):
    """Each request is claimed in the cache before it is sent: the other run waits for it."""
    from chat_server import Reply, default_responder

    def slow(body):  # slow enough that both runs ask for every request while it is in flight
        return Reply(content=default_responder(body).content, delay=0.4)

    env = {**os.environ, "JUDGES_CLI_KEY": KEY}
    with ChatServer(responder=slow) as server:
        procs = [
            subprocess.Popen(
                agreement(server, tmp_path, "--run-id", name, "--concurrency", "4", mode="online"),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        outputs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
        assert len(server.requests) == 16  # 4 pairs x 2 dimensions x 2 frame counts, once each
        cols = ["pair_id", "dimension", "frames", "winner", "status"]
        a, b = (verdicts_of(tmp_path / "out" / n).select(cols).sort(cols) for n in ("a", "b"))
        assert a.height == 16 and a.equals(b)
        with Store(tmp_path / "cache" / "cache.sqlite") as store:
            assert not store.holds(INFLIGHT)  # every claim released
