from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.errors import ConfigError
from judges.core.types import Dimension, Verdict
from judges.datasets import load_pairs
from judges.run.agreement import JudgeRequest
from judges.run.prelabel import (
    LABEL_CONFIG,
    PrelabelConfig,
    confidence_of,
    label_studio_tasks,
    risk_coverage,
    run_prelabel,
)
from judges.stats.classic import wilson_interval


def test_risk_coverage_known_values():
    # 40 confident pairs all right, 40 middling 75% right, 20 unsure 40% right, 5 undecided
    conf = [0.9] * 40 + [0.6] * 40 + [0.3] * 20 + [None] * 5
    match = [True] * 40 + [True] * 30 + [False] * 10 + [True] * 8 + [False] * 12 + [False] * 5
    curve = risk_coverage(conf, match)
    assert curve["threshold"].to_list() == [0.9, 0.6, 0.3]
    assert curve["kept"].to_list() == [40, 80, 100]
    assert curve["coverage"].to_list() == [40 / 105, 80 / 105, 100 / 105]
    assert curve["agreement"].to_list() == [1.0, 70 / 80, 78 / 100]
    assert curve["agreement_lo"].to_list() == [
        wilson_interval(40, 40)[0],
        wilson_interval(70, 80)[0],
        wilson_interval(78, 100)[0],
    ]


def test_confidence_sources():
    dim = Dimension.AESTHETICS
    assert confidence_of(Verdict("p", "j", dim, 4, "video_1", confidence=2.5)) == 2.5
    assert confidence_of(Verdict("p", "j", dim, 4, "tie", status="tie", confidence=0.0)) is None
    assert confidence_of(Verdict("p", "j", dim, 4, "video_0", raw={"flip": False})) == 1.0
    assert confidence_of(Verdict("p", "j", dim, 4, "video_0")) is None


def test_label_studio_structure_and_routing(tmp_path):
    pairs = load_pairs(make_dataset(tmp_path / "d", n_pairs=4))
    dim = Dimension.INFORMATIVENESS
    verdicts = [
        Verdict(pairs[0].pair_id, "j", dim, 4, "video_0", confidence=0.9),
        Verdict(pairs[1].pair_id, "j", dim, 4, "video_1", confidence=0.2),
        Verdict(pairs[2].pair_id, "j", dim, 4, None, status="refused"),
        Verdict(pairs[3].pair_id, "j", dim, 4, "video_1", confidence=0.5),
    ]
    tasks = label_studio_tasks(
        pairs, verdicts, dim, 0.5, "j:abc", tmp_path / "d", "/data/local-files/?d="
    )
    assert [t["data"]["route"] for t in tasks] == ["auto", "human", "human", "auto"]
    assert tasks[0]["data"]["video_0"] == "/data/local-files/?d=videos/p0/p0_v0.avi"
    # The structure Label Studio documents for pre-annotations, matched to the shipped config.
    config = ET.fromstring(LABEL_CONFIG)
    controls = {c.get("name"): c for c in config.iter("Choices")}
    objects = {v.get("name") for v in config.iter("Video")}
    for task in tasks:
        assert set(task["data"]) >= {"video_0", "video_1", "prompt", "dimension"}
        for pred in task.get("predictions", []):
            assert pred["model_version"] == "j:abc" and isinstance(pred["score"], float)
            for result in pred["result"]:
                assert set(result) >= {"from_name", "to_name", "type", "value"}
                control = controls[result["from_name"]]
                assert result["to_name"] == control.get("toName") and result["to_name"] in objects
                assert result["type"] == "choices"
                allowed = {c.get("value") for c in control.iter("Choice")}
                assert set(result["value"]["choices"]) <= allowed
    assert "predictions" not in tasks[2]
    json.dumps(tasks)  # serialisable


# Margins of a scores judge on make_dataset's 8 pairs (one prompt each), and whether its choice
# is the people's: sorted by margin, six right, then a wrong one, then a right one.
MARGINS = {0: (8.0, True), 1: (7.0, True), 2: (6.0, True), 3: (5.0, True), 4: (4.0, True),
           5: (3.0, True), 6: (2.0, False), 7: (1.0, True)}  # fmt: skip


def _scored_dataset(root):
    data = make_dataset(root, n_pairs=8)
    rows = []
    for i, (margin, right) in MARGINS.items():
        human = "video_1" if i % 3 else "video_0"  # make_dataset's informativeness label
        winner = human if right else ("video_0" if human == "video_1" else "video_1")
        rows += [f"p{i}_v{side},{margin if winner == f'video_{side}' else 0.0}" for side in (0, 1)]
    scores = root / "scores.csv"
    scores.write_text("video_id,quality\n" + "\n".join(rows) + "\n")
    return data, scores


def test_run_prelabel_routes_by_the_threshold_worked_by_hand(tmp_path):
    data, scores = _scored_dataset(tmp_path / "d")
    out = tmp_path / "out"
    summary = run_prelabel(
        PrelabelConfig(
            judge=JudgeRequest("scores", {"file": str(scores), "column": "quality"}),
            dimension=Dimension.INFORMATIVENESS,
            frames=1,
            data=data,
            calibration=data,
            target_agreement=0.54,
            min_kept=5,  # eight pairs: the defaults (50 pairs, 10 prompts) test nothing
            min_prompts=1,
            out=out,
            progress=False,
        )
    )
    # The fixed sequence, by hand: a threshold keeping the top n pairs (n prompts, one pair
    # each) is tested from n = 5 (the clustered bound needs 5 prompts) and passes when its
    # one-sided 95% bound reaches 0.54. All right, the bound is the exact one, 0.05^(1/n)
    # (Wilson's 1 / (1 + z^2 / n) claims more): n = 5: 0.549; n = 6: 0.607 (both pass); n = 7
    # holds the wrong pair, 6 of 7: at most the exact 0.479 (fail, the sequence stops).
    # Chosen: margin 3, the sixth.
    assert summary["threshold"] == 3.0
    assert (summary["pre_labelled"], summary["routed_to_humans"], summary["pairs"]) == (6, 2, 8)
    tasks = json.loads((out / "label_studio_tasks.json").read_text())
    routes = {t["data"]["pair_id"]: t["data"]["route"] for t in tasks}
    assert routes == {f"pair-{i}": "auto" if i < 6 else "human" for i in range(8)}
    routed = (out / "routed_to_humans.csv").read_text().strip().splitlines()[1:]
    assert sorted(line.split(",")[0] for line in routed) == ["pair-6", "pair-7"]
    assert summary["failures"]["scores"]["failed"] == 0
    assert summary["human_hours_saved"] == pytest.approx(6 * 30 / 3600)
    assert (out / "risk_coverage.png").stat().st_size > 1000
    ET.fromstring((out / "labeling_config.xml").read_text())
    assert summary["label_studio"]["prediction_result"]["from_name"] == "preference"


def test_psnr_threshold_is_a_declared_margin(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=6)
    summary = run_prelabel(
        PrelabelConfig(
            judge=JudgeRequest("psnr"),
            dimension=Dimension.INFORMATIVENESS,
            frames=2,
            data=data,
            calibration=data,
            min_kept=2,
            min_prompts=1,
            out=tmp_path / "out",
            progress=False,
        )
    )
    # The threshold is on a declared kind of confidence (a dB margin for psnr).
    assert (summary["confidence_kind"], summary["confidence_unit"]) == ("margin", "dB")
    assert summary["pre_labelled"] + summary["routed_to_humans"] == 6


def test_without_calibration_nothing_is_routed_automatically(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=3)
    summary = run_prelabel(
        PrelabelConfig(
            judge=JudgeRequest("psnr"),
            dimension=Dimension.HELPFULNESS,
            frames=2,
            data=data,
            out=tmp_path / "o",
            progress=False,
        )
    )
    assert summary["pre_labelled"] == 0 and summary["routed_to_humans"] == 3
    assert "nothing routed automatically" in summary["note"]
    tasks = json.loads((tmp_path / "o" / "label_studio_tasks.json").read_text())
    assert all("predictions" in t for t in tasks)  # confidences still exported


def test_existing_output_refused_unless_overwrite(tmp_path):
    data = make_dataset(tmp_path / "d", n_pairs=2)
    out = tmp_path / "o"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier batch")

    def config(**kw):
        return PrelabelConfig(
            judge=JudgeRequest("psnr"),
            dimension=Dimension.HELPFULNESS,
            frames=2,
            data=data,
            out=out,
            progress=False,
            **kw,
        )

    with pytest.raises(ConfigError, match=r"--out o: .* exists already; .* --overwrite"):
        run_prelabel(config())
    assert sorted(p.name for p in out.iterdir()) == ["earlier.txt"]  # untouched
    run_prelabel(config(overwrite=True))
    assert "earlier.txt" not in {p.name for p in out.iterdir()}
    assert (out / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "o"]  # no staging left


def test_prelabel_command_calibrates_margins_to_probabilities(tmp_path):
    """prelabel.py --calibrate isotonic, as a user runs it, on the hand-worked margins."""
    import subprocess
    import sys
    from pathlib import Path

    from scipy.stats import beta

    data, scores = _scored_dataset(tmp_path / "d")
    out = tmp_path / "out"
    script = Path(__file__).resolve().parents[1] / "experiments" / "prelabel.py"
    res = subprocess.run(
        [
            sys.executable, script, "--judge", "scores", "--judge-arg", f"file={scores}",
            "--judge-arg", "column=quality", "--dimension", "informativeness", "--frames", "1",
            "--data", data, "--calibration", data, "--calibrate", "isotonic",
            "--target-agreement", "0.6", "--min-kept", "5", "--min-prompts", "1",
            "--out", out, "--quiet",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    # Isotonic fit of "right" on the margin, by hand: ascending margins 1..8 are right, wrong,
    # then six right; pooling the violating first two gives 0.5, 0.5, then 1.0 for margins 3-8.
    assert summary["confidence_kind"] == "probability"
    assert summary["calibrator"] == {"method": "isotonic", "steps": 2, "fit_pairs": 8}
    # Thresholds: 1.0 keeps six right pairs over six prompts (every pair right: the exact bound
    # 0.05^(1/6) = 0.607, below Wilson's 1 / (1 + z^2 / 6) = 0.689, passes 0.6); 0.5 keeps all
    # eight, 7 right (one wrong: the exact bound, the beta quantile 0.529, below the clustered
    # 0.565 from the seeded bootstrap and Wilson's 0.589: fails).
    assert summary["threshold"] == 1.0
    assert (summary["pre_labelled"], summary["routed_to_humans"]) == (6, 2)
    curve = pl.read_csv(out / "risk_coverage.csv")
    assert curve["threshold"].to_list() == [1.0, 0.5]
    assert curve["kept"].to_list() == [6, 8]
    assert curve["lower_bound"].to_list() == pytest.approx(
        [0.05 ** (1 / 6), beta.ppf(0.05, 7, 2)], abs=1e-4
    )
    assert curve["passed"].to_list() == [True, False]
    routed = pl.read_csv(out / "routed_to_humans.csv")
    assert routed["pair_id"].to_list() == ["pair-6", "pair-7"]
    assert routed["judge_confidence"].to_list() == [0.5, 0.5]
