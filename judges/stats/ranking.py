"""Generator rankings from pairwise choices: Bradley-Terry strengths and rank agreement.

A pair of videos from two generators is one comparison. Over many pairs, the Bradley-Terry
model (Bradley & Terry 1952) gives each generator a strength ``theta`` such that generator
``i`` beats ``j`` with probability ``1 / (1 + exp(theta_j - theta_i))``. Fitted once from the
people's labels and once from each judge's verdicts on the same pairs, the two strength vectors
answer "would this judge rank the generators as people do?" (the human-alignment protocol of
VBench, Huang et al. 2024: a rank correlation between metric and human rankings of models).

Rules (the same for people and judges):

- **Ties**: a human tie, and any verdict that names no video (tie, refusal, unparsed reply,
  error), counts as half a win for each side (the convention Davidson 1970 notes reduces his
  tie model to when ties carry no extra parameter). The judge's ranking is therefore fitted on
  exactly the people's pairs, and a judge that fails often is pulled towards "all equal".
- **Perfect winners and losers**: the maximum-likelihood strength of a generator that wins (or
  loses) every comparison is infinite. A Gaussian prior on the strengths with precision
  ``prior`` (a ridge penalty ``prior/2 * sum(theta**2)``) keeps it finite; at the default
  0.01 it moves a strength fitted from 100 comparisons by well under 1%. The strengths are then
  centred (sum zero) by the fit itself. ``prior = 0`` gives the plain maximum likelihood, which
  needs a strongly connected comparison graph.
- **Refused** (no number, a reason instead): fewer than ``min_generators`` generators with at
  least ``min_pairs`` pairs each, or a comparison graph in several pieces (strengths of
  generators never compared, even indirectly, are not comparable).

The fit is Newton's method on the penalised log-likelihood, vectorised over bootstrap
resamples (a ``B x G x G`` stack of win matrices solved at once), with step halving so every
step improves the objective. The tests check it against Hunter's (2004) MM algorithm and a
general-purpose optimiser.

Rank agreement between two strength vectors: Kendall's tau-b (Kendall 1938, 1945; ties in
either ranking handled), Spearman's rho (average ranks), and the share of generator pairs both
order the same way (strictly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_PRIOR = 0.01
MIN_GENERATORS = 3
MIN_PAIRS = 2


@dataclass(frozen=True)
class RankingConfig:
    """How generator rankings are fitted; recorded in ``run.json``.

    Attributes:
        prior: Precision of the Gaussian prior on strengths (ridge penalty); 0 = plain
            maximum likelihood.
        min_generators: Fewest generators a ranking is reported for.
        min_pairs: Fewest pairs a generator needs to be ranked.

    Example:
        >>> RankingConfig().prior
        0.01

    """

    prior: float = DEFAULT_PRIOR
    min_generators: int = MIN_GENERATORS
    min_pairs: int = MIN_PAIRS

    def __post_init__(self) -> None:
        if self.prior < 0 or self.min_generators < 2 or self.min_pairs < 1:
            raise ValueError("prior must be >= 0, min_generators >= 2 and min_pairs >= 1")

    def describe(self) -> dict[str, object]:
        """The rules as run.json records them."""
        return {
            "model": "Bradley-Terry (Bradley & Terry 1952), Newton's method",
            "ties": "half a win each side (human ties; judge ties, refusals and errors)",
            "prior": f"Gaussian on strengths, precision {self.prior} (ridge); strengths sum to 0",
            "min_generators": self.min_generators,
            "min_pairs": self.min_pairs,
        }


def win_matrix(a: np.ndarray, b: np.ndarray, score: np.ndarray, n_generators: int) -> np.ndarray:
    """``W[i, j]``: wins of generator ``i`` over ``j`` (a tie adds 0.5 to both cells).

    Args:
        a: Generator code of each comparison's first side.
        b: Generator code of its second side.
        score: 1 where ``a`` won, 0 where ``b`` won, 0.5 for a tie.
        n_generators: G.

    Example:
        >>> win_matrix(np.array([0, 0]), np.array([1, 1]), np.array([1.0, 0.5]), 2).tolist()
        [[0.0, 1.5], [0.5, 0.0]]

    """
    w = np.zeros(n_generators * n_generators)
    np.add.at(w, a * n_generators + b, score)
    np.add.at(w, b * n_generators + a, 1.0 - score)
    return w.reshape(n_generators, n_generators)


def _objective(theta: np.ndarray, wins: np.ndarray, prior: float) -> np.ndarray:
    diff = theta[..., :, None] - theta[..., None, :]
    # log sigmoid(d) = -log(1 + exp(-d)), stable for large |d|.
    return (wins * -np.logaddexp(0.0, -diff)).sum(axis=(-2, -1)) - 0.5 * prior * (theta**2).sum(
        axis=-1
    )


def fit_bradley_terry(
    wins: np.ndarray, prior: float = DEFAULT_PRIOR, tol: float = 1e-8, max_iter: int = 200
) -> np.ndarray:
    """Bradley-Terry strengths (log scale, summing to 0) from win matrices.

    Args:
        wins: ``G x G`` (or ``... x G x G``, fitted independently) wins of row over column.
        prior: Ridge precision (see the module docstring); 0 = maximum likelihood.
        tol: Stop when no strength moves by more than this (Newton converges quadratically,
            so the error is then far smaller; with tens of thousands of comparisons the
            step's own rounding floor is near 1e-10).
        max_iter: Newton steps at most.

    Returns:
        Strengths, shape ``wins.shape[:-1]``; higher is stronger.

    Example:
        >>> w = np.array([[0, 2, 3], [1, 0, 2], [0, 1, 0]], dtype=float)
        >>> theta = fit_bradley_terry(w)
        >>> bool(theta[0] > theta[1] > theta[2]), round(float(theta.sum()), 9)
        (True, 0.0)

    """
    wins = np.asarray(wins, dtype=np.float64)
    g = wins.shape[-1]
    n = wins + np.swapaxes(wins, -1, -2)
    won = wins.sum(axis=-1)
    theta = np.zeros(wins.shape[:-1])
    eye = np.eye(g)
    # With no prior the likelihood is flat along (1, ..., 1): adding J = 1 1^T to the negative
    # Hessian fixes that direction (the gradient is orthogonal to it) without changing the step.
    centre = np.ones((g, g)) / g if prior == 0 else 0.0
    value = _objective(theta, wins, prior)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(theta[..., :, None] - theta[..., None, :])))
        grad = won - (n * p).sum(axis=-1) - prior * theta
        v = n * p * (1 - p)
        info = eye * (v.sum(axis=-1)[..., None] + prior) - v + centre
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        scale = np.ones(theta.shape[:-1])
        for _ in range(40):  # halve until the objective does not fall (it is concave)
            trial = theta + scale[..., None] * step
            new = _objective(trial, wins, prior)
            bad = new < value - 1e-12 * (1 + np.abs(value))
            if not bad.any():
                break
            scale = np.where(bad, scale / 2, scale)
        theta, value = trial, new
        if prior == 0:
            theta = theta - theta.mean(axis=-1, keepdims=True)
        if np.max(np.abs(scale[..., None] * step), initial=0.0) < tol:
            break
    return theta


def components(pairs_between: np.ndarray) -> list[list[int]]:
    """Connected pieces of the comparison graph (``pairs_between[i, j] > 0``: an edge).

    Example:
        >>> components(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]))
        [[0, 1], [2]]

    """
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(np.asarray(pairs_between) > 0, directed=False)
    return [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]


def screen(
    names: Sequence[str], between: np.ndarray, config: RankingConfig
) -> tuple[list[int], dict[int, str], str | None]:
    """Which generators can be ranked, why the others cannot, and why no ranking at all.

    A generator in fewer than ``min_pairs`` pairs is left out (its strength would rest on one
    comparison) and noted; the rest are ranked unless fewer than ``min_generators`` remain or
    their comparison graph is in several pieces.

    Args:
        names: Generator names, by code.
        between: ``G x G`` pairs between generators.
        config: The limits.

    Returns:
        Codes kept, ``code -> note`` for those left out, and the reason no ranking is
        reported (None when one is).

    Example:
        >>> screen(["a", "b"], np.array([[0, 3], [3, 0]]), RankingConfig())[2]
        'only 2 generator(s) can be ranked (a, b); a ranking needs at least 3'

    """
    between = np.asarray(between)
    counts = between.sum(axis=1)
    notes = {
        i: f"in {int(k)} pair(s) only: not ranked (needs {config.min_pairs})"
        for i, k in enumerate(counts)
        if k < config.min_pairs
    }
    kept = [i for i in range(len(names)) if i not in notes]
    if len(kept) < config.min_generators:
        listing = ", ".join(names[i] for i in kept) or "none"
        return (
            kept,
            notes,
            (
                f"only {len(kept)} generator(s) can be ranked ({listing}); a ranking needs at "
                f"least {config.min_generators}"
            ),
        )
    pieces = components(between[np.ix_(kept, kept)])
    if len(pieces) > 1:
        listing = " | ".join(", ".join(names[kept[i]] for i in piece) for piece in pieces)
        return (
            kept,
            notes,
            (
                f"the comparison graph is in {len(pieces)} pieces ({listing}): generators never "
                "compared, even through others, have no common scale"
            ),
        )
    return kept, notes, None


def ranks(theta: np.ndarray) -> np.ndarray:
    """Rank of each strength, 1 = strongest (tied strengths share the best rank; nan stays).

    Example:
        >>> ranks(np.array([0.5, 2.0, 0.5, np.nan])).tolist()
        [2.0, 1.0, 2.0, nan]

    """
    theta = np.asarray(theta, dtype=np.float64)
    # 1 + how many are stronger (nan compares false, so it neither counts nor is counted).
    above = (theta[..., None, :] > theta[..., :, None]).sum(axis=-1) + 1.0
    return np.where(np.isnan(theta), np.nan, above)


def _pair_signs(x: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(x.shape[-1], k=1)
    return np.sign(x[..., i] - x[..., j])


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of ``x`` and ``y`` along the last axis (nan if either is constant).

    Example:
        >>> float(kendall_tau_b(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])))
        0.6666666666666666

    """
    sx, sy = _pair_signs(np.asarray(x, float)), _pair_signs(np.asarray(y, float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum(-1) / np.sqrt((sx * sx).sum(-1) * (sy * sy).sum(-1))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n along the last axis, tied values sharing their mean rank (no nans).

    The same numbers as ``scipy.stats.rankdata(x, axis=-1)``, without importing
    ``scipy.stats`` (0.4-0.6 s of a command that ranks a handful of generators).

    Example:
        >>> average_ranks(np.array([[0.3, 0.1, 0.3, 0.2]])).tolist()
        [[3.5, 1.0, 3.5, 2.0]]

    """
    values = np.asarray(x, float)
    n = values.shape[-1]
    order = np.argsort(values, axis=-1, kind="stable")
    ranked = np.take_along_axis(values, order, -1)
    place = np.broadcast_to(np.arange(n), ranked.shape)
    starts = np.ones(ranked.shape, bool)  # the first of each run of equal values
    starts[..., 1:] = ranked[..., 1:] != ranked[..., :-1]
    ends = np.ones(ranked.shape, bool)
    ends[..., :-1] = starts[..., 1:]
    first = np.maximum.accumulate(np.where(starts, place, 0), axis=-1)
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, place, n - 1), -1), -1), -1)
    ranks = np.empty(ranked.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, -1)
    return ranks


def spearman_rho(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho (Pearson correlation of average ranks) along the last axis."""
    rx = average_ranks(x)
    ry = average_ranks(y)
    rx = rx - rx.mean(-1, keepdims=True)
    ry = ry - ry.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))


def ordered_alike(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Share of generator pairs both strength vectors order the same way (a tie in either: no).

    Example:
        >>> float(ordered_alike(np.array([1.0, 2, 3]), np.array([1.0, 3, 2])))
        0.6666666666666666

    """
    sx, sy = _pair_signs(np.asarray(x, float)), _pair_signs(np.asarray(y, float))
    return (sx * sy > 0).mean(-1)


def rank_agreement(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Tau-b, rho and the share ordered alike (nan wherever either vector holds a nan)."""
    bad = np.isnan(x).any(-1) | np.isnan(y).any(-1)
    out = {
        "kendall_tau": kendall_tau_b(x, y),
        "spearman_rho": spearman_rho(np.nan_to_num(x), np.nan_to_num(y)),
        "ordered_alike": ordered_alike(x, y),
    }
    return {k: np.where(bad, np.nan, v) for k, v in out.items()}
