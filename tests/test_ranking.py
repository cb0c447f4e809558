"""Bradley-Terry fits and rank agreement (judges.stats.ranking) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import kendalltau, rankdata, spearmanr

from judges.stats.ranking import (
    RankingConfig,
    average_ranks,
    fit_bradley_terry,
    kendall_tau_b,
    ordered_alike,
    rank_agreement,
    ranks,
    screen,
    spearman_rho,
    win_matrix,
)


def mm_fit(wins: np.ndarray, iterations: int = 20000) -> np.ndarray:
    """Hunter's (2004) MM algorithm for the plain maximum likelihood (a different algorithm)."""
    n = wins + wins.T
    p = np.ones(len(wins))
    for _ in range(iterations):
        p = wins.sum(1) / (n / (p[:, None] + p[None, :])).sum(1)
        p /= np.exp(np.log(p).mean())
    return np.log(p)


def optimiser_fit(wins: np.ndarray, prior: float) -> np.ndarray:
    """The penalised likelihood maximised by a general-purpose optimiser (BFGS)."""

    def loss(theta: np.ndarray) -> float:
        d = theta[:, None] - theta[None, :]
        return float(
            (wins * np.logaddexp(0, -d)).sum() + 0.5 * prior * (theta**2).sum() + theta.sum() ** 2
        )

    return minimize(loss, np.zeros(len(wins)), method="BFGS", options={"gtol": 1e-11}).x


def test_two_generators_closed_form():
    # 3 wins of 4: theta_0 - theta_1 = log(3), by hand.
    theta = fit_bradley_terry(np.array([[0.0, 3], [1, 0]]), prior=0)
    assert theta[0] - theta[1] == pytest.approx(np.log(3), abs=1e-10)
    assert theta.sum() == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_newton_equals_mm_on_random_data(seed):
    rng = np.random.default_rng(seed)
    g = int(rng.integers(3, 8))
    wins = rng.integers(1, 9, size=(g, g)).astype(float)  # every pair both ways: MLE exists
    np.fill_diagonal(wins, 0)
    assert np.abs(fit_bradley_terry(wins, prior=0) - mm_fit(wins)).max() < 1e-8


@pytest.mark.parametrize("prior", [0.01, 0.5, 3.0])
def test_penalised_fit_equals_optimiser(prior):
    rng = np.random.default_rng(7)
    wins = rng.integers(0, 5, size=(5, 5)).astype(float)
    np.fill_diagonal(wins, 0)
    wins[0, 1:] += 4
    wins[1:, 0] = 0  # generator 0 wins everything: infinite without the prior
    theta = fit_bradley_terry(wins, prior)
    assert np.isfinite(theta).all() and theta.argmax() == 0
    assert np.abs(theta - optimiser_fit(wins, prior)).max() < 1e-5


def test_batched_fit_equals_one_at_a_time():
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 6, size=(6, 4, 4)).astype(float)
    stack[:, range(4), range(4)] = 0
    together = fit_bradley_terry(stack)
    for k in range(6):
        assert np.allclose(together[k], fit_bradley_terry(stack[k]), atol=1e-9)


def test_win_matrix_counts_ties_as_halves():
    w = win_matrix(np.array([0, 1, 2]), np.array([1, 2, 0]), np.array([1, 0.5, 0]), 3)
    # 0 beat 1; 1 and 2 tied; 2 lost to 0.
    assert w.tolist() == [[0, 1, 1], [0, 0, 0.5], [0, 0.5, 0]]


@pytest.mark.parametrize("shape", [(7,), (3, 5), (500, 12), (4, 3, 6), (5, 1), (3, 0)])
def test_average_ranks_equal_scipy_rankdata_exactly(shape):
    rng = np.random.default_rng(sum(shape))
    for x in (rng.integers(0, 4, size=shape).astype(float), rng.normal(size=shape)):
        assert np.array_equal(average_ranks(x), rankdata(x, axis=-1))


def test_rank_agreement_matches_scipy():
    rng = np.random.default_rng(11)
    for _ in range(50):
        x = rng.integers(0, 4, size=6).astype(float)  # ties on purpose
        y = rng.normal(size=6)
        if np.ptp(x) == 0:
            continue
        assert kendall_tau_b(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
        assert spearman_rho(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    xs, ys = rng.normal(size=(20, 5)), rng.normal(size=(20, 5))
    taus = kendall_tau_b(xs, ys)
    assert np.allclose(taus, [kendalltau(a, b).statistic for a, b in zip(xs, ys, strict=True)])


def test_ordered_alike_and_nan_draws():
    assert ordered_alike(np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 4, 3])) == pytest.approx(5 / 6)
    out = rank_agreement(np.array([[1.0, 2, np.nan]]), np.array([[1.0, 2, 3]]))
    assert all(np.isnan(v[0]) for v in out.values())
    assert ranks(np.array([0.5, 2.0, 0.5])).tolist() == [2, 1, 2]


def test_screen_refuses_what_has_no_valid_number():
    cfg = RankingConfig()
    two = np.array([[0, 5], [5, 0]])
    assert "needs at least 3" in screen(["a", "b"], two, cfg)[2]
    # d appears in one pair only: left out with a note, the rest ranked.
    between = np.array([[0, 3, 3, 1], [3, 0, 3, 0], [3, 3, 0, 0], [1, 0, 0, 0]])
    kept, notes, reason = screen(["a", "b", "c", "d"], between, cfg)
    assert kept == [0, 1, 2] and "1 pair(s) only" in notes[3] and reason is None
    # Two pieces never compared with each other.
    pieces = np.zeros((4, 4), dtype=int)
    pieces[0, 1] = pieces[1, 0] = pieces[2, 3] = pieces[3, 2] = 4
    assert "2 pieces (a, b | c, d)" in screen(["a", "b", "c", "d"], pieces, cfg)[2]
