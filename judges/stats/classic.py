"""Agreement statistics as pure functions: Wilson intervals, binomial tests, Cohen's kappa."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from statistics import NormalDist

import numpy as np


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Args:
        successes: Number of successes (0..n).
        n: Number of trials; 0 gives ``(nan, nan)``.
        confidence: Two-sided confidence level.

    Example:
        >>> [round(x, 4) for x in wilson_interval(81, 263)]
        [0.2553, 0.3662]

    """
    if n == 0:
        return (math.nan, math.nan)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_intervals(
    successes: np.ndarray, n: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson_interval` over arrays at once (nan where ``n`` is 0).

    Example:
        >>> lo, hi = wilson_intervals(np.array([81, 0]), np.array([263, 0]))
        >>> round(float(lo[0]), 4), bool(np.isnan(hi[1]))
        (0.2553, True)

    """
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / m
        denom = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / denom
    lo = np.where(m > 0, np.maximum(0.0, centre - half), np.nan)
    hi = np.where(m > 0, np.minimum(1.0, centre + half), np.nan)
    return lo, hi


def clopper_pearson_lower(
    successes: np.ndarray | float, n: np.ndarray | float, alpha: float = 0.05
) -> np.ndarray:
    """One-sided exact (Clopper-Pearson) ``1 - alpha`` lower bound of ``successes / n``.

    The beta quantile ``B(alpha; k, n - k + 1)``, 0 where nothing succeeded: among bounds that
    depend on the counts alone, the highest that holds its level at every truth.

    Example:
        >>> round(float(clopper_pearson_lower(48, 48)), 4)  # 0.05 ** (1 / 48)
        0.9395

    """
    from scipy.special import betaincinv  # the beta quantile; scipy.stats imports slowly

    k, m = np.asarray(successes, np.float64), np.asarray(n, np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, betaincinv(np.maximum(k, 1e-12), m - k + 1, alpha), 0.0)


def binomial_p_values_half(successes: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Exact two-sided binomial p-values against p = 0.5, over arrays (nan where n is 0).

    For p = 0.5 the distribution is symmetric, so the two-sided p-value of
    ``scipy.stats.binomtest`` is ``min(1, 2 * min(P(X <= k), P(X >= k)))``. The tails are
    regularized incomplete beta functions, ``P(X <= k) = 1 - I_0.5(k + 1, n - k)`` and
    ``P(X >= k) = I_0.5(k, n - k + 1)`` (Boost's, as ``scipy.stats.binom`` uses them; equal to
    it within 1e-14), from ``scipy.special``: ``scipy.stats`` takes seconds to import.

    Example:
        >>> binomial_p_values_half(np.array([7]), np.array([10])).round(4).tolist()
        [0.3438]

    """
    from scipy.special import betainc, betaincc

    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # the edges are set by np.where
        lower = np.where(k >= m, 1.0, betaincc(k + 1, m - k, 0.5))
        upper = np.where(k <= 0, 1.0, betainc(k, m - k + 1, 0.5))
    tail = np.minimum(lower, upper)
    return np.where(m > 0, np.minimum(1.0, 2 * tail), np.nan)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control); nan stays nan.

    Example:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]

    """
    finite = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    finite.sort()
    m = len(finite)
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: two-sided binomial p-value of ``b`` among the ``b + c`` discordant.

    Example:
        >>> round(mcnemar_exact(10, 2), 4)
        0.0386

    """
    return binomial_p_value(b, b + c)


def binomial_p_value(successes: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test p-value (``scipy.stats.binomtest``); ``nan`` when n = 0."""
    if n == 0:
        return math.nan
    # Imported here: scipy.stats takes seconds to import and only this function needs it.
    from scipy import stats

    return float(stats.binomtest(successes, n, p, alternative="two-sided").pvalue)


def cohen_kappa(rater_a: Sequence[Hashable], rater_b: Sequence[Hashable]) -> float:
    """Cohen's kappa between two raters' categorical labels.

    Categories need not coincide: a judge's undecided outcome is simply a category the humans
    never use, so it lowers observed agreement as the paper's agreement ratio does.

    Returns:
        Kappa in [-1, 1]; ``nan`` when there are no items or chance agreement is 1.

    Example:
        >>> round(cohen_kappa("aabb", "abbb"), 4)
        0.5

    """
    if len(rater_a) != len(rater_b):
        raise ValueError(
            f"raters label different numbers of items: {len(rater_a)} vs {len(rater_b)}"
        )
    n = len(rater_a)
    if n == 0:
        return math.nan
    observed = sum(a == b for a, b in zip(rater_a, rater_b, strict=True)) / n
    ca, cb = Counter(rater_a), Counter(rater_b)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if expected == 1:
        return math.nan
    return (observed - expected) / (1 - expected)
