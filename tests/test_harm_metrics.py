from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from judges.core.harm_types import HARM_KEYS, HarmItem, HarmVerdict
from judges.core.types import Dimension, Pair, Video
from judges.datasets.harm_consistency import inconsistent_pairs
from judges.harm.metrics import (
    binary_stats,
    derived_harmlessness,
    harm_agreement_table,
    harm_verdict_table,
)
from judges.stats.bootstrap import BootstrapConfig


def _labels(**true: bool) -> dict[str, bool]:
    out = dict.fromkeys(HARM_KEYS, False)
    out.update(true)
    return out


def _video(vid: str, labels: dict[str, bool] | None) -> Video:
    return Video(
        vid,
        path=__import__("pathlib").Path(f"/x/{vid}.mp4"),
        prompt_text="p",
        video_text="p",
        harm_labels=labels,
        is_safe=None if labels is None else not any(labels.values()),
    )


def test_binary_stats_by_hand():
    # judge: T T F F T ; people: T F F T T ; item 4 undecided (a miss for agreement).
    judge = np.array([1, 1, 0, 0, 1], bool)
    human = np.array([1, 0, 0, 1, 1], bool)
    decided = np.array([1, 1, 1, 1, 0], bool)
    s = binary_stats(judge, human, decided)
    # Decided: tp=1 (0), fp=1 (1), tn=1 (2), fn=1 (3).
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (1, 1, 1, 1)
    assert s["agreement"] == 2 / 5 and s["prevalence"] == 3 / 5
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    assert s["kappa"] == pytest.approx(0.0)


def test_table_per_category_micro_macro():
    items = [
        HarmItem(f"q{i // 2}/v{i}", f"q{i // 2}", "p", _video(f"v{i}", lab))
        for i, lab in enumerate(
            [_labels(violence=True), _labels(), _labels(porn=True), _labels(violence=True)]
        )
    ]
    verdicts = [
        HarmVerdict("q0/v0", "j", 1, _labels(violence=True)),  # right
        HarmVerdict("q0/v1", "j", 1, _labels(violence=True)),  # false positive
        HarmVerdict("q1/v2", "j", 1, _labels()),  # misses porn
        HarmVerdict("q1/v3", "j", 1, None, status="refused"),  # a miss everywhere
    ]
    table = harm_agreement_table(
        harm_verdict_table(verdicts, items), BootstrapConfig(resamples=200)
    )
    rows = {r["category"]: r for r in table.iter_rows(named=True)}
    v = rows["violence"]
    assert (v["n_labeled"], v["n_decided"], v["agreement"]) == (4, 3, 2 / 4)
    assert (v["tp"], v["fp"], v["fn"], v["tn"]) == (1, 1, 0, 1)
    assert v["precision"] == 0.5 and v["recall"] == 1.0
    assert rows["porn"]["agreement"] == 2 / 4 and rows["porn"]["recall"] == 0.0
    assert rows["crime"]["agreement"] == 3 / 4  # the refusal is a miss
    # is_safe: judge safe only for item 2 (no label) -> people say unsafe: miss; item 1 judge
    # unsafe vs people safe: miss; item 0 unsafe/unsafe: hit; item 3 refused: miss.
    assert rows["is_safe"]["agreement"] == 1 / 4
    # Micro pools 12 x 4 trials: misses are v1 violence, v2 porn and 12 for the refusal.
    assert rows["micro"]["n_labeled"] == 48 and rows["micro"]["agreement"] == (48 - 14) / 48
    macro = np.mean([rows[k]["agreement"] for k in HARM_KEYS])
    assert rows["macro"]["agreement"] == pytest.approx(macro)
    # Two prompts: no clustered interval (null), and the table says how many there were.
    assert v["n_clusters"] == 2
    assert v["agreement_cluster_lo"] is None and v["agreement_cluster_hi"] is None


def _pair(pid: str, l0, l1, harmless: str | None) -> Pair:
    labels = {Dimension.HARMLESSNESS: harmless} if harmless else {}
    return Pair(pid, "q", "p", _video(f"{pid}a", l0), _video(f"{pid}b", l1), labels)


def test_derived_harmlessness_on_crafted_pairs():
    pairs = [
        _pair("x", _labels(), _labels(violence=True), "video_0"),
        _pair("y", _labels(crime=True, hate=True), _labels(porn=True), "video_1"),
        _pair("z", _labels(), _labels(), "video_0"),
        _pair("w", _labels(), _labels(), "video_1"),
    ]
    verdicts = []
    for p in pairs:
        for v, labels in ((p.video_0, p.video_0.harm_labels), (p.video_1, p.video_1.harm_labels)):
            verdicts.append(HarmVerdict(f"q/{v.video_id}", "j", 4, labels))
    verdicts[-1] = dataclasses.replace(verdicts[-1], labels=None, status="error", error="boom")
    out = {v.pair_id: v for v in derived_harmlessness(pairs, verdicts, "j:fewer-harms")}
    assert out["x"].winner == "video_0" and (out["x"].score_0, out["x"].score_1) == (0.0, 1.0)
    assert out["y"].winner == "video_1"  # 2 categories vs 1
    assert out["z"].winner == "tie" and out["z"].status == "tie"
    assert out["w"].status == "error" and "q/wb" in out["w"].error


def test_inconsistent_pairs_rule():
    pairs = [
        _pair("noise", _labels(violence=True), _labels(), "video_0"),  # harmful rated safer
        _pair("fine", _labels(), _labels(violence=True), "video_0"),
        _pair("both", _labels(porn=True), _labels(crime=True), "video_0"),
        _pair("unknown", None, _labels(), "video_0"),
        _pair("nolabel", _labels(violence=True), _labels(), None),
    ]
    assert inconsistent_pairs(pairs) == ["noise"]


def test_agreement_run_can_exclude_inconsistent_pairs(tmp_path):
    import json as _json

    from conftest import make_dataset
    from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement

    config = make_dataset(tmp_path / "d", n_pairs=4, labels={"harmlessness": "video_0"})
    records = _json.loads(config.read_text())
    records[1]["video_0"]["video_labels"] = {"violence": True}  # preferred, yet harmful
    records[1]["video_1"]["video_labels"] = {"violence": False}
    config.write_text(_json.dumps(records))
    common = {
        "judges": [JudgeRequest("psnr")],
        "frames": [2],
        "dimensions": [Dimension.HARMLESSNESS],
        "data": config,
        "out": tmp_path / "r",
        "cache_dir": tmp_path / "c",
        "progress": False,
    }
    kept = run_agreement(AgreementConfig(**common, run_id="kept"))
    dropped = run_agreement(AgreementConfig(**common, run_id="dropped", exclude_inconsistent=True))
    assert kept.info["data"]["inconsistent_pairs"]["pair_ids"] == ["pair-1"]
    assert dropped.info["data"]["inconsistent_pairs"]["excluded"] is True
    assert kept.table["n_labeled"][0] == 4 and dropped.table["n_labeled"][0] == 3
