"""Human ties as labels: tie-aware pairwise accuracy with a calibrated tie threshold.

Deutsch, Foster & Freitag (2023), "Ties Matter: Meta-Evaluating Modern Metrics with Pairwise
Accuracy and Tie Calibration" (EMNLP): when people may call two outputs equal, a judge should be
credited for calling them equal too. Tie-aware accuracy counts a pair as correct when the judge's
outcome equals the human one, ties included, over every labelled pair (ties included). A score
judge rarely produces an exact tie, so its scores get a threshold ``eps``: ``|s0 - s1| <= eps``
is read as a tie. The threshold that maximises the accuracy on the data being scored is an
optimistic number; this module fits it on one half of the prompts and scores the other half
(2-fold cross-fitting by cluster), and reports the in-sample optimum separately, labelled as such.
VideoGen-RewardBench reports its "w/ ties" accuracy the same way.

A judge outcome that names nothing (refused, unparsed, failed) is always a miss.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

V0, V1, TIE, NONE = 0, 1, 2, -1
"""Outcome codes: video_0, video_1, tie, and none (undecided / no label)."""
_CODES = {"video_0": V0, "video_1": V1, "tie": TIE}


def encode_outcomes(values: Sequence[str | None] | pl.Series) -> np.ndarray:
    """Outcome codes of ``video_0`` / ``video_1`` / ``tie`` / anything else (``NONE``).

    Vectorised by polars, so a million-row column costs milliseconds.

    Example:
        >>> encode_outcomes(["video_1", "tie", None]).tolist()
        [1, 2, -1]

    """
    column = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
    return column.replace_strict(_CODES, default=NONE, return_dtype=pl.Int8).to_numpy()


def tie_aware_hits(
    winners: np.ndarray, humans: np.ndarray, margins: np.ndarray, eps: float | None
) -> np.ndarray:
    """Whether each outcome equals the human one, ties included.

    Args:
        winners: Judge outcome code per pair (:func:`encode_outcomes`).
        humans: Human outcome code per pair (``V0``, ``V1`` or ``TIE``).
        margins: ``score_0 - score_1`` per pair (nan where the judge has no scores).
        eps: A decided verdict with ``|margin| <= eps`` counts as a tie; ``None``: no threshold.

    Example:
        >>> w = encode_outcomes(["video_0", "video_1", None])
        >>> h = encode_outcomes(["tie", "video_1", "tie"])
        >>> tie_aware_hits(w, h, np.array([0.01, -2.0, np.nan]), 0.05).tolist()
        [True, True, False]

    """
    predicted = winners.copy()
    if eps is not None:
        decided = (winners == V0) | (winners == V1)
        with np.errstate(invalid="ignore"):
            small = np.abs(margins) <= eps
        predicted[decided & small] = TIE
    return np.asarray((predicted == humans) & (humans != NONE), dtype=bool)


def best_tie_threshold(
    winners: np.ndarray,
    humans: np.ndarray,
    margins: np.ndarray,
    *,
    presorted: bool = False,
    rows: np.ndarray | None = None,
) -> tuple[float | None, float]:
    """The tie threshold that maximises tie-aware accuracy on these pairs, and that accuracy.

    Candidates are "no threshold" and every distinct ``|margin|`` of a decided verdict (a
    threshold between two of them scores like the lower one). Vectorised: sort by ``|margin|``
    and accumulate; the smallest best threshold wins a draw.

    Args:
        winners: Judge outcome codes.
        humans: Human outcome codes.
        margins: ``score_0 - score_1`` (nan without scores).
        presorted: The rows are already in ascending ``|margin|`` order, nan last (no sort).
        rows: Score only these rows (a boolean mask), without copying the arrays.

    Returns:
        ``(eps, accuracy)``; ``eps`` is ``None`` when no threshold beats none (or there are no
        margins). Accuracy is ``nan`` for no pairs.

    Example:
        >>> w = encode_outcomes(["video_0", "video_0", "video_1"])
        >>> h = encode_outcomes(["tie", "video_0", "video_1"])
        >>> best_tie_threshold(w, h, np.array([0.1, 3.0, -2.0]))
        (0.1, 1.0)

    """
    inside = np.ones(len(humans), dtype=bool) if rows is None else rows
    n = int(inside.sum())
    if n == 0:
        return None, math.nan
    base = tie_aware_hits(winners, humans, margins, None) & inside
    absm = np.abs(margins)
    candidate = inside & ((winners == V0) | (winners == V1)) & np.isfinite(absm)
    best_eps, best = None, int(base.sum())
    # Without a human tie, calling a pair even can only lose: no threshold (and no sort).
    if not candidate.any() or not (inside & (humans == TIE)).any():
        return best_eps, best / n
    order = slice(None) if presorted else np.argsort(np.where(candidate, absm, np.inf))
    absm = absm[order]
    # Turning a decided verdict into a tie gains a hit if the human said tie, and loses
    # one if its choice was right; rows outside the candidates change nothing.
    gain = (candidate & (humans == TIE)).astype(np.int64)[order]
    loss = (candidate & base).astype(np.int64)[order]
    totals = best + np.cumsum(gain - loss)
    # A threshold takes all equal margins: score it at the end of each run of equal values
    # that holds a candidate (the run's last row may be outside ``rows``).
    ends = np.r_[absm[1:] != absm[:-1], True]
    run = np.cumsum(np.r_[True, ends[:-1]]) - 1
    last = ends & (np.bincount(run, weights=candidate[order]) > 0)[run]
    totals, values = totals[last], absm[last]
    k = int(np.argmax(totals))
    if totals[k] > best:
        best_eps, best = float(values[k]), int(totals[k])
    return best_eps, best / n


def folds_by_cluster(keys: Sequence[str], n_folds: int = 2) -> np.ndarray:
    """A fold per row from a stable hash of its cluster key (rows of one cluster share one)."""
    return np.fromiter((zlib.crc32(str(k).encode()) % n_folds for k in keys), dtype=np.int64)


@dataclass(frozen=True)
class TieAccuracy:
    """Tie-aware accuracy of one group.

    Attributes:
        hits: Per pair, whether it was scored correct (cross-fitted thresholds).
        accuracy: Share of hits (the held-out estimate).
        threshold: The threshold fitted on all pairs (what to use on new data); ``None`` for
            none or a judge without scores.
        fold_thresholds: The threshold each fold was scored with (fit on the other fold).
        optimistic: Accuracy at the threshold fitted on the same pairs (in-sample optimum).

    """

    hits: np.ndarray
    accuracy: float
    threshold: float | None
    fold_thresholds: tuple[float | None, ...]
    optimistic: float


def tie_accuracy(
    winners: np.ndarray,
    humans: np.ndarray,
    margins: np.ndarray,
    folds: np.ndarray,
    *,
    presorted: bool = False,
) -> TieAccuracy:
    """Tie-aware accuracy with the tie threshold cross-fitted over ``folds`` (by cluster).

    A judge without scores (all margins nan) is scored on its own outcomes, no threshold.
    A fold whose complement is empty is scored without a threshold. ``presorted`` says the
    rows are in ascending ``|margin|`` order with nan last (skips the sort).

    Example:
        >>> w = encode_outcomes(["video_0"] * 4)
        >>> h = encode_outcomes(["tie", "video_0", "tie", "video_0"])
        >>> r = tie_accuracy(w, h, np.array([0.1, 2, 0.1, 2.0]), np.array([0, 0, 1, 1]))
        >>> r.accuracy, r.threshold
        (1.0, 0.1)

    """
    if not (humans == TIE).any():
        # No human tie: calling a pair even can only lose, so no threshold is fit and the
        # tie-aware accuracy is the share of outcomes equal to the people's.
        hits = tie_aware_hits(winners, humans, margins, None)
        acc = float(hits.mean()) if len(hits) else math.nan
        return TieAccuracy(hits, acc, None, (), acc)
    # Sorted once by |margin| (nan last); every fold's subset stays sorted (no sort per fold).
    # ``presorted``: the caller's rows already are (agreement_table sorts within groups).
    if presorted:
        back = slice(None)
    else:
        order = np.argsort(np.abs(np.nan_to_num(margins, nan=np.inf)))
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        winners, humans, margins, folds = (a[order] for a in (winners, humans, margins, folds))
    eps_all, optimistic = best_tie_threshold(winners, humans, margins, presorted=True)
    if not np.isfinite(margins).any():
        hits = tie_aware_hits(winners, humans, margins, None)
        acc = float(hits.mean()) if len(hits) else math.nan
        return TieAccuracy(hits[back], acc, None, (), acc)
    hits = np.zeros(len(humans), dtype=bool)
    used: list[float | None] = []
    # The folds present (a count, not a sort: fold labels are small non-negative integers).
    for fold in np.flatnonzero(np.bincount(folds)) if len(folds) else ():
        test = folds == fold
        eps = best_tie_threshold(winners, humans, margins, presorted=True, rows=~test)[0]
        used.append(eps)
        hits[test] = tie_aware_hits(winners, humans, margins, eps)[test]
    acc = float(hits.mean()) if len(hits) else math.nan
    return TieAccuracy(hits[back], acc, eps_all, tuple(used), optimistic)
