"""Generator rankings of people and judges (stats.ranking_tables, stats.above_pairs)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.optimize import minimize
from scipy.stats import kendalltau, spearmanr

from conftest import FETV_DEV
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.ranking_tables import generator_rankings, win_rates

GENS = ["g0", "g1", "g2", "g3"]


def make_rows(seed: int = 0, n: int = 400, gens=GENS) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(gens), size=n)
    b = (a + rng.integers(1, len(gens), size=n)) % len(gens)
    strength = np.arange(len(gens), dtype=float)
    p0 = 1 / (1 + np.exp(strength[b] - strength[a]))
    human = np.where(rng.random(n) < p0, "video_0", "video_1")
    human[rng.random(n) < 0.1] = "tie"
    judge = np.where(rng.random(n) < 0.7, human, np.where(human == "video_0", "video_1", "video_0"))
    judge[rng.random(n) < 0.05] = "tie"
    return pl.DataFrame(
        {
            "judge": ["j"] * n,
            "dimension": ["aesthetics"] * n,
            "frames": [4] * n,
            "pair_id": [f"p{i}" for i in range(n)],
            "prompt_id": [f"q{i // 4}" for i in range(n)],
            "winner": judge.tolist(),
            "human": human.tolist(),
            "generator_0": [gens[i] for i in a],
            "generator_1": [gens[i] for i in b],
        }
    )


def direct_fit(rows: pl.DataFrame, column: str, prior: float = 0.01) -> np.ndarray:
    """Wins counted by a Python loop, the penalised likelihood maximised by BFGS."""
    code = {g: i for i, g in enumerate(sorted(set(rows["generator_0"]) | set(rows["generator_1"])))}
    w = np.zeros((len(code), len(code)))
    for r in rows.iter_rows(named=True):
        i, j = code[r["generator_0"]], code[r["generator_1"]]
        s = {"video_0": 1.0, "video_1": 0.0}.get(r[column], 0.5)
        w[i, j] += s
        w[j, i] += 1 - s

    def loss(t):
        d = t[:, None] - t[None, :]
        return (w * np.logaddexp(0, -d)).sum() + 0.5 * prior * (t**2).sum()

    return minimize(loss, np.zeros(len(code)), method="BFGS", options={"gtol": 1e-10}).x


def test_strengths_and_rank_agreement_equal_independent_computations():
    rows = make_rows()
    result = generator_rankings(rows, BootstrapConfig(resamples=200, seed=1))
    people = result.generators.filter(pl.col("judge") == "people").sort("generator")
    judge = result.generators.filter(pl.col("judge") == "j").sort("generator")
    want_p, want_j = direct_fit(rows, "human"), direct_fit(rows, "winner")
    assert np.allclose(people["strength"].to_numpy(), want_p, atol=1e-5)
    assert np.allclose(judge["strength"].to_numpy(), want_j, atol=1e-5)
    row = result.agreement.row(0, named=True)
    assert row["kendall_tau"] == pytest.approx(kendalltau(want_j, want_p).statistic)
    assert row["spearman_rho"] == pytest.approx(spearmanr(want_j, want_p).statistic)
    assert row["kendall_tau_lo"] <= row["kendall_tau"] <= row["kendall_tau_hi"]
    assert (people["strength_lo"] <= people["strength"]).all()
    assert (people["strength"] <= people["strength_hi"]).all()
    # Counts: every comparison of g0 counted once per side.
    g0 = rows.filter((pl.col("generator_0") == "g0") | (pl.col("generator_1") == "g0"))
    first = people.row(0, named=True)
    assert first["pairs"] == g0.height == first["wins"] + first["losses"] + first["ties"]
    assert first["ties"] == (g0["human"] == "tie").sum()


def test_few_generators_and_one_pair_generators_get_no_number():
    two = make_rows(gens=["a", "b"])
    result = generator_rankings(two, BootstrapConfig(resamples=50))
    assert result.generators["strength"].is_null().all()
    assert "needs at least 3" in result.agreement["note"][0]
    assert result.agreement["kendall_tau"].is_null().all()
    rows = make_rows()
    lone = rows.head(1).with_columns(
        pl.lit("lonely").alias("generator_1"), pl.lit("p-x").alias("pair_id")
    )
    result = generator_rankings(pl.concat([rows, lone]), BootstrapConfig(resamples=50))
    lonely = result.generators.filter(pl.col("generator") == "lonely")
    assert lonely["strength"].is_null().all() and "1 pair(s) only" in lonely["note"][0]
    assert result.agreement["kendall_tau"].is_not_null().all()


def test_win_rates_are_shares_with_ties_half():
    rows = make_rows(n=60)
    rates = win_rates(rows).filter(pl.col("judge") == "people")
    pair = rows.filter((pl.col("generator_0") == "g0") & (pl.col("generator_1") == "g1"))
    back = rows.filter((pl.col("generator_0") == "g1") & (pl.col("generator_1") == "g0"))
    score = {"video_0": 1.0, "video_1": 0.0, "tie": 0.5}
    wins = sum(score[h] for h in pair["human"]) + sum(1 - score[h] for h in back["human"])
    got = rates.filter((pl.col("generator") == "g0") & (pl.col("opponent") == "g1"))
    assert got["win_rate"][0] == pytest.approx(wins / (pair.height + back.height))


@pytest.mark.figures
@pytest.mark.skipif(not FETV_DEV.is_dir(), reason="../shared/data/fetv-dev not present")
def test_cli_on_fetv_dev_writes_rankings_and_slices(tmp_path):
    import sys

    sys.path.insert(0, "experiments")
    from agreement import main

    code = main(
        ["--judge", "psnr", "--data", str(FETV_DEV), "--dims", "all", "--frames", "4",
         "--votes", str(FETV_DEV / "votes.csv"), "--by", "generator", "--by", "prompt_id",
         "--bootstrap", "200", "--out", str(tmp_path), "--run-id", "r", "--quiet",
         "--cache-dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    run = tmp_path / "r"
    generators = pl.read_csv(run / "generators.csv")
    assert set(generators["generator"]) == {
        "cogvideo",
        "text2video-zero",
        "videofusion",
        "zeroscope",
    }
    ranking = pl.read_csv(run / "ranking_agreement.csv")
    assert "human (leave-one-out)" in ranking["judge"].to_list()
    assert (run / "agreement_by_generator.csv").is_file()
    assert (run / "agreement_by_prompt_id_tests.csv").is_file()
    assert (run / "figures" / "generator_strengths.png").is_file()
    assert "Generator rankings" in (run / "agreement.md").read_text()


def test_cli_refuses_unknown_slice_field(tmp_path):
    import sys

    sys.path.insert(0, "experiments")
    from agreement import main

    from judges.core.errors import ConfigError

    with pytest.raises(ConfigError, match="--by nosuch"):
        main(["--judge", "psnr", "--by", "nosuch", "--out", str(tmp_path), "--quiet",
              "--cache-dir", str(tmp_path / "cache")])  # fmt: skip


def test_report_ranks_and_slices_merged_runs(tmp_path):
    import sys

    sys.path.insert(0, "experiments")
    from agreement import main as agreement_main
    from report import main as report_main

    common = ["--quiet", "--bootstrap", "50", "--cache-dir", str(tmp_path / "cache")]
    assert agreement_main(["--judge", "psnr", "--frames", "1", "--out", str(tmp_path),
                           "--run-id", "a", *common]) == 0  # fmt: skip
    out = tmp_path / "rep"
    code = report_main([str(tmp_path / "a"), "--by", "video_0.generated_from",
                        "--rank-generators", "--out", str(out)])  # fmt: skip
    assert code == 0
    # The demo videos name one generator: no ranking file, the reason in the report.
    assert not (out / "generators.csv").exists()
    assert (
        "no labelled pair compares two different generators" in (out / "comparison.md").read_text()
    )
    sliced = pl.read_csv(out / "agreement_by_video_0.generated_from.csv")
    assert sliced["slice"].unique().to_list() == ["synthetic-opencv"]
    assert "Agreement by video_0.generated_from" in (out / "comparison.md").read_text()
