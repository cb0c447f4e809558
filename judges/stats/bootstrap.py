"""The cluster bootstrap, vectorised: resample whole clusters (prompts), never single pairs.

Pairs that share a prompt (or a video) are not independent: a judge that fails on a prompt
tends to fail on all of its pairs. Resampling whole clusters keeps that dependence, so the
interval widens by as much as the data's structure demands (the *design effect*).

Every statistic here is a ratio of per-cluster sums, ``sum(num) / sum(den)`` (agreement:
matches / labeled pairs). One resample is a vector of cluster multiplicities, so B resamples are
a B x C weight matrix ``W`` and every resampled statistic is ``(W @ num) / (W @ den)``: one matrix
product per group, no Python loop over resamples or pairs. The same ``W`` is reused for every
group over the same clusters, which also makes paired comparisons paired.

The draws feed the intervals of :mod:`judges.stats.cluster_intervals`, which hold their level
with few clusters (the percentile interval of the draws, :func:`percentile_interval`, does not).

References:
    Davison & Hinkley (1997), *Bootstrap Methods and their Application*, section 3.8
    (resampling clusters); Field & Welsh (2007), "Bootstrapping clustered data", JRSS-B.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from judges.core.errors import ConfigError
from judges.stats.blas import one_blas_thread
from judges.stats.cluster_intervals import (
    DIFFERENCE_METHOD,
    METHOD,
    MIN_CLUSTERS,
    WILSON,
    as_pair,
    proportion_interval,
)

ClusterBy = Literal["prompt", "video", "none"]
CLUSTER_BY: tuple[ClusterBy, ...] = ("prompt", "video", "none")
DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class BootstrapConfig:
    """How intervals are computed; recorded in ``run.json``.

    Attributes:
        cluster: What a resampled unit is: ``prompt`` (all pairs of a prompt together, the
            default), ``video`` (pairs showing the same two videos together), ``none``
            (pairs resampled independently).
        resamples: Bootstrap resamples (B); 0 turns the bootstrap off.
        seed: Seed of the resample weights (same seed, same intervals).
        level: Two-sided confidence level.

    Raises:
        ConfigError: an unknown cluster kind, negative B, or a level outside (0, 1).

    Example:
        >>> BootstrapConfig(cluster="prompt", resamples=2000, seed=0).level
        0.95

    """

    cluster: ClusterBy = "prompt"
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTER_BY:
            raise ConfigError(f"--cluster must be one of {', '.join(CLUSTER_BY)}")
        if self.resamples < 0:
            raise ConfigError("--bootstrap must be >= 0 (0 turns it off)")
        if not 0 < self.level < 1:
            raise ConfigError("the confidence level must be between 0 and 1")

    @property
    def method(self) -> str:
        """How the interval is named in reports (:mod:`judges.stats.cluster_intervals`)."""
        if self.cluster == "none":
            return f"bootstrap over pairs (B={self.resamples}; {METHOD})"
        return f"cluster bootstrap by {self.cluster} (B={self.resamples}; {METHOD})"

    def describe(self, tables: dict[str, str] | None = None) -> dict[str, object]:
        """run.json's ``statistics``: the settings, the method, and each table's intervals.

        Args:
            tables: ``file -> interval method`` of each table the run wrote with a clustered
                interval (default: :data:`PREFERENCE_TABLES`).

        Example:
            >>> BootstrapConfig(seed=3).describe()["min_clusters"]
            5

        """
        return {
            "cluster": self.cluster,
            "resamples": self.resamples,
            "seed": self.seed,
            "level": self.level,
            "method": self.method,
            "min_clusters": MIN_CLUSTERS,
            "intervals": dict(PREFERENCE_TABLES if tables is None else tables),
        }


PREFERENCE_TABLES = {
    "agreement.csv: agreement, accuracy, accuracy_ties _cluster_lo/hi": METHOD,
    "agreement.csv: agreement_lo/hi, accuracy_lo/hi, accuracy_ties_lo/hi": WILSON,
    "ceiling.csv: agreement_cluster_lo/hi": METHOD,
    "position_bias.csv: first_position, flip _cluster_lo/hi": METHOD,
    "comparisons.csv: lo/hi (paired difference)": DIFFERENCE_METHOD,
    "agreement.csv: loo_agreement_cluster_lo/hi (like with like)": METHOD,
    "generators.csv: strength_lo/hi, rank_lo/hi; ranking_agreement.csv: _lo/hi": (
        "estimate +- t(G-1) x clustered bootstrap s.e., clipped to the statistic's range"
    ),
    "agreement_by_<field>.csv: agreement_cluster_lo/hi": METHOD,
}
"""The interval of each preference run table's columns (run.json ``statistics.intervals``)."""
HARM_TABLES = {
    "harm_agreement.csv: agreement_cluster_lo/hi": METHOD,
    "harm_agreement.csv: agreement_lo/hi": WILSON,
    "harmlessness_derived.csv": "as agreement.csv",
}
"""The same for a harm run."""


def resample_weights(
    n_clusters: int,
    resamples: int,
    seed: int,
    draws: int | None = None,
    dtype: type[np.number] = np.float32,
) -> np.ndarray:
    """``resamples x n_clusters`` multiplicities: each row draws ``draws`` clusters.

    ``draws`` defaults to ``n_clusters`` (the bootstrap); another number draws a new batch of
    that many clusters (a prediction for a batch of another size). ``dtype=np.uint8`` stores
    the counts in a quarter of the memory (a count over 255 widens the matrix to ``uint16``,
    then ``float32``, so no count is ever clipped).

    Built with a ``bincount`` per block of rows over flat indices (row offset + drawn cluster),
    several times faster than ``Generator.multinomial`` at SafeSora's size.

    Example:
        >>> w = resample_weights(4, 3, seed=0)
        >>> w.shape, w.sum(axis=1).astype(int).tolist()
        ((3, 4), [4, 4, 4])

    """
    draws = n_clusters if draws is None else draws
    if n_clusters == 0 or resamples == 0:
        return np.zeros((resamples, n_clusters), dtype=dtype)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, n_clusters), dtype=dtype)
    # A block of rows at a time: the int64 draws and counts of all B rows at once were four
    # times the float32 matrix (600 MB at SafeSora's 14,769 prompts). The generator's stream
    # is the same drawn in blocks or at once, so the weights are too.
    block = max(1, _BLOCK_CELLS // max(draws, n_clusters))
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        picks = rng.integers(0, n_clusters, size=(rows, draws), dtype=np.int64)
        picks += np.arange(rows, dtype=np.int64)[:, None] * n_clusters
        counts = np.bincount(picks.ravel(), minlength=rows * n_clusters)
        # float32 keeps the matrix half the size and BLAS fast; counts are small exact integers.
        while np.issubdtype(out.dtype, np.integer) and counts.max() > np.iinfo(out.dtype).max:
            out = out.astype(np.uint16 if out.dtype == np.uint8 else np.float32)
        out[start : start + rows] = counts.reshape(rows, n_clusters)
    return out


_BLOCK_CELLS = 1 << 20
"""Weight cells drawn at once by :func:`resample_weights` (8 MB of int64 draws)."""


def cluster_codes(keys: Sequence[object] | np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes ``0..C-1`` for cluster keys (first-seen order) and ``C``.

    Example:
        >>> cluster_codes(["b", "a", "b"])[0].tolist()
        [0, 1, 0]

    """
    codes: dict[object, int] = {}
    out = np.fromiter((codes.setdefault(k, len(codes)) for k in keys), dtype=np.int64)
    return out, len(codes)


def cluster_sums(codes: np.ndarray, n_clusters: int, *columns: np.ndarray) -> np.ndarray:
    """Per-cluster sums of each column: a ``n_clusters x len(columns)`` array."""
    out = np.zeros((n_clusters, len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        out[:, j] = np.bincount(codes, weights=col.astype(np.float64), minlength=n_clusters)
    return out


def ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom`` elementwise, nan where ``bottom`` is 0 (a resample with no pairs)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def percentile_interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap draws (nan draws left out; ``(nan, nan)`` if none)."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return (math.nan, math.nan)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def design_effect(draws: np.ndarray, estimate: float, n: int) -> float:
    """Bootstrap variance of a proportion over its independent-pairs variance ``p(1-p)/n``.

    1 means the clusters cost nothing; 2 means the data are worth half as many independent
    pairs. ``nan`` when the proportion is 0 or 1 (no variance to compare) or ``n`` is 0.
    """
    finite = draws[np.isfinite(draws)]
    if n == 0 or finite.size < 2 or not 0 < estimate < 1:
        return math.nan
    return float(np.var(finite, ddof=1) / (estimate * (1 - estimate) / n))


def _blocked_product(weights: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``weights @ sums`` in float64, widening a block of the byte weights to float32 at a time.

    float32 totals of integer counts are exact below 2**24 in any summation order, so the
    product equals the exact one bit for bit; blocks keep the widened copy small.
    """
    out = np.empty((weights.shape[0], sums.shape[1]), dtype=np.float64)
    step = max(1, _BLOCK_CELLS // max(1, weights.shape[1]))
    with one_blas_thread():
        for start in range(0, weights.shape[0], step):
            out[start : start + step] = weights[start : start + step].astype(np.float32) @ sums
    return out


class ClusterResampler:
    """Resample weights for the clusters of one frame, made once per cluster set and reused.

    A view (:meth:`subset`, e.g. one judge, dimension and frame count) resamples the clusters
    it has rows in; a statistic over some of its rows (labelled pairs, decided pairs) masks the
    columns instead of dropping clusters, so every statistic of a group is drawn from the same
    resamples. Views over the same clusters (the usual case: every judge and frame count sees
    the same pairs) share one weight matrix, so their draws are paired resample by resample.

    Args:
        keys: The cluster key of every row of the frame being analysed.
        config: B, seed and level.

    Example:
        >>> keys = ["p1", "p1", "p2", "p3", "p4", "p5", "p6", "p7"]
        >>> r = ClusterResampler(keys, BootstrapConfig(resamples=200))
        >>> lo, hi = r.interval(np.array([1, 1, 0, 1, 1, 0, 1, 1]), np.ones(8))
        >>> 0 <= lo <= 0.75 <= hi <= 1
        True

    """

    def __init__(self, keys: Sequence[object] | np.ndarray, config: BootstrapConfig) -> None:
        codes, n = cluster_codes(keys)
        self._setup(codes, n, config, {})

    def _setup(
        self, codes: np.ndarray, n: int, config: BootstrapConfig, cache: dict[bytes, np.ndarray]
    ) -> None:
        self.codes, self.n_clusters, self.config = np.asarray(codes, dtype=np.int64), n, config
        self._weights = cache
        present = np.bincount(self.codes, minlength=n) > 0
        # Rows' positions among the clusters present here (the weight matrix's columns).
        self.present = np.flatnonzero(present)
        self._local = (np.cumsum(present) - 1)[self.codes]

    @classmethod
    def from_codes(
        cls, codes: np.ndarray, n_clusters: int, config: BootstrapConfig
    ) -> ClusterResampler:
        """A resampler over rows already coded ``0..n_clusters-1`` (e.g. by polars)."""
        self = cls.__new__(cls)
        self._setup(codes, n_clusters, config, {})
        return self

    def subset(self, rows: np.ndarray) -> ClusterResampler:
        """A view over some rows (an index or a mask) sharing this resampler's weights."""
        view = ClusterResampler.__new__(ClusterResampler)
        view._setup(self.codes[rows], self.n_clusters, self.config, self._weights)
        return view

    @property
    def weights(self) -> np.ndarray:
        """The ``B x C`` weight matrix of the clusters present (made once per cluster set)."""
        key = self.present.tobytes()
        if key not in self._weights:
            # Counts as bytes: a quarter of float32's memory (118 MB -> 30 MB for SafeSora's
            # 14,769 prompts at B = 2000); resampled_sums widens a block of rows at a time.
            self._weights[key] = resample_weights(
                len(self.present), self.config.resamples, self.config.seed, dtype=np.uint8
            )
        return self._weights[key]

    def resampled_sums(self, *columns: np.ndarray) -> np.ndarray:
        """``B x len(columns)``: each column's total in each resample (one matrix product)."""
        sums = cluster_sums(self._local, len(self.present), *columns).astype(np.float32)
        # float32 totals of integer counts are exact below 2**24 (in any summation order);
        # ratios are taken in float64 so an all-equal resample reproduces the estimate to the
        # last digit.
        return _blocked_product(self.weights, sums)

    @staticmethod
    def resampled_sums_of_many(
        views: Sequence[tuple[ClusterResampler, tuple[np.ndarray, ...]]],
    ) -> list[np.ndarray]:
        """:meth:`resampled_sums` of several views at once: one matrix product per weight matrix.

        Views over the same clusters (every group of an agreement table, usually) share one
        weight matrix: their cluster sums side by side make one product, so the matrix is
        widened to float32 and read once instead of once per view. The totals are sums of
        integer counts, exact in float32 in any order, so they equal :meth:`resampled_sums`'s
        bit for bit.
        """
        out: list[np.ndarray] = [np.empty(0)] * len(views)
        # One group per weight matrix: the same clusters *and* the same matrix (views of
        # resamplers with another seed or B must not borrow this one's weights).
        shared: dict[tuple[int, bytes], list[int]] = {}
        for i, (view, _) in enumerate(views):
            shared.setdefault((id(view.weights), view.present.tobytes()), []).append(i)
        for members in shared.values():
            parts = [
                cluster_sums(views[i][0]._local, len(views[i][0].present), *views[i][1])
                for i in members
            ]
            sums = np.hstack(parts).astype(np.float32)
            totals = _blocked_product(views[members[0]][0].weights, sums)
            edges = np.cumsum([0, *(p.shape[1] for p in parts)])
            for i, lo, hi in zip(members, edges[:-1], edges[1:], strict=True):
                out[i] = totals[:, lo:hi]
        return out

    def draws(self, num: np.ndarray, den: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Bootstrap draws of ``sum(num[rows]) / sum(den[rows])`` (rows: a boolean mask)."""
        if rows is not None:
            num, den = np.where(rows, num, 0), np.where(rows, den, 0)
        totals = self.resampled_sums(num, den)
        return ratio(totals[:, 0], totals[:, 1])

    def clusters_with(self, den: np.ndarray, rows: np.ndarray | None = None) -> int:
        """Clusters holding some of ``den`` among the (masked) rows: the G of an interval."""
        weight = den if rows is None else np.where(rows, den, 0)
        return int(np.count_nonzero(np.bincount(self._local, weights=weight) > 0))

    def interval(
        self, num: np.ndarray, den: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[float, float]:
        """Clustered interval of the proportion ``sum(num) / sum(den)`` over the (masked) rows.

        :func:`judges.stats.cluster_intervals.proportion_interval` on this resampler's draws;
        ``den`` counts the pairs (or replies) each row stands for. ``(nan, nan)`` below
        :data:`~judges.stats.cluster_intervals.MIN_CLUSTERS` clusters or without pairs.
        """
        if rows is not None:
            num, den = np.where(rows, num, 0), np.where(rows, den, 0)
        total = float(np.sum(den))
        estimate = float(np.sum(num)) / total if total > 0 else math.nan
        return as_pair(
            proportion_interval(
                self.draws(num, den), estimate, total, self.clusters_with(den), self.config.level
            )
        )
