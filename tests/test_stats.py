from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from judges.stats.classic import (
    binomial_p_value,
    binomial_p_values_half,
    cohen_kappa,
    wilson_interval,
)


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


def test_binomial_p_by_hand():
    # 7 of 10: P(X >= 7) = (120 + 45 + 10 + 1) / 1024, doubled; 9 of 10: 2 * 11 / 1024;
    # 0 of 5: 2 / 32; 5 of 10 and 24 of 48 sit at the centre: 1.
    hand = {(7, 10): 0.34375, (9, 10): 22 / 1024, (0, 5): 0.0625, (5, 10): 1.0, (24, 48): 1.0}
    for (k, n), p in hand.items():
        assert binomial_p_value(k, n) == pytest.approx(p, rel=1e-12)
        assert binomial_p_values_half(np.array([k]), np.array([n]))[0] == pytest.approx(p)
    # Larger n against exact rational arithmetic: outcomes no likelier than k, summed.
    for k, n in [(30, 48), (70, 100)]:
        pk = Fraction(math.comb(n, k), 2**n)
        exact = sum(
            Fraction(math.comb(n, i), 2**n)
            for i in range(n + 1)
            if Fraction(math.comb(n, i), 2**n) <= pk
        )
        assert binomial_p_value(k, n) == pytest.approx(float(exact), rel=1e-9)
    assert math.isnan(binomial_p_value(0, 0))


def test_binomial_p_values_half_match_binomtest():
    # scipy.stats.binomtest's p-values, one by one, against the array version (scipy.special's
    # incomplete beta): every k for small n, both edges, and SafeSora-sized counts.
    from scipy import stats

    rng = np.random.default_rng(3)
    cases = [(k, n) for n in range(0, 41) for k in range(n + 1)]
    big = rng.integers(41, 60_000, 300)
    cases += [(int(rng.integers(0, n + 1)), int(n)) for n in big]
    cases += [(0, 51_691), (51_691, 51_691), (25_845, 51_691), (26_400, 51_691)]
    k = np.array([c[0] for c in cases])
    n = np.array([c[1] for c in cases])
    got = binomial_p_values_half(k, n)
    for (ki, ni), p in zip(cases, got, strict=True):
        if ni == 0:
            assert math.isnan(p)
            continue
        want = stats.binomtest(ki, ni, 0.5).pvalue
        assert abs(p - want) <= 1e-12, (ki, ni, p, want)


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
