"""judges.report.figure_files: one layout pass for the PNG and the SVG, the PNG unchanged."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from judges.report.figure_files import DPI, save_png_and_svg


def _figure(layout: str | None):
    engine = "constrained" if layout == "constrained" else None
    fig, axes = plt.subplots(1, 2, figsize=(6, 3), layout=engine)
    mesh = axes[0].pcolormesh(np.arange(12.0).reshape(3, 4))
    fig.colorbar(mesh, ax=axes[0])
    axes[1].plot([0, 1, 2], [2, 0, 1], label="a line with a long name")
    axes[1].set_yticks([0, 1, 2], ["zero", "a long tick label", "two"])
    axes[1].legend(loc="upper left", bbox_to_anchor=(1, 1))  # outside: the crop must keep it
    fig.suptitle("a title")
    if layout == "tight_layout":  # laid out once, as the toolkit's other figures are
        fig.tight_layout()
    return fig


def _svg_size(text: str) -> tuple[float, float]:
    width, height = re.search(r'<svg[^>]* width="([\d.]+)pt" height="([\d.]+)pt"', text).groups()
    return float(width), float(height)


@pytest.mark.parametrize("layout", ["constrained", "tight_layout", None])
def test_png_equals_savefig_tight_and_svg_keeps_its_crop(tmp_path, layout):
    reference = _figure(layout)
    reference.savefig(tmp_path / "ref.png", dpi=DPI, bbox_inches="tight")
    reference.savefig(tmp_path / "ref.svg", bbox_inches="tight")
    plt.close(reference)
    fig = _figure(layout)
    paths = save_png_and_svg(fig, tmp_path / "new")
    assert paths == [tmp_path / "new.png", tmp_path / "new.svg"]
    assert (tmp_path / "new.png").read_bytes() == (tmp_path / "ref.png").read_bytes()
    # The SVG is cut to the box measured at the PNG's resolution: text measured at 72 dpi
    # differs by a fraction of a point, never by what a label or the legend takes.
    got = _svg_size((tmp_path / "new.svg").read_text())
    want = _svg_size((tmp_path / "ref.svg").read_text())
    assert got == pytest.approx(want, abs=3.0) and got[0] > 400
    assert not plt.fignum_exists(fig.number)


def test_a_dot_in_the_name_is_kept(tmp_path):
    # Judges named "gpt-4.1" and "gpt-4.5": the suffix is added, never swapped for ".1"/".5".
    for name in ("reliability-gpt-4.1-aesthetics", "reliability-gpt-4.5-aesthetics"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        save_png_and_svg(fig, tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "reliability-gpt-4.1-aesthetics.png",
        "reliability-gpt-4.1-aesthetics.svg",
        "reliability-gpt-4.5-aesthetics.png",
        "reliability-gpt-4.5-aesthetics.svg",
    ]


def test_the_svg_keeps_the_png_resolution_for_its_raster_parts(tmp_path):
    # A colour bar of many colours is embedded as an image: at the PNG's dpi, not the figure's.
    fig, ax = plt.subplots(dpi=50)
    fig.colorbar(ax.pcolormesh(np.arange(12.0).reshape(3, 4)), ax=ax)
    reference = tmp_path / "ref.svg"
    fig.savefig(reference, dpi=DPI, bbox_inches="tight")
    save_png_and_svg(fig, tmp_path / "new")
    image = re.compile(r'<image[^>]* width="([\d.]+)" height="([\d.]+)"')
    assert (
        image.search((tmp_path / "new.svg").read_text()).groups()
        == image.search(reference.read_text()).groups()
    )
