"""What makes a picture publishable and checkable by a reader (issue 26): coordinates written as
people write them, dates burned large on each frame, numbered callouts on the map, and a small
locator of where the site is. Drawn by matplotlib's object-oriented API on the caller's figure."""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING

from pipeline.lazy import LazyModule
from pipeline.write.locator import locator

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

patheffects = LazyModule("matplotlib.patheffects")

DATE_PT = 22.0
"""Date stamps on the frames: about 12 px tall when the panel is shared 600 px wide."""
CALLOUT_PT = 17.0


def lat_lon(lat: float, lon: float, digits: int = 3) -> str:
    """ "48.112° N, 1.653° W": hemispheres as letters, never a minus sign."""
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"{abs(lat):.{digits}f}° {ns}, {abs(lon):.{digits}f}° {ew}"


def day(d: date | None) -> str:
    """ "21 Aug 2015", or "date unknown" (never a made-up time)."""
    return f"{d.day} {d:%b %Y}" if d is not None else "date unknown"


def date_stamp(ax: Axes, text: str, gid: str) -> None:
    """The frame's date, large, white on a black box in its top-left corner."""
    ax.text(
        0.015,
        0.985,
        text,
        transform=ax.transAxes,
        fontsize=DATE_PT,
        fontweight="bold",
        color="white",
        va="top",
        ha="left",
        gid=gid,
        bbox={"boxstyle": "square,pad=0.2", "facecolor": "black", "alpha": 0.75, "lw": 0},
    )


def callouts(ax: Axes, marks: list[tuple[int, float, float]], w: int, h: int) -> None:
    """Numbered callouts (number, col, row) beside what they point at, with a leader line; the
    number is the region's, as in the region list, regions.geojson and the insets."""
    for n, col, row in marks:
        dx = 0.06 * w if col < 0.8 * w else -0.06 * w
        dy = -0.06 * h if row > 0.15 * h else 0.06 * h
        if col > 0.75 * w and row < 0.3 * h:  # clear of the north arrow in the top-right corner
            dx, dy = -0.14 * w, 0.04 * h
        ax.annotate(
            str(n),
            xy=(col, row),
            xytext=(col + dx, row + dy),
            fontsize=CALLOUT_PT,
            fontweight="bold",
            color="black",
            ha="center",
            va="center",
            gid=f"callout-{n}",
            bbox={"boxstyle": "circle,pad=0.15", "facecolor": "white", "edgecolor": "black"},
            arrowprops={"arrowstyle": "-", "color": "white", "lw": 1.5},
        )


def draw_locator(
    fig: Figure, rect: tuple[float, float, float, float], lon: float, lat: float
) -> None:
    """A small map of the country borders around the site, the site a red square, the country
    named under it."""
    loc = locator(round(lon, 2), round(lat, 2))
    ax = fig.add_axes(rect)
    ax.set_facecolor((0.82, 0.9, 0.97))
    for ring in loc.rings:
        ax.fill(ring[:, 0], ring[:, 1], facecolor=(0.96, 0.95, 0.9), edgecolor="0.35", lw=0.5)
    ax.plot([lon], [lat], "s", color=(0.85, 0.1, 0.1), ms=7, mec="white", mew=1)
    west, south, east, north = loc.box
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1 / max(0.2, math.cos(math.radians(lat))))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(loc.country or "site", fontsize=9, labelpad=2)
