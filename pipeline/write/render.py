"""The pictures people look at: the before | after | change panel (with zoomed insets of the
footprint and the largest regions), the flicker GIF, before.png / after.png, and the AOI overview
drawn on the imagery of each site."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.judge.strength import pixel_words
from pipeline.lazy import LazyModule
from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED, Change
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.write.drawing import (
    COLOURS,
    FOOTPRINT,
    PARK,
    VERDICT_COLOURS,
    _figure,
    _north,
    _outline,
    _rgba,
    _save_png,
    _scalebar,
    _write_png,
)
from pipeline.write.insets import insets, targets
from pipeline.write.marks import callouts, date_stamp, day, draw_locator, lat_lon

if TYPE_CHECKING:
    from matplotlib.figure import Figure

mpatches = LazyModule("matplotlib.patches")
pyproj = LazyModule("pyproj")  # geodesic scale bar: loads when a picture is drawn


@dataclass(frozen=True)
class PanelText:
    title: str
    before_label: str
    after_label: str
    verdict: str
    reasons: tuple[str, ...]
    credit: str
    scale_m: float
    flags: tuple[str, ...] = ()
    outline_px: tuple[tuple[float, float], ...] = ()
    """The site boundary in (col, row) pixel coordinates, drawn on every picture."""
    north_deg: float = 0.0
    """Where true north points, in degrees clockwise from up (UTM grid convergence)."""
    pixel_aspect: float = 1.0
    """Ground height / width of one pixel (1 on UTM; 1/cos(lat) on a lon/lat grid)."""
    footprint_px: tuple[tuple[tuple[float, float], ...], ...] = ()
    """The site's located footprint (parts, (col, row) pixel coordinates), when it has one."""
    change_words: tuple[str, str] = ("appeared", "disappeared")
    """Legend words for the two directions (`run` says what they mean with or without a
    baseline)."""
    strength: str = ""
    """Beside the verdict word: "weak: no baseline, no cloud mask" (pipeline.judge.strength)."""
    dates: tuple[date | None, date | None] = (None, None)
    """Before and after acquisition dates, burned large on the frames ("date unknown": None)."""
    site_lonlat: tuple[float, float] | None = None
    """The site's centre: its coordinates and a locator map are drawn in the header."""
    region_lonlat: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Region label → (lon, lat) of its centroid, written beside its inset."""


def pixel_size(grid: Grid) -> tuple[float, float]:
    """(ground width of a pixel east-west in metres, its ground height / width): PanelText's
    `scale_m` and `pixel_aspect`. On a lon/lat grid a degree of longitude is cos(lat) of one of
    latitude, so its pixels are drawn that much taller than wide."""
    a, e = abs(grid.transform.a), abs(grid.transform.e)
    if not grid.crs.is_geographic:
        return a, e / a
    left, bottom, right, top = grid.bounds
    geod = pyproj.Geod(ellps="WGS84")
    lat, lon = (bottom + top) / 2, (left + right) / 2
    dx = geod.inv(lon, lat, lon + a, lat)[2]
    dy = geod.inv(lon, lat, lon, lat + e)[2]
    return float(dx), float(dy / dx)


def rgb(
    img: Prepared, lo_hi: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """True-colour picture in 0..1 with a 2-98 % stretch (reuse `lo_hi` to stretch a pair alike).
    Unusable pixels are shown mid-grey."""
    keys = ("red", "green", "blue") if "blue" in img.bands else tuple(list(img.bands)[:3])
    if len(keys) < 3:  # radar VV, VH: shown as VV, VH, VV (a common false-colour choice)
        keys = (keys + keys + keys)[:3]
    planes = [np.asarray(img.bands[k], np.float32) for k in keys]
    ok = np.isfinite(planes[0]) & np.isfinite(planes[1]) & np.isfinite(planes[2])
    if lo_hi is None:
        if ok.any():
            # Band by band on contiguous values, both cuts in one partition: the same numbers
            # as np.percentile over the (pixels, 3) stack along axis 0, in a fraction of the time.
            q = np.array([np.percentile(p[ok], [2, 98]) for p in planes], np.float32)
            lo, hi = q[:, 0], q[:, 1]
        else:
            lo, hi = np.zeros(3, np.float32), np.ones(3, np.float32)
        lo_hi = (lo, np.maximum(hi, lo + 1e-3))
    out = np.empty((*ok.shape, 3), np.float32)
    for i, p in enumerate(planes):
        np.clip((p - lo_hi[0][i]) / (lo_hi[1][i] - lo_hi[0][i]), 0, 1, out=out[..., i])
    out[~ok] = 0.5
    return out, lo_hi


def pictures(before_path: Path, after_path: Path, before: Prepared, after: Prepared) -> None:
    """before.png and after.png: the two dates in true colour at the grid's full resolution, with
    the same stretch, for the review page's swipe and for anyone's own tools."""
    b, stretch = rgb(before)
    a, _ = rgb(after, stretch)
    for path, img in ((before_path, b), (after_path, a)):
        # zlib level 6: Pillow's optimize=True (level 9 and a filter search) took 4x the time
        # for files a few per cent smaller
        _write_png(path, np.round(img[..., ::-1] * 255).astype(np.uint8), 6)


def overlay(base: np.ndarray, change: Change) -> np.ndarray:
    grey = base.mean(axis=2, keepdims=True) * 0.6 + 0.2
    out = np.repeat(grey, 3, axis=2)
    out[~change.valid] = (0.35, 0.35, 0.35)
    for code, colour in COLOURS.items():
        out[change.direction == code] = colour
    return out


def _title_lines(text: PanelText, width_chars: int) -> tuple[str, list[str]]:
    """The verdict word (whole, for the first line, drawn large) and the title wrapped below."""
    word = text.verdict.upper().replace("_", " ")
    return word, textwrap.wrap(text.title, width_chars) or [""]


CALLOUTS = 6
"""Regions numbered on the change map: the largest, insets first."""
PANEL_DPI = 110.0
PANEL_WIDTH_IN = 15.0


def panel(
    path: Path,
    before: Prepared,
    after: Prepared,
    change: Change,
    text: PanelText,
    footprint: np.ndarray | None = None,
) -> None:
    """panel.png (see panel_figure)."""
    fig = panel_figure(before, after, change, text, footprint)
    # zlib level 1: a third of level 6's time for an 8 % larger file.
    _save_png(fig, path, 1)


def panel_figure(
    before: Prepared,
    after: Prepared,
    change: Change,
    text: PanelText,
    footprint: np.ndarray | None = None,
    dpi: float = PANEL_DPI,
) -> Figure:
    """before | after | change, with the same contrast stretch on both dates (each date burned
    large on its frame), the verdict word first and large with its strength beside it over a
    wrapped title, a locator of the site, the largest regions numbered on the change map, and a
    row of zoomed insets (before and after) of the located footprint and the largest regions.
    `footprint` (what appeared between baseline and before) is outlined on every picture.
    `dpi` sets the size: PANEL_WIDTH_IN inches wide (600 px at 40 dpi)."""
    b, stretch = rgb(before)
    a, _ = rgb(after, stretch)
    c = overlay(a, change)
    # 8-bit pictures (what the PNG holds anyway): matplotlib draws them without renormalising.
    b, a, c = (_rgba(np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)) for x in (b, a, c))
    h, w = b.shape[:2]
    aspect = text.pixel_aspect
    fig_w = PANEL_WIDTH_IN
    margin, gap = 0.15, 0.2
    pic_w = (fig_w - 2 * margin - 2 * gap) / 3
    pic_h = pic_w * h * aspect / w
    word, title = _title_lines(text, 100)
    # verdict word and strength, title lines, picture labels; room for the locator at the right
    head_h = max(0.95 + 0.3 * len(title) + 0.5, 2.0 if text.site_lonlat else 0.0)
    big = sorted(change.regions, key=lambda r: -r.pixels)[:CALLOUTS]
    words = {
        r.label: pixel_words(before.bands, after.bands, change.labels == r.label) for r in big[:3]
    }
    found = targets(change, text, w, h, words)
    inset_h = 2.75 if found else 0.0
    legend_h = 0.45
    why = textwrap.wrap("Why: " + "; ".join(text.reasons), 150)
    flags = [f"⚠ {f}" for f in text.flags]
    credit = textwrap.wrap(text.credit, 150)
    foot_h = 0.2 * (len(why) + len(flags) + len(credit)) + 0.2
    fig_h = head_h + pic_h + legend_h + inset_h + foot_h
    fig = _figure(fig_w, fig_h, dpi)
    colour = VERDICT_COLOURS.get(text.verdict, (0.1, 0.1, 0.1))
    top = 1 - 0.1 / fig_h
    fig.text(
        margin / fig_w,
        top,
        word,
        fontsize=34,
        fontweight="bold",
        color=colour,
        va="top",
        gid="verdict",
    )
    if text.strength:
        fig.text(
            margin / fig_w,
            top - 0.62 / fig_h,
            f"evidence {text.strength}",
            fontsize=18,
            color=colour,
            va="top",
            gid="strength",
        )
    fig.text(
        margin / fig_w,
        top - 1.0 / fig_h,
        "\n".join(title),
        fontsize=13,
        va="top",
        linespacing=1.25,
    )
    if text.site_lonlat is not None:
        lon, lat = text.site_lonlat
        lw_in = 1.55
        draw_locator(
            fig,
            ((fig_w - margin - lw_in) / fig_w, 1 - 1.6 / fig_h, lw_in / fig_w, 1.4 / fig_h),
            lon,
            lat,
        )
        fig.text(
            (fig_w - margin - lw_in - 0.1) / fig_w,
            1 - 0.25 / fig_h,
            f"site {lat_lon(lat, lon)}",
            fontsize=12,
            ha="right",
            va="top",
        )
    y_pic = (foot_h + inset_h + legend_h) / fig_h
    axes = []
    for i, (img, label) in enumerate(
        zip(
            (b, a, c),
            (text.before_label, text.after_label, "change (before → after)"),
            strict=True,
        )
    ):
        ax = fig.add_axes(
            ((margin + i * (pic_w + gap)) / fig_w, y_pic, pic_w / fig_w, pic_h / fig_h)
        )
        ax.imshow(img, interpolation="nearest", aspect=aspect)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        _outline(ax, text.outline_px)
        for part in text.footprint_px:
            _outline(ax, part, PARK, "-", 1.4)
        _scalebar(ax, w, h, text.scale_m)
        _north(ax, text.north_deg)
        if i < 2:
            date_stamp(ax, day(text.dates[i]), ("before-date", "after-date")[i])
        else:
            marks = [(r.label, r.centroid_rowcol[1], r.centroid_rowcol[0]) for r in big]
            callouts(ax, marks, w, h)
        axes.append(ax)
    handles = [
        mpatches.Patch(color=COLOURS[ARRIVAL], label=text.change_words[0]),
        mpatches.Patch(color=COLOURS[DEPARTURE], label=text.change_words[1]),
        mpatches.Patch(color=COLOURS[UNDETERMINED], label="changed, direction unclear"),
        mpatches.Patch(
            color=(0.35, 0.35, 0.35), label="not usable (cloud, snow, no data) or off-site"
        ),
    ]
    if text.footprint_px:
        handles.append(
            mpatches.Patch(facecolor="none", edgecolor=PARK, label="located park (config)")
        )
    if footprint is not None and footprint.any():
        for ax in axes:
            ax.contour(footprint.astype(np.uint8), levels=[0.5], colors=[FOOTPRINT], linewidths=1)
        handles.append(
            mpatches.Patch(
                facecolor="none", edgecolor=FOOTPRINT, label="build-up (baseline → before)"
            )
        )
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, y_pic - 0.05 / fig_h),
        fontsize=10,
        ncol=min(3, len(handles)),
        frameon=False,
    )
    if found:
        insets(fig, found, (b, a), text, (fig_w, fig_h, margin, foot_h))
    lines = why + flags + credit
    fig.text(margin / fig_w, 0.1 / fig_h, "\n".join(lines), fontsize=10, va="bottom")
    return fig
