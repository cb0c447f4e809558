from __future__ import annotations

import math

import pytest
from scipy import stats

from judges.stats.classic import binomial_p_value, cohen_kappa, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [  # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_textbook_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=5e-5)
    assert got[1] == pytest.approx(hi, abs=5e-5)


def test_wilson_edges():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo < 1.0
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_binomial_p_matches_scipy():
    for k, n in [(30, 48), (24, 48), (0, 5), (70, 100)]:
        assert binomial_p_value(k, n) == stats.binomtest(k, n, 0.5).pvalue
    assert math.isnan(binomial_p_value(0, 0))


def test_kappa_known_values():
    # 2x2 example: observed 0.75; marginals a=(2,2), b=(1,3): expected 0.5 -> kappa 0.5
    assert cohen_kappa("aabb", "abbb") == pytest.approx(0.5)
    assert cohen_kappa([1, 2, 1, 2], [1, 2, 1, 2]) == 1.0
    assert cohen_kappa([1, 2], [2, 1]) == pytest.approx(-1.0)
    # Undecided is its own category (humans never use it): lowers agreement.
    k = cohen_kappa(["u", "x", "x", "y"], ["x", "x", "x", "y"])
    expected_o = 3 / 4
    expected_e = (2 * 3 + 1 * 1) / 16
    assert k == pytest.approx((expected_o - expected_e) / (1 - expected_e))
    assert math.isnan(cohen_kappa([], []))
    assert math.isnan(cohen_kappa("aa", "aa"))  # chance agreement is 1
