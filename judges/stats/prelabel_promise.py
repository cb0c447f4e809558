"""A pre-labelling promise that holds on prompts the calibration never saw.

Picking the lowest confidence threshold whose Wilson bound reaches the target (the earlier
rule) fails twice on new prompts: it treats the calibration pairs as independent although a
prompt's pairs fail together, and it picks the best of many thresholds on the same data. Here:

1. **Fixed sequence testing** (as in Jung et al., "Trust or Escalate", ICLR 2025; Bauer 1991):
   thresholds are tested from the most confident down, each at level alpha, and the walk stops
   at the first that fails. No multiplicity correction is needed because the order is fixed
   before looking. The chosen threshold is the last one that passed.
2. **Each test is clustered by prompt**: the lower bound of the agreement among the pairs kept
   is the smaller of a one-sided clustered Wilson bound (the effective sample size from the
   cluster bootstrap over whole prompts, the t quantile on (G-1)/(1-1/deff) degrees of
   freedom: :mod:`judges.stats.cluster_intervals`, which holds its level down to 8 prompts where the
   percentile bootstrap did not) and the one-sided Wilson bound, exact (Clopper-Pearson) with at
   most two wrong pairs (:func:`one_sided_bound`). The sequence starts at the
   first threshold keeping ``min_kept`` pairs over ``min_clusters`` prompts: where it starts
   depends on the confidences only, never on the labels, so the order is still fixed in
   advance, and the walk is not stopped by a first test that had no power.
3. **The stated interval is a prediction interval** for the agreement that will be *measured*
   on the new batch's auto-labelled pairs: calibration uncertainty plus the new batch's own
   sampling spread (:func:`predict_batch`; ``m`` = prompts auto-labelled in the new batch).
   Measured: 0.94-0.99 of simulated new batches covered with 8-200 calibration prompts
   (``benchmarks/coverage.py``); on fetv-dev's real prompts, ``benchmarks/promise_coverage.py``.

What it assumes: the new prompts are drawn from the same population as the calibration prompts
(same kind of prompts, same generators, same human labelling process), the judge and its settings
are the same, and the new batch's pairs are exchangeable with the calibration pairs within a
prompt. It guarantees nothing under a shift (new models, a new prompt category).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from judges.stats.bootstrap import (
    BootstrapConfig,
    ClusterResampler,
    cluster_codes,
    resample_weights,
)
from judges.stats.classic import clopper_pearson_lower, wilson_intervals
from judges.stats.cluster_intervals import (
    MIN_CLUSTERS,
    clustered_variance,
    degrees_of_freedom,
    design_effect,
    proportion_interval,
    student_quantile,
    wilson_effective,
)

SCORE_WEIGHT = 0.3
"""The score interval's share of the prediction's lower end (the beta-binomial has the rest)."""

EXACT_WRONG = 2
"""With at most this many wrong pairs the plain bound is the exact (Clopper-Pearson) one."""


METHOD = (
    "fixed-sequence testing over thresholds (most confident first), each a one-sided "
    "{level:.0%} lower bound = min(clustered Wilson by prompt: effective sample size from the "
    "cluster bootstrap, t on (G-1)/(1-1/deff) df; Wilson, exact with at most "
    f"{EXACT_WRONG} wrong pairs); interval: prediction interval for "
    "the new batch (a clustered score interval and a beta-binomial predictive: lower ends "
    f"averaged {SCORE_WEIGHT:g}:{1 - SCORE_WEIGHT:g}, upper end the larger)"
)
ASSUMES = (
    "new prompts come from the same population as the calibration prompts (same prompt "
    "source, generators, labelling process and judge settings); no guarantee under a shift"
)


def one_sided_bound(
    draws: np.ndarray,
    right: np.ndarray | float,
    n: np.ndarray | float,
    n_clusters: np.ndarray | int,
    alpha: float = 0.05,
) -> np.ndarray:
    """The promise's one-sided ``1 - alpha`` lower bound on agreement, over arrays at once.

    The smaller of the clustered bound (the lower end of the two-sided ``1 - 2 alpha``
    :func:`~judges.stats.cluster_intervals.proportion_interval`) and a bound for independent
    pairs: Wilson's, or, with at most :data:`EXACT_WRONG` wrong pairs, the exact Clopper-Pearson
    bound where it is lower. Next to every pair right Wilson claims more than any valid bound
    can (52 of 52 right: 0.9505, the exact bound 0.9440), and those samples decide coverage near
    the ceiling: the bound held for 0.923-0.928 of datasets with a strong prompt effect near
    0.95 and 20 prompts, 0.935-0.942 with the exact bound (``benchmarks/coverage.py``, seeds 1
    and 2). Brown, Cai & DasGupta (2001, Statistical Science 16) replace Wilson's limits next to
    the boundary for the same reason.

    Args:
        draws: Cluster-bootstrap draws of the agreement (``B`` or ``B x R``).
        right: Pairs right (``R`` values, or one).
        n: Pairs kept.
        n_clusters: Prompts they fall in.
        alpha: One-sided error.

    Returns:
        The bound (nan below :data:`~judges.stats.cluster_intervals.MIN_CLUSTERS` prompts).

    Example:
        >>> round(float(one_sided_bound(np.ones(50), 48, 48, 8)), 4)  # 0.05 ** (1 / 48)
        0.9395

    """
    k, m = np.asarray(right, np.float64), np.asarray(n, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        clustered = proportion_interval(draws, k / m, m, n_clusters, 1 - 2 * alpha)[0]
    wilson = wilson_intervals(k, m, 1 - 2 * alpha)[0]  # its lower end: one-sided 1 - alpha
    exact = clopper_pearson_lower(k, m, alpha)
    plain = np.where(m - k <= EXACT_WRONG, np.minimum(wilson, exact), wilson)
    return np.minimum(clustered, np.clip(plain, 0.0, 1.0))


@dataclass(frozen=True)
class Promise:
    """The chosen threshold and what it promises.

    Attributes:
        threshold: Lowest confidence auto-labelled; ``None`` when no threshold passes.
        target: The agreement the promise is about.
        agreement: Calibration agreement among the pairs kept at ``threshold``.
        lower_bound: Its one-sided lower bound (the number tested against ``target``).
        kept: Calibration pairs kept; ``coverage`` their share; ``clusters`` their prompts.
        tested: Thresholds tested before the walk stopped.
        curve: Every threshold with ``kept, coverage, agreement, lower_bound, tested, passed``.

    """

    threshold: float | None
    target: float
    agreement: float | None
    lower_bound: float | None
    kept: int
    coverage: float
    clusters: int
    tested: int
    curve: pl.DataFrame = field(repr=False)
    alpha: float = 0.05

    def describe(self) -> dict[str, Any]:
        """For summary.json."""
        return {
            "threshold": self.threshold,
            "target": self.target,
            "calibration_agreement": self.agreement,
            "lower_bound": self.lower_bound,
            "kept": self.kept,
            "coverage": self.coverage,
            "prompts": self.clusters,
            "thresholds_tested": self.tested,
            "method": METHOD.format(level=1 - self.alpha),
            "assumes": ASSUMES,
        }


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    clusters: list[str] | np.ndarray,
    target: float,
    config: BootstrapConfig | None = None,
    alpha: float = 0.05,
    min_clusters: int = 10,
    min_kept: int = 50,
) -> Promise:
    """Fixed-sequence choice of the lowest threshold whose lower bound reaches the target.

    Args:
        confidence: Calibration confidences (nan: never auto-labelled).
        correct: Whether each calibration verdict matched the human choice.
        clusters: Each pair's prompt (or other cluster key).
        target: Required agreement among auto-labelled pairs.
        config: Bootstrap B and seed (its ``cluster`` is whatever ``clusters`` holds).
        alpha: One-sided error of each test (and of the whole sequence).
        min_clusters: Fewest prompts among kept pairs for a threshold to be tested (never
            fewer than :data:`~judges.stats.cluster_intervals.MIN_CLUSTERS`: below it no
            clustered bound exists).
        min_kept: Fewest kept pairs for a threshold to be tested (the sequence's start).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> conf = rng.random(400); ok = rng.random(400) < 0.6 + 0.35 * conf
        >>> p = choose_threshold(conf, ok, [str(i // 4) for i in range(400)], 0.8)
        >>> p.threshold is not None and p.lower_bound >= 0.8
        True

    """
    config = config or BootstrapConfig()
    min_clusters = max(min_clusters, MIN_CLUSTERS)
    conf = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    codes, n_clusters = cluster_codes(list(clusters))
    usable = np.isfinite(conf)
    order = np.argsort(-np.where(usable, conf, -np.inf), kind="stable")[: int(usable.sum())]
    values = conf[order]
    # One candidate per distinct confidence: a threshold keeps every pair at its value.
    ends = np.flatnonzero(np.r_[values[1:] != values[:-1], True]) if len(values) else []
    resampler = ClusterResampler.from_codes(codes, n_clusters, config)
    rows = []
    chosen: dict[str, Any] | None = None
    stopped = False
    tested = 0
    for end in ends:
        kept_idx = order[: end + 1]
        mask = np.zeros(len(conf), dtype=bool)
        mask[kept_idx] = True
        k, n = int(right[mask].sum()), int(mask.sum())
        n_clu = len(np.unique(codes[mask]))
        row = {
            "threshold": float(values[end]),
            "kept": n,
            "coverage": n / len(conf) if len(conf) else 0.0,
            "prompts": n_clu,
            "agreement": k / n,
            "lower_bound": math.nan,
            "tested": False,
            "passed": False,
        }
        if not stopped and n_clu >= min_clusters and n >= min_kept:
            draws = resampler.draws(right.astype(np.float64), np.ones(len(conf)), mask)
            bound = float(one_sided_bound(draws, k, n, n_clu, alpha))
            row.update(lower_bound=bound, tested=True, passed=bound >= target)
            tested += 1
            if bound >= target:
                chosen = row
            else:
                stopped = True
        rows.append(row)
    curve = pl.DataFrame(
        rows,
        schema={
            "threshold": pl.Float64,
            "kept": pl.Int64,
            "coverage": pl.Float64,
            "prompts": pl.Int64,
            "agreement": pl.Float64,
            "lower_bound": pl.Float64,
            "tested": pl.Boolean,
            "passed": pl.Boolean,
        },
    )
    if chosen is None:
        return Promise(None, target, None, None, 0, 0.0, 0, tested, curve, alpha)
    return Promise(
        chosen["threshold"],
        target,
        chosen["agreement"],
        chosen["lower_bound"],
        chosen["kept"],
        chosen["coverage"],
        chosen["prompts"],
        tested,
        curve,
        alpha,
    )


def predict_batch(
    draws: np.ndarray,
    estimate: np.ndarray | float,
    n: np.ndarray | float,
    n_clusters: np.ndarray | int,
    new_clusters: np.ndarray | int,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Prediction interval for the proportion a new batch of ``new_clusters`` prompts measures.

    Two prediction intervals, combined:

    - *score*: the new batch's proportion differs from the calibration estimate by the
      calibration's own error plus the batch's sampling spread. With the clustered variance
      ``v`` of the estimate over ``n`` pairs and G prompts, and a batch of
      ``M = new_clusters x n / G`` pairs, the difference has variance ``v (1 + n / M)``;
      Wilson's interval on the matching effective sample size with the clustered t quantile
      (:func:`judges.stats.cluster_intervals.wilson_effective`);
    - *beta-binomial*: the predictive distribution of the batch's proportion over its effective
      pairs, given the calibration's effective successes (Jeffreys prior; effective sizes
      scaled by (z/t)^2 for the same degrees of freedom).

    Near 1, with few prompts, each misses on one side: Wilson's centre is pulled towards 0.5,
    so a batch that is perfect falls above it (the upper end is therefore the larger of the
    two); the beta-binomial is too short on the low side with a strong prompt effect, and the
    score's lower end too long with a weak one. The lower end averages the two lower quantiles
    (Vincentization, as in Lichtendahl, Grushka-Cockayne & Winkler 2013), :data:`SCORE_WEIGHT`
    on the score's, a weight chosen by coverage: the union of the two (the earlier rule)
    covered 0.97-0.99 of new batches near agreement 0.95 with 8-12 prompts, this 0.93-0.98
    (``benchmarks/coverage.py``, 8-200 prompts, weak and strong prompt effects, agreement 0.5
    and 0.95). Arrays work elementwise.

    Args:
        draws: Bootstrap draws of the calibration proportion (``B`` or ``B x R``).
        estimate: The calibration proportion.
        n: Calibration pairs.
        n_clusters: Calibration prompts (G).
        new_clusters: Prompts in the new batch.
        level: Two-sided level.

    Example:
        >>> lo, hi = predict_batch(np.ones(50), 1.0, 48, 8, 8)  # all perfect: no collapse
        >>> round(float(lo), 3), float(hi)
        (0.915, 1.0)

    """
    from scipy.stats import betabinom

    g = np.asarray(n_clusters, dtype=np.float64)
    p = np.asarray(estimate, dtype=np.float64)
    pairs = np.asarray(n, dtype=np.float64)
    variance = clustered_variance(draws, g)
    with np.errstate(invalid="ignore", divide="ignore"):
        new_pairs = np.asarray(new_clusters, dtype=np.float64) * pairs / g
        n_pred = pairs * new_pairs / (pairs + new_pairs)
        s_lo, s_hi = wilson_effective(p, n_pred, variance * (1 + pairs / new_pairs), g, level)
        deff = design_effect(p, pairs, variance)
        t = student_quantile(degrees_of_freedom(deff, g), level)
        shrink = (NormalDist().inv_cdf(0.5 + level / 2) / t) ** 2
        scale = shrink / deff
        size = np.maximum(1.0, np.round(new_pairs * scale))
        a, b = p * pairs * scale + 0.5, (1 - p) * pairs * scale + 0.5
        b_lo = betabinom.ppf((1 - level) / 2, size, a, b) / size
        b_hi = betabinom.ppf((1 + level) / 2, size, a, b) / size
    ok = (g >= MIN_CLUSTERS) & np.isfinite(s_lo) & np.isfinite(b_lo)
    lo = SCORE_WEIGHT * s_lo + (1 - SCORE_WEIGHT) * b_lo
    return np.where(ok, lo, np.nan), np.where(ok, np.fmax(s_hi, b_hi), np.nan)


def prediction_interval(
    confidence: np.ndarray,
    correct: np.ndarray,
    clusters: list[str] | np.ndarray,
    threshold: float,
    new_clusters: int,
    config: BootstrapConfig | None = None,
) -> tuple[float, float]:
    """Where the agreement measured on ``new_clusters`` new prompts' kept pairs should fall.

    The calibration prompts that have kept pairs are resampled (B draws of the calibration
    agreement) and :func:`predict_batch` turns the draws into the interval. ``(nan, nan)``
    when nothing is kept or fewer than
    :data:`~judges.stats.cluster_intervals.MIN_CLUSTERS` prompts have kept pairs.

    Example:
        >>> conf = np.linspace(0, 1, 200); ok = np.arange(200) % 5 != 0
        >>> lo, hi = prediction_interval(conf, ok, [str(i // 2) for i in range(200)], 0.5, 40)
        >>> lo < 0.8 < hi
        True

    """
    config = config or BootstrapConfig()
    conf = np.asarray(confidence, dtype=np.float64)
    kept = np.isfinite(conf) & (conf >= threshold)
    if not kept.any() or new_clusters < 1:
        return (math.nan, math.nan)
    codes, _ = cluster_codes(list(np.asarray(clusters, dtype=object)[kept]))
    right = np.asarray(correct, dtype=np.float64)[kept]
    c = int(codes.max()) + 1
    num = np.bincount(codes, weights=right, minlength=c)
    den = np.bincount(codes, minlength=c).astype(np.float64)
    weights = resample_weights(c, max(config.resamples, 200), config.seed).astype(np.float64)
    draws = (weights @ num) / (weights @ den)
    lo, hi = predict_batch(draws, num.sum() / den.sum(), den.sum(), c, new_clusters, config.level)
    return (float(lo), float(hi))
