"""The pre-labelling promise holds on prompts the calibration never saw."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FETV_DEV
from judges.core.types import Dimension
from judges.datasets import load_dataset
from judges.run.prelabel import PrelabelConfig, run_prelabel
from judges.run.session import JudgeRequest
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.prelabel_promise import choose_threshold, prediction_interval


def _prompts(rng: np.random.Generator, n_prompts: int, per: int = 4, tag: str = ""):
    """Pairs whose correctness depends on confidence and on a shared per-prompt effect."""
    effect = rng.normal(0, 1.0, n_prompts)
    cluster = np.repeat(np.arange(n_prompts), per)
    conf = rng.random(n_prompts * per)
    right = rng.random(n_prompts * per) < 1 / (1 + np.exp(-(-0.2 + 3 * conf + effect[cluster])))
    return conf, right, np.char.add(tag, cluster.astype(str))


def test_promise_holds_on_new_prompts_synthetic():
    # 60 replications: calibrate on 300 prompts, pre-label 300 new ones, measure there.
    config = BootstrapConfig(resamples=600)
    inside = made = above = 0
    for rep in range(60):
        rng = np.random.default_rng(rep)
        conf, right, keys = _prompts(rng, 300, tag="cal")
        new_conf, new_right, new_keys = _prompts(rng, 300, tag="new")
        promise = choose_threshold(conf, right, keys, 0.8, config)
        if promise.threshold is None:
            continue
        made += 1
        assert promise.lower_bound >= 0.8
        kept = new_conf >= promise.threshold
        lo, hi = prediction_interval(
            conf, right, keys, promise.threshold, len(set(new_keys[kept])), config
        )
        measured = new_right[kept].mean()
        inside += lo <= measured <= hi
        above += measured >= 0.8 - 0.03
    assert made >= 30
    assert inside >= 0.88 * made  # a 95% prediction interval, checked across replications
    assert above >= 0.9 * made


def test_independent_wilson_rule_overpromises_where_clustering_does_not():
    # One replication with a strong prompt effect: every pair of a prompt shares its outcome.
    rng = np.random.default_rng(5)
    prompt_ok = rng.random(40) < 0.85
    conf = np.repeat(rng.random(40), 6)
    right = np.repeat(prompt_ok, 6)
    keys = np.repeat(np.arange(40), 6).astype(str)
    promise = choose_threshold(conf, right, keys, 0.8, BootstrapConfig(resamples=1000))
    # 240 pairs but 40 independent prompts: the clustered bound stays well below Wilson's.
    curve = promise.curve.filter(promise.curve["tested"])
    assert curve.height > 0
    from judges.stats.classic import wilson_interval

    last = curve.row(curve.height - 1, named=True)
    wilson_lo = wilson_interval(round(last["agreement"] * last["kept"]), last["kept"])[0]
    assert last["lower_bound"] < wilson_lo - 0.03


def test_small_sets_make_no_promise():
    conf = np.linspace(0, 1, 20)
    promise = choose_threshold(conf, np.ones(20, bool), [str(i) for i in range(20)], 0.5)
    assert promise.threshold is None and promise.tested == 0  # fewer than min_kept pairs


@pytest.mark.fetv_dev
def test_promise_holds_on_the_other_half_of_fetv(tmp_path):
    # Calibrate on 8 of the 12 prompts, pre-label the other 4, score what was pre-labelled.
    # (Half and half leaves 6 calibration prompts and 22 pairs: the clustered bound, with t on
    # 4-5 degrees of freedom, then reaches no useful target, and no promise is the right answer.)
    records = json.loads((FETV_DEV / "config-test.json").read_text())
    prompts = sorted({r["prompt_id"] for r in records})
    cal_prompts = [p for i, p in enumerate(prompts) if i % 3]
    new_prompts = [p for p in prompts if p not in cal_prompts]
    for name, chosen in (("cal", cal_prompts), ("new", new_prompts)):
        part = []
        for r in records:
            if r["prompt_id"] in chosen:
                r = json.loads(json.dumps(r))
                for side in ("video_0", "video_1"):
                    r[side]["video_path"] = str(FETV_DEV / r[side]["video_path"])
                part.append(r)
        (tmp_path / name).mkdir()
        (tmp_path / name / "config-test.json").write_text(json.dumps(part))
    dim = Dimension.INSTRUCTION_FOLLOWING
    summary = run_prelabel(
        PrelabelConfig(
            judge=JudgeRequest("psnr"),
            dimension=dim,
            frames=1,
            data=tmp_path / "new",
            calibration=tmp_path / "cal",
            target_agreement=0.45,  # 37 labelled calibration pairs over 8 prompts
            min_kept=10,
            min_prompts=5,
            out=tmp_path / "out",
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    )
    assert summary["threshold"] is not None
    expected = summary["expected_agreement"]
    assert "same population" in summary["promise"]["assumes"]
    tasks = json.loads((tmp_path / "out" / "label_studio_tasks.json").read_text())
    labels = {p.pair_id: p.labels.get(dim) for p in load_dataset(tmp_path / "new").pairs}
    auto = [t for t in tasks if t["data"]["route"] == "auto"]
    assert len(auto) == summary["pre_labelled"] > 0
    scored = [
        t["predictions"][0]["result"][0]["value"]["choices"][0] == labels[t["data"]["pair_id"]]
        for t in auto
        if labels[t["data"]["pair_id"]] is not None
    ]
    measured = sum(scored) / len(scored)
    assert expected["predicted_lo"] <= measured <= expected["predicted_hi"]


def test_one_sided_bound_is_exact_with_at_most_two_wrong_pairs_else_wilson():
    # Independent pairs (the draws have no spread and the clustered bound is Wilson's own), 50
    # pairs: with 2 wrong the bound is Clopper-Pearson's beta quantile (below Wilson's); with 3
    # wrong it is Wilson's, which is then above the exact one (0.8591 against 0.8522).
    from scipy import stats

    from judges.stats.prelabel_promise import EXACT_WRONG, one_sided_bound

    assert EXACT_WRONG == 2
    z = stats.norm.ppf(0.95)

    def wilson(k, n):
        p = k / n
        return (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
            1 + z * z / n
        )

    flat = np.ones(200)
    two = float(one_sided_bound(flat * 0.96, 48, 50, 10))
    assert two == pytest.approx(stats.beta.ppf(0.05, 48, 3), abs=1e-9) and two < wilson(48, 50)
    three = float(one_sided_bound(flat * 0.94, 47, 50, 10))
    assert three == pytest.approx(wilson(47, 50), abs=1e-9)
    assert round(three, 4) == 0.8591 and round(stats.beta.ppf(0.05, 47, 4), 4) == 0.8522
    # A clustered bound below both wins; arrays give what one call per column gives.
    rng = np.random.default_rng(5)
    draws = 0.9 + 0.05 * rng.standard_normal((400, 3))
    right, n = np.array([48.0, 47.0, 45.0]), np.array([50.0, 50.0, 50.0])
    together = one_sided_bound(draws, right, n, 10)
    one_by_one = [float(one_sided_bound(draws[:, r], right[r], n[r], 10)) for r in range(3)]
    assert together.tolist() == pytest.approx(one_by_one, abs=1e-12)
    assert together[0] < stats.beta.ppf(0.05, 48, 3)  # the spread made the clustered one lower
