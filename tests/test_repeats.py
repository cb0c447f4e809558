"""repeats=K: a VLM judge asked K times per request, against the local chat server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from chat_server import ChatServer, count_tokens, seeded_responder, table_responder
from conftest import make_dataset
from judges.cache.store import Store
from judges.chat.budget import Budget, BudgetExhausted
from judges.core.errors import ConfigError
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.base import RunContext, Task
from judges.judge.registry import get_judge
from judges.media.keyframes import KeyframeSource

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
KEY = "sk-repeats-789"
DIM = Dimension.HELPFULNESS


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("JUDGES_REPEATS_KEY", KEY)


def dataset(root: Path, n_pairs: int = 4) -> Path:
    """make_dataset's pairs, each with a prompt text of its own (the table responder's key)."""
    config = make_dataset(root, n_pairs=n_pairs)
    records = json.loads(config.read_text())
    for i, record in enumerate(records):
        record["prompt_text"] = f"prompt number {i}"
    config.write_text(json.dumps(records))
    return config


def judge_for(server, store, repeats=3, budget=None, **options):
    options = {
        "base_url": server.url,
        "api_key_env": "JUDGES_REPEATS_KEY",
        "max_retries": "0",
        "timeout": "10",
        "max_side": "64",
        "temperature": "1",
        "repeats": str(repeats),
        **options,
    }
    judge = get_judge("gpt4o", **options)
    return judge, RunContext(KeyframeSource(plan=[1]), store, budget or Budget(), 1)


def judge_pairs(server, store, pairs, **options):
    judge, ctx = judge_for(server, store, **options)
    verdicts = list(judge.judge_all([Task(p, DIM, 1) for p in pairs], ctx))
    return judge, sorted(verdicts, key=lambda v: v.pair_id)


def cli(server, tmp_path, *args):
    command = [
        sys.executable, str(SCRIPT), "--quiet", "--judge", "gpt4o",
        "--judge-arg", f"base_url={server.url}", "--judge-arg", "api_key_env=JUDGES_REPEATS_KEY",
        "--judge-arg", "max_side=64", "--judge-arg", "temperature=1", *map(str, args),
    ]  # fmt: skip
    env = {**os.environ, "JUDGES_REPEATS_KEY": KEY}
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)


# The answers each pair's samples get (as presented: "1" is video_0), and people's choice
# (make_dataset: helpfulness is video_1 for even pairs, video_0 for odd ones).
TABLE = {
    "prompt number 0": ["2", "2", "2"],  # video_1 x3: consistent; majority right
    "prompt number 1": ["1", "2", "1"],  # video_0, video_1, video_0: majority video_0, right
    "prompt number 2": ["1", "1", "2"],  # majority video_0, wrong (people: video_1)
    "prompt number 3": ["2", "2", "2"],  # consistent, wrong (people: video_0)
}


def test_majority_self_consistency_and_spread_equal_hand_counts(tmp_path):
    data = dataset(tmp_path / "d")
    with ChatServer(responder=table_responder(TABLE)) as server:
        res = cli(
            server, tmp_path, "--data", data, "--dims", "helpfulness", "--frames", "1",
            "--judge-arg", "repeats=3", "--out", tmp_path / "r", "--run-id", "k3",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        # One request per pair, asking for 3 choices; sample i of a call with n is seed + i.
        assert [(b["n"], b["seed"]) for b in server.requests] == [(3, 0)] * 4
    run = tmp_path / "r" / "k3"
    verdicts = pl.read_parquet(run / "verdicts.parquet").sort("pair_id")
    samples = [json.loads(r)["samples"] for r in verdicts["raw"]]
    assert samples == [
        ["video_1"] * 3,
        ["video_0", "video_1", "video_0"],
        ["video_0", "video_0", "video_1"],
        ["video_1"] * 3,
    ]
    assert verdicts["winner"].to_list() == ["video_1", "video_0", "video_0", "video_1"]
    # Confidence of a majority: its share of the votes.
    assert verdicts["confidence"].to_list() == pytest.approx([1, 2 / 3, 2 / 3, 1])
    row = pl.read_csv(run / "repeats.csv").row(0, named=True)
    # By hand: pairs 0 and 3 are consistent (2 of 4); the majority is right on pairs 0, 1;
    # sample 0 is right on pairs 0, 1 (2/4), sample 1 on pair 0 (1/4), sample 2 on 0, 1, 2 (3/4).
    assert row["repeats"] == 3 and row["n_pairs"] == 4 and row["n_without_samples"] == 0
    assert row["self_consistency"] == 0.5
    assert row["majority_agreement"] == 0.5
    assert row["sample_agreements"] == "0.5000 0.2500 0.7500"
    assert row["sample_agreement_mean"] == pytest.approx(0.5)
    assert (row["sample_agreement_min"], row["sample_agreement_max"]) == (0.25, 0.75)
    assert row["sample_agreement_sd"] == pytest.approx(0.25)  # sqrt((0 + .0625 + .0625) / 2)
    # 4 prompts: fewer clusters than a clustered interval needs, so none is given.
    assert row["self_consistency_lo"] is None
    agreement = pl.read_csv(run / "agreement.csv").row(0, named=True)
    assert agreement["agreement"] == 0.5  # the normal table scores the majority
    assert (
        "gpt4o @1 helpfulness, 3 samples per pair: all samples agree on 0.50 [n/a, n/a] of 4 "
        "pairs; agreement with people 0.50 for the majority, 0.50 for one sample (min 0.25, "
        "max 0.75, sd 0.25)"
    ) in res.stderr
    assert "Repeated samples (repeats=K)" in (run / "agreement.md").read_text()


def test_ties_between_options_make_a_tie(tmp_path):
    pairs = load_pairs(dataset(tmp_path / "d", n_pairs=2))
    table = {"prompt number 0": ["1", "2"], "prompt number 1": ["1", "nothing"]}
    with ChatServer(responder=table_responder(table)) as server, Store(tmp_path / "c") as store:
        _, verdicts = judge_pairs(server, store, pairs, repeats=2)
    assert [(v.status, v.winner) for v in verdicts] == [("tie", "tie"), ("ok", "video_0")]
    assert verdicts[1].raw["samples"] == ["video_0", "unparsed"]
    assert verdicts[1].confidence == 1.0  # the only answer given


def test_both_orders_combine_per_sample_before_the_vote(tmp_path):
    pairs = load_pairs(dataset(tmp_path / "d", n_pairs=1))
    # The same answer as presented in both orders names different videos: each sample flips.
    table = {"prompt number 0": ["1", "2", "1"]}
    with ChatServer(responder=table_responder(table)) as server, Store(tmp_path / "c") as store:
        judge, (verdict,) = judge_pairs(server, store, pairs, order="both")
        assert [b["n"] for b in server.requests] == [3, 3]  # one call per order
    assert verdict.raw["samples"] == ["tie", "tie", "tie"]
    assert (verdict.status, verdict.winner, len(verdict.raw["replies"])) == ("tie", "tie", 6)
    assert judge.flip_rate == 1.0


def test_n_is_used_when_the_server_takes_it(tmp_path):
    pairs = load_pairs(dataset(tmp_path / "d", n_pairs=2))
    with ChatServer(responder=seeded_responder()) as server, Store(tmp_path / "c") as store:
        judge, verdicts = judge_pairs(server, store, pairs, repeats=4)
        assert [b.get("n") for b in server.requests] == [4, 4]
        usages = list(server.usages)
    assert all(len(v.raw["samples"]) == 4 and v.raw["cached_responses"] == 0 for v in verdicts)
    assert judge.request_stats().paid_calls == 2
    # Input paid once per request: the verdicts' costs add up to what the server billed for
    # its two requests (prompt tokens once each, the four answers' tokens), and to the spend.
    assert len(usages) == 2 and all(u["completion_tokens"] > 0 for u in usages)
    billed = sum(judge.price.cost(u["prompt_tokens"], u["completion_tokens"]) for u in usages)
    assert billed > 0
    total = sum(v.cost_usd for v in verdicts)
    assert total == pytest.approx(billed, rel=1e-9)
    assert judge.request_stats().spent_usd == pytest.approx(billed, rel=1e-9)


def test_n_rejected_falls_back_to_k_calls_and_is_remembered(tmp_path):
    pairs = load_pairs(dataset(tmp_path / "d", n_pairs=2))
    with ChatServer(responder=seeded_responder()) as server, Store(tmp_path / "a") as store:
        _, accepted = judge_pairs(server, store, pairs, repeats=3)
    with (
        ChatServer(responder=seeded_responder(), reject_params=("n",)) as server,
        Store(tmp_path / "b") as store,
    ):
        judge, rejected = judge_pairs(server, store, pairs, repeats=3)
        sent = [(b.get("n"), b["seed"]) for b in server.requests]
    # The first request tries n and is refused; then every sample is its own call, seed 0..2,
    # and the second pair never tries n again.
    assert sent == [(3, 0), (None, 0), (None, 1), (None, 2), (None, 0), (None, 1), (None, 2)]
    assert "n" in judge.request_stats().unsupported_params_dropped
    assert judge.request_stats().paid_calls == 6
    # Sample i is the request with seed + i either way: the same answers.
    assert [v.raw["samples"] for v in rejected] == [v.raw["samples"] for v in accepted]
    assert len({tuple(v.raw["samples"]) for v in rejected}) == 2  # the rule does vary


def test_a_server_that_ignores_n_has_the_rest_asked_one_by_one(tmp_path):
    pairs = load_pairs(dataset(tmp_path / "d", n_pairs=1))
    with ChatServer(responder=seeded_responder()) as server, Store(tmp_path / "c") as store:
        complete = server.complete
        server.complete = lambda body, reply: complete({**body, "n": 1}, reply)  # one choice
        _, (verdict,) = judge_pairs(server, store, pairs, repeats=3)
        sent = [(b.get("n"), b["seed"]) for b in server.requests]
    assert sent == [(3, 0), (None, 1), (None, 2)]
    assert len(verdict.raw["samples"]) == 3


def test_every_sample_is_cached_and_more_samples_pay_only_the_new_ones(tmp_path):
    pairs = load_pairs(dataset(tmp_path / "d", n_pairs=2))
    with ChatServer(responder=seeded_responder()) as server, Store(tmp_path / "c") as store:
        _, first = judge_pairs(server, store, pairs, repeats=3)
        assert len(server.requests) == 2
        _, again = judge_pairs(server, store, pairs, repeats=3)
        assert len(server.requests) == 2  # nothing paid twice
        assert all(v.raw["cached_responses"] == 3 for v in again)
        _, more = judge_pairs(server, store, pairs, repeats=5)
        # Only samples 3 and 4: one request per pair asking n=2 from seed 3.
        assert [(b.get("n"), b["seed"]) for b in server.requests[2:]] == [(2, 3), (2, 3)]
        _, one = judge_pairs(server, store, pairs, repeats=1)
        assert len(server.requests) == 4  # sample 0 is the plain request's cache entry
    assert [v.raw["samples"][:3] for v in more] == [v.raw["samples"] for v in first]
    assert [v.raw["replies"][0]["text"] for v in one] == [
        v.raw["replies"][0]["text"] for v in first
    ]
    assert "samples" not in one[0].raw  # one sample: the verdict it always was


def test_budget_reserves_k_outputs(tmp_path):
    pairs = load_pairs(dataset(tmp_path / "d", n_pairs=1))
    prices = {"price_input": "1", "price_output": "1000", "max_tokens": "10"}
    with ChatServer(responder=seeded_responder()) as server, Store(tmp_path / "c") as store:
        judge, ctx = judge_for(server, store, **prices)
        body, sizes = judge.build_request(pairs[0], DIM, 1, source=ctx.source)
        tokens = judge.estimate(body, sizes)[0]
        one, three = judge.worst(tokens, 1), judge.worst(tokens, 3)
        assert three == pytest.approx((tokens * 1 + 3 * 10 * 1000) / 1e6)
        cap = (one + three) / 2  # enough for one sample, not for three
        judge, ctx = judge_for(server, store, budget=Budget(cap), **prices)
        with pytest.raises(BudgetExhausted):
            list(judge.judge_all([Task(pairs[0], DIM, 1)], ctx))
        assert server.requests == []
        judge, ctx = judge_for(server, store, repeats=1, budget=Budget(cap), **prices)
        (verdict,) = judge.judge_all([Task(pairs[0], DIM, 1)], ctx)
        assert verdict.status == "ok" and len(server.requests) == 1


def test_dry_run_counts_k_samples(tmp_path):
    data = dataset(tmp_path / "d", n_pairs=3)
    args = ["--data", data, "--dims", "helpfulness", "--frames", "1", "--out", tmp_path / "r"]
    cost = ["--judge-arg", "max_tokens=100"]
    with ChatServer(responder=seeded_responder()) as server:
        dry = cli(server, tmp_path, *args, *cost, "--judge-arg", "repeats=3", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert server.requests == []
        paid = cli(server, tmp_path, *args, *cost, "--judge-arg", "repeats=2")
        assert paid.returncode == 0, paid.stderr
        tokens = sum(count_tokens(b) for b in server.requests)
        more = cli(server, tmp_path, *args, *cost, "--judge-arg", "repeats=3", "--dry-run")
        assert more.returncode == 0, more.stderr
    line = next(x for x in dry.stdout.splitlines() if x.startswith("gpt4o: "))
    # 3 requests, each one call with n=3: input once, worst-case output 3 x 3 x 100 tokens at
    # $15 per 1M = $0.0135.
    m = re.match(
        r"gpt4o: 3 of 3 verdicts to compute, 3 API calls \(0 answered by the cache\), "
        r"~([\d,]+) input tokens; online \$[\d.]+ input \+ up to \$0\.0135 output",
        line,
    )
    assert m, line
    assert int(m[1].replace(",", "")) == pytest.approx(tokens, rel=0.2)  # the estimator's own
    # After a run with 2 samples, 6 samples are cached and only sample 2 of each is missing:
    # 3 calls, 3 x 100 output tokens = $0.0045.
    line = next(x for x in more.stdout.splitlines() if x.startswith("gpt4o: "))
    assert re.match(
        r"gpt4o: 3 of 3 verdicts to compute, 3 API calls \(6 answered by the cache\), .* up to "
        r"\$0\.0045 output",
        line,
    ), line


def test_killed_run_resumes_without_paying_for_a_sample_twice(tmp_path):
    data = dataset(tmp_path / "d", n_pairs=6)
    concurrency, answered = 3, 8
    args = [
        "--data", data, "--dims", "helpfulness", "--frames", "1", "--concurrency", concurrency,
        "--judge-arg", "repeats=3", "--out", tmp_path / "r",
    ]  # fmt: skip
    with ChatServer(responder=seeded_responder(), reject_params=("n",)) as server:
        # Rejected n: each sample is its own call, so the kill lands between samples of a pair.
        server.hold(allow=answered)
        command = [
            sys.executable, str(SCRIPT), "--quiet", "--judge", "gpt4o",
            "--judge-arg", f"base_url={server.url}",
            "--judge-arg", "api_key_env=JUDGES_REPEATS_KEY",
            "--judge-arg", "max_side=64", "--judge-arg", "temperature=1", *map(str, args),
        ]  # fmt: skip
        env = {**os.environ, "JUDGES_REPEATS_KEY": KEY}
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Each of the 3 tasks in flight asks its samples one after another, so once 8 + 3
        # requests have arrived, the 8 answered are cached and 3 are held.
        server.wait_for_requests(answered + concurrency)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert server.in_flight == concurrency
        server.release()
        res = cli(server, tmp_path, *args)
        assert res.returncode == 0, res.stderr
        paid = [
            h for h, b in zip(server.body_hashes(), server.requests, strict=True) if "n" not in b
        ]
    counts = Counter(paid)
    assert len(counts) == 6 * 3  # every sample of every pair
    # Only the 3 held at the kill were sent again, once each.
    assert sorted(counts.values()) == [1] * (6 * 3 - concurrency) + [2] * concurrency
    row = pl.read_csv(next((tmp_path / "r").iterdir()) / "repeats.csv").row(0, named=True)
    assert row["n_pairs"] == 6 and row["repeats"] == 3


def test_options_are_checked(tmp_path):
    with pytest.warns(UserWarning, match="samples may be identical"):
        get_judge("gpt4o", repeats="3")  # temperature 0 by default
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_judge("gpt4o", repeats="3", temperature="0.7")
        get_judge("gpt4o", repeats="1")
    for bad, message in [("0", "repeats must be >= 1"), ("2.5", "expected a number")]:
        with pytest.raises(ConfigError, match=message):
            get_judge("gpt4o", repeats=bad, temperature="1")
    with pytest.raises(ConfigError, match="needs mode=online"):
        get_judge("gpt4o", repeats="2", temperature="1", mode="batch")
    with pytest.raises(ConfigError, match="asks once per request"):
        get_judge("gpt4o-harm", repeats="2", temperature="1")
    # repeats=1 keeps the cache identity verdicts had before the option existed.
    plain, one = get_judge("gpt4o"), get_judge("gpt4o", repeats="1")
    assert plain.fingerprint() == one.fingerprint()
    # The fingerprints the code gave before repeats existed (main at a7a3619): existing caches
    # stay valid.
    assert plain.fingerprint() == (
        "e5016283b96ef922596bdbd89b5376a7cbf50dad21694229940abc70642b43e1"
    )
    assert get_judge("gpt4o", order="both", temperature="0.5").fingerprint() == (
        "5e1959a988ba0725ac6dcb95855f0f9390c21b6a493edc56dc5f6628045d584c"
    )
    assert get_judge("gpt4o", repeats="2", temperature="1").fingerprint() != plain.fingerprint()
