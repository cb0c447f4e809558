"""judges.report.heatmap_panel draws what seaborn.heatmap draws (colours, texts, ticks)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest

from judges.report.heatmap_panel import heatmap_panel
from judges.report.seaborn_import import import_seaborn

sns = import_seaborn()


@pytest.mark.parametrize("rows", [["a", "b long name", "c"], None])
def test_panel_equals_seaborn_heatmap(rows):
    values = np.array([[0.31, 0.5, np.nan, 0.95], [0.42, 0.61, 0.88, 0.2], [0.7, np.nan, 0.5, 0.9]])
    fig, (ours, theirs) = plt.subplots(1, 2)
    mesh = heatmap_panel(
        ours,
        values,
        cmap=mpl.colormaps["vlag_r"],
        vmin=0.3,
        vmax=0.9,
        center=0.5,
        xticklabels=["1", "2", "4", "all"],
        yticklabels=rows,
        annot_kws={"fontsize": "small"},
    )
    sns.heatmap(
        values,
        ax=theirs,
        annot=True,
        fmt=".2f",
        vmin=0.3,
        vmax=0.9,
        center=0.5,
        cmap="vlag_r",
        cbar=False,
        xticklabels=["1", "2", "4", "all"],
        yticklabels=rows if rows else False,
        annot_kws={"fontsize": "small"},
    )
    other = theirs.collections[0]
    assert np.array_equal(mesh.get_facecolors(), other.get_facecolors())
    assert np.array_equal(mesh.get_array().mask, other.get_array().mask)
    assert mesh.norm.vmin == other.norm.vmin and mesh.norm.vmax == other.norm.vmax

    def texts(ax):
        return [(t.get_text(), t.get_position(), t.get_color()) for t in ax.texts]

    assert texts(ours) == texts(theirs) and len(texts(ours)) == 10  # the two nans: no text
    assert {c for _, _, c in texts(ours)} == {".15", "w"}  # dark and light cells both seen
    assert ours.get_xlim() == theirs.get_xlim() and ours.get_ylim() == theirs.get_ylim()
    assert list(ours.get_xticks()) == list(theirs.get_xticks())
    assert list(ours.get_yticks()) == list(theirs.get_yticks())
    for axis in ("x", "y"):
        got = [t.get_text() for t in getattr(ours, f"get_{axis}ticklabels")()]
        want = [t.get_text() for t in getattr(theirs, f"get_{axis}ticklabels")()]
        assert got == want
    assert [s.get_visible() for s in ours.spines.values()] == [False] * 4
    plt.close(fig)
