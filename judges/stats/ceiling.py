"""The human ceiling: how often one person agrees with the others, to read a judge against.

Leave-one-annotator-out, per (dimension, annotator): for a pair, the reference is the *other*
annotators' votes, count of ``video_0`` minus count of ``video_1``; positive gives ``video_0``,
negative ``video_1``, zero no reference (the pair is skipped for this annotator).

- ``agreement`` = the annotator's vote equals the reference, over pairs with a reference (the
  annotator's own ``tie`` counts as a miss), the same definition a judge's agreement has;
- ``accuracy`` = the same over the pairs where the annotator did not vote ``tie``.

**Like with like** (:func:`judge_vs_loo`): a judge is scored against the very same references
on the same pairs, each (pair, left-out annotator) unit once, and the judge's tie or failure
counts as a miss as the annotator's own tie does. Only that number is put beside the ceiling
(``agreement_of_ceiling`` = judge-vs-LOO / human); a judge's agreement with the pairs' labels (a
mean of ratings, which a score judge almost never ties) is not comparable with it.

Pooled over annotators per dimension (``annotator = "all"``), with the judges' intervals: Wilson
(independent votes) and the cluster bootstrap by prompt (all votes on a prompt's pairs resampled
together). Krippendorff's alpha (nominal; ``video_0``, ``video_1``, ``tie`` as categories) comes
from the ``krippendorff`` package (Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from judges.core.types import Pair
from judges.stats.agreement import cluster_column
from judges.stats.bootstrap import BootstrapConfig, ClusterResampler, design_effect
from judges.stats.classic import wilson_interval

HUMAN_ROW = "human (leave-one-out)"
CEILING_COLUMNS = {
    "dimension": pl.String,
    "annotator": pl.String,
    "n_votes": pl.Int64,
    "n_reference": pl.Int64,
    "n_clusters": pl.Int64,
    "n_own_ties": pl.Int64,
    "agreement": pl.Float64,
    "agreement_lo": pl.Float64,
    "agreement_hi": pl.Float64,
    "agreement_cluster_lo": pl.Float64,
    "agreement_cluster_hi": pl.Float64,
    "design_effect": pl.Float64,
    "accuracy": pl.Float64,
    "accuracy_lo": pl.Float64,
    "accuracy_hi": pl.Float64,
    "krippendorff_alpha": pl.Float64,
    "n_annotators": pl.Int64,
}


def leave_one_out(votes: pl.DataFrame) -> pl.DataFrame:
    """Each vote with its leave-one-out reference and whether it agrees.

    Args:
        votes: ``pair_id, dimension, annotator, choice``.

    Returns:
        ``votes`` plus ``reference`` (``video_0``/``video_1``, null without one) and ``hit``.

    Example:
        >>> v = pl.DataFrame({"pair_id": ["p"] * 3, "dimension": ["a"] * 3,
        ...                   "annotator": ["x", "y", "z"],
        ...                   "choice": ["video_0", "video_0", "tie"]})
        >>> leave_one_out(v)["reference"].to_list()
        ['video_0', 'video_0', 'video_0']

    """
    unit = ["pair_id", "dimension"]
    is0 = (pl.col("choice") == "video_0").cast(pl.Int64)
    is1 = (pl.col("choice") == "video_1").cast(pl.Int64)
    margin = (is0.sum().over(unit) - is0) - (is1.sum().over(unit) - is1)
    return votes.with_columns(
        pl.when(margin > 0)
        .then(pl.lit("video_0"))
        .when(margin < 0)
        .then(pl.lit("video_1"))
        .otherwise(None)
        .alias("reference")
    ).with_columns((pl.col("choice") == pl.col("reference")).alias("hit"))


def krippendorff_alpha(votes: pl.DataFrame) -> float:
    """Nominal Krippendorff's alpha of one dimension's votes (nan with < 2 annotators)."""
    import krippendorff

    annotators = sorted(votes["annotator"].unique().to_list())
    units = sorted(votes["pair_id"].unique().to_list())
    if len(annotators) < 2 or len(units) < 1:
        return math.nan
    a_index = {a: i for i, a in enumerate(annotators)}
    u_index = {u: i for i, u in enumerate(units)}
    data = np.full((len(annotators), len(units)), np.nan)
    codes = {"video_0": 0.0, "video_1": 1.0, "tie": 2.0}
    for a, u, c in votes.select("annotator", "pair_id", "choice").iter_rows():
        data[a_index[a], u_index[u]] = codes[c]
    values = data[np.isfinite(data)]
    if len(np.unique(values)) < 2:
        return math.nan  # one category only: no disagreement to measure
    return float(
        krippendorff.alpha(
            reliability_data=data, level_of_measurement="nominal", value_domain=[0.0, 1.0, 2.0]
        )
    )


def ceiling_table(
    votes: pl.DataFrame, pairs: Sequence[Pair], bootstrap: BootstrapConfig | None = None
) -> pl.DataFrame:
    """The human ceiling per (dimension, annotator) and pooled per dimension (``all``).

    Args:
        votes: Checked votes (:func:`judges.datasets.votes.check_votes`).
        pairs: The pairs (for the prompt of each pair, the bootstrap's clusters).
        bootstrap: Cluster kind, B, seed and level; the same as the judges'.

    Example:
        >>> ceiling_table(votes.table, pairs).filter(pl.col("annotator") == "all")  # doctest: +SKIP

    """
    config = bootstrap or BootstrapConfig()
    if votes.is_empty():
        return pl.DataFrame(schema=CEILING_COLUMNS)
    ids = pl.DataFrame(
        [(p.pair_id, p.prompt_id, p.video_0.video_id, p.video_1.video_id) for p in pairs],
        schema=["pair_id", "prompt_id", "video_0_id", "video_1_id"],
        orient="row",
    )
    scored = leave_one_out(votes).join(ids, on="pair_id", how="left", maintain_order="left")
    scored = scored.with_columns(cluster_column(scored, config.cluster).alias("_cluster"))
    rows = []
    for (dimension,), dim_votes in scored.group_by(["dimension"], maintain_order=True):
        alpha = krippendorff_alpha(dim_votes)
        annotators = sorted(dim_votes["annotator"].unique().to_list())
        for annotator in [*annotators, "all"]:
            group = (
                dim_votes
                if annotator == "all"
                else dim_votes.filter(pl.col("annotator") == annotator)
            )
            ref = group.filter(pl.col("reference").is_not_null())
            hits = ref["hit"].to_numpy().astype(bool)
            not_tie = (ref["choice"] != "tie").to_numpy()
            n, k = len(hits), int(hits.sum())
            lo, hi = wilson_interval(k, n)
            acc_lo, acc_hi = wilson_interval(k, int(not_tie.sum()))
            c_lo = c_hi = deff = math.nan
            clusters = ref["_cluster"].n_unique()
            if config.resamples and n:
                resampler = ClusterResampler(ref["_cluster"].to_list(), config)
                draws = resampler.draws(hits, np.ones(n))
                c_lo, c_hi = resampler.interval(hits, np.ones(n))
                # Null where too few clusters give no interval (the report says why).
                c_lo, c_hi = (None, None) if math.isnan(c_lo) else (c_lo, c_hi)
                deff = design_effect(draws, k / n, n)
            rows.append(
                {
                    "dimension": dimension,
                    "annotator": annotator,
                    "n_votes": group.height,
                    "n_reference": n,
                    "n_clusters": clusters,
                    "n_own_ties": int((group["choice"] == "tie").sum()),
                    "agreement": k / n if n else math.nan,
                    "agreement_lo": lo,
                    "agreement_hi": hi,
                    "agreement_cluster_lo": c_lo,
                    "agreement_cluster_hi": c_hi,
                    "design_effect": deff,
                    "accuracy": k / int(not_tie.sum()) if not_tie.any() else math.nan,
                    "accuracy_lo": acc_lo,
                    "accuracy_hi": acc_hi,
                    "krippendorff_alpha": alpha,
                    "n_annotators": len(annotators),
                }
            )
    return pl.DataFrame(rows, schema=CEILING_COLUMNS)


LOO_COLUMNS = {
    "judge": pl.String,
    "dimension": pl.String,
    "frames": pl.Int64,
    "loo_n": pl.Int64,
    "loo_n_clusters": pl.Int64,
    "loo_agreement": pl.Float64,
    "loo_agreement_lo": pl.Float64,
    "loo_agreement_hi": pl.Float64,
    "loo_agreement_cluster_lo": pl.Float64,
    "loo_agreement_cluster_hi": pl.Float64,
    "loo_human_agreement": pl.Float64,
}


def judge_vs_loo(
    verdicts: pl.DataFrame, votes: pl.DataFrame, bootstrap: BootstrapConfig | None = None
) -> pl.DataFrame:
    """Each judge setting scored against the ceiling's own leave-one-out references.

    For every vote unit the ceiling scores (a pair and a left-out annotator whose others give a
    majority), the judge's verdict on that pair is compared with that majority; a judge tie or
    failed verdict is a miss, as an annotator's own tie is. Pooled per (judge, dimension,
    frames) exactly as the ceiling pools annotators, with the same intervals.

    Args:
        verdicts: The verdict table (``judge, dimension, frames, pair_id, winner`` and the ids
            :func:`~judges.stats.agreement.cluster_column` needs).
        votes: Checked votes, ``pair_id, dimension, annotator, choice``.
        bootstrap: The run's bootstrap settings.

    Example:
        >>> v = pl.DataFrame({"pair_id": ["p"] * 3, "dimension": ["a"] * 3,
        ...                   "annotator": ["x", "y", "z"],
        ...                   "choice": ["video_0", "video_0", "video_1"]})
        >>> j = pl.DataFrame({"judge": ["J"], "dimension": ["a"], "frames": [1],
        ...                   "pair_id": ["p"], "prompt_id": ["q"], "winner": ["video_0"]})
        >>> out = judge_vs_loo(j, v, BootstrapConfig(resamples=0))  # only z's others agree
        >>> out.select("loo_n", "loo_agreement", "loo_human_agreement").row(0)
        (1, 1.0, 0.0)

    """
    config = bootstrap or BootstrapConfig()
    units = leave_one_out(votes).filter(pl.col("reference").is_not_null())
    if units.is_empty() or verdicts.is_empty():
        return pl.DataFrame(schema=LOO_COLUMNS)
    # Typed as the verdicts' (a run's table keeps dimension and winner categorical).
    units = units.cast({"dimension": verdicts.schema["dimension"]})
    scored = verdicts.join(
        units.select("pair_id", "dimension", "reference", pl.col("hit").alias("human_hit")),
        on=["pair_id", "dimension"],
    ).with_columns(
        (pl.col("winner").cast(pl.String) == pl.col("reference")).fill_null(False).alias("hit")
    )
    scored = scored.with_columns(cluster_column(scored, config.cluster).alias("_cluster"))
    rows = []
    for (judge, dimension, frames), group in scored.group_by(
        ["judge", "dimension", "frames"], maintain_order=True
    ):
        hits = group["hit"].to_numpy().astype(bool)
        n, k = len(hits), int(hits.sum())
        lo, hi = wilson_interval(k, n)
        c_lo = c_hi = math.nan
        if config.resamples and n:
            resampler = ClusterResampler(group["_cluster"].to_list(), config)
            c_lo, c_hi = resampler.interval(hits, np.ones(n))  # the ceiling's own method
            # Null where too few clusters give no interval (the report says why).
            c_lo, c_hi = (None, None) if math.isnan(c_lo) else (c_lo, c_hi)
        rows.append(
            {
                "judge": judge,
                "dimension": dimension,
                "frames": frames,
                "loo_n": n,
                "loo_n_clusters": group["_cluster"].n_unique(),
                "loo_agreement": k / n,
                "loo_agreement_lo": lo,
                "loo_agreement_hi": hi,
                "loo_agreement_cluster_lo": c_lo,
                "loo_agreement_cluster_hi": c_hi,
                # the annotators on exactly these votes (a pair the judge did not judge, e.g.
                # one without a label, drops out of both)
                "loo_human_agreement": float(group["human_hit"].mean()),
            }
        )
    return pl.DataFrame(rows, schema=LOO_COLUMNS)


def pooled(ceiling: pl.DataFrame) -> pl.DataFrame:
    """The pooled (``annotator == "all"``) row of each dimension."""
    return ceiling.filter(pl.col("annotator") == "all")


def with_ceiling(
    table: pl.DataFrame, ceiling: pl.DataFrame | None, loo: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``table`` plus the human ceiling and the judge scored like with like.

    Adds ``human_agreement`` (the pooled ceiling), the :func:`judge_vs_loo` columns and
    ``agreement_of_ceiling`` = ``loo_agreement / loo_human_agreement``: the judge and the
    annotators scored against the same references on the same votes. Dimensions without votes
    get nulls: no ceiling is invented.
    """
    if ceiling is None or ceiling.is_empty() or table.is_empty():
        return table
    human = pooled(ceiling).select("dimension", pl.col("agreement").alias("human_agreement"))
    out = table.join(human, on="dimension", how="left", maintain_order="left")
    if loo is None:
        loo = pl.DataFrame(schema=LOO_COLUMNS)
    out = out.join(
        loo,
        on=["judge", "dimension", "frames"],
        how="left",
        maintain_order="left",
        nulls_equal=True,
    )
    return out.with_columns(
        pl.when(pl.col("loo_human_agreement") > 0)
        .then(pl.col("loo_agreement") / pl.col("loo_human_agreement"))
        .alias("agreement_of_ceiling")
    )
