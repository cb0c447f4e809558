"""Generator rankings of people and of every judge setting, with cluster-bootstrap intervals.

The tables behind ``generators.csv`` and ``ranking_agreement.csv`` (definitions and rules in
:mod:`judges.stats.ranking`). Intervals: the cluster bootstrap of
:mod:`judges.stats.bootstrap` (whole prompts resampled by default). A resample is summarised by
the pairs and wins of each generator pair in it (one matrix product for every column), and all
B resamples are fitted at once. People's and the judge's strengths in a setting come from the
same resamples, so the rank agreement's interval is paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from judges.stats.agreement import PAPER_DIMENSION_ORDER, cluster_column
from judges.stats.bootstrap import BootstrapConfig, ClusterResampler
from judges.stats.cluster_intervals import as_pair, mean_interval
from judges.stats.first_seen import first_seen_codes
from judges.stats.ranking import RankingConfig, fit_bradley_terry, rank_agreement, ranks, screen

PEOPLE = "people"
SETTING = ("judge", "dimension", "frames")
_NEEDED = (*SETTING, "pair_id", "winner", "human", "generator_0", "generator_1")
_GENERATOR_SCHEMA = {
    "judge": pl.String,
    "dimension": pl.String,
    "frames": pl.Int64,
    "generator": pl.String,
    "strength": pl.Float64,
    "strength_lo": pl.Float64,
    "strength_hi": pl.Float64,
    "rank": pl.Float64,
    "rank_lo": pl.Float64,
    "rank_hi": pl.Float64,
    "wins": pl.Int64,
    "losses": pl.Int64,
    "ties": pl.Int64,
    "pairs": pl.Int64,
    "n_clusters": pl.Int64,
    "note": pl.String,
}
METRICS = ("kendall_tau", "spearman_rho", "ordered_alike")
METRIC_BOUNDS = {"kendall_tau": (-1.0, 1.0), "spearman_rho": (-1.0, 1.0), "ordered_alike": (0, 1)}
_AGREEMENT_SCHEMA = {
    "judge": pl.String,
    "dimension": pl.String,
    "frames": pl.Int64,
    "generators": pl.Int64,
    "pairs": pl.Int64,
    "n_clusters": pl.Int64,
    **{f"{m}{s}": pl.Float64 for m in METRICS for s in ("", "_lo", "_hi")},
    "note": pl.String,
}


@dataclass
class Rankings:
    """Generator strengths and rank agreement for every setting.

    Attributes:
        generators: One row per (setting, generator), people's rows with ``judge = people``
            and null frames (see ``generators.csv`` in the README).
        agreement: One row per judge setting: Kendall's tau-b, Spearman's rho and the share of
            generator pairs ordered alike, each with its interval.
        draws: ``(judge, dimension, frames) -> {metric: bootstrap draws}`` (for pooling).

    """

    generators: pl.DataFrame
    agreement: pl.DataFrame
    draws: dict[tuple, dict[str, np.ndarray]] = field(default_factory=dict)


def _scores(column: pl.Series) -> np.ndarray:
    """1 where video_0 won, 0 where video_1 did, 0.5 otherwise (tie, refusal, error)."""
    return (
        column.replace_strict(
            {"video_0": 1.0, "video_1": 0.0}, default=0.5, return_dtype=pl.Float64
        )
        .fill_null(0.5)
        .to_numpy()
    )


def generator_rankings(
    rows: pl.DataFrame,
    bootstrap: BootstrapConfig | None = None,
    config: RankingConfig | None = None,
) -> Rankings:
    """Bradley-Terry strengths of the generators, for people and each judge setting.

    Args:
        rows: Verdict-table rows with ``judge, dimension, frames, pair_id, prompt_id, winner,
            human, generator_0, generator_1``. Rows without a human label or tie, with a
            generator missing, or with one generator on both sides are not comparisons and are
            left out.
        bootstrap: Cluster, resamples, seed and level of the intervals.
        config: Prior and limits (see :class:`~judges.stats.ranking.RankingConfig`).

    Returns:
        The :class:`Rankings`.

    """
    missing = [c for c in _NEEDED if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack column(s): {', '.join(missing)}")
    boot = bootstrap or BootstrapConfig()
    config = config or RankingConfig()
    rows = rows.filter(
        pl.col("human").is_not_null()
        & pl.col("generator_0").is_not_null()
        & pl.col("generator_1").is_not_null()
        & (pl.col("generator_0") != pl.col("generator_1"))
    )
    names = sorted(set(rows["generator_0"].to_list()) | set(rows["generator_1"].to_list()))
    if rows.is_empty():
        return Rankings(
            pl.DataFrame(schema=_GENERATOR_SCHEMA), pl.DataFrame(schema=_AGREEMENT_SCHEMA)
        )
    code = {n: i for i, n in enumerate(names)}
    # Each setting's rows in pair order, so settings judging the same pairs line up row by row.
    rows = rows.sort("pair_id", maintain_order=True)
    g0 = rows["generator_0"].replace_strict(code, return_dtype=pl.Int64).to_numpy()
    g1 = rows["generator_1"].replace_strict(code, return_dtype=pl.Int64).to_numpy()
    # Numbered by first appearance: polars' categorical codes depend on the process's past.
    codes = first_seen_codes(rows.select(cluster_column(rows, boot.cluster)).to_series())
    resampler = ClusterResampler.from_codes(codes, int(codes.max()) + 1, boot)
    pair_codes = rows["pair_id"].cast(pl.Categorical).to_physical().to_numpy()
    human, judge = _scores(rows["human"]), _scores(rows["winner"])
    groups = (
        rows.with_row_index("_i")
        .group_by(SETTING, maintain_order=True)
        .agg(pl.col("_i"), pl.col("pair_id").n_unique().alias("_pairs"))
    )
    # Settings over the same pairs (every judge, frame count and, usually, dimension) share
    # one resampling pass: a single product for all their columns.
    shared: dict[bytes, list[dict]] = {}
    for group in groups.iter_rows(named=True):
        idx = np.asarray(group["_i"], dtype=np.int64)
        group["_i"] = idx
        shared.setdefault(pair_codes[idx].tobytes(), []).append(group)
    gen_rows: list[dict] = []
    agree_rows: list[dict] = []
    draws: dict[tuple, dict[str, np.ndarray]] = {}
    people_done: set[str] = set()
    for settings in shared.values():
        first = settings[0]["_i"]
        dims = list(dict.fromkeys(group["dimension"] for group in settings))
        people = {dim: i for i, dim in enumerate(dims)}
        firsts = {dim: next(g["_i"] for g in settings if g["dimension"] == dim) for dim in dims}
        sides = [human[firsts[dim]] for dim in dims] + [judge[group["_i"]] for group in settings]
        fit = _fit(g0[first], g1[first], sides, names, resampler.subset(first), boot, config)
        for dim in dims:
            if dim not in people_done:
                # People's ranking of a dimension, from its first pairs (every setting of a
                # run judges the same labelled pairs).
                people_done.add(dim)
                gen_rows += fit.rows(people[dim], (PEOPLE, dim, None), names)
        for side, group in enumerate(settings, start=len(dims)):
            setting = (group["judge"], group["dimension"], group["frames"])
            ref = people[group["dimension"]]
            gen_rows += fit.rows(side, setting, names)
            row = dict(zip(SETTING, setting, strict=True))
            row |= {"generators": len(fit.kept), "pairs": group["_pairs"], "note": fit.reason}
            row["n_clusters"] = fit.n_clusters
            if fit.reason is None:
                found = rank_agreement(fit.theta[side][None, :], fit.theta[ref][None, :])
                for m in METRICS:
                    row[m] = float(found[m][0])
                if boot.resamples:
                    sampled = rank_agreement(fit.draws[side], fit.draws[ref])
                    draws[setting] = sampled
                    for m in METRICS:
                        # The toolkit's clustered interval (holds its level down to 8 prompts;
                        # none below 5): not a percentile of the draws.
                        row[f"{m}_lo"], row[f"{m}_hi"] = as_pair(
                            mean_interval(
                                sampled[m], row[m], fit.n_clusters, boot.level, METRIC_BOUNDS[m]
                            )
                        )
            agree_rows.append(row)
    generators = _sorted(pl.DataFrame(gen_rows, schema=_GENERATOR_SCHEMA), "generator")
    agreement = _sorted(pl.DataFrame(agree_rows, schema=_AGREEMENT_SCHEMA))
    return Rankings(generators, agreement, draws)


def _sorted(table: pl.DataFrame, *then: str) -> pl.DataFrame:
    """People first, then judges by name; dimensions in the paper's order; ``all`` frames last."""
    order = {d.value: i for i, d in enumerate(PAPER_DIMENSION_ORDER)}
    return (
        table.with_columns(
            (pl.col("judge") != PEOPLE).alias("_p"),
            pl.col("dimension").replace_strict(order, default=len(order)).alias("_d"),
            pl.col("frames").is_null().alias("_a"),
        )
        .sort("_p", "judge", "_d", "_a", "frames", *then)
        .drop("_p", "_d", "_a")
    )


@dataclass
class _Fit:
    kept: list[int]
    notes: dict[int, str]
    reason: str | None
    counts: list[np.ndarray]  # per side: G x 4 (wins, losses, ties, pairs)
    theta: list[np.ndarray] = field(default_factory=list)
    draws: list[np.ndarray] = field(default_factory=list)
    level: float = 0.95
    n_clusters: int = 0

    def rows(self, side: int, setting: tuple, names: list[str]) -> list[dict]:
        out = []
        pos = {g: k for k, g in enumerate(self.kept)}
        rank = ranks(self.theta[side]) if self.reason is None else None
        rank_draws = ranks(self.draws[side]) if self.reason is None and self.draws else None
        for g, name in enumerate(names):
            wins, losses, ties, pairs = (int(x) for x in self.counts[side][g])
            if pairs == 0:
                continue
            row = dict(zip(SETTING, setting, strict=True))
            row |= {"generator": name, "wins": wins, "losses": losses, "ties": ties}
            row |= {"pairs": pairs, "note": self.notes.get(g, self.reason)}
            row["n_clusters"] = self.n_clusters
            if self.reason is None and g in pos:
                k = pos[g]
                strength, place = float(self.theta[side][k]), float(rank[k])
                row |= {"strength": strength, "rank": place}
                if rank_draws is not None:
                    g_ = self.n_clusters
                    lo, hi = as_pair(
                        mean_interval(self.draws[side][:, k], strength, g_, self.level)
                    )
                    rlo, rhi = as_pair(
                        mean_interval(rank_draws[:, k], place, g_, self.level, (1, len(pos)))
                    )
                    row |= {"strength_lo": lo, "strength_hi": hi, "rank_lo": rlo, "rank_hi": rhi}
            out.append(row)
        return out


def _fit(
    a: np.ndarray,
    b: np.ndarray,
    sides: list[np.ndarray],
    names: list[str],
    resampler: ClusterResampler,
    boot: BootstrapConfig,
    config: RankingConfig,
) -> _Fit:
    g = len(names)
    counts = []
    for s in sides:
        c = np.zeros((g, 4))
        for mine, score in ((a, s), (b, 1 - s)):
            c[:, 0] += np.bincount(mine, weights=score == 1, minlength=g)
            c[:, 1] += np.bincount(mine, weights=score == 0, minlength=g)
            c[:, 2] += np.bincount(mine, weights=score == 0.5, minlength=g)
            c[:, 3] += np.bincount(mine, minlength=g)
        counts.append(c)
    between = np.zeros((g, g))
    np.add.at(between, (a, b), 1)
    between += between.T
    kept, notes, reason = screen(names, between, config)
    fit = _Fit(kept, notes, reason, counts, level=boot.level, n_clusters=len(resampler.present))
    if reason is not None:
        return fit
    local = np.full(g, -1)
    local[kept] = np.arange(len(kept))
    inside = (local[a] >= 0) & (local[b] >= 0)
    la, lb = local[a], local[b]
    lo, hi = np.minimum(la, lb), np.maximum(la, lb)
    k = len(kept)
    # Per generator pair present: its pairs, then each side's wins of the lower code.
    present, cell = np.unique(np.where(inside, lo * k + hi, -1), return_inverse=True)
    if present[0] == -1:  # rows touching a generator left out: in no column
        present, cell = present[1:], cell - 1
    values = [np.ones(len(a))] + [np.where(la < lb, s, 1 - s) for s in sides]
    point, sampled = _sums(values, cell, len(present), inside, resampler, boot)
    totals = [point[None, :]] + ([sampled] if sampled is not None else [])
    i, j = np.divmod(present, k)
    for side in range(len(sides)):
        fitted = []
        for t in totals:
            n = t[:, : len(present)]
            w_low = t[:, len(present) * (side + 1) : len(present) * (side + 2)]
            wins = np.zeros((t.shape[0], k, k))
            wins[:, i, j] = w_low
            wins[:, j, i] = n - w_low
            theta = fit_bradley_terry(wins, config.prior)
            seen = np.zeros((t.shape[0], k))
            np.add.at(seen.T, i, n.T)
            np.add.at(seen.T, j, n.T)
            fitted.append(np.where(seen > 0, theta, np.nan))  # absent from a resample: no value
        fit.theta.append(fitted[0][0])
        if boot.resamples:
            fit.draws.append(fitted[1])
    return fit


def _sums(
    values: list[np.ndarray],
    cell: np.ndarray,
    n_cells: int,
    inside: np.ndarray,
    resampler: ClusterResampler,
    boot: BootstrapConfig,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Totals of each value per generator pair: once, and in every resample (``B x columns``).

    Columns run value-major (every generator pair of the first value, then the next). A prompt
    holds a few of the generator pairs, so each generator pair's totals are one product over
    the prompts that hold it (its rows of the transposed weights): the work is the non-zero
    prompt sums times B, about a fifth of one dense product over every prompt and column.
    """
    point = np.array([np.sum(v[inside & (cell == c)]) for v in values for c in range(n_cells)])
    if not boot.resamples:
        return point, None
    by_cluster = np.ascontiguousarray(resampler.weights.T)  # clusters x resamples
    local = np.searchsorted(resampler.present, resampler.codes)
    stacked = np.stack(values, axis=1)
    out = np.empty((by_cluster.shape[1], len(values) * n_cells))
    for c in range(n_cells):
        rows = np.flatnonzero(inside & (cell == c))
        present, at = np.unique(local[rows], return_inverse=True)
        sums = np.zeros((len(present), len(values)))
        np.add.at(sums, at, stacked[rows])
        # Totals of whole and half wins: exact in float32 below 2**23.
        totals = sums.T.astype(np.float32) @ by_cluster[present].astype(np.float32)
        out[:, c::n_cells] = totals.T
    return point, out


def win_rates(rows: pl.DataFrame) -> pl.DataFrame:
    """Share of comparisons each generator won against each other (ties: half), per side.

    Args:
        rows: As :func:`generator_rankings` takes them.

    Returns:
        ``judge`` (``people`` for the labels), ``dimension``, ``frames``, ``generator``,
        ``opponent``, ``win_rate``, ``pairs``; the people's rows once per dimension.

    """
    rows = rows.filter(
        pl.col("human").is_not_null()
        & pl.col("generator_0").is_not_null()
        & pl.col("generator_1").is_not_null()
        & (pl.col("generator_0") != pl.col("generator_1"))
    )
    out = []
    for side, column in (("people", "human"), ("judge", "winner")):
        frame = rows.with_columns(pl.Series("_s", _scores(rows[column])))
        if side == "people":
            frame = frame.unique(["dimension", "pair_id"], keep="first", maintain_order=True)
            frame = frame.with_columns(
                pl.lit(PEOPLE).alias("judge"), pl.lit(None, dtype=pl.Int64).alias("frames")
            )
        both = pl.concat(
            [
                frame.select(*SETTING, "generator_0", "generator_1", "_s"),
                frame.select(
                    *SETTING,
                    pl.col("generator_1").alias("generator_0"),
                    pl.col("generator_0").alias("generator_1"),
                    (1 - pl.col("_s")).alias("_s"),
                ),
            ]
        )
        out.append(
            both.group_by(*SETTING, "generator_0", "generator_1")
            .agg(pl.col("_s").mean().alias("win_rate"), pl.len().cast(pl.Int64).alias("pairs"))
            .rename({"generator_0": "generator", "generator_1": "opponent"})
        )
    return pl.concat(out).sort(*SETTING, "generator", "opponent", nulls_last=True)
