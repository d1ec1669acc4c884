"""overview.png: the AOI at a glance — every site drawn on its own imagery, a locator of where
the AOI is, and a site × claim table of verdicts, laid out without empty space and legible
(table text ≥ 10 px at its size)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.write.drawing import PARK, VERDICT_COLOURS, _figure, _outline, _save_png
from pipeline.write.marks import draw_locator, lat_lon

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100.0
TABLE_PT = 11.0
"""Table text: about 15 px tall at DPI."""
TILE_IN = 3.2


@dataclass(frozen=True)
class OverviewSite:
    id: str
    outline_lonlat: tuple[tuple[float, float], ...]
    verdicts: dict[str, str]
    """claim id → verdict value."""
    name: str = ""
    picture: Path | None = None
    """The site's imagery (a check's after.png); None: drawn as an outline only."""
    outline_px: tuple[tuple[float, float], ...] = ()
    footprint_px: tuple[tuple[tuple[float, float], ...], ...] = ()


VERDICT_WORDS = {
    "supported": "supported",
    "not_supported": "not supported",
    "inconclusive": "inconclusive",
    "": "",
}


def _worst(verdicts: dict[str, str]) -> str:
    values = set(verdicts.values())
    return next((v for v in ("not_supported", "inconclusive", "supported") if v in values), "")


def _centre(outline: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    return float(np.mean([p[0] for p in outline])), float(np.mean([p[1] for p in outline]))


def overview(
    path: Path, title: str, sites: list[OverviewSite], claims: list[str], credit: str
) -> None:
    """overview.png (see overview_figure)."""
    _save_png(overview_figure(title, sites, claims, credit), path, 6)


def overview_figure(
    title: str, sites: list[OverviewSite], claims: list[str], credit: str
) -> Figure:
    """Every site drawn on its imagery (outline dashed, located park in orange, framed in the
    colour of its least favourable verdict, named, its centre as 48.113° N, 1.653° W); beside
    them a locator of the AOI and the site × claim table of verdicts."""
    from PIL import Image

    n = max(1, len(sites))
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    tile = TILE_IN if n > 2 else 4.2
    cell_h = 0.38
    table_w = 1.6 + 1.7 * max(1, len(claims))
    table_h = cell_h * (len(sites) + 1.6)
    side_w = max(3.2, table_w)
    loc_h = 2.2
    tiles_w = cols * (tile + 0.3) + 0.2
    fig_w = tiles_w + side_w + 0.3
    body_h = max(rows * (tile + 0.75), loc_h + 0.5 + table_h)
    head = textwrap.wrap(
        "Each site on its imagery (after image of its latest check); frame colour: least "
        "favourable verdict (green supported, red not supported, grey inconclusive).",
        int(fig_w * 11),
    )
    head_h = 0.5 + 0.2 * len(head)
    fig_h = head_h + body_h + 0.35
    fig = _figure(fig_w, fig_h, DPI)
    fig.text(0.15 / fig_w, 1 - 0.12 / fig_h, title, fontsize=14, fontweight="bold", va="top")
    fig.text(0.15 / fig_w, 1 - 0.5 / fig_h, "\n".join(head), fontsize=10, va="top")
    top = fig_h - head_h
    for k, s in enumerate(sites):
        r, c = divmod(k, cols)
        x = 0.2 + c * (tile + 0.3)
        y = top - (r + 1) * (tile + 0.75) + 0.1
        ax = fig.add_axes((x / fig_w, y / fig_h, tile / fig_w, tile / fig_h))
        colour = VERDICT_COLOURS.get(_worst(s.verdicts), (0.6, 0.6, 0.6))
        if s.picture is not None and s.picture.is_file():
            with Image.open(s.picture) as im:
                pic = np.asarray(im.convert("RGB"))
            ax.imshow(pic, interpolation="nearest")
            _outline(ax, s.outline_px)
            for part in s.footprint_px:
                _outline(ax, part, PARK, "-", 1.3)
            h, w = pic.shape[:2]
            ax.set_xlim(-0.5, w - 0.5)
            ax.set_ylim(h - 0.5, -0.5)
        else:
            xs = [p[0] for p in s.outline_lonlat] + [s.outline_lonlat[0][0]]
            ys = [p[1] for p in s.outline_lonlat] + [s.outline_lonlat[0][1]]
            ax.plot(xs, ys, color=colour, lw=1.5)
            ax.text(0.5, 0.5, "no imagery", transform=ax.transAxes, ha="center", color="0.4")
        worst = _worst(s.verdicts)
        if worst:
            ax.text(
                0.03,
                0.04,
                VERDICT_WORDS[worst].upper(),
                transform=ax.transAxes,
                fontsize=10,
                fontweight="bold",
                color="white",
                bbox={"boxstyle": "square,pad=0.25", "facecolor": colour, "lw": 0},
            )
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(4)
        lon, lat = _centre(s.outline_lonlat)
        ax.set_title(
            "\n".join(textwrap.wrap(s.name or s.id, 36)[:2]) + f"\n{lat_lon(lat, lon)}",
            fontsize=10,
            gid=f"site-{s.id}",
        )
    left = tiles_w + 0.1
    if sites:
        centres = np.array([_centre(s.outline_lonlat) for s in sites])
        lon, lat = float(centres[:, 0].mean()), float(centres[:, 1].mean())
        loc_w = min(side_w, 2.6)
        draw_locator(
            fig,
            (
                (left + (side_w - loc_w) / 2) / fig_w,
                (top - loc_h) / fig_h,
                loc_w / fig_w,
                (loc_h - 0.3) / fig_h,
            ),
            lon,
            lat,
        )
    ax_tab = fig.add_axes(
        (left / fig_w, (top - loc_h - 0.4 - table_h) / fig_h, side_w / fig_w, table_h / fig_h)
    )
    ax_tab.axis("off")
    if sites and claims:
        cells = [[VERDICT_WORDS.get(s.verdicts.get(c, ""), "") for c in claims] for s in sites]
        colours = [
            [
                (*VERDICT_COLOURS[s.verdicts[c]], 0.35) if c in s.verdicts else (1, 1, 1, 1)
                for c in claims
            ]
            for s in sites
        ]
        wide = 1.7 / side_w
        table = ax_tab.table(
            cellText=cells,
            cellColours=colours,
            rowLabels=[s.id for s in sites],
            colLabels=["\n".join(textwrap.wrap(c, 18)) for c in claims],
            loc="upper right",
            cellLoc="center",
            colWidths=[wide] * len(claims),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(TABLE_PT)
        for cell in table.get_celld().values():
            cell.get_text().set_gid("table")
            cell.set_height(1 / (len(sites) + 1.6))
        ax_tab.set_title("verdict per site and claim", fontsize=11)
    fig.text(0.15 / fig_w, 0.1 / fig_h, credit, fontsize=10)
    return fig
