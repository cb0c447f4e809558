from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from judges.core.errors import ConfigError
from judges.stats.agreement import agreement_table
from judges.stats.bootstrap import (
    BootstrapConfig,
    ClusterResampler,
    design_effect,
    percentile_interval,
    resample_weights,
)
from judges.stats.classic import wilson_interval


def test_weights_draw_every_cluster_count_and_follow_the_seed():
    w = resample_weights(50, 400, seed=7)
    assert w.shape == (400, 50)
    assert (w.sum(axis=1) == 50).all()  # each resample draws C clusters
    assert np.array_equal(w, resample_weights(50, 400, seed=7))
    assert not np.array_equal(w, resample_weights(50, 400, seed=8))
    # Each cluster is drawn once per resample on average.
    assert w.mean() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize(("clusters", "resamples", "draws"), [(7, 23, None), (13, 9, 5), (1, 4, 3)])
def test_weights_drawn_in_blocks_equal_the_multinomial_counts_drawn_at_once(
    monkeypatch, clusters, resamples, draws
):
    # The weights are built a block of resamples at a time (memory); they must equal the counts
    # of one draw of every resample at once from the same seed, whatever the block size.
    import judges.stats.bootstrap as bootstrap

    n_draws = clusters if draws is None else draws
    picks = np.random.default_rng(11).integers(0, clusters, size=(resamples, n_draws))
    expected = np.stack([np.bincount(row, minlength=clusters) for row in picks])
    for cells in (1, 2 * n_draws + 1, 10**6):
        monkeypatch.setattr(bootstrap, "_BLOCK_CELLS", cells)
        got = resample_weights(clusters, resamples, seed=11, draws=draws)
        assert got.dtype == np.float32
        assert np.array_equal(got, expected)


def test_compact_weights_equal_float_weights_and_widen_rather_than_clip():
    small = resample_weights(30, 50, seed=4, dtype=np.uint8)
    assert small.dtype == np.uint8
    assert np.array_equal(small, resample_weights(30, 50, seed=4))
    # 2 clusters, 1000 draws: counts near 500 do not fit a byte, so the matrix widens.
    wide = resample_weights(2, 20, seed=4, draws=1000, dtype=np.uint8)
    assert wide.dtype == np.uint16 and wide.max() > 255
    assert np.array_equal(wide, resample_weights(2, 20, seed=4, draws=1000))
    assert (wide.sum(axis=1) == 1000).all()


def test_draws_equal_a_loop_over_resamples():
    # The matrix product is the textbook cluster bootstrap: resample clusters, pool their
    # pairs, take the ratio. Checked against a plain loop over the same multiplicities.
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 30, 200).astype(str)
    num = rng.random(200) < 0.6
    den = np.ones(200)
    config = BootstrapConfig(resamples=300, seed=3)
    r = ClusterResampler(keys, config)
    draws = r.draws(num.astype(float), den)
    present = sorted(set(keys), key=list(dict.fromkeys(keys)).index)
    weights = resample_weights(len(present), 300, 3)
    loop = []
    for row in weights:
        top = bottom = 0.0
        for c, mult in zip(present, row, strict=True):
            top += mult * num[keys == c].sum()
            bottom += mult * den[keys == c].sum()
        loop.append(top / bottom)
    assert np.allclose(draws, loop, atol=1e-5)


def test_masks_keep_clusters_and_views_share_weights():
    keys = np.array(["a", "a", "b", "c", "c", "d"])
    r = ClusterResampler(keys, BootstrapConfig(resamples=50))
    view = r.subset(np.array([0, 1, 2, 3, 4, 5]))
    assert view.weights is r.weights  # the same clusters: one matrix for every group
    masked = r.draws(np.ones(6), np.ones(6), rows=np.array([1, 1, 0, 1, 1, 0], dtype=bool))
    assert np.nanmin(masked) == 1.0  # ratio over the masked rows only
    other = r.subset(np.array([0, 1, 2]))
    assert other.weights.shape == (50, 2)  # its own clusters (a, b)


def test_clustered_interval_is_wider_when_prompts_share_outcomes():
    # 40 prompts x 5 pairs, every pair of a prompt agrees or not together: 40 independent
    # observations, not 200. The Wilson interval is too narrow; the cluster bootstrap is not.
    rng = np.random.default_rng(1)
    per_prompt = rng.random(40) < 0.6
    match = np.repeat(per_prompt, 5)
    keys = np.repeat(np.arange(40), 5).astype(str)
    config = BootstrapConfig(resamples=2000)
    draws = ClusterResampler(keys, config).draws(match.astype(float), np.ones(200))
    lo, hi = percentile_interval(draws)
    w_lo, w_hi = wilson_interval(int(match.sum()), 200)
    assert hi - lo > 1.8 * (w_hi - w_lo)
    assert design_effect(draws, match.mean(), 200) == pytest.approx(5, rel=0.35)
    # Resampling pairs (cluster "none") treats them as independent: about Wilson's width.
    iid = ClusterResampler(np.arange(200).astype(str), config).draws(
        match.astype(float), np.ones(200)
    )
    lo2, hi2 = percentile_interval(iid)
    assert (hi2 - lo2) == pytest.approx(w_hi - w_lo, rel=0.2)


def test_cluster_bootstrap_covers_where_wilson_does_not():
    # Coverage over 200 simulated datasets: 40 prompts x 8 pairs with a strong prompt effect.
    # The true agreement is E[sigmoid(0.4 + 1.5 Z)], computed by quadrature.
    z = np.linspace(-8, 8, 20001)
    truth = float(
        np.trapezoid(np.exp(-z * z / 2) / np.sqrt(2 * np.pi) / (1 + np.exp(-(0.4 + 1.5 * z))), z)
    )
    cover_boot = cover_wilson = 0
    keys = np.repeat(np.arange(40), 8).astype(str)
    for rep in range(200):
        rng = np.random.default_rng(100 + rep)
        p = 1 / (1 + np.exp(-(0.4 + 1.5 * rng.normal(size=40))))
        match = (rng.random((40, 8)) < p[:, None]).ravel()
        lo, hi = ClusterResampler(keys, BootstrapConfig(resamples=400, seed=rep)).interval(
            match.astype(float), np.ones(320)
        )
        w_lo, w_hi = wilson_interval(int(match.sum()), 320)
        cover_boot += lo <= truth <= hi
        cover_wilson += w_lo <= truth <= w_hi
    assert cover_boot >= 172  # >= 0.86 of 0.95 nominal with 40 clusters
    assert cover_wilson <= cover_boot - 40  # independence badly under-covers


def test_config_checks_and_names():
    with pytest.raises(ConfigError, match="--cluster"):
        BootstrapConfig(cluster="pair")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--bootstrap"):
        BootstrapConfig(resamples=-1)
    assert BootstrapConfig().method == (
        "cluster bootstrap by prompt (B=2000; Wilson on the effective sample size, "
        "t on (G-1)/(1-1/deff) df)"
    )
    assert "over pairs" in BootstrapConfig(cluster="none").method
    described = BootstrapConfig(seed=3).describe()
    assert {k: described[k] for k in ("cluster", "resamples", "seed", "level", "min_clusters")} == {
        "cluster": "prompt",
        "resamples": 2000,
        "seed": 3,
        "level": 0.95,
        "min_clusters": 5,
    }
    # Every table's clustered columns are named with their method.
    assert all(described["intervals"].values())


def _table(cluster: str) -> pl.DataFrame:
    # 4 prompts x 2 pairs; pairs p0/p1 show the same two videos (in either order).
    return pl.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(8)],
            "prompt_id": [f"q{i // 2}" for i in range(8)],
            "video_0_id": ["a", "b", "c", "d", "e", "f", "g", "h"],
            "video_1_id": ["b", "a", "x", "y", "z", "w", "u", "v"],
            "judge": "j",
            "dimension": "aesthetics",
            "frames": 1,
            "winner": ["video_0", "video_0", "video_1", "video_1"] * 2,
            "human": ["video_0"] * 8,
            "status": "ok",
        }
    )


@pytest.mark.parametrize(("cluster", "clusters"), [("prompt", 4), ("video", 7), ("none", 8)])
def test_table_counts_the_clusters_of_each_kind(cluster, clusters):
    table = agreement_table(_table(cluster), bootstrap=BootstrapConfig(cluster=cluster))
    row = table.row(0, named=True)
    assert row["n_clusters"] == clusters
    assert row["agreement"] == 0.5
    if clusters < 5:
        # Too few clusters for a clustered interval: null, not a number that cannot hold.
        for metric in ("agreement", "accuracy", "accuracy_ties"):
            assert row[f"{metric}_cluster_lo"] is None and row[f"{metric}_cluster_hi"] is None
    else:
        assert row["agreement_cluster_lo"] <= 0.5 <= row["agreement_cluster_hi"]
    again = agreement_table(_table(cluster), bootstrap=BootstrapConfig(cluster=cluster))
    assert again["agreement_cluster_lo"].equals(table["agreement_cluster_lo"])  # seeded


def test_sums_of_many_views_equal_each_views_own_sums_bit_for_bit():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 300, 4000)
    resampler = ClusterResampler(codes.tolist(), BootstrapConfig(resamples=500, seed=7))
    # Two views over every cluster (one shared matrix), one over fewer clusters (its own).
    groups = [np.arange(4000), rng.permutation(4000), np.flatnonzero(codes < 40)]
    views = [
        (resampler.subset(rows), tuple(rng.random(len(rows)) < p for p in (0.3, 0.6, 0.9)))
        for rows in groups
    ]
    together = ClusterResampler.resampled_sums_of_many(views)
    assert [t.shape for t in together] == [(500, 3)] * 3
    for (view, columns), totals in zip(views, together, strict=True):
        assert np.array_equal(totals, view.resampled_sums(*columns))
    assert len(resampler._weights) == 2  # the two full views shared one weight matrix


def test_sums_of_many_never_lends_one_resamplers_weights_to_another():
    # Two resamplers over the same clusters with other seeds: the same cluster set, but each
    # view's totals must come from its own weight matrix.
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 50, 600).tolist()
    first = ClusterResampler(codes, BootstrapConfig(resamples=200, seed=1))
    second = ClusterResampler(codes, BootstrapConfig(resamples=200, seed=2))
    columns = (rng.random(600) < 0.5,)
    views = [(first.subset(np.arange(600)), columns), (second.subset(np.arange(600)), columns)]
    together = ClusterResampler.resampled_sums_of_many(views)
    for (view, cols), totals in zip(views, together, strict=True):
        assert np.array_equal(totals, view.resampled_sums(*cols))
    assert not np.array_equal(together[0], together[1])


def test_one_blas_thread_puts_the_setting_back_and_changes_no_product():
    from judges.stats.blas import _local_blas_threads, one_blas_thread

    rng = np.random.default_rng(0)
    # Integer-valued float32: exact in any summation order, as the resampled totals are.
    a, b = rng.integers(0, 5, (300, 2000)).astype(np.float32), rng.integers(0, 4, (2000, 7))
    b = b.astype(np.float32)
    before = a @ b
    setter = _local_blas_threads()

    def threads() -> int:
        assert setter is not None
        now = setter(1)
        setter(now)
        return now

    original = threads() if setter is not None else None
    with one_blas_thread():
        inside = a @ b
        assert setter is None or threads() == 1
    assert np.array_equal(inside, before)
    assert setter is None or threads() == original


def test_one_blas_thread_overlapping_threads_put_the_count_back():
    # A enters, B enters, A leaves, B leaves: the order that left the count at 1 when each
    # entry saved and restored on its own (the setting is process-wide).
    import threading

    from judges.stats.blas import _local_blas_threads, one_blas_thread

    setter = _local_blas_threads()
    if setter is None:
        pytest.skip("numpy without its bundled OpenBLAS: one_blas_thread changes nothing")
    original = setter(2)  # a count above 1, so a leak to 1 shows
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with one_blas_thread():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def second() -> None:
        a_in.wait(10)
        with one_blas_thread():
            b_in.set()
            a_out.wait(10)
            inside.append(setter(1))  # still 1 after A left: B is inside

    inside: list[int] = []
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    try:
        assert inside == [1]
        assert setter(original) == 2  # the count before any entry, put back by the last exit
    finally:
        setter(original)


@pytest.mark.parametrize("cluster", ["prompt", "video"])
def test_clusters_are_numbered_by_first_appearance_whatever_the_chunks(cluster):
    from judges.stats.bootstrap import cluster_codes
    from judges.stats.first_seen import first_seen_codes

    rng = np.random.default_rng(5)
    n = 6000
    prompts = [f"q{k}" for k in rng.integers(0, 1500, n)]
    frame = pl.DataFrame(
        {
            "judge": "j",
            "dimension": "d",
            "frames": 1,
            "pair_id": [f"p{i}" for i in range(n)],
            "prompt_id": prompts,
            "video_0_id": [f"v{k}" for k in rng.integers(0, 300, n)],
            "video_1_id": [f"w{k}" for k in rng.integers(0, 300, n)],
            "winner": rng.choice(["video_0", "video_1"], n),
            "status": "ok",
            "human": rng.choice(["video_0", "video_1"], n),
        }
    )
    assert first_seen_codes(frame["prompt_id"]).tolist() == cluster_codes(prompts)[0].tolist()
    # The same rows in 12 chunks (as a big parquet file reads): the same intervals, every time.
    chunked = pl.concat([frame.slice(i, 500) for i in range(0, n, 500)], rechunk=False)
    assert chunked.n_chunks() > 1
    config = BootstrapConfig(cluster=cluster, resamples=300)
    whole = agreement_table(frame, bootstrap=config)
    assert agreement_table(chunked, bootstrap=config).equals(whole)
