"""Does a new batch look like the calibration set? Two-sample checks, clustered by prompt.

The pre-labelling promise (:mod:`judges.stats.prelabel_promise`) holds for batches drawn from
the calibration set's population. These checks test that on what can be seen without labels:
the judge's confidence distribution (two-sample Kolmogorov-Smirnov distance) and any
categorical field both sets carry (generators, prompt types: total variation distance between
their shares). Pairs of one prompt are not independent, so the null distribution comes from
permuting whole prompts between the two sets (a cluster permutation test); with one pair per
prompt it is the exact permutation test of the KS statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from judges.core.types import Pair
from judges.stats.classic import holm

DEFAULT_PERMUTATIONS = 1000


@dataclass(frozen=True)
class ShiftCheck:
    """One comparison of the calibration set with the new batch.

    Attributes:
        what: What was compared (``confidence``, ``generator``, ...).
        statistic: The distance (KS for confidences, total variation for shares).
        p_value: Share of prompt permutations at least as far apart (add-one).
        calibration: Summary of the calibration set (median confidence, or shares).
        batch: The same for the new batch.
        n: Values compared in the calibration set and the batch.
        clusters: Prompts in each.

    """

    what: str
    statistic: float
    p_value: float
    calibration: dict[str, float]
    batch: dict[str, float]
    n: tuple[int, int]
    clusters: tuple[int, int]

    def describe(self) -> dict[str, Any]:
        """For summary.json."""
        return {
            "what": self.what,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "calibration": self.calibration,
            "batch": self.batch,
            "n": list(self.n),
            "prompts": list(self.clusters),
        }


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two ECDFs.

    Example:
        >>> ks_distance(np.array([1.0, 2.0, 3.0]), np.array([2.5, 3.5, 4.5]))
        0.6666666666666667

    """
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def share_distance(a: Sequence[str], b: Sequence[str]) -> float:
    """Total variation distance between two category mixes (half the L1 gap of the shares).

    Example:
        >>> share_distance(["x", "x", "y", "y"], ["x", "y", "y", "y"])
        0.25

    """
    cats = sorted(set(a) | set(b))
    pa = np.array([list(a).count(c) for c in cats]) / len(a)
    pb = np.array([list(b).count(c) for c in cats]) / len(b)
    return float(0.5 * np.abs(pa - pb).sum())


def cluster_permutation_p(
    values: Sequence[Any],
    clusters: Sequence[str],
    in_batch: Sequence[bool],
    statistic: Callable[[np.ndarray, np.ndarray], float],
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> tuple[float, float]:
    """The observed statistic and its cluster-permutation p-value.

    Each cluster (a prompt of one set) keeps its values together; permutations reassign whole
    clusters to the two sets, keeping how many clusters each set has.

    Returns:
        ``(statistic, p_value)`` with the add-one p-value ``(1 + #{perm >= obs}) / (1 + R)``.

    """
    vals = np.asarray(values)
    side = np.asarray(in_batch, dtype=bool)
    keys = [f"{'b' if s else 'c'}:{c}" for c, s in zip(clusters, side, strict=True)]
    _, codes = np.unique(keys, return_inverse=True)
    n_clusters = codes.max() + 1
    cluster_side = np.zeros(n_clusters, dtype=bool)
    cluster_side[codes] = side
    observed = statistic(vals[~side], vals[side])
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(permutations):
        flipped = rng.permutation(cluster_side)[codes]
        if statistic(vals[~flipped], vals[flipped]) >= observed - 1e-12:
            hits += 1
    return observed, (1 + hits) / (1 + permutations)


def shift_checks(
    calibration: dict[str, Sequence[Any]],
    batch: dict[str, Sequence[Any]],
    cal_prompts: Sequence[str],
    batch_prompts: Sequence[str],
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Compare the calibration set with a new batch on every field both carry.

    Args:
        calibration: Field name -> one value per calibration pair. ``confidence`` is
            compared as a distribution (undecided pairs, ``None`` or NaN, left out); any other
            field as category shares (a pair with ``None`` leaves that field out).
        batch: The same fields for the new batch's pairs.
        cal_prompts: Each calibration pair's prompt (the permutation unit).
        batch_prompts: Each batch pair's prompt.
        permutations: Prompt permutations per check.
        seed: Seed of the permutations.
        alpha: Level of the Holm-adjusted family of checks.

    Returns:
        ``{"checks": [...], "method": str, "shifted": [what, ...], "warning": str | None}``.

    """
    checks: list[ShiftCheck] = []
    for what in calibration:
        if what not in batch:
            continue
        a, b = list(calibration[what]), list(batch[what])
        keep_a = [i for i, v in enumerate(a) if _present(v)]
        keep_b = [i for i, v in enumerate(b) if _present(v)]
        if len(keep_a) < 2 or len(keep_b) < 2:
            continue
        values = [a[i] for i in keep_a] + [b[i] for i in keep_b]
        clusters = [cal_prompts[i] for i in keep_a] + [batch_prompts[i] for i in keep_b]
        side = [False] * len(keep_a) + [True] * len(keep_b)
        numeric = what == "confidence"
        if not numeric and len(set(values)) < 2:
            continue  # one category everywhere: nothing to compare
        if numeric:
            coded, stat = np.asarray(values, dtype=float), ks_distance
        else:  # categories as integer codes: each permutation is two bincounts
            cats, coded = np.unique(np.asarray(values, dtype=str), return_inverse=True)
            stat = _code_share_distance(len(cats))
        observed, p = cluster_permutation_p(coded, clusters, side, stat, permutations, seed)
        categories = sorted({str(v) for v in values})
        checks.append(
            ShiftCheck(
                what,
                observed,
                p,
                _summary([a[i] for i in keep_a], numeric, categories),
                _summary([b[i] for i in keep_b], numeric, categories),
                (len(keep_a), len(keep_b)),
                (len({cal_prompts[i] for i in keep_a}), len({batch_prompts[i] for i in keep_b})),
            )
        )
    adjusted = holm([c.p_value for c in checks]) if checks else []
    shifted = [c for c, p in zip(checks, adjusted, strict=True) if p < alpha]
    warning = None
    if shifted:
        parts = [
            f"{c.what} ({'KS' if c.what == 'confidence' else 'share'} distance "
            f"{c.statistic:.2f}, p = {c.p_value:.3g}; calibration {_fmt(c.calibration)}, "
            f"batch {_fmt(c.batch)})"
            for c in shifted
        ]
        warning = (
            "the new batch differs from the calibration set beyond chance in "
            + "; ".join(parts)
            + ": the promise assumes the same population, so it may not hold here"
        )
    return {
        "checks": [{**c.describe(), "p_holm": p} for c, p in zip(checks, adjusted, strict=True)],
        "method": f"cluster permutation test by prompt ({permutations} permutations), "
        f"Holm-adjusted at {alpha}; confidence: KS distance, categories: total variation",
        "shifted": [c.what for c in shifted],
        "warning": warning,
    }


def _code_share_distance(k: int) -> Callable[[np.ndarray, np.ndarray], float]:
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        pa = np.bincount(a, minlength=k) / len(a)
        pb = np.bincount(b, minlength=k) / len(b)
        return float(0.5 * np.abs(pa - pb).sum())

    return distance


def _summary(values: list[Any], numeric: bool, categories: list[str]) -> dict[str, float]:
    if numeric:
        return {"median": float(np.median(np.asarray(values, dtype=float)))}
    text = [str(v) for v in values]
    return {c: text.count(c) / len(text) for c in categories}


def _present(value: Any) -> bool:
    if value is None:
        return False
    return not (isinstance(value, float) and np.isnan(value))


def _fmt(summary: dict[str, float], most: int = 3) -> str:
    """The largest shares (or the median), for one readable line."""
    shown = sorted(((v, k) for k, v in summary.items() if v > 0), reverse=True)
    text = ", ".join(f"{k} {v:.2f}" for v, k in shown[:most])
    return text + (f" and {len(shown) - most} more" if len(shown) > most else "")


def pair_fields(pairs: Sequence[Pair]) -> dict[str, list[str | None]]:
    """The label-free fields a shift check compares, one value per pair.

    ``generators`` is the unordered pair of the two videos' generators (``None`` unless both
    are known); ``prompt_type`` the dataset's prompt type.

    Example:
        >>> pair_fields([])
        {'generators': [], 'prompt_type': []}

    """
    return {
        "generators": [
            " vs ".join(sorted([g0, g1]))
            if (g0 := p.video_0.generated_from) and (g1 := p.video_1.generated_from)
            else None
            for p in pairs
        ],
        "prompt_type": [p.prompt_type for p in pairs],
    }
