"""Drawing primitives shared by the pictures: offscreen figures and PNG writing, the change
colours, scale bar, north arrow and outlines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.lazy import LazyModule
from pipeline.model.change import ARRIVAL, DEPARTURE, DIRECTION_NAMES, UNDETERMINED

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# matplotlib loads when a picture is drawn, not when the CLI starts (about 0.5 s); figures are
# drawn by its object-oriented API on an Agg canvas (no pyplot: no backend, no figure manager).
mfigure = LazyModule("matplotlib.figure")
backend_agg = LazyModule("matplotlib.backends.backend_agg")
patheffects = LazyModule("matplotlib.patheffects")
cv2 = LazyModule("cv2")  # PNG encoding of drawn figures


def _figure(width_in: float, height_in: float, dpi: float) -> Figure:
    """An offscreen figure on its own Agg canvas."""
    fig = mfigure.Figure(figsize=(width_in, height_in), dpi=dpi)
    backend_agg.FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Figure, path: Path, level: int) -> None:
    """Draw `fig` and write it as an 8-bit RGB PNG (zlib `level`) by OpenCV's libpng: the figure
    is opaque, so the alpha plane matplotlib's own writer keeps is dropped (about 13 % smaller),
    and the encoding takes about 60 % of Pillow's time."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    _write_png(path, cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR), level)


def _write_png(path: Path, bgr: np.ndarray, level: int) -> None:
    """An 8-bit BGR image as PNG (zlib `level`) by OpenCV's libpng."""
    ok, png = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(png.tobytes())


def _rgba(img: np.ndarray) -> np.ndarray:
    """An 8-bit RGB picture with an opaque alpha channel: matplotlib resamples 8-bit RGBA in
    float32 as it is, where it would first stack RGB with a float64 alpha plane (the same
    pixels on the page, in about half the time)."""
    out = np.empty((*img.shape[:2], 4), np.uint8)
    out[..., :3] = img
    out[..., 3] = 255
    return out


COLOURS = {ARRIVAL: (1.0, 0.15, 0.1), DEPARTURE: (0.0, 0.85, 1.0), UNDETERMINED: (1.0, 0.85, 0.0)}


FOOTPRINT = (1.0, 0.2, 1.0)
"""The build-up footprint (what appeared between baseline and before)."""
PARK = (1.0, 0.6, 0.0)
"""A site's located footprint (a known vehicle park) as given in the config."""
_CODES = {name: code for code, name in DIRECTION_NAMES.items()}


def _halo() -> list[object]:
    """A black outline under white text and bars, readable over bright roofs."""
    return [patheffects.withStroke(linewidth=3, foreground="black")]


VERDICT_COLOURS = {
    "supported": (0.2, 0.6, 0.25),
    "not_supported": (0.8, 0.15, 0.1),
    "inconclusive": (0.45, 0.45, 0.45),
}


def _scalebar(
    ax: Axes,
    width_px: float,
    height_px: float,
    metres_per_px: float,
    y_frac: float = 0.94,
    origin: tuple[float, float] = (0.0, 0.0),
) -> None:
    """A white bar with a black halo, about a quarter of the picture wide, in round metres;
    `metres_per_px` is the ground width of one pixel (east-west)."""
    target = width_px * metres_per_px / 4
    nice = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]
    length = max([n for n in nice if n <= target] or [nice[0]])
    px = length / metres_per_px
    x0 = origin[0] + width_px * 0.05 - 0.5
    y0 = origin[1] + height_px * y_frac - 0.5
    ax.plot(
        [x0, x0 + px], [y0, y0], color="white", lw=3, solid_capstyle="butt", path_effects=_halo()
    )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(
        x0,
        y0 - height_px * 0.025,
        label,
        color="white",
        fontsize=8,
        va="bottom",
        fontweight="bold",
        path_effects=_halo(),
    )


def _north(ax: Axes, angle_deg: float) -> None:
    """A north arrow in the top-right corner, turned by the grid's convergence."""
    x, y, length = 0.93, 0.80, 0.11
    dx, dy = length * np.sin(np.radians(angle_deg)), length * np.cos(np.radians(angle_deg))
    ax.annotate(
        "",
        xy=(x + dx, y + dy),
        xytext=(x, y),
        xycoords="axes fraction",
        arrowprops={"facecolor": "white", "edgecolor": "black", "width": 3, "headwidth": 9},
    )
    ax.text(
        x,
        y - 0.04,
        "N",
        transform=ax.transAxes,
        color="white",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.1", "facecolor": "black", "alpha": 0.5, "lw": 0},
    )


def _outline(
    ax: Axes,
    outline_px: tuple[tuple[float, float], ...],
    colour: tuple[float, float, float] | str = "white",
    ls: str = "--",
    lw: float = 1.2,
) -> None:
    if outline_px:
        xs = [p[0] - 0.5 for p in outline_px] + [outline_px[0][0] - 0.5]
        ys = [p[1] - 0.5 for p in outline_px] + [outline_px[0][1] - 0.5]
        ax.plot(xs, ys, color=colour, lw=lw, ls=ls)
