"""Clustered intervals that hold their level with few clusters (down to 8 prompts).

The percentile cluster bootstrap is right with many clusters and too narrow with few: with 8
prompts its 95% interval covers the truth ~0.90 of the time, and ~0.83 when agreement is near
0.95 (``benchmarks/coverage.py``). Two things go wrong: the bootstrap variance of a mean over G
clusters is biased low by (G-1)/G, and the normal quantile ignores that the variance itself is
estimated from G clusters. Near 0 or 1 a third: a symmetric interval leaves [0, 1], and when
every cluster is perfect the bootstrap has no spread at all and the interval collapses to a point.

The method, for a proportion ``p`` over ``n`` pairs in ``G`` clusters:

1. The clustered variance ``v`` = bootstrap variance of the resampled proportion x G/(G-1).
2. The design effect ``deff = v / (p(1-p)/n)`` and the effective sample size ``n / deff``
   (Kish 1965). ``deff`` is floored at 1: pairs never count as more than independent ones (a
   design effect below 1 from a handful of clusters is noise, not information); where ``p`` is
   0 or 1 (no variance to compare), ``deff`` is 1.
3. The Wilson score interval on the effective sample size, with a Student t quantile in place
   of the normal one (the degrees-of-freedom correction of Korn & Graubard 1998 applied to
   Wilson's interval; compared with the alternatives in Dean & Pagano 2015). Its degrees of
   freedom are ``(G-1) / (1 - 1/deff)`` (:func:`degrees_of_freedom`): only the between-prompt
   share ``1 - 1/deff`` of the variance is estimated from G clusters, the within-prompt share
   from all n pairs (a Satterthwaite-style approximation). No clustering (``deff = 1``) gives
   the normal quantile and Wilson's own interval; strong clustering gives t on G-1 df. It stays
   inside [0, 1] and never collapses: 48 perfect pairs over 8 prompts give [0.93, 1].

For a statistic that is not a proportion (a ranking score) the interval is
``estimate +- t(G-1) x sqrt(v)``, clipped to the statistic's range (:func:`mean_interval`); a
paired difference of two proportions combines the two arms' clustered intervals by MOVER
(:func:`difference_interval`), which keeps Wilson's shape near 0 and 1; there each clustered
arm takes t on G-1 degrees of freedom (:func:`arm_df`), as the arms' prompt effects cancel in
the difference.

Below :data:`MIN_CLUSTERS` clusters no clustered interval is given (``nan``; tables show null
and say why): a variance from 2-4 clusters says almost nothing about the next prompt.

Measured coverage of the 95% interval (``benchmarks/coverage.py``, 2,000 simulated datasets per
design, 8-200 prompts of 3-9 pairs, weak and strong prompt effects, agreement 0.5 and 0.95):
0.931-0.969 over two seeds against the percentile bootstrap's 0.80-0.95; the README's
"Statistics" section has the paired difference, the one-sided bound and the prediction interval.

References:
    Korn & Graubard (1998), "Confidence intervals for proportions with small expected number of
    positive counts estimated from survey data", Survey Methodology 24; Dean & Pagano (2015),
    "Evaluating confidence interval methods for binomial proportions in clustered surveys",
    J. Survey Statistics and Methodology 3; Cameron & Miller (2015), "A practitioner's guide to
    cluster-robust inference", J. Human Resources 50 (G/(G-1) and t on G-1 df).
"""

from __future__ import annotations

import math

import numpy as np

MIN_CLUSTERS = 5
"""Fewest clusters for a clustered interval; below it the interval is nan (null in tables)."""

DEFF_FLOOR = 1.0
"""Smallest design effect used: no pair counts as more than one independent pair."""

METHOD = "Wilson on the effective sample size, t on (G-1)/(1-1/deff) df"
"""The interval's short name, as run.json and the reports write it."""

DIFFERENCE_METHOD = (
    "MOVER (Newcombe's method 10) over the two arms' clustered Wilson intervals, "
    "t on G-1 df for a clustered arm"
)
"""The paired-difference interval's short name (:func:`difference_interval`)."""

WILSON = "Wilson score interval, pairs treated as independent"
"""The independent-pairs interval's name (kept next to the clustered one for comparison)."""


def too_few_clusters(n_clusters: int) -> str:
    """Why a group has no clustered interval, in words (for notes and tables)."""
    return f"{n_clusters} cluster(s), fewer than {MIN_CLUSTERS}: no clustered interval"


def t_quantile(n_clusters: np.ndarray | int, level: float) -> np.ndarray:
    """Two-sided Student t quantile on ``G - 1`` degrees of freedom (nan for G < 2).

    Example:
        >>> round(float(t_quantile(8, 0.95)), 4)
        2.3646

    """
    g = np.asarray(n_clusters, dtype=np.float64)
    return np.where(g >= 2, student_quantile(np.maximum(g - 1, 1), level), np.nan)


def student_quantile(df: np.ndarray | float, level: float) -> np.ndarray:
    """Two-sided Student t quantile on ``df`` degrees of freedom (the normal one at ``inf``).

    Example:
        >>> round(float(student_quantile(7, 0.95)), 4)
        2.3646
        >>> round(float(student_quantile(np.inf, 0.95)), 4)
        1.96

    """
    from scipy.special import ndtri, stdtrit  # scipy.special imports fast; scipy.stats does not

    d = np.asarray(df, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        finite = stdtrit(np.where(np.isfinite(d), d, 1.0), 0.5 + level / 2)
        return np.where(np.isinf(d), ndtri(0.5 + level / 2), np.where(d > 0, finite, np.nan))


def design_effect(
    estimate: np.ndarray | float, n: np.ndarray | float, variance: np.ndarray | float
) -> np.ndarray:
    """Kish's design effect ``v / (p(1-p)/n)``, floored at :data:`DEFF_FLOOR` (1 at p = 0 or 1).

    Example:
        >>> float(design_effect(0.5, 100, 0.005))  # twice the binomial variance
        2.0

    """
    p = np.asarray(estimate, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = np.where((p > 0) & (p < 1), v / (p * (1 - p) / m), 1.0)
        return np.where(np.isfinite(deff), np.maximum(deff, DEFF_FLOOR), np.nan)


def degrees_of_freedom(deff: np.ndarray | float, n_clusters: np.ndarray | int) -> np.ndarray:
    """``(G-1) / (1 - 1/deff)``: the df of a variance whose clustered share is ``1 - 1/deff``.

    ``inf`` (the normal quantile) where ``deff <= 1``: with no clustering the variance is the
    binomial one, known from ``p`` and ``n`` alone. Strong clustering tends to G-1.

    Example:
        >>> float(degrees_of_freedom(2.0, 8)), float(degrees_of_freedom(1.0, 8))
        (14.0, inf)

    """
    d = np.asarray(deff, dtype=np.float64)
    g = np.asarray(n_clusters, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 1, (g - 1) / (1 - 1 / d), np.where(np.isnan(d), np.nan, np.inf))


def clustered_variance(draws: np.ndarray, n_clusters: np.ndarray | int) -> np.ndarray:
    """Bootstrap variance of the draws (axis 0, nan draws left out) times G/(G-1).

    ``draws`` is ``B`` or ``B x R`` (R statistics resampled together); the result has shape
    ``()`` or ``R``.
    """
    d = np.asarray(draws, dtype=np.float64)
    finite = np.isfinite(d)
    count = finite.sum(axis=0)
    filled = np.where(finite, d, 0.0)
    g = np.asarray(n_clusters, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / count
        var = (np.where(finite, d - mean, 0.0) ** 2).sum(axis=0) / (count - 1)
        return np.where((count >= 2) & (g >= 2), var * g / (g - 1), np.nan)


def proportion_interval(
    draws: np.ndarray,
    estimate: np.ndarray | float,
    n: np.ndarray | float,
    n_clusters: np.ndarray | int,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered interval of a proportion (see the module docstring), over arrays at once.

    Args:
        draws: Bootstrap draws of the proportion (cluster resamples), ``B`` or ``B x R``.
        estimate: The proportion on the data (``R`` values, or one).
        n: Pairs it is over (its denominator).
        n_clusters: Clusters those pairs fall in (G).
        level: Two-sided confidence level.

    Returns:
        ``(lo, hi)``, nan where G < :data:`MIN_CLUSTERS` or there are no pairs.

    Example:
        >>> draws = np.ones(100)  # every cluster perfect: the bootstrap has no spread
        >>> lo, hi = proportion_interval(draws, 1.0, 48, 8)
        >>> round(float(lo), 4), float(hi)
        (0.9259, 1.0)

    """
    variance = clustered_variance(draws, n_clusters)
    return wilson_effective(estimate, n, variance, n_clusters, level)


def wilson_effective(
    estimate: np.ndarray | float,
    n: np.ndarray | float,
    variance: np.ndarray | float,
    n_clusters: np.ndarray | int,
    level: float = 0.95,
    df: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's interval on ``n / deff`` pairs with a t quantile (``deff`` from the variance).

    The arithmetic of :func:`proportion_interval` once the clustered variance is known; a
    one-sided bound at level ``1 - a`` is the lower end at ``level = 1 - 2a``. The t quantile's
    degrees of freedom are ``df`` when given, else :func:`degrees_of_freedom` of this ``deff``.

    Example:
        >>> lo, hi = wilson_effective(0.5, 100, 0.0025, 50)  # deff = 1: Wilson's own interval
        >>> round(float(lo), 4), round(float(hi), 4)
        (0.4038, 0.5962)

    """
    p = np.asarray(estimate, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    g = np.asarray(n_clusters, dtype=np.float64)
    deff = design_effect(p, m, variance)
    t = student_quantile(degrees_of_freedom(deff, g) if df is None else df, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        ne = m / deff
        denom = 1 + t * t / ne
        centre = (p + t * t / (2 * ne)) / denom
        half = t * np.sqrt(p * (1 - p) / ne + t * t / (4 * ne * ne)) / denom
    ok = (g >= MIN_CLUSTERS) & (m > 0) & np.isfinite(half)
    # Wilson's ends at p = 0 and p = 1 are exactly 0 and 1; rounding must not move them.
    lo = np.where(p <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(p >= 1, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)


def mean_interval(
    draws: np.ndarray,
    estimate: np.ndarray | float,
    n_clusters: np.ndarray | int,
    level: float = 0.95,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> tuple[np.ndarray, np.ndarray]:
    """``estimate +- t(G-1) x sqrt(clustered variance)``, clipped to ``bounds``.

    For statistics that are not proportions (a ranking score, a mean margin); a difference of
    two proportions has :func:`difference_interval`. nan below :data:`MIN_CLUSTERS` clusters.

    Example:
        >>> draws = np.array([-0.1, 0.0, 0.1, 0.0] * 25)
        >>> lo, hi = mean_interval(draws, 0.0, 10, bounds=(-1, 1))
        >>> round(float(hi), 4)  # 2.2622 (t, 9 df) x sqrt(0.5 / 99 x 10 / 9)
        0.1695

    """
    est = np.asarray(estimate, dtype=np.float64)
    g = np.asarray(n_clusters, dtype=np.float64)
    half = t_quantile(g, level) * np.sqrt(clustered_variance(draws, n_clusters))
    ok = (g >= MIN_CLUSTERS) & np.isfinite(half) & np.isfinite(est)
    lo = np.where(ok, np.clip(est - half, *bounds), np.nan)
    hi = np.where(ok, np.clip(est + half, *bounds), np.nan)
    return lo, hi


def difference_interval(
    draws_a: np.ndarray,
    draws_b: np.ndarray,
    estimate_a: np.ndarray | float,
    estimate_b: np.ndarray | float,
    n: np.ndarray | float,
    n_clusters: np.ndarray | int,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval of ``a - b``, two proportions over the same pairs (a paired comparison).

    MOVER (Newcombe 1998, method 10; Zou & Donner 2008): each proportion's clustered interval
    (:func:`proportion_interval`) is recovered into one for the difference, with the
    correlation of the two estimates taken from their paired bootstrap draws (the same
    resamples). Each arm's Wilson interval takes t on G-1 degrees of freedom when the arm is
    clustered and the normal quantile when it is not (:func:`arm_df`). It inherits Wilson's
    shape, so it neither collapses when no pair is discordant nor leaves [-1, 1]; a plain
    ``+- t x s.e.`` interval covered 0.81 of the time at 8 prompts near agreement 0.95
    (``benchmarks/coverage.py``).

    Example:
        >>> a = np.array([0.7, 0.8, 0.9, 0.8]); b = a - 0.1
        >>> lo, hi = difference_interval(a, b, 0.8, 0.7, 100, 20)
        >>> bool(lo < 0.1 < hi)
        True

    """
    pa, pb = np.asarray(estimate_a, np.float64), np.asarray(estimate_b, np.float64)
    g = np.asarray(n_clusters, dtype=np.float64)
    va, vb = clustered_variance(draws_a, n_clusters), clustered_variance(draws_b, n_clusters)
    la, ua = wilson_effective(pa, n, va, n_clusters, level, arm_df(pa, n, va, g))
    lb, ub = wilson_effective(pb, n, vb, n_clusters, level, arm_df(pb, n, vb, g))
    phi = np.nan_to_num(_correlation(draws_a, draws_b), nan=1.0)  # no spread: identical arms
    d = pa - pb
    down_a, up_a, down_b, up_b = pa - la, ua - pa, pb - lb, ub - pb
    lo = d - np.sqrt(np.maximum(down_a**2 - 2 * phi * down_a * up_b + up_b**2, 0))
    hi = d + np.sqrt(np.maximum(up_a**2 - 2 * phi * up_a * down_b + down_b**2, 0))
    return np.clip(lo, -1.0, 1.0), np.clip(hi, -1.0, 1.0)


def arm_df(
    estimate: np.ndarray, n: np.ndarray | float, variance: np.ndarray, n_clusters: np.ndarray
) -> np.ndarray:
    """Degrees of freedom of one arm of a paired difference: G-1 if clustered, else ``inf``.

    In a difference the two arms' prompt effects largely cancel, so the part of the difference's
    variance the clusters decide is a larger share than either arm's ``1 - 1/deff`` says: the
    Satterthwaite-style df of :func:`degrees_of_freedom` left the difference too narrow at 8
    prompts (0.919-0.934 of 95% intervals covered). An arm with no measured clustering (a design
    effect of 1, or p at 0 or 1) keeps the normal quantile, as Wilson's own interval would; one
    t for both arms instead made a difference near the ceiling conservative (0.975-0.983).

    Example:
        >>> arm_df(np.array([0.8, 1.0]), 100, np.array([0.004, 0.0]), np.array(8.0)).tolist()
        [7.0, inf]

    """
    deff = design_effect(estimate, n, variance)
    return np.where(deff > 1, np.broadcast_to(n_clusters - 1.0, deff.shape), np.inf)


def _correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Correlation of paired draws along axis 0 (rows where either is nan left out)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    count = both.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(both, x, 0).sum(axis=0) / count
        my = np.where(both, y, 0).sum(axis=0) / count
        dx, dy = np.where(both, x - mx, 0), np.where(both, y - my, 0)
        return (dx * dy).sum(axis=0) / np.sqrt((dx * dx).sum(axis=0) * (dy * dy).sum(axis=0))


def as_pair(interval: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """A scalar ``(lo, hi)`` as plain floats."""
    return float(interval[0]), float(interval[1])
