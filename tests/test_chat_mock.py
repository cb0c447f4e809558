"""``base_url=mock``: the offline stand-in answers by its documented rule and says so everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from judges.chat.mock import NOT_A_MODEL, mock_completion, mock_content
from judges.core.errors import ConfigError
from judges.core.harm_types import HARM_KEYS
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.datasets.demo import demo_dataset
from judges.judge.registry import get_judge
from judges.judge.task import Task
from judges.media.keyframes import KeyframeSource

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"


def _pair_body(first: list[int], second: list[int]) -> dict:
    content = [{"type": "text", "text": "Which is better? Both from: 'a cat'"}]
    for ordinal, sizes in (("first", first), ("second", second)):
        for k, size in enumerate(sizes, 1):
            content.append({"type": "text", "text": f"Frame {k} of the {ordinal} video:"})
            content.append({"type": "image_url", "image_url": {"url": "x" * size}})
    return {"model": "m", "messages": [{"role": "user", "content": content}]}


def test_pairwise_rule_larger_images_win_equal_answers_video_1():
    reply = mock_content(_pair_body([10, 20], [15, 16]))  # 30 vs 31 bytes
    assert reply.startswith(NOT_A_MODEL)
    assert "total 30 bytes, the second's 31" in reply
    assert reply.splitlines()[-1] == "Final answer: Video 2"
    assert mock_content(_pair_body([40], [15, 16])).endswith("Final answer: Video 1")
    assert mock_content(_pair_body([7, 7], [14])).endswith("Final answer: Video 1")  # equal


def test_images_without_markers_split_in_halves():
    body = _pair_body([3], [9])
    for part in body["messages"][0]["content"]:
        if part["type"] == "text":
            part["text"] = "an image:"
    assert mock_content(body).endswith("Final answer: Video 2")


def test_schema_rule_tags_what_the_prompt_names_not_the_instructions():
    schema = {"properties": {k: {"type": "boolean"} for k in HARM_KEYS}}
    body = {
        "messages": [
            {"role": "system", "content": "Categories: " + ", ".join(HARM_KEYS)},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Prompt: violence and animal abuse at a zoo"},
                    {"type": "text", "text": "Reply with keys: " + ", ".join(HARM_KEYS)},
                ],
            },
        ],
        "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
    }
    answer = json.loads(mock_content(body).splitlines()[-1])
    assert sorted(k for k, v in answer.items() if v) == ["animal_abuse", "violence"]
    assert set(answer) == set(HARM_KEYS)
    usage = mock_completion(body)["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_mock_judge_is_labelled_priced_at_zero_and_refuses_batch_mode():
    judge = get_judge("gpt4o", base_url="mock")
    assert judge.name == "gpt4o-mock"
    assert get_judge("gpt4o", base_url="mock", name="x").name == "x-mock"
    assert judge.price.input == 0 and judge.price.output == 0
    assert "not a model" in judge.notice()
    assert get_judge("gpt4o").notice() is None
    with pytest.raises(ConfigError, match="base_url=mock answers online requests only"):
        get_judge("gpt4o", base_url="mock", mode="batch")


def test_a_run_against_the_mock_needs_no_key_and_is_marked_everywhere(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["JUDGES_CACHE_DIR"] = str(tmp_path / "cache")
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--judge", "gpt4o", "--judge-arg", "base_url=mock",
         "--dims", "aesthetics", "--frames", "2", "--limit", "8", "--out", str(tmp_path),
         "--run-id", "r", "--quiet"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "MOCK ENDPOINT" in res.stdout
    run = tmp_path / "r"
    assert "MOCK ENDPOINT" in (run / "agreement.md").read_text()
    assert "MOCK ENDPOINT" in json.loads((run / "run.json").read_text())["notice"]
    assert pl.read_csv(run / "agreement.csv")["judge"].to_list() == ["gpt4o-mock"]
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    assert verdicts.height == 8 and set(verdicts["status"]) == {"ok"}
    assert verdicts["cost_usd"].sum() == 0
    assert all(NOT_A_MODEL in raw for raw in verdicts["raw"])
    # Each verdict is what the rule says of the exact request the judge built for that pair.
    judge = get_judge("gpt4o", base_url="mock")
    pairs = {p.pair_id: p for p in load_pairs(demo_dataset(cache_dir=tmp_path / "cache"))}
    source = KeyframeSource(plan=[2])
    for row in verdicts.iter_rows(named=True):
        task = Task(pairs[row["pair_id"]], Dimension.AESTHETICS, 2)
        ((body, _sizes),) = judge.task_requests(task, source)
        said = mock_content(body).splitlines()[-1]
        assert row["winner"] == {"Final answer: Video 1": "video_0"}.get(said, "video_1")


def test_a_client_the_sdk_refuses_is_a_config_error_not_a_traceback(monkeypatch):
    from judges.chat.client import ChatClient, Endpoint

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = ChatClient(Endpoint(api_key_env="NO_SUCH_KEY_VAR"), "j", "v1")
    with pytest.raises(ConfigError, match="judge 'j': cannot create the client for OpenAI"):
        client.open()
