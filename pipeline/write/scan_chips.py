"""The pictures of a scan's tile: before/after thumbnails of a candidate with the region's outline
drawn in the panels' colour of its direction, and a small true-colour quicklook of the tile's core
(placed under the scan page's map). Pure: arrays in, PNG bytes out."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.lazy import LazyModule
from pipeline.model.change import DIRECTION_NAMES
from pipeline.model.image import Prepared
from pipeline.write.drawing import COLOURS
from pipeline.write.render import rgb

cv2 = LazyModule("cv2")

CHIP_PX = 160
"""A thumbnail's side in pixels."""
QUICKLOOK_PX = 200
"""The longer side of a tile's quicklook."""
OUTLINE_PX = 2
_CODES = {name: code for code, name in DIRECTION_NAMES.items()}


def hex_colour(direction: str) -> str:
    """The panels' colour of a direction name (appeared, disappeared, changed) as #rrggbb."""
    r, g, b = COLOURS[_CODES[direction]]
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _png(rgb_u8: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("PNG encoding failed")
    return bytes(png.tobytes())


def _window(a: np.ndarray, r0: int, c0: int, side: int, fill: Any) -> np.ndarray:
    """a[r0 : r0 + side, c0 : c0 + side], `fill` where that window leaves the array (so that a
    thumbnail near a tile's edge keeps its scale and its region in the middle)."""
    out = np.full((side, side), fill, a.dtype if fill is not np.nan else np.float32)
    h, w = a.shape
    rs, re_ = max(r0, 0), min(r0 + side, h)
    cs, ce = max(c0, 0), min(c0 + side, w)
    if rs < re_ and cs < ce:
        out[rs - r0 : re_ - r0, cs - c0 : ce - c0] = a[rs:re_, cs:ce]
    return out


def _crop(img: Prepared, r0: int, c0: int, side: int) -> Prepared:
    return Prepared(
        {k: _window(v, r0, c0, side, np.nan) for k, v in img.bands.items()},
        _window(img.clear, r0, c0, side, False),
        _window(img.snow, r0, c0, side, False),
        img.has_cloud_mask,
    )


def chips(
    before: Prepared,
    after: Prepared,
    labels: np.ndarray,
    label: int,
    bbox: tuple[int, int, int, int],
    direction: str,
) -> tuple[bytes, bytes]:
    """Before/after true-colour thumbnails around region `label` (one stretch for both), each
    with the region's outline (the pixels of `labels == label`) in its direction's colour."""
    r0, c0, r1, c1 = bbox
    side = max(r1 - r0, c1 - c0, 24) * 2
    top, left = (r0 + r1) // 2 - side // 2, (c0 + c1) // 2 - side // 2
    a, lo_hi = rgb(_crop(before, top, left, side))
    b, _ = rgb(_crop(after, top, left, side), lo_hi)
    mask = (_window(labels, top, left, side, 0) == label).astype(np.uint8)
    big = cv2.resize(mask, (CHIP_PX, CHIP_PX), interpolation=cv2.INTER_NEAREST)
    contours, _h = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    r, g, bl = (round(v * 255) for v in COLOURS[_CODES[direction]])
    out = []
    for pic in (a, b):
        u8 = np.ascontiguousarray((np.clip(pic, 0, 1) * 255).astype(np.uint8))
        im = cv2.resize(u8, (CHIP_PX, CHIP_PX), interpolation=cv2.INTER_NEAREST)
        cv2.drawContours(im, contours, -1, (r, g, bl), OUTLINE_PX)
        out.append(_png(im))
    return out[0], out[1]


def quicklook(after: Prepared, rows: slice, cols: slice) -> bytes:
    """The after image's true colour over rows/cols (the tile's core), at most QUICKLOOK_PX a
    side (area-averaged); pixels without data are transparent (the map shows through)."""
    img = Prepared(
        {k: v[rows, cols] for k, v in after.bands.items()},
        after.clear[rows, cols],
        after.snow[rows, cols],
        after.has_cloud_mask,
    )
    pic, _ = rgb(img)
    valid = np.logical_and.reduce([np.isfinite(np.asarray(v)) for v in img.bands.values()])
    u8 = np.empty((*pic.shape[:2], 4), np.uint8)
    u8[..., :3] = (np.clip(pic, 0, 1) * 255).astype(np.uint8)
    u8[..., 3] = np.where(valid, 255, 0)
    h, w = u8.shape[:2]
    k = QUICKLOOK_PX / max(h, w, 1)
    if k < 1:
        u8 = cv2.resize(
            u8, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA
        )
    ok, png = cv2.imencode(".png", cv2.cvtColor(u8, cv2.COLOR_RGBA2BGRA))
    if not ok:
        raise OSError("PNG encoding failed")
    return bytes(png.tobytes())
