"""The pictures of a scan's tile: before/after thumbnails of a candidate with the region's outline
drawn in the panels' colour of its direction, and a small true-colour quicklook of the tile's core
(placed under the scan page's map). Pure: arrays in, PNG bytes out."""

from __future__ import annotations

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


def _crop(img: Prepared, rs: slice, cs: slice) -> Prepared:
    return Prepared(
        {k: v[rs, cs] for k, v in img.bands.items()},
        img.clear[rs, cs],
        img.snow[rs, cs],
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
    h, w = before.clear.shape
    side = max(r1 - r0, c1 - c0, 24) * 2
    cr, cc = (r0 + r1) // 2, (c0 + c1) // 2
    rs = slice(max(0, cr - side // 2), min(h, cr + side // 2))
    cs = slice(max(0, cc - side // 2), min(w, cc + side // 2))
    a, lo_hi = rgb(_crop(before, rs, cs))
    b, _ = rgb(_crop(after, rs, cs), lo_hi)
    mask = (labels[rs, cs] == label).astype(np.uint8)
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
    side (area-averaged)."""
    pic, _ = rgb(_crop(after, rows, cols))
    u8 = np.ascontiguousarray((np.clip(pic, 0, 1) * 255).astype(np.uint8))
    h, w = u8.shape[:2]
    k = QUICKLOOK_PX / max(h, w, 1)
    if k < 1:
        u8 = cv2.resize(
            u8, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA
        )
    return _png(u8)
