from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from judges.stats.calibration import (
    MarginCalibrator,
    crossfit_probabilities,
    expected_calibration_error,
    position_bias,
    reliability_bins,
)


def test_ece_by_hand():
    conf = np.array([0.95, 0.92, 0.65, 0.61, 0.55])
    right = np.array([1, 1, 0, 1, 1])
    # Bins (0.9, 1.0]: acc 1.0, conf 0.935 -> gap 0.065 x 2; (0.6, 0.7]: acc 0.5, conf 0.63
    # -> 0.13 x 2; (0.5, 0.6]: acc 1, conf 0.55 -> 0.45 x 1. ECE = (0.13 + 0.26 + 0.45) / 5.
    assert expected_calibration_error(conf, right) == pytest.approx((0.13 + 0.26 + 0.45) / 5)
    bins = reliability_bins(conf, right).filter(pl.col("n") > 0)
    assert bins["n"].to_list() == [1, 2, 2]
    assert math.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_isotonic_is_the_pool_adjacent_violators_fit():
    margins = np.array([0.1, 0.2, 0.3, 0.4, 1.0, 2.0])
    right = np.array([1, 0, 0, 1, 1, 1])
    cal = MarginCalibrator.fit(margins, right, "isotonic")
    # PAV: 1, 0, 0 pool to 1/3; then 1, 1, 1.
    assert cal.predict(margins).tolist() == pytest.approx([1 / 3] * 3 + [1, 1, 1])
    assert cal.predict(np.array([-0.25])) == pytest.approx([1 / 3])  # |margin| is used
    assert np.all(np.diff(cal.predict(np.linspace(0, 3, 50))) >= 0)


def test_platt_recovers_a_logistic_curve():
    rng = np.random.default_rng(0)
    m = rng.uniform(0, 4, 20000)
    right = rng.random(20000) < 1 / (1 + np.exp(-(1.5 * m - 1.0)))
    cal = MarginCalibrator.fit(m, right, "platt")
    slope, intercept = cal.x
    assert slope == pytest.approx(1.5, abs=0.08) and intercept == pytest.approx(-1.0, abs=0.08)
    assert cal.describe()["method"] == "platt"


def test_crossfit_never_predicts_a_pair_from_its_own_fold():
    margins = np.array([1.0, 1.0, 1.0, 1.0])
    right = np.array([1, 1, 0, 0])
    folds = np.array([0, 0, 1, 1])
    # Fold 0 is predicted from fold 1 (all wrong) and vice versa.
    assert crossfit_probabilities(margins, right, folds).tolist() == [0.0, 0.0, 1.0, 1.0]


def test_position_bias_from_replies():
    def raw(first_winner: str, second_winner: str | None) -> str:
        replies = [{"order": "video_0 first", "winner": first_winner}]
        replies.append({"order": "video_1 first", "winner": second_winner})
        return json.dumps({"order": "both", "replies": replies})

    verdicts = pl.DataFrame(
        {
            "pair_id": ["a", "b", "c", "d"],
            "prompt_id": ["q1", "q1", "q2", "q3"],
            "judge": "g",
            "dimension": "aesthetics",
            "frames": 1,
            # a: video_0 both times (first, then second position): no flip.
            # b: first-shown both times (video_0, then video_1): a flip.
            # c: video_1 both times; d: the second reply undecided.
            "raw": [
                raw("video_0", "video_0"),
                raw("video_0", "video_1"),
                raw("video_1", "video_1"),
                raw("video_0", None),
            ],
        }
    )
    row = position_bias(verdicts).row(0, named=True)
    # Decided replies: 7; shown first and chosen: a1, b1, b2, c2, d1 = 5.
    assert (row["n_replies"], row["first_position_rate"]) == (7, 5 / 7)
    assert (row["n_both_decided"], row["flip_rate"]) == (3, 1 / 3)
    # Three prompts: too few for a clustered interval (null), the Wilson one is still there.
    assert row["n_clusters"] == 3
    assert row["first_position_cluster_lo"] is None and row["flip_cluster_hi"] is None
    assert row["first_position_lo"] <= 5 / 7 <= row["first_position_hi"]
