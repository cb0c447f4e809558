"""Clustered intervals for few clusters, checked against hand computations and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from judges.stats.bootstrap import BootstrapConfig, ClusterResampler
from judges.stats.classic import wilson_intervals
from judges.stats.cluster_intervals import (
    DEFF_FLOOR,
    MIN_CLUSTERS,
    clustered_variance,
    degrees_of_freedom,
    design_effect,
    difference_interval,
    mean_interval,
    proportion_interval,
    student_quantile,
    t_quantile,
    wilson_effective,
)
from judges.stats.prelabel_promise import predict_batch


def _wilson(p: float, n: float, q: float) -> tuple[float, float]:
    """Wilson's interval written out from the textbook formula with quantile q."""
    centre = (p + q * q / (2 * n)) / (1 + q * q / n)
    half = q / (1 + q * q / n) * math.sqrt(p * (1 - p) / n + q * q / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_t_quantile_is_students_on_g_minus_1_df():
    for g in (2, 5, 8, 12, 200):
        assert float(t_quantile(g, 0.95)) == pytest.approx(stats.t.ppf(0.975, g - 1), rel=1e-12)
    assert float(t_quantile(8, 0.90)) == pytest.approx(stats.t.ppf(0.95, 7), rel=1e-12)
    assert math.isnan(float(t_quantile(1, 0.95)))


def test_student_quantile_and_the_degrees_of_freedom_rule():
    for df in (1.0, 7.0, 13.079, 1e6):
        assert float(student_quantile(df, 0.95)) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-12)
    assert float(student_quantile(np.inf, 0.95)) == pytest.approx(stats.norm.ppf(0.975), rel=1e-15)
    # (G-1) / (1 - 1/deff): deff 2 over 8 clusters -> 7 / 0.5 = 14; deff 4 -> 7 / 0.75.
    assert degrees_of_freedom(np.array([2.0, 4.0]), 8).tolist() == [14.0, pytest.approx(28 / 3)]
    assert math.isinf(float(degrees_of_freedom(1.0, 8)))  # no clustering: the normal quantile
    assert float(degrees_of_freedom(1e9, 8)) == pytest.approx(7.0)  # strong: t on G-1
    # Kish's design effect, floored at 1, and 1 where p is 0 or 1.
    assert float(design_effect(0.5, 100, 0.005)) == 2.0
    assert float(design_effect(0.5, 100, 0.001)) == DEFF_FLOOR == 1.0
    assert float(design_effect(1.0, 100, 0.0)) == 1.0


def test_clustered_variance_is_the_sample_variance_times_g_over_g_minus_1():
    draws = np.array([0.5, 0.6, 0.7, np.nan, 0.4])  # a resample with no pairs is left out
    expected = np.var([0.5, 0.6, 0.7, 0.4], ddof=1) * 8 / 7
    assert float(clustered_variance(draws, 8)) == pytest.approx(expected, rel=1e-12)
    # Columns are statistics resampled together: each gets its own variance.
    both = np.stack([draws, 2 * draws], axis=1)
    assert clustered_variance(both, 8) == pytest.approx([expected, 4 * expected], rel=1e-12)


def test_proportion_interval_by_hand():
    # 60 pairs over 10 clusters, 42 right (0.7); draws 0.6 and 0.8, half each: variance
    # 0.01 x 100/99. deff = 0.01 x 100/99 x 10/9 / (0.7 x 0.3 / 60) = 3.2066, n_eff = 60 / deff
    # = 18.71 pairs; df = 9 / (1 - 1/3.2066) = 13.079, t = 2.1585 for 1.96.
    draws = np.array([0.7 - 0.1, 0.7 + 0.1] * 50)
    var = float(np.var(draws, ddof=1))
    deff = var * 10 / 9 / (0.7 * 0.3 / 60)
    assert deff == pytest.approx(3.2066, abs=1e-4)
    df = 9 / (1 - 1 / deff)
    expected = _wilson(0.7, 60 / deff, stats.t.ppf(0.975, df))
    lo, hi = proportion_interval(draws, 0.7, 60, 10)
    assert (float(lo), float(hi)) == pytest.approx(expected, rel=1e-12)
    assert (float(lo), float(hi)) == pytest.approx((0.45161, 0.86862), abs=1e-5)
    # Less spread than chance (deff 0.80 floored to 1): Wilson's own interval on 60 pairs.
    narrow = np.array([0.7 - 0.05, 0.7 + 0.05] * 50)
    lo, hi = proportion_interval(narrow, 0.7, 60, 10)
    assert (float(lo), float(hi)) == pytest.approx(_wilson(0.7, 60, stats.norm.ppf(0.975)))


def test_the_t_quantile_equals_wilson_on_fewer_pairs():
    # Korn & Graubard's form of the same interval: Wilson with the normal quantile on
    # n_eff x (z/t)^2 pairs. Checked with the toolkit's independent Wilson implementation.
    p, n, variance, g = 0.85, 120.0, 0.0021, 9
    deff = variance / (p * (1 - p) / n)  # 1.976
    z, t = stats.norm.ppf(0.975), stats.t.ppf(0.975, (g - 1) / (1 - 1 / deff))
    n_kg = n / (variance / (p * (1 - p) / n)) * (z / t) ** 2
    ref_lo, ref_hi = wilson_intervals(np.array([p * n_kg]), np.array([n_kg]))
    lo, hi = wilson_effective(p, n, variance, g)
    assert float(lo) == pytest.approx(ref_lo[0], rel=1e-9)
    assert float(hi) == pytest.approx(ref_hi[0], rel=1e-9)


def test_all_perfect_clusters_do_not_collapse():
    # Every cluster perfect: the bootstrap has no spread, deff is 1 and the quantile normal.
    # Wilson at p = 1 has lower end n / (n + z^2): 48 pairs -> 48 / (48 + 1.96^2) = 0.9259.
    lo, hi = proportion_interval(np.ones(500), 1.0, 48, 8)
    z = stats.norm.ppf(0.975)
    assert float(lo) == pytest.approx(48 / (48 + z * z), rel=1e-12)
    assert float(lo) == pytest.approx(0.9259, abs=1e-4)
    assert float(hi) == 1.0
    lo0, hi0 = proportion_interval(np.zeros(500), 0.0, 48, 8)  # and all wrong, mirrored
    assert float(lo0) == 0.0 and float(hi0) == pytest.approx(1 - float(lo), rel=1e-12)


def test_the_design_effect_floor_caps_the_effective_sample_size():
    # Clusters more alike than chance (variance ~0): no pair counts as more than one pair.
    lo, hi = wilson_effective(0.5, 40, 1e-12, 10)
    expected = _wilson(0.5, 40, stats.norm.ppf(0.975))
    assert (float(lo), float(hi)) == pytest.approx(expected, rel=1e-12)


def test_below_the_minimum_of_clusters_there_is_no_interval():
    draws = np.array([0.4, 0.6] * 50)
    lo, hi = proportion_interval(draws, 0.5, 40, MIN_CLUSTERS - 1)
    assert math.isnan(float(lo)) and math.isnan(float(hi))
    assert math.isfinite(float(proportion_interval(draws, 0.5, 40, MIN_CLUSTERS)[0]))
    assert math.isnan(float(mean_interval(draws, 0.5, MIN_CLUSTERS - 1)[0]))
    # No pairs: nothing to give either.
    assert math.isnan(float(proportion_interval(draws, math.nan, 0, 10)[0]))


def test_arrays_give_the_same_as_one_at_a_time():
    rng = np.random.default_rng(3)
    draws = rng.uniform(0.3, 0.9, size=(200, 3))
    est, n, g = np.array([0.6, 0.95, 1.0]), np.array([50, 40, 30]), np.array([8, 12, 6])
    lo, hi = proportion_interval(draws, est, n, g)
    for j in range(3):
        one = proportion_interval(draws[:, j], est[j], n[j], g[j])
        assert (lo[j], hi[j]) == pytest.approx((float(one[0]), float(one[1])), rel=1e-12)


def test_mean_interval_by_hand():
    draws = np.array([-0.1, 0.0, 0.1, 0.0] * 25)
    lo, hi = mean_interval(draws, 0.02, 10, bounds=(-1.0, 1.0))
    half = stats.t.ppf(0.975, 9) * math.sqrt(0.5 / 99 * 10 / 9)
    assert (float(lo), float(hi)) == pytest.approx((0.02 - half, 0.02 + half), rel=1e-12)
    # Clipped to the statistic's range.
    assert float(mean_interval(draws, 0.95, 10, bounds=(-1.0, 1.0))[1]) == 1.0


def test_difference_interval_is_newcombes_method_10_on_the_clustered_intervals():
    # Arms over the same 60 pairs in 10 clusters, with paired draws.
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 0.08, 400)
    draws_a = 0.75 + shared + rng.normal(0, 0.02, 400)
    draws_b = 0.6 + shared + rng.normal(0, 0.02, 400)
    # Both arms are clustered (deff > 1): each on t with G - 1 = 9 degrees of freedom.
    va, vb = (np.var(d, ddof=1) * 10 / 9 for d in (draws_a, draws_b))
    deff_a, deff_b = va / (0.75 * 0.25 / 60), vb / (0.6 * 0.4 / 60)
    assert deff_a > 1 and deff_b > 1
    t = stats.t.ppf(0.975, 9)
    la, ua = _wilson(0.75, 60 / deff_a, t)
    lb, ub = _wilson(0.6, 60 / deff_b, t)
    phi = float(np.corrcoef(draws_a, draws_b)[0, 1])
    # Newcombe (1998), method 10, with the arms' intervals and their correlation.
    expected_lo = 0.15 - math.sqrt(
        (0.75 - la) ** 2 - 2 * phi * (0.75 - la) * (ub - 0.6) + (ub - 0.6) ** 2
    )
    expected_hi = 0.15 + math.sqrt(
        (ua - 0.75) ** 2 - 2 * phi * (ua - 0.75) * (0.6 - lb) + (0.6 - lb) ** 2
    )
    lo, hi = difference_interval(draws_a, draws_b, 0.75, 0.6, 60, 10)
    assert (float(lo), float(hi)) == pytest.approx((expected_lo, expected_hi), rel=1e-9)


def test_difference_arm_without_clustering_keeps_the_normal_quantile():
    # Arm a perfect (p = 1: deff 1, no clustering measured), arm b clustered: a's Wilson end
    # uses z, b's uses t on G - 1 = 7 df. At p = 1 Wilson's lower end is n / (n + z^2).
    rng = np.random.default_rng(1)
    draws_b = 0.8 + rng.normal(0, 0.06, 400)
    lo, hi = difference_interval(np.ones(400), draws_b, 1.0, 0.8, 48, 8)
    vb = np.var(draws_b, ddof=1) * 8 / 7
    deff_b = vb / (0.8 * 0.2 / 48)
    lb, ub = _wilson(0.8, 48 / deff_b, stats.t.ppf(0.975, 7))
    la = 48 / (48 + stats.norm.ppf(0.975) ** 2)
    # phi = nan (a has no spread) is taken as 1, so lo = d - |down_a - up_b|.
    down_a, up_b = 1.0 - la, ub - 0.8
    assert float(lo) == pytest.approx(0.2 - abs(down_a - up_b), rel=1e-9)
    assert float(hi) == pytest.approx(0.2 + (0.8 - lb), rel=1e-9)


def test_difference_of_identical_perfect_arms_keeps_a_width():
    # No discordant pair and every pair right: the difference is 0, but 48 pairs over 8
    # prompts cannot rule out a small one. The arms' intervals are [0.9259, 1] (see above) and
    # they move together (phi = 1 by convention when the draws have no spread):
    # lo = -sqrt(d^2 - 2 d x 0 + 0) = -(1 - 0.9259), hi = +(1 - 0.9259).
    lo, hi = difference_interval(np.ones(100), np.ones(100), 1.0, 1.0, 48, 8)
    gap = 1 - 48 / (48 + stats.norm.ppf(0.975) ** 2)
    assert (float(lo), float(hi)) == pytest.approx((-gap, gap), rel=1e-12)


def test_prediction_for_a_new_batch_by_hand():
    # Every calibration prompt perfect (48 pairs, 8 prompts), a new batch of 8 prompts (48
    # pairs). No spread: deff 1, the normal quantile. Score part: Wilson at p = 1 on
    # 48 x 48 / 96 = 24 pairs: lower end 24 / (24 + z^2). Beta-binomial part: the Jeffreys
    # Beta(48.5, 0.5) predictive over 48 pairs; its 2.5% quantile is computed here with scipy.
    lo, hi = predict_batch(np.ones(100), 1.0, 48, 8, 8)
    z = stats.norm.ppf(0.975)
    bb_lo = stats.betabinom.ppf(0.025, 48, 48.5, 0.5) / 48
    # The lower end averages the two lower quantiles, 0.3 on the score's.
    assert float(lo) == pytest.approx(0.3 * 24 / (24 + z * z) + 0.7 * bb_lo, rel=1e-12)
    assert float(hi) == 1.0
    assert float(lo) == pytest.approx(0.9149, abs=1e-4)


def test_prediction_interval_is_nan_with_too_few_prompts():
    lo, hi = predict_batch(np.array([0.5, 0.7] * 50), 0.6, 20, MIN_CLUSTERS - 1, 10)
    assert math.isnan(float(lo)) and math.isnan(float(hi))


def test_resampler_interval_uses_the_clusters_it_sees():
    # 6 prompts, but the masked rows fall in 4 of them: G = 4, below the minimum.
    keys = np.repeat(np.arange(6), 3).astype(str)
    r = ClusterResampler(keys, BootstrapConfig(resamples=300))
    hits = np.tile([1.0, 1.0, 0.0], 6)
    assert r.clusters_with(np.ones(18)) == 6
    rows = np.isin(keys, ["0", "1", "2", "3"])
    assert r.clusters_with(np.ones(18), rows) == 4
    assert all(math.isnan(x) for x in r.interval(hits, np.ones(18), rows))
    lo, hi = r.interval(hits, np.ones(18))
    # By hand from the same draws: every prompt is 2/3, so the bootstrap has no spread and the
    # design effect is floored at 1: Wilson's own interval on the 18 pairs.
    expected = _wilson(2 / 3, 18, stats.norm.ppf(0.975))
    assert (lo, hi) == pytest.approx(expected, rel=1e-9)


def _coverage_bench():
    """benchmarks/coverage.py as a module (it is a script, not part of the package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "coverage.py"
    spec = importlib.util.spec_from_file_location("coverage_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_coverage_benchmark_counts_and_solves_exactly():
    # The benchmark's own bookkeeping (benchmarks/coverage.py), on crafted numbers.
    bench = _coverage_bench()
    # 4 intervals, truth 0.5: two cover it (one at its edge), one too low, one too high.
    lo, hi = np.array([0.4, 0.5, 0.1, 0.6]), np.array([0.6, 0.7, 0.45, 0.9])
    assert bench.covered(lo, hi, 0.5) == (0.5, pytest.approx((0.2 + 0.2 + 0.35 + 0.3) / 4))
    # Symmetry: a = 0 gives mean agreement 0.5 exactly whatever the prompt effect.
    assert bench.mean_agreement(0.0, 1.5) == pytest.approx(0.5, abs=1e-12)
    # s = 0: no prompt effect, the mean is sigmoid(a); solve_offset inverts it.
    assert bench.mean_agreement(math.log(19), 0.0) == pytest.approx(0.95, abs=1e-9)
    assert bench.solve_offset(0.95, 0.0) == pytest.approx(math.log(19), abs=1e-9)
    # The toolkit's draws: one matrix product, the ratio of weighted sums.
    weights = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    num, den = np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 2.0, 4.0]])
    assert bench.resampled(weights, num, den)[:, 0].tolist() == [5 / 8, 6 / 8]


@pytest.mark.parametrize("mean_logit", [0.0, 3.9])
def test_coverage_at_8_prompts_holds_where_the_percentile_bootstrap_does_not(mean_logit):
    # 400 simulated datasets of 8 prompts x 6 pairs, a strong prompt effect (sigmoid(a + 1.5 Z)),
    # agreement 0.5 (a = 0) and ~0.95 (a = 3.9). The truth by quadrature.
    from judges.stats.bootstrap import percentile_interval, resample_weights

    z = np.linspace(-9, 9, 20001)
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    truth = float(np.trapezoid(pdf / (1 + np.exp(-(mean_logit + 1.5 * z))), z))
    rng = np.random.default_rng(22)
    p = 1 / (1 + np.exp(-(mean_logit + 1.5 * rng.normal(size=(400, 8)))))
    hits = rng.binomial(6, p).astype(float)
    weights = resample_weights(8, 1000, 0).astype(float)
    draws = (weights @ hits.T) / (weights @ np.full((8, 400), 6.0))
    lo, hi = proportion_interval(draws, hits.sum(1) / 48, 48, 8)
    new = float(np.mean((lo <= truth) & (truth <= hi)))
    old = np.mean(
        [(lambda iv: iv[0] <= truth <= iv[1])(percentile_interval(draws[:, r])) for r in range(400)]
    )
    # Nominal 0.95; 400 datasets: s.e. ~0.011. The percentile interval is too narrow here.
    assert old < 0.93 <= new


def test_the_coverage_benchmarks_exact_bound_is_clopper_pearsons():
    # exact_bound is the one-sided Clopper-Pearson bound: the beta quantile, alpha^(1/n) when
    # every pair is right, 0 when none is (scipy.stats as the independent reference).
    bench = _coverage_bench()
    k, n = np.array([48.0, 47.0, 30.0, 0.0]), np.array([48.0, 48.0, 40.0, 12.0])
    got = bench.exact_bound(k, n, 0.95)
    assert got[0] == pytest.approx(0.05 ** (1 / 48), rel=1e-10)
    assert got[1:3] == pytest.approx(stats.beta.ppf(0.05, k[1:3], n[1:3] - k[1:3] + 1), rel=1e-10)
    assert got[3] == 0.0
    # 48 of 48 right is likelier than 5% at p = 0.95, so the valid bound stays below 0.95, while
    # Wilson's one-sided bound on 52 of 52 (z = 1.645) already claims more than the exact one.
    assert got[0] < 0.95
    z = stats.norm.ppf(0.95)
    assert 52 / (52 + z * z) > bench.exact_bound(np.array([52.0]), np.array([52.0]), 0.95)[0]
