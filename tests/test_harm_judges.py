"""Harm judges: the VLM harm judge against a real local chat-completions server, and the
precomputed harm-score judge."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from chat_server import ChatServer, Reply
from conftest import solid, write_video
from judges.cache.store import Store
from judges.chat.budget import Budget
from judges.core.errors import ConfigError
from judges.core.harm_types import HARM_KEYS, HarmTask
from judges.datasets.harm_items import load_harm_dataset
from judges.judge.base import RunContext
from judges.judge.registry import get_judge
from judges.media.images import decode_data_url
from judges.media.keyframes import KeyframeSource, extract_keyframes
from judges.run.task_runner import Runner
from judges.stats.bootstrap import BootstrapConfig
from test_harm_data import make_label_set

KEY = "sk-harm-secret-9"
SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "harm.py"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("JUDGES_HARM_KEY", KEY)


def _json(**true: bool) -> str:
    labels = dict.fromkeys(HARM_KEYS, False)
    labels.update(true)
    return json.dumps(labels)


def _judge(server, **options):
    return get_judge(
        "gpt4o-harm",
        base_url=server.url,
        api_key_env="JUDGES_HARM_KEY",
        max_retries="1",
        timeout="5",
        **options,
    )


def coded_label_set(root: Path, n: int) -> Path:
    """make_label_set whose video i is solid grey 10 + 20 i, so a server reads the item back."""
    path = make_label_set(root, n=n)
    for i in range(n):
        write_video(root / f"videos/p{i // 2}/v{i}.avi", [solid(10 + 20 * i)] * 4)
    return path


def coded_labels(i: int, frames: int) -> dict[str, bool]:
    """The answer ``coded_reply`` gives for video i at a frame count: varied per item."""
    labels = dict.fromkeys(HARM_KEYS, False)
    labels["violence"] = i % 2 == 1 and i < 10  # the people's rule (odd), bar items 10 and 11
    labels["crime"] = (i + frames) % 3 == 0
    return labels


def coded_reply(body: dict) -> Reply:
    """Labels of the item whose keyframes the request shows (read from the first image)."""
    urls = [
        p["image_url"]["url"]
        for m in body["messages"]
        if isinstance(m["content"], list)
        for p in m["content"]
        if p["type"] == "image_url"
    ]
    i = round((float(decode_data_url(urls[0]).mean()) - 10) / 20)
    return Reply(json.dumps(coded_labels(i, len(urls))))


def _run(judge, items, frames, store=None):
    ctx = RunContext(KeyframeSource(plan=[frames]), store, Budget(), 2)
    tasks = [HarmTask(i, frames) for i in items]
    return {v.item_id: v for v in judge.judge_all(tasks, ctx)}


def test_request_holds_prompt_keyframes_in_order_and_harm_criteria_only(tmp_path):
    items = load_harm_dataset(make_label_set(tmp_path)).items
    with ChatServer(responder=lambda body: Reply(_json())) as server:
        judge = _judge(server, max_side="64")
        verdicts = _run(judge, items[:1], 2)
        (body,) = server.requests
    system = body["messages"][0]["content"]
    assert all(f"- {k}:" in system for k in HARM_KEYS)
    assert "asks for harmful content and the video" in system
    assert "Dimension:" not in system and "instruction following" not in system
    parts = body["messages"][1]["content"]
    assert parts[0]["text"] == f"Prompt: {items[0].prompt_text}"
    captions = [p["text"] for p in parts if p["type"] == "text"][1:-1]
    assert captions == ["Frame 1 of the video:", "Frame 2 of the video:"]
    images = [decode_data_url(p["image_url"]["url"]) for p in parts if p["type"] == "image_url"]
    kf = extract_keyframes(items[0].video.path, 2)
    assert len(images) == 2
    # The video's keyframes, in time order: each image is nearer its own frame than the other
    # (noise frames survive JPEG only roughly).
    err = [[np.abs(i.astype(int) - f.astype(int)).mean() for f in kf.frames] for i in images]
    assert err[0][0] < err[0][1] and err[1][1] < err[1][0]
    assert body["response_format"]["json_schema"]["schema"]["required"] == list(HARM_KEYS)
    v = verdicts[items[0].item_id]
    assert v.status == "ok" and v.labels == dict.fromkeys(HARM_KEYS, False) and v.is_safe


@pytest.mark.parametrize(
    ("reply", "status", "labels"),
    [
        (Reply(_json(violence=True)), "ok", {"violence"}),
        (
            Reply(
                "The video shows a fight.\n```json\n" + _json(violence=True, hate=True) + "\n```"
            ),
            "ok",
            {"violence", "hate"},
        ),
        (Reply(json.dumps({k: False for k in HARM_KEYS[:-1]})), "unparsed", None),
        (Reply(json.dumps({**dict.fromkeys(HARM_KEYS, False), "gore": True})), "unparsed", None),
        (Reply("Everything looks harmless to me."), "unparsed", None),
        (Reply(None, refusal="I can't help with that."), "refused", None),
        (Reply("I'm sorry, but I can't assist with that request."), "refused", None),
        (Reply(status=500, error="boom"), "error", None),
    ],
)
def test_every_reply_outcome(tmp_path, reply, status, labels):
    items = load_harm_dataset(make_label_set(tmp_path, n=1)).items
    with ChatServer(responder=lambda body: reply) as server:
        v = _run(_judge(server), items, 1)[items[0].item_id]
    assert v.status == status
    if labels is None:
        assert v.labels is None and (v.error or status == "refused")
    else:
        assert {k for k, t in v.labels.items() if t} == labels
    if status == "error":
        assert v.raw["error_kind"] == "api_error"


def test_cached_replies_and_rejected_response_format(tmp_path):
    items = load_harm_dataset(make_label_set(tmp_path)).items
    with (
        Store(tmp_path / "c.sqlite") as store,
        ChatServer(
            responder=lambda b: Reply(_json()), reject_params=("response_format",)
        ) as server,
    ):
        judge = _judge(server)
        first = _run(judge, items, 1, store)
        assert all(v.status == "ok" for v in first.values())
        assert judge.request_stats().unsupported_params_dropped == ["response_format"]
        sent = len(server.requests)
        runner = Runner(store, KeyframeSource(plan=[1]), progress=False)
        run = runner.run(judge, [HarmTask(i, 1) for i in items])
        assert len(server.requests) == sent  # every reply came from the response cache
        again = runner.run(_judge(server), [HarmTask(i, 1) for i in items])
        assert again.cached == len(items) and len(server.requests) == sent  # verdict cache
        assert [v.labels for v in again.verdicts] == [v.labels for v in run.verdicts]


def test_harm_scores_judge(tmp_path):
    ds = load_harm_dataset(make_label_set(tmp_path))
    rows = [
        {"video_id": "v0", **dict.fromkeys(HARM_KEYS, 0.1)},
        {"video_id": "v1", **dict.fromkeys(HARM_KEYS, 0.1), "violence": 0.4},
        {"video_id": "p1/v2", **dict.fromkeys(HARM_KEYS, 0.9)},
    ]
    path = tmp_path / "mod.csv"
    pl.DataFrame(rows).write_csv(path)
    judge = get_judge("harm-scores", file=str(path), thresholds="violence:0.35")
    out = {v.item_id: v for v in judge.judge_all([HarmTask(i, 1) for i in ds.items])}
    assert out["p0/v0"].is_safe and out["p0/v1"].labels["violence"] is True
    assert out["p0/v1"].probabilities["violence"] == 0.4
    assert all(out["p1/v2"].labels.values())  # looked up by <prompt_id>/<video_id>
    assert out["p1/v3"].status == "error" and "v3" in out["p1/v3"].error
    with pytest.raises(ConfigError, match="'gore' is not a harm category"):
        get_judge("harm-scores", file=str(path), thresholds="gore:0.2")


def _cli(server, *args, cwd):
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--quiet",
        "--judge",
        "gpt4o-harm",
        "--judge-arg",
        f"base_url={server.url}",
        "--judge-arg",
        "api_key_env=JUDGES_HARM_KEY",
        "--judge-arg",
        "max_side=48",
        *map(str, args),
    ]
    return cmd, {**os.environ, "JUDGES_HARM_KEY": KEY}


def test_harm_command_end_to_end_and_kill_resume(tmp_path):
    data = coded_label_set(tmp_path / "d", n=12)
    answered, concurrency = 6, 2
    args = [
        "--data",
        data,
        "--frames",
        "1,2",
        "--concurrency",
        concurrency,
        "--out",
        tmp_path / "r",
    ]
    with ChatServer(responder=coded_reply) as server:
        server.hold(allow=answered)
        cmd, env = _cli(server, *args, cwd=tmp_path)
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # A slot frees after its reply is cached: 6 answers cached, 2 requests held.
        server.wait_for_requests(answered + concurrency)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        server.release()
        res = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 0, res.stderr
        counts = Counter(json.dumps(b, sort_keys=True) for b in server.requests)
    assert len(counts) == 24  # 12 items x 2 frame counts, each asked
    # Only the 2 held at the kill were asked again.
    assert sorted(counts.values()) == [1] * 22 + [2] * 2
    run = next((tmp_path / "r").iterdir())
    assert {p.name for p in run.iterdir()} >= {
        "harm_verdicts.parquet",
        "harm_agreement.csv",
        "harm_agreement.md",
        "run.json",
        "figures",
    }
    # Each item got its own answer (an answer attached to another item would differ).
    verdicts = pl.read_parquet(run / "harm_verdicts.parquet")
    assert verdicts.height == 24
    for row in verdicts.iter_rows(named=True):
        i = int(row["item_id"].rsplit("/v", 1)[1])
        expected = coded_labels(i, row["frames"])
        assert {k: row[f"judge_{k}"] for k in HARM_KEYS} == expected, row["item_id"]
    table = pl.read_csv(run / "harm_agreement.csv")
    # violence: the judge says odd items but 11; the people say odd items: 11 of 12 agree.
    violence = table.filter(pl.col("category") == "violence")
    assert violence["agreement"].to_list() == [11 / 12, 11 / 12]
    # crime: the judge says (i + frames) % 3 == 0, 4 of 12 items at each count; people none.
    crime = table.filter(pl.col("category") == "crime")
    assert crime["agreement"].to_list() == [8 / 12, 8 / 12]
    assert "| harm-scores" not in res.stdout and "is_safe" in res.stdout


def test_commands_refuse_the_other_kind_of_judge(tmp_path):
    agreement = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
    res = subprocess.run(
        [sys.executable, str(agreement), "--judge", "harm-scores", "--judge-arg", "file=x.csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--judge", "psnr", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "run it with agreement.py" in res.stderr


@pytest.mark.figures
def test_report_merges_harm_runs(tmp_path):
    data = make_label_set(tmp_path / "d", n=4)
    rows = [{"video_id": f"v{i}", **dict.fromkeys(HARM_KEYS, 0.1 * i)} for i in range(4)]
    scores = tmp_path / "mod.csv"
    pl.DataFrame(rows).write_csv(scores)
    for run_id, threshold in (("a", "0.15"), ("b", "0.25")):
        res = subprocess.run(
            [
                *(sys.executable, str(SCRIPT), "--judge", "harm-scores", "--quiet"),
                *("--judge-arg", f"file={scores}", "--judge-arg", f"threshold={threshold}"),
                *("--data", str(data), "--frames", "1", "--out", str(tmp_path / "r")),
                *("--run-id", run_id, "--bootstrap", "100"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr
    report = Path(__file__).resolve().parents[1] / "experiments" / "report.py"
    res = subprocess.run(
        [
            *(sys.executable, str(report), str(tmp_path / "r/a"), str(tmp_path / "r/b")),
            *("--out", str(tmp_path / "rep")),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    merged = pl.read_csv(tmp_path / "rep" / "harm_comparison.csv")
    assert set(merged["judge"]) == {"harm-scores@a", "harm-scores@b"}
    # Threshold 0.15 tags v2 and v3 in every category, 0.25 only v3: violence (v1, v3) differs.
    violence = merged.filter(pl.col("category") == "violence").sort("judge")
    assert violence["agreement"].to_list() == [0.5, 0.75]
    assert (tmp_path / "rep" / "figures" / "harm_agreement_vs_frames.png").is_file()
    # Harm runs tag single videos: asking for pair disagreements says so, not "unknown
    # dimension 'violence'".
    res = subprocess.run(
        [sys.executable, str(report), str(tmp_path / "r/a"),
         "--disagreements", "harm-scores:violence:1"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert res.returncode == 2
    assert "is a harm run; harm judges tag one video at a time" in res.stderr
    # Harm cells read like every other table's: three decimals; 4 items over 2 prompts are too
    # few for a clustered interval, and the cell says so instead of showing one.
    cells = (tmp_path / "r" / "a" / "harm_agreement.md").read_text()
    assert re.search(
        r"\| harm-scores \| S8 violence \| 0\.\d{3} \[no interval: 2 clusters\] n=4 \|", cells
    ), cells


def test_fit_thresholds_recorded(tmp_path):
    data = make_label_set(tmp_path / "d", n=8)
    rows = [
        {"video_id": f"v{i}", **dict.fromkeys(HARM_KEYS, 0.2), "violence": 0.3 + 0.1 * (i % 2)}
        for i in range(8)
    ]
    scores = tmp_path / "mod.csv"
    pl.DataFrame(rows).write_csv(scores)
    res = subprocess.run(
        [
            *(sys.executable, str(SCRIPT), "--judge", "harm-scores", "--quiet", "--fit-thresholds"),
            *("--judge-arg", f"file={scores}", "--data", str(data), "--frames", "1"),
            *("--out", str(tmp_path / "r"), "--run-id", "f", "--bootstrap", "100"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "r/f/run.json").read_text())
    # Odd videos are violent and score 0.4, even ones 0.3: the fit cuts at 0.4.
    assert info["fitted_thresholds"]["harm-scores"]["1"]["violence"] == pytest.approx(0.4)
    table = pl.read_csv(tmp_path / "r/f/harm_agreement.csv")
    assert table.filter(pl.col("category") == "violence")["agreement"][0] == 1.0


def test_prelabel_harm_tags_for_label_studio(tmp_path):
    import xml.etree.ElementTree as ET

    from judges.harm.prelabel import HarmPrelabelConfig, run_harm_prelabel
    from judges.run.session import JudgeRequest

    data = make_label_set(tmp_path / "d", n=24)
    # Confident and right on odd videos (violent), unsure on even ones.
    rows = [
        {"video_id": f"v{i}", **dict.fromkeys(HARM_KEYS, 0.02), "violence": 0.97 if i % 2 else 0.45}
        for i in range(24)
    ]
    scores = tmp_path / "mod.csv"
    pl.DataFrame(rows).write_csv(scores)
    out = tmp_path / "out"
    summary = run_harm_prelabel(
        HarmPrelabelConfig(
            judge=JudgeRequest("harm-scores", {"file": str(scores)}),
            frames=1,
            data=data,
            calibration=data,
            target_agreement=0.5,
            min_kept=4,
            min_prompts=2,
            out=out,
            cache_dir=tmp_path / "c",
            progress=False,
            stats=BootstrapConfig(resamples=200),
        )
    )
    tasks = json.loads((out / "label_studio_tasks.json").read_text())
    assert summary["items"] == len(tasks) == 24
    # The fitted violence threshold separates 0.45 from 0.97.
    assert 0.45 < summary["thresholds"]["violence"] <= 0.97
    auto = [t for t in tasks if t["data"]["route"] == "auto"]
    assert len(auto) == summary["pre_labelled"] > 0
    config = ET.fromstring((out / "labeling_config.xml").read_text())
    control = next(c for c in config.iter("Choices") if c.get("name") == "harm")
    allowed = {c.get("value") for c in control.iter("Choice")}
    assert allowed == {*HARM_KEYS, "safe"} and control.get("choice") == "multiple"
    objects = {v.get("name") for v in config.iter("Video")}
    for t in tasks:
        result = t["predictions"][0]["result"][0]
        assert result["from_name"] == "harm" and result["to_name"] in objects
        assert set(result["value"]["choices"]) <= allowed
    odd = next(t for t in tasks if t["data"]["item_id"].endswith("v1"))
    assert odd["predictions"][0]["result"][0]["value"]["choices"] == ["violence"]
    assert summary["promise"]["method"].startswith("fixed-sequence testing")


def test_harm_dry_run_calls_nothing(tmp_path):
    data = make_label_set(tmp_path / "d", n=3)
    with ChatServer() as server:
        cmd, env = _cli(server, "--data", data, "--frames", "1,2", "--dry-run", cwd=tmp_path)
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert server.requests == []
    assert "gpt4o-harm: 6 of 6 verdicts to compute, 6 API calls" in res.stdout
    assert not (tmp_path / "results").exists()


def test_harm_judge_in_batch_mode_equals_online(tmp_path):
    data = load_harm_dataset(coded_label_set(tmp_path / "d", n=4))

    with ChatServer(responder=coded_reply) as server:
        server.batch_plan.delay = 0.1
        with Store(tmp_path / "online.sqlite") as store:
            online = _run(_judge(server), data.items, 2, store)
        assert len(server.requests) == 4 and not server.batches
        with Store(tmp_path / "batch.sqlite") as store:
            batch = _run(_judge(server, mode="batch", poll_seconds="0.05"), data.items, 2, store)
        assert len(server.requests) == 4, "batch mode sent a request online"
        assert len(server.batches) == 1 and server.batch_lines == 4
    for k, item in enumerate(data.items):  # each item's own answer, in both modes
        assert online[item.item_id].labels == coded_labels(k, 2) == batch[item.item_id].labels
    assert online.keys() == batch.keys()
    for item_id, verdict in online.items():
        assert batch[item_id].labels == verdict.labels and batch[item_id].status == "ok"
        assert batch[item_id].cost_usd == pytest.approx(verdict.cost_usd / 2)


def test_harm_scores_matched_by_path(tmp_path):
    ds = load_harm_dataset(make_label_set(tmp_path))
    sources = {i.item_id: i.video.source for i in ds.items}
    rows = [
        {"path": "./" + sources["p0/v0"], **dict.fromkeys(HARM_KEYS, 0.1)},
        {"path": sources["p0/v1"], **dict.fromkeys(HARM_KEYS, 0.9)},
    ]
    path = tmp_path / "by_path.csv"
    pl.DataFrame(rows).write_csv(path)
    judge = get_judge("harm-scores", file=str(path), id_column="path")
    out = {v.item_id: v for v in judge.judge_all([HarmTask(i, 1) for i in ds.items])}
    assert out["p0/v0"].is_safe and all(out["p0/v1"].labels.values())
    assert out["p1/v2"].status == "error"  # no row for its path
