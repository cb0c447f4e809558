"""Repeated samples of a stochastic judge: the majority verdict and how stable the judge is.

A judge asked K times per pair (``--judge-arg repeats=K``) gives K answers per pair, each one of
``video_0``, ``video_1``, ``tie`` (an answer) or ``refused`` / ``unparsed`` (none). From them:

- the **majority verdict**: the answer most samples gave; answers tied for the most votes
  make a tie; samples with no answer do not vote, and a pair where none answered keeps their
  status (``refused`` if one refused, else ``unparsed``);
- the **self-consistency rate**: the share of pairs whose K samples are all the same, with the
  clustered interval of :mod:`judges.stats.cluster_intervals`;
- **single-sample agreement**: the agreement of sample ``i`` alone with people (the agreement
  table's definition: matches over pairs a person decided, a non-answer counting as a miss), for
  each ``i``; its mean over ``i`` and its spread (min, max, standard deviation) next to the
  majority's agreement show what repeating buys.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from judges.stats.agreement import GROUP, cluster_column
from judges.stats.bootstrap import BootstrapConfig, ClusterResampler

ANSWERS = ("video_0", "video_1", "tie")
"""Sample outcomes that vote (the others, ``refused`` and ``unparsed``, do not)."""


def sample_outcome(status: str, winner: str | None) -> str:
    """One sample's outcome: its winner when it answered, else its status.

    Example:
        >>> sample_outcome("ok", "video_1"), sample_outcome("unparsed", None)
        ('video_1', 'unparsed')

    """
    return winner if status in ("ok", "tie") and winner is not None else status


def majority(outcomes: Sequence[str]) -> tuple[str, str | None, float | None]:
    """Status, winner and vote share of the majority of K sample outcomes.

    The vote share (votes for the winner over samples that answered) is the confidence of a
    decided majority; a tie has none.

    Example:
        >>> majority(["video_0", "video_1", "video_0"])
        ('ok', 'video_0', 0.6666666666666666)
        >>> majority(["video_0", "video_1", "unparsed"])  # one vote each: a tie
        ('tie', 'tie', None)
        >>> majority(["refused", "unparsed"])
        ('refused', None, None)

    """
    votes = Counter(o for o in outcomes if o in ANSWERS)
    if not votes:
        return ("refused" if "refused" in outcomes else "unparsed"), None, None
    top = max(votes.values())
    leaders = [o for o, c in votes.items() if c == top]
    if len(leaders) > 1 or leaders[0] == "tie":
        return "tie", "tie", None
    return "ok", leaders[0], top / sum(votes.values())


def self_consistent(samples: Sequence[Sequence[str]]) -> np.ndarray:
    """Whether each pair's samples are all the same outcome.

    Example:
        >>> self_consistent([["video_0"] * 3, ["video_0", "tie", "video_0"]]).tolist()
        [True, False]

    """
    return np.array([len(set(s)) == 1 for s in samples], dtype=bool)


def sample_agreement(samples: Sequence[Sequence[str]], human: Sequence[str | None]) -> np.ndarray:
    """Agreement of each sample index alone: matches over pairs a person decided.

    Args:
        samples: Per pair, its K sample outcomes (every pair the same K).
        human: Per pair, the people's choice (``video_0`` / ``video_1``; others are not scored).

    Returns:
        K agreements (nan without a decided pair).

    Example:
        >>> s = [["video_0", "video_1"], ["video_1", "video_1"], ["tie", "video_0"]]
        >>> sample_agreement(s, ["video_0", "video_1", "video_0"]).tolist()
        [0.6666666666666666, 0.6666666666666666]

    """
    scored = [i for i, h in enumerate(human) if h in ("video_0", "video_1")]
    k = len(samples[0]) if len(samples) else 0
    if not scored:
        return np.full(k, math.nan)
    hits = np.array([[samples[i][j] == human[i] for j in range(k)] for i in scored], dtype=float)
    return hits.mean(axis=0)


def repeat_stats(
    samples: Sequence[Sequence[str]],
    winners: Sequence[str | None],
    human: Sequence[str | None],
    clusters: Sequence[object],
    bootstrap: BootstrapConfig | None = None,
) -> dict[str, Any]:
    """The repeats row of one judge setting (see the module docstring).

    Args:
        samples: Per pair, its K sample outcomes.
        winners: Per pair, the majority verdict's winner.
        human: Per pair, the people's choice (``None`` or ``tie``: not scored for agreement).
        clusters: Per pair, its cluster (prompt) for the self-consistency interval.
        bootstrap: Resamples, seed and level of the interval (default: B = 2000, seed 0).

    Example:
        >>> row = repeat_stats([["video_0", "video_0"], ["video_0", "video_1"]],
        ...                    ["video_0", "tie"], ["video_0", "video_1"], ["p1", "p2"])
        >>> row["self_consistency"], row["majority_agreement"], row["sample_agreement_mean"]
        (0.5, 0.5, 0.75)

    """
    config = bootstrap or BootstrapConfig()
    consistent = self_consistent(samples).astype(float)
    n = len(consistent)
    lo = hi = math.nan
    if n and config.resamples:
        lo, hi = ClusterResampler(list(clusters), config).interval(consistent, np.ones(n))
    per_sample = sample_agreement(samples, human)
    scored = [i for i, h in enumerate(human) if h in ("video_0", "video_1")]
    finite = per_sample[np.isfinite(per_sample)]
    return {
        "repeats": len(samples[0]) if n else 0,
        "n_pairs": n,
        "self_consistency": float(consistent.mean()) if n else math.nan,
        "self_consistency_lo": float(lo),
        "self_consistency_hi": float(hi),
        "n_labeled": len(scored),
        "majority_agreement": (
            sum(winners[i] == human[i] for i in scored) / len(scored) if scored else math.nan
        ),
        "sample_agreement_mean": float(finite.mean()) if finite.size else math.nan,
        "sample_agreement_sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
        "sample_agreement_min": float(finite.min()) if finite.size else math.nan,
        "sample_agreement_max": float(finite.max()) if finite.size else math.nan,
        "sample_agreements": per_sample.tolist(),
    }


def samples_of(raw: str | None) -> list[str] | None:
    """The sample outcomes a verdict's ``raw`` JSON records (``None``: not a repeated verdict).

    Example:
        >>> samples_of('{"repeats": 2, "samples": ["video_0", "tie"]}')
        ['video_0', 'tie']

    """
    if not raw:
        return None
    found = json.loads(raw).get("samples")
    return list(found) if isinstance(found, list) else None


def repeats_table(verdicts: pl.DataFrame, bootstrap: BootstrapConfig | None = None) -> pl.DataFrame:
    """One :func:`repeat_stats` row per (judge, dimension, frames) that has repeated verdicts.

    Args:
        verdicts: A verdict table (:func:`judges.report.run_folder.verdict_table`): the
            ``raw`` column's ``samples``, ``winner``, ``human`` and the cluster columns.
        bootstrap: Cluster kind, resamples, seed and level of the self-consistency interval.

    Returns:
        Group columns, ``n_without_samples`` (verdicts of the group with no samples, e.g. a
        failed call: left out of the statistics, counted here), then the statistics, and
        ``sample_agreements`` (each sample index's agreement, as text: a CSV has no lists);
        empty when no verdict has samples.

    """
    config = bootstrap or BootstrapConfig()
    # Only the groups of repeated judges are parsed: a million verdicts of others cost a scan.
    marked = pl.col("raw").str.contains('"samples"', literal=True).fill_null(False)
    groups = verdicts.filter(marked).select(GROUP).unique()
    frame = verdicts.join(groups, on=list(GROUP), how="semi", nulls_equal=True)
    frame = frame.with_columns(
        cluster_column(verdicts, config.cluster).alias("_cluster"),
        pl.when(marked)
        .then(pl.col("raw").map_elements(samples_of, return_dtype=pl.List(pl.String)))
        .alias("_samples"),
    )
    rows = []
    for key, group in frame.group_by(GROUP, maintain_order=True):
        has = group.filter(pl.col("_samples").is_not_null())
        if has.is_empty():
            continue
        stats = repeat_stats(
            has["_samples"].to_list(),
            has["winner"].to_list(),
            has["human"].to_list(),
            has["_cluster"].to_list(),
            config,
        )
        missing = {"n_without_samples": group.height - has.height}
        each = " ".join(f"{a:.4f}" for a in stats.pop("sample_agreements"))
        row = {**dict(zip(GROUP, key, strict=True)), **missing, **stats}
        rows.append({**row, "sample_agreements": each})
    if not rows:
        return pl.DataFrame(schema={"judge": pl.String, "dimension": pl.String, "frames": pl.Int64})
    table = pl.DataFrame(rows).with_columns(pl.col("frames").cast(pl.Int64))
    return table.with_columns(pl.col(pl.Float64).fill_nan(None))  # no statistic: null
