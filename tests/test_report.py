from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.errors import ConfigError
from judges.report.agreement_figures import outcome_rates, plot_agreement_vs_frames, plot_heatmap
from judges.report.disagreements import export_disagreements
from judges.report.merging import merge_runs
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = make_dataset(root / "d", n_pairs=6)
    config = AgreementConfig(
        judges=[
            JudgeRequest("psnr"),
            JudgeRequest("psnr", {"name": "psnr-compat", "safesora_compat": "true"}),
        ],
        frames=[1, 2, None],
        data=data,
        out=root / "r",
        run_id="a",
        progress=False,
        dimensions=None,
        figures=True,  # these tests look at them
    )
    result = run_agreement(config, log=lambda m: None)
    return result, data, root


def test_run_writes_nonempty_figures(run):
    result, _, _ = run
    figures = result.run_dir / "figures"
    for name in ("agreement_vs_frames", "agreement_heatmap", "outcomes"):
        for ext in ("png", "svg"):
            assert (figures / f"{name}.{ext}").stat().st_size > 1000, name


def test_plotted_values_equal_the_table(run):
    result, _, _ = run
    table = result.table
    fig = plot_agreement_vs_frames(table)
    ax = fig.axes[0]
    assert ax.get_title() == "informativeness"
    lines = {line.get_label(): line for line in ax.lines}
    assert lines["chance"].get_ydata()[0] == 0.5
    for judge in ("psnr", "psnr-compat"):
        want = table.filter((pl.col("judge") == judge) & (pl.col("dimension") == "informativeness"))
        assert list(lines[judge].get_ydata()) == want["agreement"].to_list()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "all"]
    heat = plot_heatmap(table)
    cells = [float(t.get_text()) for t in heat.axes[0].texts]
    want = table.filter(pl.col("judge") == "psnr")["agreement"].to_list()
    assert cells == [round(v, 2) for v in want]


def test_outcome_rates_add_up(run):
    rates = outcome_rates(run[0].verdicts)
    for row in rates.iter_rows(named=True):
        assert sum(v for k, v in row.items() if k != "judge") == pytest.approx(1.0)
        assert row["ok"] + row["tie"] == pytest.approx(1.0)


def test_merge_two_runs_and_refuse_other_data(run, tmp_path):
    result, data, root = run
    second = run_agreement(
        AgreementConfig(
            judges=[JudgeRequest("psnr")],
            frames=[1, 2],
            data=data,
            out=root / "r",
            run_id="b",
            progress=False,
        ),
        log=lambda m: None,
    )
    merged = merge_runs([result.run_dir, second.run_dir])
    assert set(merged["run_id"]) == {"a", "b"}
    assert {"psnr@a", "psnr@b", "psnr-compat"} <= set(merged["judge"])  # shared label split
    assert merged.height == result.table.height + second.table.height
    other = make_dataset(tmp_path / "other", n_pairs=3, seed=9)
    third = run_agreement(
        AgreementConfig(
            judges=[JudgeRequest("psnr")],
            frames=[1],
            data=other,
            out=tmp_path / "r",
            run_id="c",
            progress=False,
        ),
        log=lambda m: None,
    )
    with pytest.raises(ConfigError, match="different data"):
        merge_runs([result.run_dir, third.run_dir])
    assert merge_runs([result.run_dir, third.run_dir], allow_mixed_data=True).height > 0
    with pytest.raises(ConfigError, match="not a run folder"):
        merge_runs([tmp_path])


@pytest.mark.figures
def test_report_command(run, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    result, _, _ = run
    script = Path(__file__).resolve().parents[1] / "experiments" / "report.py"
    res = subprocess.run(
        [
            sys.executable,
            str(script),
            str(result.run_dir),
            str(result.run_dir),
            "--out",
            str(tmp_path / "cmp"),
            "--compare",
            "default",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "cmp" / "comparison.md").read_text().startswith("# Judge comparison")
    # The paired comparisons join the report (the same run twice: nothing to compare twice):
    # each judge's frame counts against its fewest, and the two judges at each frame count.
    cmp = pl.read_csv(tmp_path / "cmp" / "comparisons.csv")
    assert set(zip(cmp["a"], cmp["b"], strict=True)) == {
        ("psnr @2", "psnr @1"),
        ("psnr @all", "psnr @1"),
        ("psnr-compat @2", "psnr-compat @1"),
        ("psnr-compat @all", "psnr-compat @1"),
        ("psnr @1", "psnr-compat @1"),
        ("psnr @2", "psnr-compat @2"),
        ("psnr @all", "psnr-compat @all"),
    }
    verdicts = pl.read_parquet(result.run_dir / "verdicts.parquet").with_columns(
        pl.col("frames").cast(pl.String).fill_null("all")
    )

    def hits(label: str) -> dict[str, bool]:
        judge, frames = label.split(" @")
        sub = verdicts.filter((pl.col("judge") == judge) & (pl.col("frames") == frames))
        return dict(zip(sub["pair_id"], sub["match"], strict=True))

    for row in cmp.iter_rows(named=True):  # each row recounted from the verdicts
        a, b = hits(row["a"]), hits(row["b"])
        only_a = sum(a[p] and not b[p] for p in a)
        only_b = sum(b[p] and not a[p] for p in a)
        assert (row["n"], row["b_only"], row["c_only"]) == (6, only_a, only_b)
        assert row["difference"] == pytest.approx((sum(a.values()) - sum(b.values())) / 6)
        m = only_a + only_b  # McNemar exact: two-sided binomial of one side among m
        tail = sum(math.comb(m, i) for i in range(min(only_a, only_b) + 1)) / 2**m
        assert row["p_value"] == pytest.approx(min(1.0, 2 * tail))
    assert res.stdout.count("no evidence of a difference") == 7  # 6 pairs: p >= 0.5 for all
    assert (tmp_path / "cmp" / "forest.png").is_file()
    assert (tmp_path / "cmp" / "comparisons.md").read_text().startswith("# Paired comparisons")
    assert (tmp_path / "cmp" / "figures" / "agreement_heatmap.png").is_file()
    bad = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "not a run folder" in bad.stderr


def test_disagreements_export(run, tmp_path):
    result, _, _ = run
    verdicts = result.verdicts.filter(
        (pl.col("judge") == "psnr")
        & (pl.col("frames") == 2)
        & (pl.col("dimension") == "informativeness")
    )
    wrong = verdicts.filter(pl.col("human").is_not_null() & ~pl.col("match"))
    n = export_disagreements(result.run_dir, "psnr", "information", 2, tmp_path / "dis")
    assert n == wrong.height
    pngs = sorted((tmp_path / "dis").glob("*.png"))
    assert len(pngs) == n
    index = (tmp_path / "dis" / "index.md").read_text()
    for pair_id in wrong["pair_id"]:
        assert pair_id in index
    # psnr's lower score wins: the line says so, and ends cleanly
    row = wrong.row(0, named=True)
    line = (
        f"Human: **{row['human']}**, judge: **{row['winner']}** (ok); "
        f"scores {row['score_0']:.4g} vs {row['score_1']:.4g} (lower wins)\n"
    )
    assert line in index
    assert "; \n" not in index
    with pytest.raises(ConfigError, match="no verdicts for judge 'nope'"):
        export_disagreements(result.run_dir, "nope", "information", 2, tmp_path / "x")


def test_copied_run_folder_is_self_describing(run, tmp_path):
    """A run folder moved elsewhere still reports: nothing in it points back to where it ran."""
    result, _, _ = run
    copy = tmp_path / "moved" / "a"
    shutil.copytree(result.run_dir, copy)
    info = json.loads((copy / "run.json").read_text())
    assert info["run_id"] == "a"
    assert [j["name"] for j in info["judges"]] == ["psnr", "psnr-compat"]
    merged = merge_runs([copy]).drop("run_id", strict=False)
    assert merged.equals(merge_runs([result.run_dir]).drop("run_id", strict=False))
    assert merged["agreement"].to_list() == result.table["agreement"].to_list()
    n = export_disagreements(copy, "psnr", "information", 2, tmp_path / "dis")
    wrong = result.verdicts.filter(
        (pl.col("judge") == "psnr") & (pl.col("frames") == 2) & ~pl.col("match")
    )
    assert n == wrong.height == 1  # pair-level PNGs drawn from the copy's own files


def _big_table(n_judges=12):
    """A table of 12 judges x 6 dimensions x 5 frame settings with long judge labels."""
    import numpy as np

    rng = np.random.default_rng(0)
    dims = [
        "helpfulness",
        "harmlessness",
        "instruction_following",
        "correctness",
        "informativeness",
        "aesthetics",
    ]
    rows = []
    for j in range(n_judges):
        for d in dims:
            for f in (1, 2, 4, 8, None):
                a = float(rng.uniform(0.4, 0.8))
                rows.append(
                    {
                        "judge": f"gpt4o-2024-08-06-cot-variant-{j:02d}",
                        "dimension": d,
                        "frames": f,
                        "agreement": a,
                        "agreement_lo": a - 0.05,
                        "agreement_hi": a + 0.05,
                        "n_labeled": 100,
                    }
                )
    return pl.DataFrame(rows, schema_overrides={"frames": pl.Int64})


def _text_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.texts]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        texts += ax.get_xticklabels() + ax.get_yticklabels()
    for legend in fig.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    return [
        (t.get_text(), t.get_window_extent(renderer))
        for t in texts
        if t.get_visible() and t.get_text().strip()
    ]


@pytest.mark.parametrize("plot", [plot_heatmap, plot_agreement_vs_frames])
def test_figures_stay_readable_for_12_judges(plot):
    import itertools
    import warnings

    table = _big_table()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "tight_layout not applied"
        warnings.filterwarnings("ignore", "The set_bad", PendingDeprecationWarning)
        fig = plot(table, mark="demo data")
        boxes = _text_boxes(fig)
    overlaps = [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.shrunk(0.98, 0.98).overlaps(box_b.shrunk(0.98, 0.98))
    ]
    assert overlaps == []
    titles = [ax.get_title().replace("\n", "") for ax in fig.axes if ax.get_visible()]
    if plot is plot_heatmap:  # a panel per judge (long names wrapped), then the colour bar
        assert titles == [*sorted(set(table["judge"])), ""]
    else:  # a panel per dimension
        assert sorted(titles) == sorted(d.replace("_", " ") for d in set(table["dimension"]))
    assert any("DEMO DATA" in t.get_text() for t in fig.texts)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_demo_run_figures_carry_the_mark(tmp_path):
    import matplotlib.pyplot as plt

    from judges.report.agreement_figures import plot_outcomes

    fig = plot_outcomes(pl.DataFrame({"judge": ["a", "b"], "status": ["ok", "error"]}), "demo data")
    assert any("DEMO DATA" in t.get_text() for t in fig.texts)
    plt.close(fig)
    fig = plot_outcomes(pl.DataFrame({"judge": ["a"], "status": ["ok"]}))
    assert not fig.texts
    plt.close(fig)


def test_outcomes_legend_is_not_under_the_demo_stamp():
    import itertools

    import matplotlib.pyplot as plt

    from judges.report.agreement_figures import plot_outcomes

    verdicts = pl.DataFrame({"judge": ["a", "a", "b"], "status": ["ok", "tie", "error"]})
    fig = plot_outcomes(verdicts, "demo data")
    boxes = _text_boxes(fig)
    stamp = [box for text, box in boxes if text.startswith("DEMO DATA")]
    legend = [box for text, box in boxes if text in ("ok", "tie", "error", "refused")]
    assert len(stamp) == 1 and len(legend) >= 3
    assert not any(s.overlaps(b) for s, b in itertools.product(stamp, legend))
    plt.close(fig)


def test_a_one_row_heatmap_gets_a_full_size_colour_bar():
    import matplotlib.pyplot as plt

    table = pl.DataFrame(
        {
            "judge": ["psnr"] * 4,
            "dimension": ["informativeness"] * 4,
            "frames": [1, 2, 4, 8],
            "agreement": [0.5, 0.6, 0.7, 0.8],
            "n_labeled": [10] * 4,
        }
    )
    fig = plot_heatmap(table)
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    fig.canvas.draw()
    box = bar.get_window_extent()
    inches = max(box.width, box.height) / fig.dpi
    assert inches >= 2.0, f"colour bar {inches:.2f} in long"
    assert box.width > box.height  # laid along the bottom
    plt.close(fig)


def test_risk_coverage_draws_every_line_its_legend_names():
    import matplotlib.pyplot as plt

    from judges.report.diagnostic_figures import risk_coverage_figure
    from judges.stats.prelabel_promise import Promise

    curve = pl.DataFrame(
        {
            "threshold": [0.9, 0.6],
            "coverage": [0.4, 0.8],
            "agreement": [1.0, 0.875],
            "agreement_lo": [0.9, 0.78],
            "agreement_hi": [1.0, 0.93],
            "lower_bound": [0.55, None],
            "tested": [True, False],  # the walk stopped after one threshold
        }
    )
    promise = Promise(None, 0.6, None, None, 0, 0.0, 0, 1, curve)
    fig = risk_coverage_figure(curve, promise)
    (ax,) = fig.axes
    named = {t.get_text() for t in ax.get_legend().get_texts()}
    bound = [ln for ln in ax.lines if ln.get_label() == "clustered one-sided lower bound (tested)"]
    assert "clustered one-sided lower bound (tested)" in named
    assert len(bound) == 1 and bound[0].get_marker() == "o"  # one point is visible
    assert list(bound[0].get_ydata()) == [0.55]
    plt.close(fig)
    untested = curve.with_columns(pl.lit(False).alias("tested"))
    fig = risk_coverage_figure(untested, promise)
    names = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert "clustered one-sided lower bound (tested)" not in names
    plt.close(fig)


def test_merged_report_keeps_the_human_ceiling(tmp_path):
    from conftest import bare_env, make_dataset

    data = make_dataset(tmp_path / "d", n_pairs=4)
    votes = tmp_path / "votes.csv"
    rows = ["pair_id,dimension,annotator,choice"]
    for i in range(4):
        for annotator, choice in (("a", "video_0"), ("b", "video_0"), ("c", "video_1")):
            rows.append(f"pair-{i},helpfulness,{annotator},{choice}")
    votes.write_text("\n".join(rows) + "\n")
    root = Path(__file__).resolve().parents[1]
    env = {**bare_env(), "JUDGES_FIGURES": "none"}  # the ceiling's tables are what it reads
    for run_id in ("a", "b"):
        res = subprocess.run(
            [sys.executable, str(root / "experiments/agreement.py"), "--judge", "psnr",
             "--dims", "helpfulness", "--frames", str(1 if run_id == "a" else 2), "--data",
             str(data), "--votes", str(votes), "--out", str(tmp_path / "r"), "--run-id",
             run_id, "--quiet", "--bootstrap", "50"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [sys.executable, str(root / "experiments/report.py"), str(tmp_path / "r/a"),
         str(tmp_path / "r/b"), "--out", str(tmp_path / "rep")],
        capture_output=True, text=True, env={**env, "JUDGES_FIGURES": "all"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    # the merged report keeps the runs' own ceiling (same data, same votes), unchanged
    original = pl.read_csv(tmp_path / "r" / "a" / "ceiling.csv")
    assert pl.read_csv(tmp_path / "rep" / "ceiling.csv").equals(original)
    assert "| human (leave-one-out) | helpfulness |" in res.stdout
    assert "human (leave-one-out)" in (tmp_path / "rep" / "comparison.md").read_text()
    # The merged report draws the judges beside the human ceiling ...
    assert (tmp_path / "rep" / "figures" / "against_ceiling.png").is_file()
    # ... and with --figures none writes the same tables and the page, no figure.
    res = subprocess.run(
        [sys.executable, str(root / "experiments/report.py"), str(tmp_path / "r/a"),
         str(tmp_path / "r/b"), "--out", str(tmp_path / "bare"), "--figures", "none"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert not list((tmp_path / "bare").glob("figures/*"))
    assert (tmp_path / "bare" / "report.html").is_file()
    for name in ("ceiling.csv", "comparison.csv"):
        assert (tmp_path / "bare" / name).read_bytes() == (tmp_path / "rep" / name).read_bytes()


def test_the_ceiling_figure_draws_judges_like_with_like_beside_the_person(tmp_path):
    import matplotlib.pyplot as plt

    from judges.report.agreement_figures import plot_against_ceiling, write_figures

    table = pl.DataFrame(
        {
            "judge": ["psnr", "psnr", "clip"],
            "dimension": ["aesthetics"] * 3,
            "frames": [1, 4, 1],
            "agreement": [0.9, 0.9, 0.9],  # against labels: not what this figure draws
            "agreement_lo": [0.6, 0.6, 0.6],
            "agreement_hi": [0.98, 0.98, 0.98],
            "n_labeled": [10, 10, 10],
            "loo_agreement": [0.55, 0.61, 0.47],
            "loo_agreement_cluster_lo": [0.4, 0.5, 0.3],
            "loo_agreement_cluster_hi": [0.7, 0.72, 0.6],
        }
    )
    ceiling = pl.DataFrame(
        {"dimension": ["aesthetics", "aesthetics"], "annotator": ["a", "all"],
         "agreement": [0.5, 0.66], "agreement_cluster_lo": [0.4, 0.58],
         "agreement_cluster_hi": [0.6, 0.74]}
    )  # fmt: skip
    fig = plot_against_ceiling(table, ceiling)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    judges = {c.get_label(): list(c.lines[0].get_ydata()) for c in ax.containers}
    assert judges == {"psnr": [0.55, 0.61], "clip": [0.47]}
    lines = {ln.get_label(): list(ln.get_ydata()) for ln in ax.lines}
    assert lines["human (leave-one-out)"] == [0.66, 0.66]  # the pooled row, not annotator a
    plt.close(fig)
    written = {p.name for p in write_figures(tmp_path, table, pl.DataFrame(), ceiling=ceiling)}
    assert "against_ceiling.png" in written
    assert "against_ceiling.png" not in {
        p.name for p in write_figures(tmp_path / "n", table, pl.DataFrame())
    }


def _band_table() -> pl.DataFrame:
    # One judge, one dimension, three frame counts; the clustered and Wilson intervals differ,
    # and the 4-frame group has too few clusters (null clustered interval).
    return pl.DataFrame(
        {
            "judge": ["j"] * 3,
            "dimension": ["aesthetics"] * 3,
            "frames": [1, 2, 4],
            "n_labeled": [40, 40, 12],
            "n_clusters": [10, 10, 3],
            "n_errors": [0, 0, 0],
            "agreement": [0.6, 0.7, 0.75],
            "agreement_lo": [0.45, 0.55, 0.47],
            "agreement_hi": [0.73, 0.82, 0.91],
            "agreement_cluster_lo": [0.41, 0.52, None],
            "agreement_cluster_hi": [0.77, 0.85, None],
        },
        schema_overrides={"agreement_cluster_lo": pl.Float64, "agreement_cluster_hi": pl.Float64},
    )


def test_the_figure_shades_the_interval_the_table_shows():
    from judges.report.tables import display_table, interval_note
    from judges.stats.bootstrap import BootstrapConfig

    table = _band_table()
    fig = plot_agreement_vs_frames(table, bootstrap=BootstrapConfig(resamples=500))
    ax = fig.axes[0]
    ys = {
        round(float(y), 6) for c in ax.collections for p in c.get_paths() for y in p.vertices[:, 1]
    }
    assert {0.41, 0.77, 0.52, 0.85} <= ys  # the clustered interval...
    assert not {0.45, 0.73, 0.55, 0.82, 0.47, 0.91} & ys  # ...never the Wilson one
    xs = {
        round(float(x), 6) for c in ax.collections for p in c.get_paths() for x in p.vertices[:, 0]
    }
    assert 2.0 not in xs  # no band where the table gives no interval (4 frames: 3 clusters)
    title = fig.legends[0].get_title().get_text().replace("\n", " ")
    assert "cluster bootstrap by prompt (B=500; Wilson on the effective sample size" in title
    # The table says the same: the clustered interval, and why the last cell has none.
    cells = display_table(table).row(0, named=True)
    assert cells["1"] == "0.600 [0.41, 0.77] n=40"
    assert cells["4"] == "0.750 [no interval: 3 clusters] n=12"
    note = interval_note(table, BootstrapConfig(resamples=500))
    assert "B=500; Wilson on the effective sample size" in note
    assert "1 group(s) have pairs in fewer than 5 clusters (n_clusters = 3)" in note


def test_an_older_runs_stored_method_names_its_interval():
    from judges.report.tables import interval_method

    stored = {"cluster": "prompt", "resamples": 2000, "method": "cluster bootstrap (percentile)"}
    assert interval_method(_band_table(), stored) == "95% cluster bootstrap (percentile)"
    # Without the bootstrap (nan, not null, in the clustered columns): Wilson, named as such.
    off = _band_table().with_columns(
        pl.lit(float("nan")).alias("agreement_cluster_lo"),
        pl.lit(float("nan")).alias("agreement_cluster_hi"),
    )
    assert interval_method(off) == "95% Wilson interval, pairs treated as independent"
