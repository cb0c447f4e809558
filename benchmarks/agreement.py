"""Agreement statistics at SafeSora's size: independent-pairs statistics and the cluster bootstrap.

A synthetic verdict table shaped like a full SafeSora run of one judge: 51,691 pairs over
~14,800 prompts (3.5 pairs per prompt), 6 dimensions x 4 frame counts = 1,240,584 verdicts, with a
few percent undecided, errors and human ties. Measured side by side in one process:

- a plain polars group-by mean of ``match`` over the same frame (the floor any table costs);
- every independent-pairs statistic (``agreement_table`` with the bootstrap off: counts,
  Wilson intervals, p-values, kappa, tie-aware accuracy with its cross-fitted threshold);
- the whole table with the 2,000-resample cluster bootstrap by prompt for all 24 groups.

Targets (issue #11): independent statistics < 0.5 s, bootstrap < 10 s on a 2-core machine.
Issue #24: generator rankings (6 generators, people + 24 settings, same B) and agreement by
slice (``prompt_type``, 2 values; ``generator``, 15 generator pairs + 6 generators) each add at
most the time of the agreement table itself.

    uv run python benchmarks/agreement.py [--pairs 51691] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from judges.core.types import Dimension
from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import BootstrapConfig

FRAMES = (1, 2, 4, 8)


def synthetic_verdicts(n_pairs: int, seed: int = 0, tie_share: float = 0.0) -> pl.DataFrame:
    """One judge's verdicts on ``n_pairs`` pairs x 6 dimensions x 4 frame counts.

    ``tie_share``: the share of human labels that are ties (SafeSora records none; datasets
    such as VideoGen-RewardBench do, and then the tie thresholds are searched).
    """
    rng = np.random.default_rng(seed)
    n_prompts = max(1, round(n_pairs / 3.5))
    prompt = rng.integers(0, n_prompts, n_pairs)
    dims = [d.value for d in Dimension]
    rows = n_pairs * len(dims) * len(FRAMES)
    pair_idx = np.tile(np.arange(n_pairs), len(dims) * len(FRAMES))
    side = (1 - tie_share) / 2
    human = rng.choice(["video_0", "video_1", "tie"], size=rows, p=[side, side, tie_share])
    score_0 = rng.normal(0, 1, rows)
    score_1 = rng.normal(0, 1, rows)
    winner = np.where(score_0 > score_1, "video_0", "video_1").astype(object)
    status = rng.choice(["ok", "refused", "error"], size=rows, p=[0.96, 0.02, 0.02])
    winner[status != "ok"] = None
    return pl.DataFrame(
        {
            "pair_id": pl.Series([f"p{i}" for i in range(n_pairs)])[pair_idx],
            "prompt_id": pl.Series([f"q{i}" for i in prompt])[pair_idx],
            "video_0_id": pl.Series([f"v{2 * i}" for i in range(n_pairs)])[pair_idx],
            "video_1_id": pl.Series([f"v{2 * i + 1}" for i in range(n_pairs)])[pair_idx],
            "judge": "bench",
            "dimension": np.repeat(dims, n_pairs * len(FRAMES)),
            "frames": np.tile(np.repeat(FRAMES, n_pairs), len(dims)),
            "winner": pl.Series(winner.tolist(), dtype=pl.String),
            "human": human,
            "status": status,
            "score_0": score_0,
            "score_1": score_1,
        }
    )


def timed(fn, repeat: int = 3):
    """Best wall time of ``repeat`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=51_691)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    for tie_share, label in ((0.0, "no human ties, as SafeSora"), (0.04, "4% human ties")):
        frame = synthetic_verdicts(args.pairs, tie_share=tie_share)
        print(
            f"\n{frame.height:,} verdicts, {frame['prompt_id'].n_unique():,} prompts, "
            f"24 groups, {label}"
        )
        floor, _ = timed(
            lambda f=frame: f.group_by(["judge", "dimension", "frames"]).agg(
                (pl.col("winner") == pl.col("human")).mean()
            )
        )
        plain, _ = timed(lambda f=frame: agreement_table(f, bootstrap=BootstrapConfig(resamples=0)))
        boot, table = timed(
            lambda f=frame: agreement_table(f, bootstrap=BootstrapConfig(resamples=args.resamples)),
            repeat=2,
        )
        assert table is not None and table.height == 24
        print(f"polars group-by mean (floor)           {floor:7.3f} s {1.0:6.1f}x")
        print(
            f"every independent-pairs statistic      {plain:7.3f} s {plain / floor:6.1f}x"
            f"   target < 0.5 s: {'met' if plain < 0.5 else 'MISSED'}"
        )
        print(
            f"+ cluster bootstrap, B={args.resamples}, by prompt {boot:7.3f} s "
            f"{boot / floor:6.1f}x   target < 10 s: {'met' if boot < 10 else 'MISSED'}"
        )
        deff = table["design_effect"].mean()
        print(f"mean design effect {deff:.2f} (synthetic verdicts are independent: ~1 expected)")
        if tie_share == 0.0:
            above(frame, args.resamples, boot)


def above(frame: pl.DataFrame, resamples: int, table_s: float) -> None:
    """Time generator rankings and slices next to the agreement table (issue #24)."""
    from judges.stats.ranking_tables import generator_rankings
    from judges.stats.slices import slice_table

    rng = np.random.default_rng(1)
    n_pairs = frame["pair_id"].n_unique()
    gens = np.array([f"gen{i}" for i in range(6)])
    a = rng.integers(0, 6, n_pairs)
    b = (a + rng.integers(1, 6, n_pairs)) % 6
    idx = frame["pair_id"].str.slice(1).cast(pl.Int64).to_numpy()
    kinds = np.array(["safety_critical", "safety_neutral"])[rng.integers(0, 2, n_pairs)]
    rows = frame.with_columns(
        generator_0=pl.Series(gens[a][idx]), generator_1=pl.Series(gens[b][idx])
    )
    config = BootstrapConfig(resamples=resamples)
    rank_s, result = timed(lambda: generator_rankings(rows, config), repeat=1)
    assert result.agreement.height == 24
    sliced = rows.with_columns(slice=pl.Series(kinds[idx]))
    slice_s, _ = timed(lambda: slice_table(sliced, config), repeat=1)
    lo, hi = np.minimum(a, b)[idx], np.maximum(a, b)[idx]
    pair_slices = pl.Series([f"gen{x} vs gen{y}" for x, y in zip(lo, hi, strict=True)])
    by_gen = pl.concat(
        [
            rows.with_columns(slice=pair_slices),
            rows.with_columns(slice=pl.col("generator_0")),
            rows.with_columns(slice=pl.col("generator_1")),
        ]
    ).drop("generator_0", "generator_1")
    gen_s, _ = timed(lambda: slice_table(by_gen, config), repeat=1)
    for label, secs in (
        ("generator rankings (people + 24 settings)", rank_s),
        ("agreement by prompt_type (2 slices)", slice_s),
        ("agreement by generator (21 slices)", gen_s),
    ):
        print(f"{label:42s} {secs:7.3f} s {secs / table_s:6.2f}x the agreement table")


if __name__ == "__main__":
    main()
