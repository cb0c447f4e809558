"""Controls (issue 25): the transformations, their cache keys, their statistics, the CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest

from conftest import make_dataset
from judges.cache.store import Store
from judges.core.errors import ConfigError
from judges.core.types import Dimension, Pair, Verdict
from judges.datasets import load_pairs
from judges.judge.base import Judge, RunContext
from judges.judge.controls import (
    CONTROLS,
    control_tasks,
    parse_controls,
    prompt_derangement,
    restore_verdict,
)
from judges.media.keyframes import KeyframeSource
from judges.report.controls import control_sentence
from judges.report.run_folder import normal_verdicts
from judges.run.task_runner import Runner, plan_tasks
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.controls import control_table

ROOT = Path(__file__).resolve().parents[1]
DIM = Dimension.HELPFULNESS


def distinct_prompts(pairs: list[Pair]) -> list[Pair]:
    """The test pairs with a prompt text (and generator texts) of their own each."""
    out = []
    for i, p in enumerate(pairs):
        text = f"prompt number {i}"
        videos = {
            side: dataclasses.replace(
                getattr(p, side), prompt_text=text, video_text=f"{text} ({side})"
            )
            for side in ("video_0", "video_1")
        }
        out.append(dataclasses.replace(p, prompt_text=text, **videos))
    return out


@pytest.fixture
def pairs(tmp_path):
    return distinct_prompts(load_pairs(make_dataset(tmp_path / "d", n_pairs=5)))


class Spy(Judge):
    """Records exactly what it is handed: the pair's texts and videos, and the keyframes."""

    kind = "spy"

    def __init__(self) -> None:
        super().__init__(None, "spy")
        self.seen: dict[tuple[str, int | None], dict] = {}
        self.calls = 0

    def compare(self, pair, dimension, frames, ctx=None):
        ctx = ctx or RunContext()
        self.calls += 1
        kfs = [ctx.source.get(v.path, frames) for v in (pair.video_0, pair.video_1)]
        self.seen[(pair.pair_id, frames)] = {
            "prompt": pair.prompt_text,
            "texts": (pair.video_0.video_text, pair.video_1.video_text),
            "paths": (pair.video_0.path, pair.video_1.path),
            "indices": [k.indices for k in kfs],
            "frames": [k.frames for k in kfs],
        }
        # Always prefers the video shown first, with its path as score_0: order shows through.
        return Verdict(pair.pair_id, self.name, dimension, frames, "video_0", 1.0, 0.0)


def run_spy(pairs, control, frames=(3,), store=None, seed=0):
    tasks, _ = plan_tasks(pairs, [DIM], list(frames), labeled_only=False)
    plan = control_tasks(tasks, control, pairs, seed)
    spy = Spy()
    runner = Runner(store, KeyframeSource(plan=list(frames)), progress=False)
    run = runner.run(spy, plan.tasks, control, seed)
    return spy, list(run.verdicts), plan


def test_parse_controls_and_unknown_name():
    assert parse_controls(None) == ("none",)
    assert parse_controls(["frozen", "none", "swapped"]) == ("none", "frozen", "swapped")
    assert set(CONTROLS) >= {"none", "shuffled_prompt", "frozen", "reversed", "swapped"}
    with pytest.raises(ConfigError, match="did you mean 'frozen'"):
        parse_controls(["frozn"])


def test_derangement_maps_every_prompt_elsewhere_and_is_seeded():
    ids = [f"q{i}" for i in range(30)] * 2
    for seed in range(20):
        m = prompt_derangement(ids, seed)
        assert sorted(m) == sorted(set(ids)) and sorted(m.values()) == sorted(set(ids))
        assert all(k != v for k, v in m.items())
    assert prompt_derangement(ids, 3) == prompt_derangement(ids, 3)
    assert prompt_derangement(ids, 3) != prompt_derangement(ids, 4)
    with pytest.raises(ConfigError, match="2 prompts or more"):
        prompt_derangement(["only", "only"])


def test_shuffled_prompt_judge_sees_another_prompts_text(pairs):
    spy, verdicts, plan = run_spy(pairs, "shuffled_prompt")
    by_id = {p.pair_id: p for p in pairs}
    by_prompt = {p.prompt_id: p for p in pairs}
    assert set(plan.donors) == set(by_id)
    for pid, donor_prompt in plan.donors.items():
        seen = spy.seen[(pid, 3)]
        donor = by_prompt[donor_prompt]
        assert donor_prompt != by_id[pid].prompt_id
        assert seen["prompt"] == donor.prompt_text != by_id[pid].prompt_text
        assert seen["texts"] == (donor.video_0.video_text, donor.video_1.video_text)
        assert seen["paths"] == (by_id[pid].video_0.path, by_id[pid].video_1.path)
    assert {v.pair_id for v in verdicts} == set(by_id)


def test_frame_controls_show_transformed_keyframes(pairs):
    normal, _, _ = run_spy(pairs, "none")
    frozen, _, _ = run_spy(pairs, "frozen")
    backwards, _, _ = run_spy(pairs, "reversed")
    shuffled, _, _ = run_spy(pairs, "shuffled_frames")
    for key, seen in normal.seen.items():
        for side in (0, 1):
            idx, frames = seen["indices"][side], seen["frames"][side]
            # frozen: the first selected keyframe, as many times as there were keyframes
            f = frozen.seen[key]
            assert f["indices"][side] == (idx[0],) * len(idx)
            assert all(np.array_equal(x, frames[0]) for x in f["frames"][side])
            # reversed: the same frames, last first
            r = backwards.seen[key]
            assert r["indices"][side] == idx[::-1]
            assert all(
                np.array_equal(a, b) for a, b in zip(r["frames"][side], frames[::-1], strict=True)
            )
            # shuffled: a permutation, each frame still the pixels of its index
            s = shuffled.seen[key]
            assert sorted(s["indices"][side]) == sorted(idx)
            where = {i: k for k, i in enumerate(idx)}
            for i, x in zip(s["indices"][side], s["frames"][side], strict=True):
                assert np.array_equal(x, frames[where[i]])
    some = [s["indices"][0] for s in shuffled.seen.values()]
    assert any(list(i) != sorted(i) for i in some)  # 5 pairs x 3 frames: some order moved


def test_swapped_exchanges_videos_and_maps_the_verdict_back(pairs):
    spy, verdicts, _ = run_spy(pairs, "swapped")
    for p in pairs:
        assert spy.seen[(p.pair_id, 3)]["paths"] == (p.video_1.path, p.video_0.path)
    # The spy always picks the video shown first: under swapped that is the pair's video_1.
    assert {v.winner for v in verdicts} == {"video_1"}
    assert {(v.score_0, v.score_1) for v in verdicts} == {(0.0, 1.0)}
    v = Verdict("p", "j", DIM, 1, "tie", score_0=2.0, score_1=2.0)
    assert restore_verdict(v, "swapped").winner == "tie"
    assert restore_verdict(v, "frozen") is v


def test_other_video_replaces_video_1_from_another_prompt(pairs):
    spy, _, plan = run_spy(pairs, "other_video")
    by_prompt = {p.prompt_id: p for p in pairs}
    for p in pairs:
        seen = spy.seen[(p.pair_id, 3)]
        donor = by_prompt[plan.donors[p.pair_id]]
        assert seen["paths"] == (p.video_0.path, donor.video_1.path)
        assert seen["prompt"] == p.prompt_text


def test_a_control_never_serves_a_normal_verdict_or_the_reverse(pairs, tmp_path):
    with Store(tmp_path / "cache.sqlite") as store:
        # Each control in turn, after the normal run: every verdict judged afresh.
        for control in CONTROLS:
            spy, verdicts, _ = run_spy(pairs, control, frames=(2, 3), store=store)
            assert spy.calls == len(verdicts) == 2 * len(pairs), control
        # Every control again, the normal run included: all from the cache, each its own.
        for control in CONTROLS:
            spy, verdicts, _ = run_spy(pairs, control, frames=(2, 3), store=store)
            assert spy.calls == 0, control
            winners = {v.winner for v in verdicts}
            assert winners == ({"video_1"} if control == "swapped" else {"video_0"}), control


def test_a_seeded_frame_control_never_serves_another_seeds_verdicts(pairs, tmp_path):
    with Store(tmp_path / "cache.sqlite") as store:
        spy, _, _ = run_spy(pairs, "shuffled_frames", frames=(3,), store=store, seed=0)
        assert spy.calls == len(pairs)
        # Another seed shows other frame orders: judged afresh, then cached under its own key.
        spy, _, _ = run_spy(pairs, "shuffled_frames", frames=(3,), store=store, seed=1)
        assert spy.calls == len(pairs)
        spy, _, _ = run_spy(pairs, "shuffled_frames", frames=(3,), store=store, seed=1)
        assert spy.calls == 0
        # A control whose frames do not depend on the seed is the same judgement under any seed.
        spy, _, _ = run_spy(pairs, "frozen", frames=(3,), store=store, seed=0)
        assert spy.calls == len(pairs)
        spy, _, _ = run_spy(pairs, "frozen", frames=(3,), store=store, seed=1)
        assert spy.calls == 0


def test_control_keys_spliced_equal_the_generic_key(pairs, tmp_path):
    from judges.run.verdict_keys import PairKeys

    with Store(tmp_path / "cache.sqlite") as store:
        runner = Runner(store, KeyframeSource(plan=[2]), progress=False)
        spy = Spy()
        tasks, _ = plan_tasks(pairs, [DIM], [2], labeled_only=False)
        keys = set()
        for control in CONTROLS:
            task = control_tasks(tasks, control, pairs).tasks[0]
            files = [store.file_hash(p) for p in task.files]
            spliced = PairKeys(spy.fingerprint(), "diff").key(spy, task, files)
            assert spliced == runner.verdict_key(spy, task), control
            keys.add(spliced)
        assert len(keys) == len(CONTROLS)  # each control its own key


# --- statistics ---------------------------------------------------------------------------


def synthetic(seed=0, n_prompts=12, per_prompt=4):
    """A verdict table with a normal run and two controls, with random winners and labels."""
    rng = np.random.default_rng(seed)
    n = n_prompts * per_prompt
    base = pl.DataFrame(
        {
            "pair_id": [f"pair{i}" for i in range(n)],
            "prompt_id": [f"q{i // per_prompt}" for i in range(n)],
            "video_0_id": [f"a{i}" for i in range(n)],
            "video_1_id": [f"b{i}" for i in range(n)],
            "judge": "j",
            "dimension": "aesthetics",
            "frames": 4,
            "human": rng.choice(["video_0", "video_1", "tie", None], n).tolist(),
        }
    )
    choices = ["video_0", "video_1", "tie", None]
    parts = []
    for control, p_keep in (("none", 1.0), ("shuffled_prompt", 0.5), ("swapped", 1.0)):
        normal = parts[0]["winner"].to_list() if parts else rng.choice(choices, n).tolist()
        keep = rng.random(n) < p_keep
        winners = [w if k else rng.choice(choices) for w, k in zip(normal, keep, strict=True)]
        parts.append(
            base.with_columns(
                winner=pl.Series(winners, dtype=pl.String),
                status=pl.lit("ok"),
                error=pl.lit(None, pl.String),
                control=pl.lit(control),
            )
        )
    return pl.concat(parts)


def test_sensitivity_and_paired_comparison_equal_a_hand_count():
    verdicts = synthetic()
    config = BootstrapConfig(resamples=500, seed=1)
    table = control_table(verdicts, config)
    assert table["control"].to_list() == ["shuffled_prompt", "swapped"]
    normal = verdicts.filter(pl.col("control") == "none")
    for row in table.iter_rows(named=True):
        ctl = verdicts.filter(pl.col("control") == row["control"])
        a = np.array(normal["winner"].to_list(), dtype=object)
        b = np.array(ctl["winner"].to_list(), dtype=object)
        human = np.array(normal["human"].to_list(), dtype=object)
        changed = np.array([x != y for x, y in zip(a, b, strict=True)])  # None == None: same
        assert row["n_pairs"] == len(a) and row["n_changed"] == int(changed.sum())
        assert row["sensitivity"] == pytest.approx(changed.mean(), abs=1e-15)
        labelled = np.array([h in ("video_0", "video_1") for h in human])
        right_n = np.array([x == h for x, h in zip(a, human, strict=True)]) & labelled
        right_c = np.array([x == h for x, h in zip(b, human, strict=True)]) & labelled
        assert row["n_labeled"] == labelled.sum()
        assert row["agreement"] == pytest.approx(right_c.sum() / labelled.sum(), abs=1e-15)
        assert row["agreement_normal"] == pytest.approx(right_n.sum() / labelled.sum(), abs=1e-15)
        diff = (right_c.sum() - right_n.sum()) / labelled.sum()
        assert row["difference"] == pytest.approx(diff, abs=1e-15)
        only_c, only_n = int((right_c & ~right_n).sum()), int((right_n & ~right_c).sum())
        assert (row["only_control_right"], row["only_normal_right"]) == (only_c, only_n)
        expected_p = binomtest(only_c, only_c + only_n, 0.5).pvalue if only_c + only_n else 1.0
        assert row["p_value"] == pytest.approx(expected_p, rel=1e-9)
        if row["control"] == "swapped":  # the same verdicts: nothing changed
            assert row["n_changed"] == 0 and row["sensitivity"] == 0.0
            assert row["note"] == "no verdict changed"
            assert row["sensitivity_lo"] == 0.0
        else:
            assert 0 < row["sensitivity"] < 1
        for stat in ("sensitivity", "agreement", "difference"):
            assert row[f"{stat}_lo"] <= row[stat] <= row[f"{stat}_hi"], stat


def test_sensitivity_interval_is_clustered_by_prompt():
    # Every pair of half the prompts changed, none of the others': as many changed pairs as
    # scattered changes would give, but a wider interval (prompts, not pairs, are the units).
    verdicts = synthetic(n_prompts=20, per_prompt=5)
    normal = verdicts.filter(pl.col("control") == "none")
    flip = {"video_0": "video_1", "video_1": "video_0", "tie": "video_0"}

    def control(mask):
        w = [flip.get(x, "tie") if m else x for x, m in zip(normal["winner"], mask, strict=True)]
        return normal.with_columns(
            winner=pl.Series(w, dtype=pl.String), control=pl.lit("shuffled_prompt")
        )

    clustered = np.repeat(np.arange(20) % 2 == 0, 5)
    scattered = np.arange(100) % 2 == 0
    config = BootstrapConfig(resamples=2000, seed=0)
    wide = control_table(pl.concat([normal, control(clustered)]), config).row(0, named=True)
    narrow = control_table(pl.concat([normal, control(scattered)]), config).row(0, named=True)
    assert wide["sensitivity"] == narrow["sensitivity"] == 0.5
    assert wide["sensitivity_hi"] - wide["sensitivity_lo"] > (
        narrow["sensitivity_hi"] - narrow["sensitivity_lo"]
    )


def test_error_verdicts_are_left_out_of_sensitivity():
    # Swapped changed nothing; now pairs 0-4 fail under the control (a timeout, say) and pairs
    # 5-6 failed in the normal run. An error's missing winner is no change of verdict: the
    # sensitivity is 0 of the 41 pairs both runs judged, not 7 of 48.
    verdicts = synthetic().filter(pl.col("control") != "shuffled_prompt")
    failed_control = pl.col("pair_id").is_in([f"pair{i}" for i in range(5)])
    failed_normal = pl.col("pair_id").is_in(["pair5", "pair6"])
    failing = ((pl.col("control") == "swapped") & failed_control) | (
        (pl.col("control") == "none") & failed_normal
    )
    broken = verdicts.with_columns(
        winner=pl.when(failing).then(None).otherwise(pl.col("winner")),
        status=pl.when(failing).then(pl.lit("error")).otherwise(pl.col("status")),
        error=pl.when(failing).then(pl.lit("timed out")).otherwise(pl.col("error")),
    )
    (row,) = control_table(broken, BootstrapConfig(resamples=200)).iter_rows(named=True)
    assert (row["n_pairs"], row["n_errors"], row["n_changed"]) == (48, 7, 0)
    assert row["sensitivity"] == 0.0 and row["sensitivity_lo"] == 0.0
    assert row["note"] == "no verdict changed"
    # The console says how many were left out.
    assert "; 0/41 verdicts changed, 7 failed in either run): " in control_sentence(row)


def test_all_errors_under_a_control_give_no_statistics():
    verdicts = synthetic().filter(pl.col("control") != "swapped")
    broken = verdicts.with_columns(
        winner=pl.when(pl.col("control") == "none").then(pl.col("winner")),
        status=pl.when(pl.col("control") == "none")
        .then(pl.col("status"))
        .otherwise(pl.lit("error")),
        error=pl.when(pl.col("control") == "none").then(None).otherwise(pl.lit("undefined here")),
    )
    (row,) = control_table(broken).iter_rows(named=True)
    assert row["n_errors"] == row["n_pairs"] == 48
    assert row["sensitivity"] is None and row["agreement"] is None
    assert row["note"] == "undefined: every verdict is an error (undefined here)"


def test_old_verdict_files_read_as_the_normal_run():
    old = pl.DataFrame({"pair_id": ["a"], "winner": ["video_0"]})
    assert normal_verdicts(old).equals(old)
    new = pl.DataFrame(
        {
            "pair_id": ["a", "a"],
            "winner": ["video_0", "video_1"],
            "control": ["none", "swapped"],
            "control_prompt_id": [None, None],
        }
    )
    assert normal_verdicts(new).equals(old)


# --- the command line --------------------------------------------------------------------


@pytest.mark.figures
def test_cli_controls_on_demo_data(demo_data, tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(ROOT / "experiments" / "agreement.py"),
        "--data", str(demo_data), "--judge", "psnr", "--frames", "2",
        "--control", "frozen", "--control", "swapped", "--control", "shuffled_prompt",
        "--out", str(out), "--run-id", "r", "--quiet", "--no-html", "--bootstrap", "200",
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    run = out / "r"
    verdicts = pl.read_parquet(run / "verdicts.parquet")
    counts = dict(verdicts.group_by("control").len().iter_rows())
    n = counts["none"]
    assert counts == {"none": n, "frozen": n, "swapped": n, "shuffled_prompt": n}
    frozen = verdicts.filter(pl.col("control") == "frozen")
    assert set(frozen["status"]) == {"error"} and set(frozen["error_kind"]) == {"undefined_score"}
    donors = verdicts.filter(pl.col("control") == "shuffled_prompt")
    assert donors["control_prompt_id"].null_count() == 0
    assert (donors["control_prompt_id"] != donors["prompt_id"]).all()
    table = pl.read_csv(run / "controls.csv")
    assert sorted(table["control"]) == ["frozen", "shuffled_prompt", "swapped"]
    by = {r["control"]: r for r in table.iter_rows(named=True)}
    # psnr reads no prompt, and its scores are antisymmetric: no verdict moves.
    assert by["shuffled_prompt"]["n_changed"] == by["swapped"]["n_changed"] == 0
    assert by["shuffled_prompt"]["note"] == "no verdict changed"
    assert by["frozen"]["note"].startswith("undefined: every verdict is an error (psnr")
    info = json.loads((run / "run.json").read_text())
    assert info["controls"]["names"] == ["none", "frozen", "swapped", "shuffled_prompt"]
    assert (run / "figures" / "controls.png").is_file()
    report = (run / "agreement.md").read_text()
    section = report[report.index("## Is the judge looking? Controls") :]
    assert "- psnr @" in section and "| shuffled_prompt |" in section and "| frozen |" in section
    assert "no verdict changed: the judge ignores the prompt" in done.stderr + done.stdout
    # The normal rows are the normal run's: agreement.csv is what a run without controls gives.
    again = subprocess.run(
        [*cmd[:8], "--out", str(out), "--run-id", "plain", "--quiet", "--no-html",
         "--bootstrap", "200", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (out / "plain" / "agreement.csv").read_text() == (run / "agreement.csv").read_text()
