"""Controls on the built-in judges: psnr, scores and the VLM judge against a local chat server.

Each transformation is checked on the exact inputs the judge receives: the frames psnr
computes on, the scores judge's verdicts, and the chat request the server records.
"""

from __future__ import annotations

import polars as pl
import pytest
from test_controls import distinct_prompts

import judges.builtin.psnr as psnr_module
from chat_server import ChatServer, Reply
from conftest import make_dataset
from judges.cache.store import Store
from judges.core.types import Dimension
from judges.datasets import load_pairs
from judges.judge.controls import control_tasks
from judges.judge.registry import get_judge
from judges.media.keyframes import KeyframeSource
from judges.report.run_folder import verdict_table
from judges.run.task_runner import Runner, plan_tasks
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.controls import control_table

DIM = Dimension.HELPFULNESS


@pytest.fixture
def pairs(tmp_path):
    return distinct_prompts(load_pairs(make_dataset(tmp_path / "d", n_pairs=5)))


def run_under(judge, pairs, control, frames=(3,), store=None, only=None):
    tasks, _ = plan_tasks(pairs, [DIM], list(frames), labeled_only=False)
    plan = control_tasks(tasks, control, pairs)
    todo = plan.tasks if only is None else plan.tasks[:only]
    runner = Runner(store, KeyframeSource(plan=list(frames)), progress=False)
    return list(runner.run(judge, todo, control).verdicts), plan


def test_psnr_computes_on_the_transformed_frames(pairs, monkeypatch):
    seen: list[tuple] = []
    real = psnr_module.mean_psnr_to_first

    def spy(first, later):
        seen.append((first, list(later)))
        return real(first, later)

    monkeypatch.setattr(psnr_module, "mean_psnr_to_first", spy)
    judge = get_judge("psnr")
    normal, _ = run_under(judge, pairs, "none", frames=(4,))
    as_normal, seen[:] = list(seen), []
    backwards, _ = run_under(judge, pairs, "reversed", frames=(4,))
    assert len(seen) == len(as_normal) == 2 * len(pairs)
    for (first, later), (first_n, later_n) in zip(seen, as_normal, strict=True):
        assert (first == first_n).all()  # frame 0, the reference, stays
        assert len(later) == len(later_n) >= 2
        assert all((a == b).all() for a, b in zip(later, later_n[::-1], strict=True))
    # The mean of the same PSNRs: the same verdicts (scores equal up to summation order).
    for v, w in zip(normal, backwards, strict=True):
        assert v.winner == w.winner
        assert v.score_0 == pytest.approx(w.score_0, rel=1e-12)
    seen.clear()
    frozen, _ = run_under(judge, pairs, "frozen", frames=(4,))
    assert seen == []  # refused before any work
    assert {v.status for v in frozen} == {"error"}
    assert {v.raw["error_kind"] for v in frozen} == {"undefined_score"}
    assert "under the control 'frozen'" in frozen[0].error


def test_psnr_swapped_is_exactly_antisymmetric(pairs):
    judge = get_judge("psnr")
    normal, _ = run_under(judge, pairs, "none")
    swapped, _ = run_under(judge, pairs, "swapped")
    for v, w in zip(normal, swapped, strict=True):
        assert (v.winner, v.score_0, v.score_1) == (w.winner, w.score_0, w.score_1)


def test_scores_judge_is_prompt_free_and_the_table_says_so(pairs, tmp_path):
    ids = [v.video_id for p in pairs for v in (p.video_0, p.video_1)]
    path = tmp_path / "scores.csv"
    pl.DataFrame({"video_id": ids, "quality": [float(i % 4) for i in range(len(ids))]}).write_csv(
        path
    )
    judge = get_judge("scores", file=str(path), column="quality")
    parts = []
    with Store(tmp_path / "cache.sqlite") as store:
        for control in ("none", "shuffled_prompt", "swapped", "frozen", "reversed"):
            verdicts, _ = run_under(judge, pairs, control, store=store)
            parts.append(verdict_table(verdicts, pairs).with_columns(control=pl.lit(control)))
    table = control_table(pl.concat(parts), BootstrapConfig(resamples=0))
    assert table["control"].to_list() == ["shuffled_prompt", "swapped", "frozen", "reversed"]
    assert table["sensitivity"].to_list() == [0.0, 0.0, None, None]
    assert table["n_changed"].to_list() == [0, 0, None, None]
    assert table["note"].to_list()[:2] == ["no verdict changed"] * 2
    # Frame controls never reach precomputed scores: no statistic, and the table says why.
    for note in table["note"].to_list()[2:]:
        assert note.startswith("undefined: every verdict is an error (scores reads precomputed")
    normal = parts[0].select("score_0", "score_1", "winner")
    assert parts[2].select("score_0", "score_1", "winner").equals(normal)  # swapped back


def request_parts(body):
    content = body["messages"][-1]["content"]
    texts = [p["text"] for p in content if p["type"] == "text"]
    urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    return " ".join(texts) + body["messages"][0]["content"], urls


def test_vlm_server_sees_each_control(pairs, monkeypatch):
    monkeypatch.setenv("JUDGES_TEST_KEY", "sk-test")
    first_shown = lambda body: Reply(content="Final answer: Video 1")  # noqa: E731
    with ChatServer(responder=first_shown) as server:
        judge = get_judge(
            "gpt4o", base_url=server.url, api_key_env="JUDGES_TEST_KEY", max_retries="1"
        )
        seen, verdicts, plans = {}, {}, {}
        for control in ("none", "shuffled_prompt", "frozen", "reversed", "swapped"):
            before = len(server.requests)
            (v,), plan = run_under(judge, pairs, control, frames=(2,), only=1)
            (body,) = server.requests[before:]
            seen[control], verdicts[control], plans[control] = request_parts(body), v, plan
    pair = pairs[0]
    text, (a0, a1, b0, b1) = seen["none"]
    assert a0 != a1 and b0 != b1 and pair.prompt_text in text
    donor_prompt = plans["shuffled_prompt"].donors[pair.pair_id]
    donor = next(p for p in pairs if p.prompt_id == donor_prompt)
    text, urls = seen["shuffled_prompt"]
    assert donor.prompt_text in text and pair.prompt_text not in text
    assert urls == [a0, a1, b0, b1]
    assert seen["frozen"][1] == [a0, a0, b0, b0]  # the first keyframe, repeated
    assert seen["reversed"][1] == [a1, a0, b1, b0]
    assert seen["swapped"][1] == [b0, b1, a0, a1]
    # The server always answers "Video 1" (the one shown first): under swapped that is the
    # pair's video_1, and the verdict says so in the pair's own order.
    assert verdicts["none"].winner == "video_0"
    assert verdicts["swapped"].winner == "video_1"


def test_dry_run_counts_each_controls_calls(demo_data, monkeypatch, tmp_path):
    from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement

    monkeypatch.setenv("JUDGES_TEST_KEY", "sk-test")
    options = {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "JUDGES_TEST_KEY"}
    dry = run_agreement(
        AgreementConfig(
            judges=[JudgeRequest("gpt4o", options)],
            frames=[1],
            data=demo_data,
            dimensions="aesthetics",
            controls=["swapped", "frozen"],
            dry_run=True,
            cache_dir=tmp_path / "cache",
            progress=False,
        ),
        log=lambda line: None,
    )
    assert [p.judge for p in dry.plans] == ["gpt4o", "gpt4o [swapped]", "gpt4o [frozen]"]
    calls = {p.calls for p in dry.plans}
    assert len(calls) == 1 and calls.pop() > 0  # each control: as many calls as the normal run


def test_dry_run_after_a_normal_run_counts_a_frame_controls_own_requests(demo_data, tmp_path):
    # The normal run's replies are cached; frozen shows other images, so none of its requests is
    # cached and the dry run says it will send every one (what the real run then sends).
    from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement

    reply = lambda body: Reply(content="Final answer: Video 1")  # noqa: E731
    with ChatServer(responder=reply) as server:
        options = {"base_url": server.url, "api_key_env": "none", "max_retries": "1"}

        def run(controls, dry_run):
            config = AgreementConfig(
                judges=[JudgeRequest("gpt4o", options)],
                frames=[2],  # one keyframe frozen is itself
                data=demo_data,
                dimensions="aesthetics",
                controls=controls,
                dry_run=dry_run,
                cache_dir=tmp_path / "cache",
                progress=False,
                out=tmp_path / "results",
            )
            return run_agreement(config, log=lambda line: None)

        run([], dry_run=False)
        sent = len(server.requests)
        normal, frozen = run(["frozen"], dry_run=True).plans
        assert (normal.to_compute, normal.calls) == (0, 0) and sent > 0
        assert (frozen.calls, frozen.cached_responses) == (sent, 0)
        run(["frozen"], dry_run=False)
        assert len(server.requests) == 2 * sent  # what the dry run said


def test_dry_run_plans_nothing_for_a_refused_control(demo_data, tmp_path):
    from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement

    dry = run_agreement(
        AgreementConfig(
            judges=[JudgeRequest("psnr")],
            frames=[2],
            data=demo_data,
            controls=["frozen", "reversed"],
            dry_run=True,
            cache_dir=tmp_path / "cache",
            progress=False,
        ),
        log=lambda line: None,
    )
    normal, frozen, backwards = dry.plans
    assert frozen.judge == "psnr [frozen]" and frozen.to_compute == 0
    assert frozen.verdicts == backwards.verdicts == backwards.to_compute == normal.to_compute > 0
