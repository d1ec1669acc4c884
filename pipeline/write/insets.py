"""The panel's row of zoomed insets: the located park and the largest regions, before and
after, each region outlined in its direction's colour, numbered as on the map and in the region
list, with what its pixels did, its area and its coordinates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from pipeline.model.change import UNDETERMINED, Change
from pipeline.write.drawing import _CODES, COLOURS, PARK, _halo, _outline, _scalebar
from pipeline.write.marks import lat_lon

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Target = tuple[str, tuple[int, int, int, int], np.ndarray | None, int]
"""(title, (row0, col0, row1, col1) crop, the region's pixels or None, its direction code)."""


class InsetText(Protocol):
    """What the insets need of the panel's text (render.PanelText)."""

    @property
    def scale_m(self) -> float: ...
    @property
    def pixel_aspect(self) -> float: ...
    @property
    def footprint_px(self) -> tuple[tuple[tuple[float, float], ...], ...]: ...
    @property
    def region_lonlat(self) -> dict[int, tuple[float, float]]: ...


def targets(
    change: Change,
    text: InsetText,
    w: int,
    h: int,
    words: dict[int, str],
    limit: int = 3,
) -> list[Target]:
    """What the insets zoom on: the located footprint, then the largest regions; each as (title,
    (row0, col0, row1, col1) crop, the region's pixels or None, its direction code). A region's
    title is its number (as on the map and in the region list), what its pixels did, its area
    and where it is."""
    out: list[Target] = []
    area_px = text.scale_m**2 * text.pixel_aspect

    def crop(r0: float, c0: float, r1: float, c1: float) -> tuple[int, int, int, int]:
        size = max(r1 - r0, (c1 - c0) / text.pixel_aspect, 12.0)
        pad = size * 0.6
        rc, cc = (r0 + r1) / 2, (c0 + c1) / 2
        half_r, half_c = size / 2 + pad, (size / 2 + pad) * text.pixel_aspect
        return (
            max(0, int(rc - half_r)),
            max(0, int(cc - half_c)),
            min(h, int(np.ceil(rc + half_r))),
            min(w, int(np.ceil(cc + half_c))),
        )

    if text.footprint_px:
        pts = np.array([p for part in text.footprint_px for p in part])
        box = crop(pts[:, 1].min(), pts[:, 0].min(), pts[:, 1].max(), pts[:, 0].max())
        out.append(("located park", box, None, UNDETERMINED))
    for region in sorted(change.regions, key=lambda r: -r.pixels)[: limit - len(out)]:
        r0, c0, r1, c1 = region.bbox_rowcol
        ha = region.pixels * area_px / 1e4
        where = text.region_lonlat.get(region.label)
        title = f"{region.label}: {words.get(region.label, region.direction)}, {ha:.2f} ha"
        if where is not None:
            title += f"\n{lat_lon(where[1], where[0])}"
        code = _CODES.get(region.direction, UNDETERMINED)
        out.append((title, crop(r0, c0, r1, c1), change.labels == region.label, code))
    return out


def insets(
    fig: Figure,
    targets: list[Target],
    pictures: tuple[np.ndarray, np.ndarray],
    text: InsetText,
    place: tuple[float, float, float, float],
) -> None:
    """The row of zoomed before / after insets under the panel's pictures."""
    fig_w, fig_h, margin, foot_h = place
    n = 2 * len(targets)
    side = min(2.0, (fig_w - 2 * margin - (n - 1) * 0.15) / n)
    y_in = (foot_h + 0.1) / fig_h
    x = margin
    for title_i, (r0, c0, r1, c1), region, code in targets:
        for j, (img, when) in enumerate(zip(pictures, ("before", "after"), strict=True)):
            ax = fig.add_axes((x / fig_w, y_in, side / fig_w, side / fig_h))
            # Only the crop is drawn (same pixels, placed by extent): not the whole picture.
            ax.imshow(
                img[r0:r1, c0:c1],
                interpolation="nearest",
                aspect=text.pixel_aspect,
                extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5),
            )
            ax.set_xticks([])
            ax.set_yticks([])
            for part in text.footprint_px:
                _outline(ax, part, PARK, "-", 1.4)
            if region is not None:
                ax.contour(
                    np.arange(c0, c1),
                    np.arange(r0, r1),
                    region[r0:r1, c0:c1].astype(np.uint8),
                    levels=[0.5],
                    colors=[COLOURS.get(code, COLOURS[UNDETERMINED])],
                    linewidths=1.2,
                )
            if j == 0:
                ax.text(0.0, 1.03, title_i, transform=ax.transAxes, fontsize=10, va="bottom")
            ax.text(
                0.03,
                0.97,
                when,
                transform=ax.transAxes,
                fontsize=9,
                color="white",
                va="top",
                fontweight="bold",
                path_effects=_halo(),
            )
            _scalebar(ax, c1 - c0, r1 - r0, text.scale_m, 0.9, (c0, r0))
            ax.set_xlim(c0 - 0.5, c1 - 0.5)
            ax.set_ylim(r1 - 0.5, r0 - 0.5)
            x += side + (0.05 if j == 0 else 0.35)
