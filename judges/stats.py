"""Agreement statistics as pure functions: Wilson intervals, binomial tests, Cohen's kappa."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from statistics import NormalDist


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
