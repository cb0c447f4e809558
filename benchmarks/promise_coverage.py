"""Does the pre-labelling promise hold on real prompts the calibration never saw? (fetv-dev)

fetv-dev has 69 real pairs over 12 prompts with human labels (``../shared/data/fetv-dev``). The
``psnr`` judge (the score margin is its confidence) judges every pair once; then, for every
leave-prompts-out split (all C(12, k) ways to pick k calibration prompts; the other 12 - k are
the new batch), per dimension:

- ``all kept``: the prediction interval for the agreement of every new pair with a confidence
  (:func:`judges.stats.prelabel_promise.prediction_interval`, threshold below every confidence),
  and whether the agreement measured on the new prompts falls inside;
- ``top half``: the same for the pairs at or above the calibration's median confidence (a
  threshold fixed by the confidences alone, as the fixed sequence's start is);
- ``promise``: :func:`choose_threshold` at ``--target`` (min 10 kept pairs, 5 prompts), then the
  prediction interval at the threshold it chose, over the splits where it made a promise.

"before" is the interval the toolkit stated until issue #22: ``estimate + quantiles(new -
calibration)`` from two cluster resamplings of the calibration prompts (a batch of as many
prompts as the new batch has, and the calibration itself), clipped to [0, 1].

Splits overlap (each prompt is in many), so the coverages are not independent trials: read them
as how the interval behaves on these 12 real prompts, not as a precise rate.

    uv run python benchmarks/promise_coverage.py [--calibration 6,8,10] [--frames 8] [--target 0.5]

Needs fetv-dev (skips with a message without it); ~1-2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

FETV = Path(__file__).resolve().parents[2] / "shared" / "data" / "fetv-dev"
DIMENSIONS = ("instruction_following", "informativeness", "aesthetics", "helpfulness")


def fetv_verdicts(frames: int) -> pl.DataFrame:
    """psnr's verdicts on every labelled fetv-dev pair: prompt, confidence, correct."""
    import judges

    config = judges.AgreementConfig(
        judges=[judges.JudgeRequest("psnr")],
        frames=[frames],
        dimensions="all",
        data=FETV,
        out=None,
        progress=False,
    )
    v = judges.run_agreement(config).verdicts
    return v.filter(pl.col("human").is_in(["video_0", "video_1"])).select(
        "dimension",
        "prompt_id",
        pl.col("confidence").cast(pl.Float64).fill_null(np.nan),
        (pl.col("winner") == pl.col("human")).fill_null(False).alias("correct"),
    )


def before_interval(
    conf: np.ndarray, correct: np.ndarray, prompts: np.ndarray, threshold: float, m: int, b: int
) -> tuple[float, float]:
    """The prediction interval as the toolkit computed it before issue #22."""
    from judges.stats.bootstrap import cluster_codes, resample_weights

    kept = np.isfinite(conf) & (conf >= threshold)
    codes, c = cluster_codes(list(prompts[kept]))
    num = np.bincount(codes, weights=correct[kept].astype(float), minlength=c)
    den = np.bincount(codes, minlength=c).astype(float)

    def draws(size: int, seed: int) -> np.ndarray:
        w = resample_weights(c, b, seed, draws=size).astype(np.float64)
        return (w @ num) / (w @ den)

    spread = draws(m, 0) - draws(c, 1)
    lo, hi = np.quantile(spread, [0.025, 0.975])
    estimate = num.sum() / den.sum()
    return max(0.0, estimate + lo), min(1.0, estimate + hi)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calibration", default="6,8,10", help="calibration prompts per split")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--target", type=float, default=0.5, help="the promise's target")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    if not FETV.is_dir():
        print(f"skipped: {FETV} not present")
        return 0
    from judges.stats.bootstrap import BootstrapConfig
    from judges.stats.prelabel_promise import choose_threshold, prediction_interval

    start = time.perf_counter()
    table = fetv_verdicts(args.frames)
    prompts_all = sorted(set(table["prompt_id"].to_list()))
    config = BootstrapConfig(resamples=args.resamples)
    print(
        f"fetv-dev: {table.height} labelled verdicts (psnr @{args.frames}) over "
        f"{len(prompts_all)} prompts; 95% prediction intervals for the new prompts' agreement"
    )
    print(
        f"{'calibration prompts':<20}{'rule':<10}{'splits':>8}{'before: covered':>17}"
        f"{'width':>7}{'after: covered':>16}{'width':>7}"
    )
    for k in (int(x) for x in args.calibration.split(",")):
        tally: dict[str, list[tuple[bool, float, bool, float]]] = {}
        made = reached = 0
        for dim in DIMENSIONS:
            rows = table.filter(pl.col("dimension") == dim)
            conf = rows["confidence"].to_numpy()
            correct = rows["correct"].to_numpy()
            prompts = np.array(rows["prompt_id"].to_list(), dtype=object)
            for cal in itertools.combinations(prompts_all, k):
                in_cal = np.isin(prompts, cal)
                c_conf, c_ok, c_pr = conf[in_cal], correct[in_cal], prompts[in_cal]
                n_conf, n_ok, n_pr = conf[~in_cal], correct[~in_cal], prompts[~in_cal]
                finite = c_conf[np.isfinite(c_conf)]
                rules = {"all kept": -math.inf, "top half": float(np.median(finite))}
                promise = choose_threshold(
                    c_conf, c_ok, c_pr, args.target, config, min_clusters=5, min_kept=10
                )
                if promise.threshold is not None:
                    rules["promise"] = promise.threshold
                for rule, threshold in rules.items():
                    kept = np.isfinite(n_conf) & (n_conf >= threshold)
                    c_kept = np.isfinite(c_conf) & (c_conf >= threshold)
                    m = len(set(n_pr[kept]))
                    if not kept.any() or len(set(c_pr[c_kept])) < 5:
                        continue
                    measured = n_ok[kept].mean()
                    after = prediction_interval(c_conf, c_ok, c_pr, threshold, m, config)
                    before = before_interval(c_conf, c_ok, c_pr, threshold, m, args.resamples)
                    tally.setdefault(rule, []).append(
                        (
                            before[0] <= measured <= before[1],
                            before[1] - before[0],
                            after[0] <= measured <= after[1],
                            after[1] - after[0],
                        )
                    )
                    if rule == "promise":
                        made += 1
                        reached += measured >= args.target
        for rule, results in tally.items():
            arr = np.array(results, dtype=float)
            print(
                f"{k:<20}{rule:<10}{len(arr):>8}{arr[:, 0].mean():>17.3f}{arr[:, 1].mean():>7.3f}"
                f"{arr[:, 2].mean():>16.3f}{arr[:, 3].mean():>7.3f}"
            )
        if made:
            print(
                f"{'':<20}promise made in {made} split-dimensions at target {args.target}; the "
                f"new prompts' agreement reached the target in {reached / made:.3f} of them"
            )
    print(f"({len(DIMENSIONS)} dimensions x every split; {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
