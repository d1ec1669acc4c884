"""The before | after | change panel that people look at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED, Change
from pipeline.model.image import Prepared

COLOURS = {ARRIVAL: (1.0, 0.15, 0.1), DEPARTURE: (0.0, 0.85, 1.0), UNDETERMINED: (1.0, 0.85, 0.0)}


FOOTPRINT = (1.0, 0.2, 1.0)
VERDICT_COLOURS = {
    "supported": (0.2, 0.6, 0.25),
    "not_supported": (0.8, 0.15, 0.1),
    "inconclusive": (0.45, 0.45, 0.45),
}


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


def rgb(
    img: Prepared, lo_hi: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """True-colour picture in 0..1 with a 2-98 % stretch (reuse `lo_hi` to stretch a pair alike).
    Unusable pixels are shown mid-grey."""
    keys = ("red", "green", "blue") if "blue" in img.bands else tuple(list(img.bands)[:3])
    if len(keys) < 3:  # radar VV, VH: shown as VV, VH, VV (a common false-colour choice)
        keys = (keys + keys + keys)[:3]
    stack = np.dstack([img.bands[k] for k in keys]).astype(np.float32)
    if lo_hi is None:
        finite = stack[np.all(np.isfinite(stack), axis=2)]
        if finite.size:
            lo, hi = np.percentile(finite, 2, axis=0), np.percentile(finite, 98, axis=0)
        else:
            lo, hi = np.zeros(3, np.float32), np.ones(3, np.float32)
        lo_hi = (lo, np.maximum(hi, lo + 1e-3))
    out = np.clip((stack - lo_hi[0]) / (lo_hi[1] - lo_hi[0]), 0, 1)
    out[~np.all(np.isfinite(out), axis=2)] = 0.5
    return out, lo_hi


def pictures(before_path: Path, after_path: Path, before: Prepared, after: Prepared) -> None:
    """before.png and after.png: the two dates in true colour at the grid's full resolution, with
    the same stretch, for the review page's swipe and for anyone's own tools."""
    from PIL import Image

    b, stretch = rgb(before)
    a, _ = rgb(after, stretch)
    for path, img in ((before_path, b), (after_path, a)):
        pic = Image.fromarray(np.round(img * 255).astype(np.uint8))
        pic.save(path, format="PNG", optimize=True)


def overlay(base: np.ndarray, change: Change) -> np.ndarray:
    grey = base.mean(axis=2, keepdims=True) * 0.6 + 0.2
    out = np.repeat(grey, 3, axis=2)
    out[~change.valid] = (0.35, 0.35, 0.35)
    for code, colour in COLOURS.items():
        out[change.direction == code] = colour
    return out


def _scalebar(ax: plt.Axes, width_px: int, height_px: int, metres_per_px: float) -> None:
    target = width_px * metres_per_px / 4
    nice = [100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    length = max([n for n in nice if n <= target] or [nice[0]])
    px = length / metres_per_px
    x0, y0 = width_px * 0.05, height_px * 0.94
    ax.plot([x0, x0 + px], [y0, y0], color="white", lw=3, solid_capstyle="butt")
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(x0, y0 - height_px * 0.02, label, color="white", fontsize=8, va="bottom")


def _north(ax: plt.Axes, angle_deg: float) -> None:
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


def _outline(ax: plt.Axes, outline_px: tuple[tuple[float, float], ...]) -> None:
    if outline_px:
        xs = [p[0] - 0.5 for p in outline_px] + [outline_px[0][0] - 0.5]
        ys = [p[1] - 0.5 for p in outline_px] + [outline_px[0][1] - 0.5]
        ax.plot(xs, ys, color="white", lw=1.2, ls="--")


def panel(
    path: Path,
    before: Prepared,
    after: Prepared,
    change: Change,
    text: PanelText,
    footprint: np.ndarray | None = None,
) -> None:
    """before | after | change, with the same contrast stretch on both dates; `footprint` (what
    appeared between baseline and before) is outlined on the change picture."""
    b, stretch = rgb(before)
    a, _ = rgb(after, stretch)
    c = overlay(a, change)
    h, w = b.shape[:2]
    fig_w = 15
    fig_h = fig_w / 3 * h / w + 2.0
    fig, axes = plt.subplots(1, 3, figsize=(fig_w, fig_h), dpi=110)
    for ax, img, label in zip(
        axes,
        (b, a, c),
        (text.before_label, text.after_label, "change (before → after)"),
        strict=True,
    ):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        _outline(ax, text.outline_px)
        _scalebar(ax, w, h, text.scale_m)
        _north(ax, text.north_deg)
    handles = [
        Patch(color=COLOURS[ARRIVAL], label="appeared (arrival)"),
        Patch(color=COLOURS[DEPARTURE], label="disappeared (departure)"),
        Patch(color=COLOURS[UNDETERMINED], label="changed, direction unclear"),
        Patch(color=(0.35, 0.35, 0.35), label="not usable (cloud, snow, no data)"),
    ]
    if footprint is not None and footprint.any():
        for ax in axes:
            ax.contour(footprint.astype(np.uint8), levels=[0.5], colors=[FOOTPRINT], linewidths=1)
        handles.append(
            Patch(facecolor="none", edgecolor=FOOTPRINT, label="footprint (baseline → before)")
        )
    axes[2].legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        fontsize=8,
        ncol=2,
        frameon=False,
    )
    colour = VERDICT_COLOURS.get(text.verdict, (0, 0, 0))
    fig.suptitle(
        f"{text.verdict.upper().replace('_', ' ')} — {text.title}",
        fontsize=12,
        color=colour,
        fontweight="bold",
    )
    why = "Why: " + "; ".join(text.reasons)
    flags = "".join(f"\n⚠ {f}" for f in text.flags)
    fig.text(0.01, 0.015, _wrap(why, 150) + flags + "\n" + text.credit, fontsize=8.5, va="bottom")
    fig.tight_layout(rect=(0, 0.13, 1, 0.97))
    fig.savefig(path, format="png")
    plt.close(fig)


def flicker(
    path: Path,
    before: Prepared,
    after: Prepared,
    labels: tuple[str, str],
    outline_px: tuple[tuple[float, float], ...] = (),
    seconds: float = 0.8,
) -> None:
    """An animated GIF flicking between the two dates (same stretch), for comparing by eye."""
    from PIL import Image, ImageDraw

    b, stretch = rgb(before)
    a, _ = rgb(after, stretch)
    h, w = b.shape[:2]
    scale = max(1, int(np.ceil(480 / max(h, w))))
    frames = []
    for img, label in zip((b, a), labels, strict=True):
        pic = Image.fromarray((img * 255).astype(np.uint8)).resize(
            (w * scale, h * scale), Image.Resampling.NEAREST
        )
        draw = ImageDraw.Draw(pic)
        if outline_px:
            pts = [(p[0] * scale, p[1] * scale) for p in outline_px]
            draw.line([*pts, pts[0]], fill=(255, 255, 255), width=1)
        draw.rectangle((0, 0, w * scale, 16), fill=(0, 0, 0))
        draw.text((4, 2), label, fill=(255, 255, 255))
        frames.append(pic.convert("P", palette=Image.Palette.ADAPTIVE, colors=255))
    frames[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=int(seconds * 1000),
        loop=0,
    )


@dataclass(frozen=True)
class OverviewSite:
    id: str
    outline_lonlat: tuple[tuple[float, float], ...]
    verdicts: dict[str, str]
    """claim id → verdict value."""


def overview(
    path: Path, title: str, sites: list[OverviewSite], claims: list[str], credit: str
) -> None:
    """The AOI at a glance: where the sites are, and a site × claim table of verdicts."""
    fig, (ax_map, ax_tab) = plt.subplots(
        1,
        2,
        figsize=(15, max(4.5, 0.45 * len(sites) + 2.5)),
        dpi=100,
        gridspec_kw={"width_ratios": [1, 1.6]},
    )
    lats = [p[1] for s in sites for p in s.outline_lonlat]
    for s in sites:
        xs = [p[0] for p in s.outline_lonlat] + [s.outline_lonlat[0][0]]
        ys = [p[1] for p in s.outline_lonlat] + [s.outline_lonlat[0][1]]
        values = set(s.verdicts.values())
        worst = next((v for v in ("not_supported", "inconclusive", "supported") if v in values), "")
        colour = VERDICT_COLOURS.get(worst, (0.6, 0.6, 0.6))
        ax_map.fill(xs, ys, color=colour, alpha=0.35)
        ax_map.plot(xs, ys, color=colour, lw=1.5)
        ax_map.annotate(
            s.id, (float(np.mean(xs[:-1])), max(ys)), fontsize=8, ha="center", va="bottom"
        )
    if lats:
        ax_map.set_aspect(1 / np.cos(np.radians(float(np.mean(lats)))))
    ax_map.set_xlabel("longitude (°E)")
    ax_map.set_ylabel("latitude (°N)")
    ax_map.grid(alpha=0.3)
    ax_map.set_title("sites (colour: least favourable verdict)", fontsize=10)
    ax_map.margins(0.15)
    ax_tab.axis("off")
    cells = [[s.verdicts.get(c, "").replace("_", " ") for c in claims] for s in sites]
    colours = [
        [
            (*VERDICT_COLOURS[s.verdicts[c]], 0.35) if c in s.verdicts else (1, 1, 1, 1)
            for c in claims
        ]
        for s in sites
    ]
    if sites and claims:
        table = ax_tab.table(
            cellText=cells,
            cellColours=colours,
            rowLabels=[s.id for s in sites],
            colLabels=[_wrap(c, 14) for c in claims],
            loc="center",
            cellLoc="center",
            colWidths=[min(0.16, 0.85 / len(claims))] * len(claims),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(7.5)
        table.scale(1, 2.2)
    ax_tab.set_title("verdict per site and claim", fontsize=10)
    fig.suptitle(title, fontsize=13)
    fig.text(0.01, 0.01, credit, fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    fig.savefig(path, format="png")
    plt.close(fig)


def _wrap(s: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(s, width))
