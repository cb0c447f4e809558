from __future__ import annotations

import json
import math
import shutil

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.errors import ConfigError
from judges.report.agreement_figures import outcome_rates, plot_agreement_vs_frames, plot_heatmap
from judges.report.disagreements import export_disagreements
from judges.report.run_folder import merge_runs
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
