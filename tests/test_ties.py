from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.ties import (
    best_tie_threshold,
    encode_outcomes,
    folds_by_cluster,
    tie_accuracy,
    tie_aware_hits,
)


def _brute_force(winners, humans, margins):
    # Every candidate threshold scored by the definition, no cumulative sums.
    best_eps, best = None, tie_aware_hits(winners, humans, margins, None).mean()
    for eps in sorted(set(np.abs(margins[np.isfinite(margins)]).tolist())):
        acc = tie_aware_hits(winners, humans, margins, eps).mean()
        if acc > best + 1e-12:
            best_eps, best = eps, acc
    return best_eps, best


@pytest.mark.parametrize("seed", range(12))
def test_threshold_search_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 60
    margins = np.round(rng.normal(0, 1, n), 1)  # rounded: equal margins happen
    winners = encode_outcomes(
        [None if rng.random() < 0.1 else ("video_0" if m > 0 else "video_1") for m in margins]
    )
    humans = encode_outcomes(rng.choice(["video_0", "video_1", "tie"], n, p=[0.4, 0.4, 0.2]))
    margins[rng.random(n) < 0.05] = np.nan
    eps, acc = best_tie_threshold(winners, humans, margins)
    ref_eps, ref_acc = _brute_force(winners, humans, margins)
    assert acc == pytest.approx(ref_acc)
    assert eps == ref_eps


@pytest.mark.parametrize("seed", range(6))
def test_masked_search_on_sorted_rows_equals_the_subset(seed):
    # agreement_table hands over whole groups sorted by |margin| and a fold mask.
    rng = np.random.default_rng(seed)
    margins = np.round(rng.normal(0, 1, 80), 1)
    margins[rng.random(80) < 0.1] = np.nan
    order = np.argsort(np.abs(np.nan_to_num(margins, nan=np.inf)))
    margins = margins[order]
    winners = encode_outcomes(["video_0" if m > 0 else "video_1" for m in margins])
    humans = encode_outcomes(rng.choice(["video_0", "video_1", "tie"], 80, p=[0.4, 0.4, 0.2]))
    rows = rng.random(80) < 0.5
    masked = best_tie_threshold(winners, humans, margins, presorted=True, rows=rows)
    subset = best_tie_threshold(winners[rows], humans[rows], margins[rows])
    assert masked[0] == subset[0] and masked[1] == pytest.approx(subset[1])


def test_deutsch_hand_example():
    # Five pairs: the judge's small margins are the human ties.
    winners = encode_outcomes(["video_0", "video_1", "video_0", "video_1", None])
    humans = encode_outcomes(["video_0", "tie", "tie", "video_1", "video_0"])
    margins = np.array([3.0, -0.1, 0.2, -2.0, np.nan])
    # No threshold: 2 of 5 right. eps = 0.2: both ties credited -> 4 of 5.
    assert tie_aware_hits(winners, humans, margins, None).sum() == 2
    assert best_tie_threshold(winners, humans, margins) == (0.2, 0.8)


def test_threshold_is_cross_fitted_and_optimism_labelled():
    # Fold 0 and fold 1 want different thresholds; each is scored with the other's.
    winners = encode_outcomes(["video_0"] * 8)
    humans = encode_outcomes(["tie", "video_0", "tie", "video_0"] * 2)
    margins = np.array([0.1, 1.0, 0.1, 1.0, 0.5, 2.0, 0.5, 2.0])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    r = tie_accuracy(winners, humans, margins, folds)
    # Fold 0 is scored with fold 1's eps = 0.5: its 0.1 ties are taken, 1.0 stays: 4 of 4.
    # Fold 1 is scored with fold 0's eps = 0.1: its 0.5-margin ties are missed: 2 of 4.
    assert r.fold_thresholds == (0.5, 0.1)
    assert r.accuracy == 6 / 8
    assert r.optimistic == 1.0 and r.threshold == 0.5
    assert r.hits.tolist() == [True] * 4 + [False, True, False, True]


def test_agreement_table_scores_human_ties_separately():
    frame = pl.DataFrame(
        {
            "pair_id": ["p0", "p1", "p2", "p3"],
            "prompt_id": ["q0", "q0", "q1", "q1"],
            "judge": "j",
            "dimension": "aesthetics",
            "frames": 4,
            "winner": ["video_0", "video_1", "video_0", "video_0"],
            "human": ["video_0", "tie", "video_1", "tie"],
            "status": "ok",
            "score_0": [5.0, 1.0, 3.0, 2.05],
            "score_1": [1.0, 1.01, 2.0, 2.0],
        }
    )
    row = agreement_table(frame).row(0, named=True)
    # Without ties: pairs p0 and p2 only.
    assert (row["n_labeled"], row["n_matches"], row["agreement"]) == (2, 1, 0.5)
    assert row["n_human_ties"] == 2
    # In-sample: eps = 0.05 credits both ties and keeps p0 -> 3 of 4.
    assert row["accuracy_ties_optimistic"] == 0.75
    assert row["tie_threshold"] == pytest.approx(0.05)
    # Both prompts hash to fold 0: the other fold is empty, so every pair is scored without a
    # threshold (p0 only is right) -> 1 of 4.
    assert folds_by_cluster(["q0", "q1"]).tolist() == [0, 0]
    assert row["accuracy_ties"] == 0.25


def test_agreement_table_cross_fits_the_tie_threshold_over_both_folds():
    assert folds_by_cluster(["q0", "a"]).tolist() == [0, 1]  # one prompt in each half
    frame = pl.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(6)],
            "prompt_id": ["q0", "q0", "a", "a", "a", "a"],
            "judge": "j",
            "dimension": "aesthetics",
            "frames": 4,
            "winner": ["video_0", "video_0", "video_0", "video_0", "video_1", "video_1"],
            "human": ["tie", "video_0", "tie", "video_0", "video_1", "tie"],
            "status": "ok",
            # margins score_0 - score_1: 0.1, 1.0 | 0.5, 2.0, -0.3, -0.4
            "score_0": [1.1, 2.0, 1.5, 3.0, 1.0, 1.0],
            "score_1": [1.0, 1.0, 1.0, 1.0, 1.3, 1.4],
        }
    )
    row = agreement_table(frame, bootstrap=BootstrapConfig(resamples=0)).row(0, named=True)
    # By hand. Fold 0 (p0, p1) is best at eps = 0.1 (2 of 2); fold 1 (p2..p5) at eps = 0.5
    # (p2, p3, p5 right: 3 of 4; no threshold gives 2 of 4). Cross-fitted: fold 0 at 0.5 ->
    # p0 a tie (right), p1 video_0 (right): 2 of 2; fold 1 at 0.1 -> no tie called: p3, p4
    # right, p2 and p5 wrong: 2 of 4. Together 4 of 6.
    assert row["accuracy_ties"] == pytest.approx(4 / 6)
    # Fitted on all six: eps = 0.5 leaves only p4 (|-0.3| <= 0.5 reads as a tie) wrong: 5 of 6.
    assert row["tie_threshold"] == pytest.approx(0.5)
    assert row["accuracy_ties_optimistic"] == pytest.approx(5 / 6)
    assert (row["n_labeled"], row["n_matches"], row["n_human_ties"]) == (3, 3, 3)


def test_no_human_tie_means_no_threshold():
    winners = encode_outcomes(["video_0", "video_1"])
    humans = encode_outcomes(["video_0", "video_0"])
    r = tie_accuracy(winners, humans, np.array([0.1, -0.2]), np.array([0, 1]))
    assert r.threshold is None and r.accuracy == 0.5
    assert r.hits.tolist() == [True, False] and r.fold_thresholds == ()
