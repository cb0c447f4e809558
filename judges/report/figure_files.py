"""Writing a figure as PNG and SVG with one layout pass and one crop.

``savefig(..., bbox_inches="tight")`` lays the figure out and measures what it draws before
it renders, once per file: for the toolkit's PNG + SVG pairs that pass was about half of the
figures stage of a run (1.0 s of a demo run's 1.9 s). Here the figure is laid out and measured
once, at the PNG's resolution, exactly as ``savefig`` does it, and both files are cut to that
box (the same padding, ``savefig.pad_inches``); the PNG's bytes are unchanged.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

DPI = 130
"""Resolution of the PNG files."""


def save_png_and_svg(fig: Figure, stem: Path | str, dpi: int = DPI) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` cropped to what is drawn, then close ``fig``.

    The suffixes are added to ``stem``'s name (a dot in it stays).

    Args:
        fig: The figure (left laid out: its layout engine is switched off once it has run).
        stem: The files' path without suffix.
        dpi: The PNG's resolution (and that of an SVG's raster parts).

    Returns:
        The two paths, PNG first.

    Example:
        >>> import tempfile
        >>> fig, ax = plt.subplots(layout="constrained")
        >>> _ = ax.plot([0, 1], [1, 0])
        >>> paths = save_png_and_svg(fig, Path(tempfile.mkdtemp()) / "line")
        >>> [p.suffix for p in paths], all(p.stat().st_size > 1000 for p in paths)
        (['.png', '.svg'], True)

    """
    stem = Path(stem)
    shown_dpi = fig.dpi
    try:
        fig.set_dpi(dpi)
        # savefig's own first pass: the layout engine runs inside a draw, and the text is
        # measured at the resolution the PNG is written at.
        fig.draw_without_rendering()
        box = fig.get_tightbbox().padded(mpl.rcParams["savefig.pad_inches"])
    finally:
        fig.set_dpi(shown_dpi)
    fig.set_layout_engine("none")  # laid out: the files keep these positions
    # Suffixes added, not swapped: a judge named "gpt-4.1" keeps its ".1".
    paths = [stem.with_name(f"{stem.name}.png"), stem.with_name(f"{stem.name}.svg")]
    fig.savefig(paths[0], dpi=dpi, bbox_inches=box)
    fig.savefig(paths[1], dpi=dpi, bbox_inches=box)  # dpi: the SVG's raster parts (colour bars)
    plt.close(fig)
    return paths
