"""Paired comparisons: is judge A (or 8 frames) better than judge B (or 1 frame)?

Two settings ("arms", a judge at a frame count) are compared on the pairs both judged that have
a human choice, so every difference is paired:

- the difference in agreement with a paired clustered interval: both arms' matches are summed
  per cluster and resampled together (:mod:`judges.stats.bootstrap`), and the two arms'
  clustered Wilson intervals are combined by MOVER, with their correlation from the paired
  draws (:func:`judges.stats.cluster_intervals.difference_interval`; it holds its level down to
  8 clusters, and gives none below 5);
- McNemar's exact test on the discordant pairs: ``b`` pairs only A got right, ``c`` only B;
  two-sided binomial test of ``b`` among ``b + c`` (McNemar 1947; the exact form as in
  Fagerland, Lydersen & Laake 2013, BMC Med. Res. Methodol.). Note that McNemar treats pairs
  as independent; the bootstrap interval is the clustered evidence;
- Holm's step-down correction across the family of comparisons asked for (Holm 1979).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from judges.core.errors import ConfigError
from judges.core.types import CHOICES, Dimension, frames_label
from judges.stats.agreement import cluster_column
from judges.stats.bootstrap import BootstrapConfig, ClusterResampler, ratio
from judges.stats.classic import holm, mcnemar_exact
from judges.stats.cluster_intervals import as_pair, difference_interval

_ARM = re.compile(r"^\s*(?P<judge>.+?)\s*@\s*(?P<frames>\d+|all)\s*$")


@dataclass(frozen=True)
class Arm:
    """A judge at a frame count (``None``: every frame)."""

    judge: str
    frames: int | None

    def __str__(self) -> str:
        return f"{self.judge} @{frames_label(self.frames)}"

    @classmethod
    def parse(cls, text: str) -> Arm:
        """``"gpt4o@8"`` / ``"psnr@all"``.

        Raises:
            ConfigError: not ``JUDGE@FRAMES``.

        """
        m = _ARM.match(text)
        if not m:
            raise ConfigError(f"--compare: {text!r} is not JUDGE@FRAMES (e.g. gpt4o@8)")
        frames = m["frames"]
        return cls(m["judge"], None if frames == "all" else int(frames))


def parse_comparison(text: str) -> tuple[Arm, Arm]:
    """``"gpt4o@8 vs gpt4o@1"`` into two arms.

    Raises:
        ConfigError: not ``A vs B``.

    Example:
        >>> [str(a) for a in parse_comparison("gpt4o@8 vs gpt4o@1")]
        ['gpt4o @8', 'gpt4o @1']

    """
    parts = re.split(r"\s+vs\.?\s+", text.strip())
    if len(parts) != 2:
        raise ConfigError(f"--compare: {text!r} is not 'JUDGE@FRAMES vs JUDGE@FRAMES'")
    return Arm.parse(parts[0]), Arm.parse(parts[1])


def default_family(
    verdicts: pl.DataFrame, frame_free: Collection[str] = ()
) -> list[tuple[Arm, Arm]]:
    """The comparisons asked for when none are named.

    Each judge's frame counts against its fewest (not for ``frame_free`` judges, whose
    verdicts are the same at every count: equal by construction, they would only inflate the
    family); then each pair of judges at every frame count both have.
    """
    arms = verdicts.select("judge", "frames").unique(maintain_order=True)
    by_judge: dict[str, list[int | None]] = {}
    for judge, frames in arms.iter_rows():
        by_judge.setdefault(judge, []).append(frames)
    family: list[tuple[Arm, Arm]] = []
    for judge, counts in by_judge.items():
        if judge in frame_free:
            continue
        counts = sorted(counts, key=lambda f: (f is None, f or 0))
        family += [(Arm(judge, f), Arm(judge, counts[0])) for f in counts[1:]]
    judges = list(by_judge)
    for i, a in enumerate(judges):
        for b in judges[i + 1 :]:
            shared = [f for f in by_judge[a] if f in by_judge[b]]
            family += [(Arm(a, f), Arm(b, f)) for f in shared]
    return family


def _arm_rows(verdicts: pl.DataFrame, arm: Arm, dimension: str) -> pl.DataFrame:
    frames = pl.col("frames").is_null() if arm.frames is None else pl.col("frames") == arm.frames
    return verdicts.filter(
        (pl.col("judge") == arm.judge)
        & (pl.col("dimension") == dimension)
        & frames
        & pl.col("human").is_in(list(CHOICES))
    )


def compare_arms(
    verdicts: pl.DataFrame, a: Arm, b: Arm, dimension: str, config: BootstrapConfig
) -> dict[str, Any]:
    """One paired comparison on the labelled pairs both arms judged (before Holm).

    Returns:
        ``a, b, dimension, n, agreement_a, agreement_b, difference, lo, hi, b_only, c_only,
        p_value`` (``b_only``: pairs only A got right).

    """
    left = _arm_rows(verdicts, a, dimension)
    right = _arm_rows(verdicts, b, dimension).select("pair_id", pl.col("winner").alias("_winner_b"))
    both = left.join(right, on="pair_id", how="inner")
    if both.is_empty():
        raise ConfigError(
            f"--compare {a} vs {b}: no {dimension} pair was judged by both (check the judge "
            "labels and frame counts in the runs)"
        )
    hit_a = (both["winner"] == both["human"]).fill_null(False).to_numpy()
    hit_b = (both["_winner_b"] == both["human"]).fill_null(False).to_numpy()
    n = len(hit_a)
    diff = hit_a.astype(np.float64) - hit_b.astype(np.float64)
    lo = hi = math.nan
    keys = both.select(cluster_column(both, config.cluster)).to_series().to_list()
    resampler = ClusterResampler(keys, config)
    clusters = resampler.clusters_with(np.ones(n))
    if config.resamples:
        # Both arms from the same resamples (one matrix product): their draws are paired.
        totals = resampler.resampled_sums(hit_a, hit_b, np.ones(n))
        draws_a, draws_b = ratio(totals[:, 0], totals[:, 2]), ratio(totals[:, 1], totals[:, 2])
        lo, hi = as_pair(
            difference_interval(
                draws_a, draws_b, hit_a.mean(), hit_b.mean(), n, clusters, config.level
            )
        )
    only_a, only_b = int((hit_a & ~hit_b).sum()), int((hit_b & ~hit_a).sum())
    return {
        "a": str(a),
        "b": str(b),
        "dimension": dimension,
        "n": n,
        "n_clusters": clusters,
        "agreement_a": float(hit_a.mean()),
        "agreement_b": float(hit_b.mean()),
        "difference": float(diff.mean()),
        "lo": lo,
        "hi": hi,
        "b_only": only_a,
        "c_only": only_b,
        "p_value": mcnemar_exact(only_a, only_b) if only_a + only_b else 1.0,
    }


def format_p(p: float) -> str:
    """``0.21``, ``0.004``, ``< 0.001``."""
    if math.isnan(p):
        return "—"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def sentence(row: dict[str, Any], alpha: float = 0.05, family: int = 1) -> str:
    """One line a reader can quote; its conclusion follows the family-adjusted p-value.

    The interval is this comparison's own 95% interval; in a family of several comparisons the
    line says it is not adjusted, so an interval that excludes 0 next to "no evidence after
    adjusting" reads as what it is.

    Example:
        >>> row = {"a": "gpt4o @8", "b": "gpt4o @1", "dimension": "aesthetics",
        ...        "difference": -0.031, "lo": -0.07, "hi": 0.01, "p_value": 0.21,
        ...        "p_holm": 0.42, "n": 300}
        >>> sentence(row, family=2)
        'gpt4o @8 vs gpt4o @1 (aesthetics, n=300): -0.031 [-0.07, 0.01] (95%, not adjusted for the 2 comparisons), p = 0.21, Holm-adjusted p = 0.42: no evidence of a difference'

    """  # noqa: E501
    adjusted = family > 1
    if math.isnan(row["lo"]):
        interval = f"[no interval: {row.get('n_clusters')} clusters]"
    else:
        interval = f"[{row['lo']:.2f}, {row['hi']:.2f}]" + (
            f" (95%, not adjusted for the {family} comparisons)" if adjusted else " (95%)"
        )
    head = (
        f"{row['a']} vs {row['b']} ({row['dimension']}, n={row['n']}): "
        f"{row['difference']:+.3f} {interval}, p = {format_p(row['p_value'])}"
        + (f", Holm-adjusted p = {format_p(row['p_holm'])}" if adjusted else "")
    )
    if row["p_holm"] >= alpha:
        if adjusted and row["p_value"] < alpha:
            return head + f": no evidence of a difference once all {family} are accounted for"
        return head + ": no evidence of a difference"
    better = row["a"] if row["difference"] > 0 else row["b"]
    return head + f": {better} agrees with people more often"


def compare(
    verdicts: pl.DataFrame,
    family: Sequence[tuple[Arm, Arm]],
    dimensions: Sequence[str] | None = None,
    config: BootstrapConfig | None = None,
) -> pl.DataFrame:
    """Every comparison of ``family`` on every dimension (both arms judged), Holm-corrected.

    Args:
        verdicts: A verdict table (one run's, or :func:`load_verdicts` of several).
        family: ``(A, B)`` arms; A - B is reported.
        dimensions: Dimensions to compare on (default: every one both arms judged).
        config: Bootstrap cluster, B, seed and level.

    Returns:
        One row per comparison with ``p_holm`` and ``sentence``.

    Example:
        >>> compare(v, [parse_comparison("psnr@8 vs psnr@1")])["sentence"][0]  # doctest: +SKIP

    """
    config = config or BootstrapConfig()
    rows = []
    present = set(verdicts.select("judge", "frames", "dimension").unique().iter_rows())
    judged = ", ".join(sorted({f"{j} @{frames_label(f)}" for j, f, _ in present}))
    arms = {str(Arm(j, f)) for j, f, _ in present}
    for arm in {arm for pair in family for arm in pair}:
        if str(arm) not in arms:
            close = difflib.get_close_matches(str(arm), sorted(arms), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0].replace(' @', '@')}?)" if close else ""
            raise ConfigError(
                f"--compare: no arm {str(arm).replace(' @', '@')} in these runs{hint}; "
                f"arms: {judged}"
            )
    for a, b in family:
        dims = [d.value for d in map(Dimension.parse, dimensions)] if dimensions else None
        before = len(rows)
        for dim in dims or sorted({d for _, _, d in present}):
            have_a = (a.judge, a.frames, dim) in present
            have_b = (b.judge, b.frames, dim) in present
            if dims is None and not (have_a and have_b):
                continue
            for arm, have in ((a, have_a), (b, have_b)):
                if not have:
                    raise ConfigError(
                        f"--compare: {arm} did not judge {dim} in these runs; judged: {judged}"
                    )
            rows.append(compare_arms(verdicts, a, b, dim, config))
        if len(rows) == before:
            raise ConfigError(
                f"--compare {a} vs {b}: no dimension was judged by both; judged: {judged}"
            )
    adjusted = holm([r["p_value"] for r in rows])
    for row, p in zip(rows, adjusted, strict=True):
        row["p_holm"] = p
        row["family"] = len(rows)
        row["sentence"] = sentence(row, family=len(rows))
    return pl.DataFrame(rows, infer_schema_length=None)
