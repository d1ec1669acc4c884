"""flicker.gif: the two dates flicking once a second for comparing by eye, each frame captioned
for a reader who sees it alone — its date, satellite and role, the site, the claim and the
verdict — with the changed regions outlined in the panel's colours, the site outline, a north
arrow, a scale bar and the imagery's credit, in text readable at the GIF's size."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.lazy import LazyModule
from pipeline.model.change import Change
from pipeline.model.image import Prepared
from pipeline.write.drawing import COLOURS
from pipeline.write.render import rgb

if TYPE_CHECKING:
    import PIL.Image

cv2 = LazyModule("cv2")
font_manager = LazyModule("matplotlib.font_manager")

SECONDS = 1.0
"""Each frame's time on screen (the README says once a second)."""
LABEL_PX = 20
"""The date line's font size in pixels; captions are 15."""


@dataclass(frozen=True)
class FlickerText:
    labels: tuple[str, str]
    """Each frame's date line: "before · 21 Aug 2015 · Sentinel-2A"."""
    caption: str = ""
    """Site, claim and verdict, under the date on both frames."""
    credit: str = ""
    scale_m: float | None = None
    north_deg: float = 0.0
    outline_px: tuple[tuple[float, float], ...] = ()


def platform_name(platform: str) -> str:
    """One way of writing a satellite in every frame and label: "sentinel-2a" and "SENTINEL-2A"
    are "Sentinel-2A", "landsat-8" is "Landsat-8"; anything else is kept as given."""
    head, sep, tail = platform.partition("-")
    if not sep or not head.isalpha():
        return platform
    return head.capitalize() + "-" + tail.upper()


def _font(px: int, bold: bool = False) -> PIL.ImageFont.FreeTypeFont:
    from PIL import ImageFont

    name = "DejaVu Sans:bold" if bold else "DejaVu Sans"  # shipped inside matplotlib
    return ImageFont.truetype(font_manager.findfont(name), px)


def _palette(pictures: list[np.ndarray]) -> PIL.Image.Image:
    """One 256-colour palette for both frames, so unchanged ground keeps its colour as they
    alternate: a median cut of both dates (every second pixel each way) plus black, white and
    the change colours for the labels and outlines."""
    from PIL import Image

    fixed = [(0, 0, 0), (255, 255, 255)] + [
        tuple(int(round(v * 255)) for v in c) for c in COLOURS.values()
    ]
    n = 256 - len(fixed)
    sample = np.concatenate([p[::2, ::2] for p in pictures])
    cut = Image.fromarray(sample).convert("P", palette=Image.Palette.ADAPTIVE, colors=n)
    colours = (cut.getpalette() or [])[: n * 3]
    colours += [0, 0, 0] * (n - len(colours) // 3)
    cut.putpalette([*colours, *[v for c in fixed for v in c]])
    return cut


def _outlines(change: Change, scale: int) -> list[tuple[tuple[int, int, int], list[np.ndarray]]]:
    """The changed regions' outlines in frame pixels, by direction colour."""
    out = []
    for code, colour in COLOURS.items():
        mask = (change.direction == code).astype(np.uint8)
        if not mask.any():
            continue
        big = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rgb8 = (int(colour[0] * 255), int(colour[1] * 255), int(colour[2] * 255))
        out.append((rgb8, [c[:, 0, :] for c in contours if len(c) > 2]))
    return out


def flicker(
    path: Path,
    before: Prepared,
    after: Prepared,
    text: FlickerText,
    change: Change | None = None,
) -> None:
    """Write flicker.gif (see the module's docstring)."""
    from PIL import Image, ImageDraw

    b, stretch = rgb(before)
    a, _ = rgb(after, stretch)
    h, w = b.shape[:2]
    scale = max(1, int(np.ceil(600 / max(h, w))))
    W, H = w * scale, h * scale
    big, small = _font(LABEL_PX, bold=True), _font(15)
    caption = textwrap.wrap(text.caption, max(20, int(W / 8.5)))[:3]
    head = 8 + LABEL_PX + 6 + 19 * len(caption)
    credit = textwrap.wrap(text.credit, max(20, int(W / 7)))[:2]
    foot = 6 + 16 * len(credit) if credit else 0
    pics = [np.round(img * 255).astype(np.uint8) for img in (b, a)]
    palette = _palette(pics)
    lines = _outlines(change, scale) if change is not None else []
    frames = []
    for pic8, label in zip(pics, text.labels, strict=True):
        canvas = Image.new("RGB", (W, head + H + foot), (0, 0, 0))
        canvas.paste(Image.fromarray(pic8).resize((W, H), Image.Resampling.NEAREST), (0, head))
        draw = ImageDraw.Draw(canvas)
        for colour, contours in lines:
            for c in contours:
                draw.line([(int(x), int(y) + head) for x, y in [*c, c[0]]], fill=colour, width=2)
        if text.outline_px:
            pts = [(p[0] * scale, p[1] * scale + head) for p in text.outline_px]
            draw.line([*pts, pts[0]], fill=(255, 255, 255), width=1)
        draw.text((6, 6), label, fill=(255, 255, 255), font=big)
        for i, line in enumerate(caption):
            draw.text((6, 8 + LABEL_PX + 6 + 19 * i), line, fill=(255, 255, 255), font=small)
        _north(draw, W - 28, head + 14, text.north_deg, small)
        if text.scale_m:
            _scale(draw, W, head + H, text.scale_m / scale, small)
        for i, line in enumerate(credit):
            draw.text((6, head + H + 3 + 16 * i), line, fill=(255, 255, 255), font=_font(12))
        frames.append(canvas.quantize(palette=palette, dither=Image.Dither.NONE))
    frames[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=int(SECONDS * 1000),
        loop=0,
    )


def _north(draw: PIL.ImageDraw.ImageDraw, x: int, y: int, angle: float, font: object) -> None:
    """A north arrow (turned by the grid's convergence) over a black disc, "N" under it."""
    dx, dy = math.sin(math.radians(angle)), -math.cos(math.radians(angle))
    draw.rounded_rectangle((x - 16, y - 6, x + 16, y + 52), 6, fill=(0, 0, 0))
    tip = (x + dx * 22, y + 24 + dy * 22)
    tail = (x - dx * 14, y + 24 - dy * 14)
    draw.line([tail, tip], fill=(255, 255, 255), width=3)
    left = (tip[0] - dx * 9 - dy * 6, tip[1] - dy * 9 + dx * 6)
    right = (tip[0] - dx * 9 + dy * 6, tip[1] - dy * 9 - dx * 6)
    draw.polygon([tip, left, right], fill=(255, 255, 255))
    draw.text((x, y + 44), "N", fill=(255, 255, 255), font=font, anchor="mm")  # type: ignore[arg-type]


def _scale(
    draw: PIL.ImageDraw.ImageDraw, W: int, bottom: int, metres_px: float, font: object
) -> None:
    """A scale bar about a quarter of the frame wide, in round metres, bottom left."""
    nice = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    length = max([n for n in nice if n <= W * metres_px / 4] or [nice[0]])
    px = int(round(length / metres_px))
    x0, y0 = int(W * 0.04), bottom - 14
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    draw.rectangle((x0 - 4, y0 - 22, x0 + max(px, 50) + 4, y0 + 8), fill=(0, 0, 0))
    draw.rectangle((x0, y0, x0 + px, y0 + 4), fill=(255, 255, 255))
    draw.text((x0, y0 - 20), label, fill=(255, 255, 255), font=font)  # type: ignore[arg-type]
