"""One annotated heatmap panel, drawn as ``seaborn.heatmap`` draws it, without its figure draws.

``seaborn.heatmap`` renders the whole figure once per call to see whether its tick labels
overlap; a figure of a dozen panels is then drawn a dozen times while it grows (the agreement
heatmap of 12 judges, drawn and saved: 6.4 s, 1.0 s with these panels). The panels this
toolkit draws set their own tick labels (short frame counts below, upright dimension names at
the left), so that check has nothing to decide. What the panel looks like is seaborn's: the
colour map recentred on ``center``, cells that are nan left empty, each value written in dark
grey or white by the cell's luminance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import Colormap, ListedColormap, Normalize


def recentred(cmap: Colormap, vmin: float, vmax: float, center: float) -> ListedColormap:
    """A diverging map cut so that ``center`` takes its middle colour (as seaborn does).

    Example:
        >>> import matplotlib as mpl
        >>> cut = recentred(mpl.colormaps["coolwarm"], 0.3, 0.9, 0.5)
        >>> cut.N, bool(np.allclose(cut(0.0), mpl.colormaps["coolwarm"](0.25)))
        (256, True)

    """
    bad = cmap(np.ma.masked_invalid([np.nan]))[0]
    under, over = cmap(-np.inf), cmap(np.inf)
    span = max(vmax - center, center - vmin)
    low, high = Normalize(center - span, center + span)([vmin, vmax])
    out = ListedColormap(cmap(np.linspace(low, high, 256)))
    out.set_bad(bad)
    if under != cmap(0):
        out.set_under(under)
    if over != cmap(cmap.N - 1):
        out.set_over(over)
    return out


def luminance(rgba: np.ndarray) -> np.ndarray:
    """Relative luminance (WCAG) of RGBA rows in 0..1.

    Example:
        >>> luminance(np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])).tolist()
        [1.0, 0.0]

    """
    rgb = np.asarray(rgba, dtype=float)[:, :3]
    rgb = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def heatmap_panel(
    ax: Axes,
    values: np.ndarray,
    *,
    cmap: Colormap,
    vmin: float,
    vmax: float,
    center: float,
    xticklabels: Sequence[str],
    yticklabels: Sequence[str] | None,
    fmt: str = ".2f",
    annot_kws: dict[str, Any] | None = None,
) -> QuadMesh:
    """Draw ``values`` (rows x columns, nan: no cell) on ``ax``, each cell annotated.

    Args:
        ax: The panel.
        values: The matrix; row 0 is drawn at the top.
        cmap: A diverging colour map, recentred on ``center`` between ``vmin`` and ``vmax``.
        vmin: The value of the map's lowest colour.
        vmax: The value of the map's highest colour.
        center: The value of the map's middle colour.
        xticklabels: A label per column.
        yticklabels: A label per row, or ``None`` for none.
        fmt: Format of the annotations.
        annot_kws: Text options of the annotations (e.g. ``fontsize``).

    Returns:
        The cells (for a shared colour bar).

    Example:
        >>> import matplotlib as mpl
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> mesh = heatmap_panel(ax, np.array([[0.5, np.nan]]), cmap=mpl.colormaps["coolwarm"],
        ...     vmin=0.3, vmax=0.9, center=0.5, xticklabels=["1", "2"], yticklabels=["a"])
        >>> [t.get_text() for t in ax.texts], [float(y) for y in ax.get_ylim()]
        (['0.50'], [1.0, 0.0])
        >>> plt.close(fig)

    """
    data = np.ma.masked_invalid(np.asarray(values, dtype=float))
    rows, cols = data.shape
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    mesh = ax.pcolormesh(
        data,
        cmap=recentred(cmap, vmin, vmax, center),
        vmin=vmin,
        vmax=vmax,
        linewidths=0,
        edgecolor="white",
    )
    ax.set(xlim=(0, cols), ylim=(0, rows))
    ax.invert_yaxis()
    ax.set(xticks=np.arange(cols) + 0.5, yticks=np.arange(rows) + 0.5 if yticklabels else [])
    ax.set_xticklabels(list(xticklabels))
    if yticklabels:
        ax.set_yticklabels(list(yticklabels), va="center")
    mesh.update_scalarmappable()
    colours = mesh.get_facecolors()
    dark = luminance(colours) > 0.408
    text_kws = {"ha": "center", "va": "center", **(annot_kws or {})}
    masks = np.ma.getmaskarray(data).flat
    for k, (value, masked) in enumerate(zip(data.data.flat, masks, strict=True)):
        if not masked:
            y, x = divmod(k, cols)
            colour = ".15" if dark[k] else "w"
            ax.text(x + 0.5, y + 0.5, format(value, fmt), color=colour, **text_kws)
    return mesh
